"""Community: plan one community from its units and nearby barriers (the unit of parallel work)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridplan.engine import dedicated, region
from gridplan.params import PlanParams

BARRIER_REACH = 1.0  # metres around a community within which barrier lines matter


class NearbyLines:
    """Barrier lines near each community, found with one spatial index.

    A community's blocks depend only on the barrier lines within
    :data:`BARRIER_REACH` of it, so each community is planned with the union of those
    lines instead of the union of every line of the district (or province).

    Examples
    --------
    >>> lines = gpd.GeoSeries([shapely.LineString([(0, 0), (10, 0)]),
    ...                        shapely.LineString([(500, 0), (510, 0)])])
    >>> len(NearbyLines(gpd.GeoDataFrame(geometry=lines)).around(shapely.box(0, -5, 9, 5)))
    1
    """

    def __init__(self, barriers: gpd.GeoDataFrame | None) -> None:
        self.geoms = None if barriers is None or len(barriers) == 0 else barriers.geometry.values
        self.tree = None if self.geoms is None else shapely.STRtree(self.geoms)

    def around(self, geometry) -> np.ndarray | None:
        """Barrier lines whose extent reaches ``geometry`` (in their stored order)."""
        if self.tree is None:
            return None
        idx = np.sort(self.tree.query(shapely.buffer(geometry, BARRIER_REACH)))
        return np.asarray(self.geoms[idx])


def plan_community(community, units: gpd.GeoDataFrame, barriers: np.ndarray | None,
                   params: PlanParams, timer, *, sites: gpd.GeoDataFrame | None = None,
                   previous: list | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Plan the grids of one community: partition its units and describe the grids.

    This is all the work one community needs, and it needs nothing from its
    neighbours: :func:`gridplan.engine.pipeline.plan` calls it in a loop and
    :mod:`gridplan.scale.plans` calls it on cluster workers, so both give the same
    grids for the same seed.

    Parameters
    ----------
    community : object
        With ``community_id``, ``code`` and ``geometry`` (a row of the communities layer).
    units : GeoDataFrame
        The community's units (metric CRS), in plan order, with ``compound_id``.
    barriers : ndarray of shapely geometries, optional
        Barrier lines near the community (:meth:`NearbyLines.around`).
    params : PlanParams
        Plan parameters.
    timer : StageTimer
        Collects seconds per stage.
    sites : GeoDataFrame, optional
        Dedicated-grid sites (:func:`gridplan.layers.sites.prepare_sites`), all of them.
    previous : list, optional
        (serial, polygon) of the community's grids in an earlier plan, whose serials
        overlapping grids keep.

    Returns
    -------
    grids, unit_grid : DataFrame
        What :func:`gridplan.engine.region.describe_grids` returns for the community (the
        community's explanation in ``grids.attrs["explanation"]``); the unit table also
        holds each unit's ``cell_id``.
    cells, cell_edges : DataFrame
        The community's parcels and their adjacency
        (:func:`gridplan.engine.region.describe_parcels`).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from gridplan.engine.pipeline import StageTimer
    >>> pts = gpd.GeoDataFrame({"unit_id": ["a", "b"], "building_id": ["a", "b"],
    ...                         "households": [150, 150], "population": [390.0, 390.0],
    ...                         "compound_id": [None, None]},
    ...                        geometry=gpd.points_from_xy([10, 60], [10, 10]), crs=32650)
    >>> comm = SimpleNamespace(community_id="C1", code=None, geometry=shapely.box(0, 0, 80, 20))
    >>> grids, unit_grid, cells, edges = plan_community(comm, pts, None, PlanParams(),
    ...                                                 StageTimer())
    >>> grids["households"].tolist()
    [300]
    """
    lines = None if barriers is None or len(barriers) == 0 else shapely.union_all(barriers)
    result = dedicated.plan_community(community.geometry, units, sites, lines, params, timer,
                                      community.community_id)
    grids, unit_grid = region.describe_grids(result, community, units, params,
                                             previous=previous)
    with timer.stage("parcels"):
        cells, unit_grid["cell_id"], edges = region.describe_parcels(result, community, units)
    return grids, unit_grid, cells, edges
