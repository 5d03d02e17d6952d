"""Staffing: grid loads, the staffing norm per community, and workers assigned by min-cost flow."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gridplan.engine.visits import unit_visits
from gridplan.layers.workers import DEFAULT_CAPACITY, read_workers  # noqa: F401 (re-exported)
from gridplan.params import WorkloadParams
from gridplan.workforce.workload import hours, required_workers, tour_length

log = logging.getLogger(__name__)

UNASSIGNED = "(unassigned)"
SLOT_PENALTY = 2000  # cost units (≈ metres) per grid² held by one worker: spreads grids evenly


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
    visits, tour_m, tour_on_network, workload_hours``.
    """
    params = params or WorkloadParams()
    centres = centres or service_centres(plan.communities)
    units = plan.units
    visits, cases = unit_visits(units, special, params)
    pts = shapely.get_coordinates(shapely.point_on_surface(units.geometry.values))
    df = pd.DataFrame({"grid_code": units["grid_code"].values, "v": visits, "c": cases,
                       "x": pts[:, 0], "y": pts[:, 1], "h": units["households"].values,
                       "b": units["building_id"].astype(str).values})
    by_grid = dict(tuple(df.groupby("grid_code", sort=False)))
    rows = []
    for g in plan.grids.itertuples(index=False):
        mine = by_grid.get(g.grid_code, df.iloc[0:0])
        stops = mine[mine["h"] > 0].drop_duplicates("b")[["x", "y"]].to_numpy()
        tour, on_net = tour_length(stops, centres[g.community_id], street=street,
                                   detour=params.detour_factor)
        v = float(mine["v"].sum())
        rows.append({"grid_code": g.grid_code, "community_id": g.community_id,
                     "households": int(g.households), "special_cases": round(mine["c"].sum(), 1),
                     "visits": round(v, 2), "tour_m": round(tour, 1),
                     "tour_on_network": on_net,
                     "workload_hours": round(hours(v, tour, params), 2)})
    return pd.DataFrame(rows)


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
    """Assign each grid one worker of its community by min-cost flow (networkx).

    Every grid is covered; a worker holds at most as many grids as fit in their
    monthly capacity at the community's mean grid load; the cost is the distance
    from the worker's home (or service centre) to the grid plus a penalty growing
    with the square of the grids a worker holds, so loads come out as even as the
    workforce allows. Grids nobody can take go to ``(unassigned)`` and the missing
    workers are counted per community.
    """
    g = nx.DiGraph()
    g.add_node("S", demand=-len(loads))
    for row in loads.itertuples(index=False):
        g.add_node(("g", row.grid_code), demand=1)
        g.add_edge(("u", row.community_id), ("g", row.grid_code), capacity=1, weight=10**9)
    for cid in loads["community_id"].unique():
        g.add_edge("S", ("u", cid), capacity=len(loads), weight=0)
    mean_h = loads.groupby("community_id")["workload_hours"].mean()
    for w in workers.itertuples(index=False):
        mine = loads[loads["community_id"] == w.community_id]
        slots = int(min(len(mine), w.capacity_hours // max(mean_h.get(w.community_id, 1), 1e-9)))
        for j in range(1, slots + 1):
            g.add_edge("S", ("s", w.worker_id, j), capacity=1, weight=SLOT_PENALTY * j * j)
            g.add_edge(("s", w.worker_id, j), ("w", w.worker_id), capacity=1, weight=0)
        for row in mine.itertuples(index=False):
            d = float(np.hypot(*(grid_xy[row.grid_code] - homes[w.worker_id])))
            g.add_edge(("w", w.worker_id), ("g", row.grid_code), capacity=1, weight=int(d))
    flow = nx.min_cost_flow(g)
    return _read_flow(flow, loads, workers, grid_xy, homes)


def _read_flow(flow, loads, workers, grid_xy, homes) -> Assignment:
    holder = {}
    for src, outs in flow.items():
        for dst, f in outs.items():
            if f and dst[0] == "g":
                holder[dst[1]] = src[1] if src[0] == "w" else UNASSIGNED
    grid_rows = []
    for row in loads.itertuples(index=False):
        w = holder[row.grid_code]
        travel = (float(np.hypot(*(grid_xy[row.grid_code] - homes[w]))) if w != UNASSIGNED
                  else float("nan"))
        grid_rows.append({"grid_code": row.grid_code, "worker_id": w,
                          "travel_m": round(travel, 1)})
    grids = pd.DataFrame(grid_rows).merge(loads, on="grid_code")
    sums = {c: (c, "sum") for c in ("households", "special_cases", "tour_m", "travel_m")
            if c in grids.columns}
    per = grids.groupby("worker_id").agg(grids=("grid_code", "size"),
                                         grid_codes=("grid_code", lambda s: " ".join(s)),
                                         **sums, hours=("workload_hours", "sum"))
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
