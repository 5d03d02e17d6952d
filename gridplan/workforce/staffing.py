"""Staffing: grid loads, the staffing norm per community, and workers assigned at least cost."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from gridplan.engine.processes import auto_processes, ordered_map
from gridplan.engine.visits import unit_visits
from gridplan.layers.workers import DEFAULT_CAPACITY, read_workers  # noqa: F401 (re-exported)
from gridplan.params import WorkloadParams
from gridplan.workforce.tours import warm_up
from gridplan.workforce.workload import hours, required_workers, tour_length

log = logging.getLogger(__name__)

UNASSIGNED = "(unassigned)"
SLOT_PENALTY = 2000  # cost units (≈ metres) × j² for a worker's j-th grid: spreads grids evenly
UNASSIGNED_COST = 10**9  # cost units of a grid left without a worker
TOUR_CHUNKS = 32  # grids' tours go to forked processes in this many chunks, in grid order
MIN_STOPS = 20_000  # fewer tour stops in the plan: one process (about a second of tours)


def service_centres(communities, centres=None) -> dict[str, np.ndarray]:
    """Service centre point per community: from ``centres`` (community_id, point) or the
    community's representative point."""
    out = {c: np.array(shapely.get_coordinates(shapely.point_on_surface(g))[0])
           for c, g in zip(communities["community_id"], communities.geometry, strict=True)}
    if centres is not None:
        for c, g in zip(centres["community_id"].astype(str), centres.geometry, strict=True):
            out[c] = shapely.get_coordinates(g)[0]
    return out


def grid_loads(plan, special: pd.DataFrame | None = None, params: WorkloadParams | None = None,
               street=None, centres: dict | None = None) -> pd.DataFrame:
    """Monthly workload of every grid of a plan.

    Returns one row per grid: ``grid_code, community_id, households, special_cases,
    visits, tour_m, tour_on_network, workload_hours``. A grid's tour passes every
    building of it with households once, in the order the units come.
    """
    params = params or WorkloadParams()
    centres = centres or service_centres(plan.communities)
    units = plan.units
    visits, cases = unit_visits(units, special, params)
    # shapely on the geometries' own array: on geopandas' GeometryArray the call went through
    # pandas' generic ufunc path (0.4 s of CPU at 96,000 units)
    pts = shapely.get_coordinates(shapely.point_on_surface(np.asarray(units.geometry.values)))
    codes = units["grid_code"].to_numpy()
    rows_of = _rows_by(codes, np.ones(len(codes), bool))
    stops_of = _rows_by(codes, _first_stops(codes, units["building_id"].astype(str).to_numpy(),
                                            units["households"].to_numpy()))
    v_all = np.asarray(visits, dtype=float)
    c_all = np.asarray(cases, dtype=float)
    none = np.empty(0, np.int64)
    grids = plan.grids  # the three columns as lists: itertuples walked every column, Arrow's too
    codes, cids = grids["grid_code"].tolist(), grids["community_id"].tolist()
    tours = _tours([pts[stops_of.get(code, none)] for code in codes],
                   [centres[cid] for cid in cids], street, params.detour_factor)
    rows = []
    for code, cid, households, (tour, on_net) in zip(codes, cids, grids["households"].tolist(),
                                                      tours, strict=True):
        mine = rows_of.get(code, none)
        v = float(v_all[mine].sum())
        rows.append({"grid_code": code, "community_id": cid,
                     "households": int(households), "special_cases": round(c_all[mine].sum(), 1),
                     "visits": round(v, 2), "tour_m": round(tour, 1),
                     "tour_on_network": on_net,
                     "workload_hours": round(hours(v, tour, params), 2)})
    return pd.DataFrame(rows)


def _tours(stops: list[np.ndarray], starts: list[np.ndarray], street,
           detour: float) -> list[tuple[float, bool]]:
    """Tour length (m) of each grid and whether it ran on the street network.

    Large plans (:data:`MIN_STOPS`) hand the grids in :data:`TOUR_CHUNKS` chunks to forked
    processes; results come back in grid order and the street network's ``unreached``
    points are gathered in the same order, so staffing is the same on any number of
    processes.

    Examples
    --------
    >>> _tours([np.array([[0., 100.], [100., 100.], [100., 0.]])], [np.zeros(2)], None, 1.0)
    [(400.0, False)]
    """
    chunks = np.array_split(np.arange(len(stops)), min(len(stops), TOUR_CHUNKS))

    def chunk(k: int) -> tuple[list[tuple[float, bool]], list]:
        seen = len(street.unreached) if street is not None else 0
        out = [tour_length(stops[i], starts[i], street=street, detour=detour)
               for i in chunks[k]]
        if street is None:
            return out, []
        new = street.unreached[seen:]
        del street.unreached[seen:]  # the caller adds them, from whichever process
        return out, new

    n_proc = auto_processes(len(chunks), sum(map(len, stops)), min_units=MIN_STOPS)
    if n_proc > 1:
        warm_up()  # the compiled kernels, loaded once before forking rather than in each child
    tours = []
    for out, unreached in ordered_map(chunk, len(chunks), n_proc, what="chunks of tours"):
        tours.extend(out)
        if street is not None:
            street.unreached.extend(unreached)
    return tours


def _first_stops(codes: np.ndarray, buildings: np.ndarray, households: np.ndarray) -> np.ndarray:
    """Rows that are a tour stop: the first unit with households of each building per grid."""
    has = np.flatnonzero(households > 0)
    repeat = pd.DataFrame({"g": codes[has], "b": buildings[has]}).duplicated().to_numpy()
    keep = np.zeros(len(codes), bool)
    keep[has[~repeat]] = True
    return keep


def _rows_by(codes: np.ndarray, keep: np.ndarray) -> dict[str, np.ndarray]:
    """Positions of the kept rows per grid code, in row order.

    Grouped on integer codes (pandas' groupby of Arrow strings indexed the array once
    per grid: 0.2 s at 8,000 grids).

    Examples
    --------
    >>> _rows_by(np.array(["b", "a", "b", "a"], object), np.array([True, True, True, False]))
    {'b': array([0, 2]), 'a': array([1])}
    """
    pos = np.flatnonzero(keep)
    ids, names = pd.factorize(codes[pos])
    ordered = pos[np.argsort(ids, kind="stable")]
    return dict(zip(names.tolist(), np.split(ordered, np.cumsum(np.bincount(ids))[:-1]),
                    strict=True))


def staffing_table(plan, workers: pd.DataFrame | None, per_10k: float = 18.0) -> pd.DataFrame:
    """Workers required per community (norm and one per grid) against those available."""
    comm = plan.communities
    residents = plan.units.groupby("community_id")["population"].sum()
    grids = plan.grids.groupby("community_id").size()
    have = (workers.groupby("community_id").size() if workers is not None
            else pd.Series(dtype=int))
    rows = []
    for cid in comm["community_id"]:
        r = float(residents.get(cid, 0.0))
        n = int(grids.get(cid, 0))
        need = required_workers(r, n, per_10k)
        avail = int(have.get(cid, 0))
        rows.append({"community_id": cid, "residents": round(r), "grids": n,
                     "required_by_norm": required_workers(r, 0, per_10k),
                     "required": need, "available": avail, "balance": avail - need})
    return pd.DataFrame(rows)


@dataclass
class Assignment:
    """Which worker holds which grid, and each worker's load."""

    grids: pd.DataFrame  # grid_code, worker_id, travel_m
    workers: pd.DataFrame  # worker_id, name, community_id, grids, households, hours, capacity
    missing: dict[str, int]  # community_id → workers still needed to cover every grid


def assign_workers(loads: pd.DataFrame, workers: pd.DataFrame, grid_xy: dict[str, np.ndarray],
                   homes: dict[str, np.ndarray]) -> Assignment:
    """Assign each grid one worker of its community, at least total cost.

    Every grid is covered; a worker holds at most as many grids as fit in their
    monthly capacity at the community's mean grid load; the cost is the distance
    from the worker's home (or service centre) to the grid, in whole metres, plus
    ``SLOT_PENALTY × j²`` for the j-th grid a worker holds (so holding k grids costs
    ``SLOT_PENALTY × (1² + … + k²)``) and loads come out as even as the workforce
    allows. Grids nobody can take go to ``(unassigned)`` at a cost of 10⁹ each, and
    the missing workers are counted per community.

    Workers only serve grids of their own community, so the problem splits into one
    assignment per community: grids × worker slots (the j-th grid of each worker is
    one slot), solved exactly by ``scipy.optimize.linear_sum_assignment``. Penalties
    grow with j, so an optimum fills every worker's slots in order and its cost is
    that of the min-cost flow over the same model.

    Parameters
    ----------
    loads : DataFrame
        One row per grid: ``grid_code, community_id, workload_hours`` and the load
        columns summed per worker (``households, special_cases, tour_m``).
    workers : DataFrame
        ``worker_id, name, community_id, capacity_hours``.
    grid_xy, homes : dict
        Grid point and worker home (metric CRS) by code and worker id.

    Examples
    --------
    >>> loads = pd.DataFrame({"grid_code": ["G1", "G2"], "community_id": ["A", "A"],
    ...                       "households": [300, 300], "workload_hours": [40.0, 40.0]})
    >>> workers = pd.DataFrame({"worker_id": ["w1", "w2"], "name": ["一", "二"],
    ...                         "community_id": ["A", "A"], "capacity_hours": [160.0, 160.0]})
    >>> xy = {"G1": np.array([0.0, 0.0]), "G2": np.array([900.0, 0.0])}
    >>> homes = {"w1": np.array([0.0, 0.0]), "w2": np.array([1000.0, 0.0])}
    >>> assign_workers(loads, workers, xy, homes).grids["worker_id"].tolist()
    ['w1', 'w2']
    """
    mean_h = loads.groupby("community_id")["workload_hours"].mean()
    staff = {c: w for c, w in workers.groupby("community_id", sort=False)}
    holder: dict[str, str] = {}
    for cid, grids in loads.groupby("community_id", sort=False):
        codes = grids["grid_code"].tolist()
        crew = staff.get(cid, workers.iloc[0:0])
        holder.update(_assign_community(codes, crew, float(mean_h[cid]), grid_xy, homes))
    return _read_holders(holder, loads, workers, grid_xy, homes)


def _assign_community(codes: list[str], crew: pd.DataFrame, mean_h: float, grid_xy: dict,
                      homes: dict) -> dict[str, str]:
    """Holder of each grid of one community: an optimal grids × worker-slots assignment.

    Column j of a worker costs the whole metres from their home to the grid plus
    ``SLOT_PENALTY × j²``; one more column per grid stands for leaving it unassigned.
    """
    slots = [int(min(len(codes), cap // max(mean_h, 1e-9))) for cap in crew["capacity_hours"]]
    ids = np.repeat(crew["worker_id"].to_numpy(), slots)
    if not len(ids):
        return dict.fromkeys(codes, UNASSIGNED)
    gxy = np.array([grid_xy[c] for c in codes])
    hxy = np.array([homes[w] for w in ids])
    metres = np.floor(np.hypot(gxy[:, None, 0] - hxy[None, :, 0],
                               gxy[:, None, 1] - hxy[None, :, 1]))
    j = np.concatenate([np.arange(1, k + 1) for k in slots])
    cost = np.hstack([metres + SLOT_PENALTY * j * j,
                      np.full((len(codes), len(codes)), float(UNASSIGNED_COST))])
    from scipy.optimize import linear_sum_assignment  # on use: gridplan plan does not staff

    rows, cols = linear_sum_assignment(cost)
    return {codes[r]: (str(ids[c]) if c < len(ids) else UNASSIGNED)
            for r, c in zip(rows, cols, strict=True)}


def _read_holders(holder: dict[str, str], loads, workers, grid_xy, homes) -> Assignment:
    """The assignment's tables from the holder of every grid."""
    grid_rows = []
    for code in loads["grid_code"].tolist():  # a list: itertuples walked every column
        w = holder[code]
        travel = (float(np.hypot(*(grid_xy[code] - homes[w]))) if w != UNASSIGNED
                  else float("nan"))
        grid_rows.append({"grid_code": code, "worker_id": w, "travel_m": round(travel, 1)})
    grids = pd.DataFrame(grid_rows).merge(loads, on="grid_code")
    sums = {c: (c, "sum") for c in ("households", "special_cases", "tour_m", "travel_m")
            if c in grids.columns}
    per = grids.groupby("worker_id").agg(grids=("grid_code", "size"), **sums,
                                         hours=("workload_hours", "sum"))
    # each worker's codes in the grids' order, joined in Python: a per-group lambda in
    # pandas' aggregation took 0.2-0.3 s of CPU at 8,000 grids
    codes_of: dict[str, list[str]] = {}
    for w, code in zip(grids["worker_id"].tolist(), grids["grid_code"].tolist(), strict=True):
        codes_of.setdefault(w, []).append(code)
    per.insert(1, "grid_codes", pd.Series([" ".join(codes_of[w]) for w in per.index],
                                          index=per.index))
    w = workers.set_index("worker_id")
    table = w[["name", "community_id", "capacity_hours"]].join(per, how="left")
    table = table.fillna({"grids": 0, "hours": 0.0, "grid_codes": "", **dict.fromkeys(sums, 0)})
    table = table.reset_index().rename(columns={"index": "worker_id"})
    open_grids = grids[grids["worker_id"] == UNASSIGNED].groupby("community_id").size()
    return Assignment(grids=grids[["grid_code", "worker_id", "travel_m"]], workers=table,
                      missing={str(k): int(v) for k, v in open_grids.items()})


def inequality(values) -> dict:
    """Coefficient of variation and max/min ratio of a set of loads (``None`` if min is 0)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0 or v.mean() == 0:
        return {"cv": 0.0, "max_min": 1.0, "n": int(len(v))}
    return {"cv": round(float(v.std() / v.mean()), 4),
            "max_min": round(float(v.max() / v.min()), 3) if v.min() > 0 else None,
            "n": int(len(v))}
