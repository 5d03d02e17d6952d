"""The plan model: a grid plan with its layers, parameters and report."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from gridplan.params import PlanParams

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """A grid plan: grids, units and communities in a metric CRS, with its parameters.

    Attributes
    ----------
    grids : GeoDataFrame
        One row per grid: ``grid_code, community_id, households, population, units,
        area_m2, polsby_popper, barrier_crossings, status, reason``.
    units : GeoDataFrame
        One row per planned unit: ``unit_id, building_id, grid_code, community_id,
        households, population``.
    communities : GeoDataFrame
        ``community_id, code, households, grids`` and the boundary.
    params : PlanParams
        The parameters the plan was made with.
    report : dict
        Counts, quality figures, input notes and runtime per stage.
    cells : GeoDataFrame, optional
        Parcels a planner moves between grids (``cell_id, community_id, grid_code,
        block``); each grid is the union of its parcels. Units carry their ``cell_id``.
    cell_edges : DataFrame, optional
        Neighbouring parcels ``a, b`` and whether a barrier lies between (``crossing``).
    """

    grids: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    params: PlanParams
    report: dict = field(default_factory=dict)
    cells: gpd.GeoDataFrame | None = None
    cell_edges: pd.DataFrame | None = None

    @property
    def crs(self):
        """The metric CRS every layer of the plan is in."""
        return self.grids.crs
