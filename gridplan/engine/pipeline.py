"""Pipeline: the orchestrator, calling the stages in order and recording what each did."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from tqdm.auto import tqdm

from gridplan.codes import grid_serial
from gridplan.engine import region
from gridplan.engine.community import NearbyLines, plan_community
from gridplan.engine.metrics import optimality_report, summarize, validate_plan
from gridplan.engine.processes import auto_processes, ordered_map
from gridplan.engine.units import assign_communities, split_large_buildings, tag_by_polygons
from gridplan.engine.visits import unit_visits
from gridplan.errors import InputError
from gridplan.layers.prepare import check_overlaps, prepare_barriers, prepare_compounds
from gridplan.layers.sites import prepare_sites
from gridplan.layers.vector import InputNotes, check_layer
from gridplan.model import Plan
from gridplan.params import PlanParams, WorkloadParams

log = logging.getLogger(__name__)




class StageTimer:
    """Wall-clock seconds per pipeline stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, seconds: dict[str, float]) -> None:
        """Add another timer's seconds (a community planned in another process)."""
        for name, value in seconds.items():
            self.seconds[name] = round(self.seconds.get(name, 0.0) + value, 3)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block under ``name``."""
        t0 = time.perf_counter()
        yield
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - t0, 3)


def plan(units: gpd.GeoDataFrame, communities: gpd.GeoDataFrame | None = None, *,
         compounds: gpd.GeoDataFrame | None = None, barriers: gpd.GeoDataFrame | None = None,
         study_area=None, params: PlanParams | None = None, notes: InputNotes | None = None,
         progress: bool = False, special: pd.DataFrame | None = None,
         workload: WorkloadParams | None = None,
         on_progress: Callable[[str, float], None] | None = None,
         dedicated: gpd.GeoDataFrame | None = None, previous: Plan | None = None,
         processes: int | None = None, check: bool = True,
         units_checked: bool = False) -> Plan:
    """Plan grids of about ``params.target`` households in every community.

    Parameters
    ----------
    units : GeoDataFrame
        Units from :func:`gridplan.layers.population.prepare_units` (``unit_id``, ``building_id``,
        ``households``, ``population``).
    communities : GeoDataFrame, optional
        From :func:`gridplan.layers.prepare.prepare_communities`. When ``None``, communities of
        about ``params.community_households`` are derived with the same engine.
    compounds, barriers : GeoDataFrame, optional
        Residential compounds kept whole where they fit; roads, railways and rivers
        that grids follow.
    study_area : shapely geometry, optional
        Area (EPSG:4326) to derive communities in; defaults to the units' hull.
    params : PlanParams
        Plan parameters.
    notes : InputNotes, optional
        Notes collected while reading inputs; input checks add to them.
    progress : bool
        Show a progress bar over communities.
    special, workload : optional
        Special populations (unit_id, category, count) and workload weights, used
        when ``params.balance == "workload"``.
    on_progress : callable, optional
        Called as ``on_progress(stage, fraction_done)`` while planning (for job status).
    dedicated : GeoDataFrame, optional
        Sites (``site_id``, ``kind``, ``name``, polygons; see
        :func:`gridplan.layers.sites.prepare_sites`) that each become a dedicated grid
        (专属网格) when at least ``params.dedicated_min_area`` m² of it lies in a community.
    previous : Plan, optional
        An earlier plan of the same area: grids overlapping one of its grids keep
        that grid's serial (:func:`gridplan.codes.stable_serials`).
    processes : int, optional
        Processes to plan communities on (the same plan whatever the number); by
        default :func:`gridplan.engine.processes.auto_processes` chooses.
    check : bool
        Check the plan's rules (:func:`gridplan.engine.metrics.validate_plan`) before
        returning it. Only for a caller that checks them itself before using the plan:
        ``gridplan plan`` checks them while its files are written, and moves the files into
        place only if they hold.
    units_checked : bool
        ``units`` is as :func:`gridplan.layers.vector.check_layer` returned it (CRS,
        geometries repaired and normalised), so it is not checked again. True in the
        arguments :func:`gridplan.layers.load.load_inputs` returns, which checks every
        population layer it reads; leave it False for a layer made or changed otherwise.

    Examples
    --------
    >>> from gridplan.demo.district import load_demo          # doctest: +SKIP
    >>> p = plan(**load_demo())                       # doctest: +SKIP
    >>> p.report["grids"]                             # doctest: +SKIP
    """
    params = params or PlanParams()
    notes = notes or InputNotes()
    timer = StageTimer()
    t_start = time.perf_counter()
    with timer.stage("layers"):
        if not units_checked:
            units = check_layer(units, what="population", notes=notes)
        crs = units.estimate_utm_crs() if units.crs.is_geographic else units.crs
        units = units.to_crs(crs)
        compounds = _to_crs(prepare_compounds(compounds, notes), crs)
        barriers = _to_crs(prepare_barriers(barriers, notes), crs)
        sites = _to_crs(prepare_sites(dedicated, notes), crs)
    if communities is None:
        with timer.stage("communities"):
            barrier_lines = None if barriers is None else shapely.union_all(
                barriers.geometry.values)
            communities = derive_communities(units, compounds, barrier_lines, study_area, params,
                                             crs)
    else:
        communities = check_overlaps(communities.to_crs(crs), notes)
    with timer.stage("units"):
        units = assign_communities(units, communities, notes)
        units = split_large_buildings(units, params.band[1], params.stairwell_households,
                                      communities)
        units["compound_id"] = tag_by_polygons(units, compounds, "compound_id", "compound_id")
        if params.balance == "workload":
            wp = workload or WorkloadParams()
            visits = unit_visits(units, special, wp)[0]
            # workload in household-equivalents: same total as households, shared by visits
            units["weight"] = visits * units["households"].sum() / max(visits.sum(), 1e-9)
    grids, unit_grid, cells, edges, explanations, proofs = [], [], [], [], [], []
    before = _previous_grids(previous, crs)
    items = list(communities.itertuples(index=False))
    by_comm = dict(tuple(units.groupby("community_id", sort=False)))
    near = NearbyLines(barriers)

    def one(i: int) -> tuple[tuple, dict[str, float]]:
        comm, own = items[i], StageTimer()
        sub = by_comm.get(comm.community_id, units.iloc[0:0])
        out = plan_community(comm, sub, near.around(comm.geometry), params, own, sites=sites,
                             previous=before.get(comm.community_id))
        return out, own.seconds

    n_proc = processes or auto_processes(len(items), len(units))
    bar = tqdm(total=len(items), desc="planning communities", unit="community",
               disable=not progress)
    results = ordered_map(one, len(items), n_proc, send=_geometries_as_wkb,
                          receive=_geometries_from_wkb)
    for i, ((g, ug, c, e), seconds) in enumerate(results):
        if on_progress is not None:
            on_progress("planning communities", i / max(len(items), 1))
        bar.update()
        timer.add(seconds)
        if g.attrs.get("explanation"):
            explanations.append(g.attrs["explanation"])
        proofs.append(g.attrs["optimality"])
        grids.append(g)
        unit_grid.append(ug)
        cells.append(c)
        edges.append(e)
    bar.close()
    with timer.stage("metrics"):
        plan_ = _assemble(grids, unit_grid, units, communities, params, crs)
        plan_.cells = gpd.GeoDataFrame(pd.concat(cells, ignore_index=True), geometry="geometry",
                                       crs=crs)
        plan_.cell_edges = pd.concat(edges, ignore_index=True)
        if check:
            validate_plan(plan_)
    plan_.report = summarize(plan_, notes, timer.seconds, time.perf_counter() - t_start)
    plan_.report["explanations"] = explanations
    plan_.report["optimality"] = optimality_report(proofs, timer.seconds.get("exact", 0.0))
    if n_proc > 1:
        plan_.report["stage_seconds_are"] = (f"summed over communities (busy time across "
                                             f"{n_proc} processes)")
    if previous is not None:
        plan_.report["previous_plan"] = {"grids": int(len(previous.grids)),
                                         "codes_kept": int(plan_.grids["grid_code"].isin(
                                             previous.grids["grid_code"]).sum())}
    log.info("planned %d grids in %d communities from %d units (%d households); %.0f%% in band",
             len(plan_.grids), len(plan_.communities), len(plan_.units),
             plan_.report["households"], 100 * plan_.report["share_in_band"])
    return plan_


def _geometries_as_wkb(result: tuple[tuple, dict]) -> tuple[tuple, dict]:
    """A community's frames with their ``geometry`` column of shapely objects as WKB.

    For the way back from a forked process: one vectorised ``to_wkb`` instead of pickling
    geometries one at a time (1.5 s of the processes' 17.5 s at 100,000 units, and 1.1 s
    of unpickling here). The same WKB as shapely's own pickling, so the same geometries.
    """
    frames, seconds = result
    return tuple(_map_geometry(f, partial(shapely.to_wkb, include_srid=True))
                 for f in frames), seconds


def _geometries_from_wkb(result: tuple[tuple, dict]) -> tuple[tuple, dict]:
    """The frames of :func:`_geometries_as_wkb` with their geometries back."""
    frames, seconds = result
    return tuple(_map_geometry(f, shapely.from_wkb) for f in frames), seconds


def _map_geometry(frame: pd.DataFrame, convert: Callable) -> pd.DataFrame:
    """``frame`` with ``convert`` applied to its object ``geometry`` column, if it has one
    (a copy; the column's dtype, the frame's index and ``attrs`` are kept)."""
    if "geometry" not in frame.columns or frame["geometry"].dtype != object or not len(frame):
        return frame
    frame = frame.copy(deep=False)
    frame["geometry"] = convert(frame["geometry"].to_numpy())
    return frame


def _previous_grids(previous: Plan | None, crs) -> dict[str, list]:
    """(serial, polygon) of each previous grid, by community id, in ``crs``."""
    if previous is None:
        return {}
    g = previous.grids.to_crs(crs)
    scheme = previous.params.code_scheme
    out: dict[str, list] = {}
    for cid, code, geom in zip(g["community_id"].astype(str), g["grid_code"], g.geometry,
                               strict=True):
        out.setdefault(cid, []).append((grid_serial(code, scheme), geom))
    return out


def _to_crs(gdf: gpd.GeoDataFrame | None, crs) -> gpd.GeoDataFrame | None:
    return None if gdf is None else gdf.to_crs(crs)


def derive_communities(units: gpd.GeoDataFrame, compounds, barrier_lines, study_area,
                       params: PlanParams, crs) -> gpd.GeoDataFrame:
    """Communities of about ``params.community_households`` bounded by roads and rivers.

    The same engine one level up: the study area is one region, split into
    contiguous parts along barriers with a looser tolerance.
    """
    area = shapely.convex_hull(shapely.multipoints(
        shapely.get_coordinates(units.geometry.values))).buffer(50.0)
    if study_area is not None:
        area = shapely.union(area, gpd.GeoSeries([study_area], crs=4326).to_crs(crs).iloc[0])
    sub = units.copy()
    sub["compound_id"] = tag_by_polygons(sub, compounds, "compound_id", "compound_id")
    inside = shapely.contains_xy(area, *shapely.get_coordinates(
        shapely.point_on_surface(sub.geometry.values)).T)
    sub = sub.loc[inside]
    if len(sub) == 0:
        raise InputError("no unit lies inside the study area", fix="check the layers' CRS")
    lo = params.community_households * (1 - params.community_tolerance)
    hi = params.community_households * (1 + params.community_tolerance)
    result = region.plan_region(area, sub, barrier_lines, params, StageTimer(),
                                target=params.community_households, band=(lo, hi))
    order = region.serial_order_of(result)
    ids = [f"C{i + 1:03d}" for i in range(len(order))]
    rank = {int(g): ids[r] for r, g in enumerate(order)}
    out = gpd.GeoDataFrame({"community_id": [rank[g] for g in range(len(result.polygons))],
                            "code": [None] * len(result.polygons)},
                           geometry=result.polygons, crs=crs)
    log.info("derived %d communities of about %d households", len(out),
             params.community_households)
    return out.sort_values("community_id").reset_index(drop=True)


def _assemble(grids, unit_grid, units, communities, params, crs) -> Plan:
    """Join per-community results into the plan's three layers."""
    grid_df = gpd.GeoDataFrame(pd.concat(grids, ignore_index=True), geometry="geometry", crs=crs)
    ug = pd.concat(unit_grid, ignore_index=True)
    u = units.merge(ug, on="unit_id", how="left")
    if "weight" in u:  # balanced on workload: each unit's share, kept for editing the plan
        u["visit_equivalents"] = u["weight"]
    u = u[["unit_id", "building_id", "grid_code", "cell_id", "community_id", "households",
           "population", *(["visit_equivalents"] if "weight" in u else []), "geometry"]]
    comm = communities.copy()
    hh = u.groupby("community_id")["households"].sum()
    comm["households"] = comm["community_id"].map(hh).fillna(0).astype(np.int64)
    comm["grids"] = comm["community_id"].map(grid_df.groupby("community_id").size()).fillna(0)
    comm["grids"] = comm["grids"].astype(np.int64)
    return Plan(grids=grid_df, units=gpd.GeoDataFrame(u, geometry="geometry", crs=crs),
                communities=comm, params=params)
