"""Optimality yardstick: gridplan's grids in band against an independent exact model.

For every community of each dataset, gridplan plans as usual; then a separate CP-SAT
model, built here from the plan's polygons and sharing no code with
:mod:`gridplan.engine.exact`, looks for the most grids in band over every division of
the community's comprehensive part into the same number of contiguous grids of whole
atoms. It differs from the engine's model on purpose:

- its graph is rook adjacency of polygons computed here (an STRtree and shared
  boundary length) of the plan's parcels, which grids are drawn from: a grid must be
  one polygon, so contiguity through the unit polygons (census blocks touching) where
  the parcels do not touch would allow divisions gridplan cannot draw (Providence 2813
  and 2818: the optimum on block polygons is not contiguous through parcels). The unit
  polygons where units tile and a plan has no parcels;
- its atoms are the polygons merged by compound (compounds from the inputs, kept
  whole where they fit under the band's top), found by point-in-polygon here;
- contiguity is a flow per grid (multi-commodity) from a chosen root, with root
  indices ordered, rather than the engine's single flow and lowest-atom roots;
- it gets no hint from gridplan and a generous time limit.

A community is *proved* when the model closes its gap, or when gridplan's grids in band
already reach a bound from totals alone. The goal: gridplan equals the proven optimum
in every proved community.

Usage (from the repository root)::

    python -m bench.optimality                       # every dataset found
    python -m bench.optimality --datasets providence,synthetic --seconds 60
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridplan.engine.pipeline import plan
from gridplan.params import PlanParams

log = logging.getLogger("bench.optimality")
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OSM = ("beijing_bnu", "beijing_wudaokou", "helsinki", "shanghai_shu")
MIN_SHARED = 0.05  # metres of common boundary for rook adjacency


# -- datasets ------------------------------------------------------------------------------
def providence() -> tuple[dict, bool]:
    """Providence precincts planned from census blocks (units tile: unit polygons)."""
    from gridplan.layers.population import prepare_units
    from gridplan.layers.prepare import prepare_communities

    blocks = gpd.read_file(DATA / "providence" / "blocks.zip")
    units = prepare_units(blocks, unit_id="GEOID10", population_field="TOTPOP")
    comm = prepare_communities(gpd.read_file(DATA / "providence" / "precincts.zip"),
                               id_field="NAME")
    return {"units": units, "communities": comm}, True


def synthetic() -> tuple[dict, bool]:
    """The 10k synthetic city (Voronoi units tile: unit polygons)."""
    from bench.synthetic import synthetic_city
    from gridplan.layers.population import prepare_units
    from gridplan.layers.prepare import prepare_communities

    units, comm = synthetic_city(10_000, seed=0)
    return {"units": prepare_units(units, unit_id="unit_id", households="households"),
            "communities": prepare_communities(comm, id_field="id")}, True


def osm(name: str):
    """An OSM extract with derived communities (buildings do not tile: parcels)."""
    def load() -> tuple[dict, bool]:
        from gridplan.layers.load import load_inputs

        inputs = load_inputs({"osm": str(DATA / f"{name}.osm.bz2")})
        inputs.pop("params", None)
        return inputs, False
    return load


def datasets() -> dict:
    found = {}
    if (DATA / "providence").is_dir():
        found["providence"] = providence
    for name in OSM:
        if (DATA / f"{name}.osm.bz2").exists():
            found[name] = osm(name)
    found["synthetic"] = synthetic
    return found


# -- the independent model -----------------------------------------------------------------
def rook_pairs(geoms: np.ndarray) -> np.ndarray:
    """Pairs of polygons sharing more than ``MIN_SHARED`` metres of boundary."""
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(geoms[a]),
                                                 shapely.boundary(geoms[b])))
    ok = shared > MIN_SHARED
    return np.column_stack([a[ok], b[ok]]).astype(np.int64)


def community_graph(p, cid: str, unit_polygons: bool, compounds, hi: float):
    """Atoms (weights), rook pairs and grid count of a community's comprehensive part."""
    g = p.grids[(p.grids["community_id"] == cid) & (p.grids["grid_type"] != "dedicated")]
    codes = set(g["grid_code"])
    units = p.units[p.units["grid_code"].isin(codes)]
    if unit_polygons and (p.cells is None or "cell_id" not in units):
        geoms = units.geometry.values
        node_of_unit = np.arange(len(units))
    else:
        cells = p.cells[p.cells["grid_code"].isin(codes)].reset_index(drop=True)
        geoms = cells.geometry.values
        index = {c: i for i, c in enumerate(cells["cell_id"])}
        node = units["cell_id"].map(index)
        lost = node.isna().to_numpy()
        if lost.any():  # a unit whose parcel went to another grid: the parcel under its point
            pts = shapely.point_on_surface(units.geometry.values[lost])
            hit = shapely.STRtree(geoms).query(pts, predicate="within")
            found = pd.Series(hit[1], index=hit[0]).groupby(level=0).first()
            node[np.flatnonzero(lost)[found.index]] = found.to_numpy()
        keep = node.notna().to_numpy()
        units = units[keep]
        node_of_unit = node[keep].astype(np.int64).to_numpy()
    pairs = rook_pairs(np.asarray(geoms, dtype=object))
    n = len(geoms)
    # atoms: polygons whose units share a compound that fits under the band's top
    parent = np.arange(n)
    if compounds is not None and len(units):
        pts = shapely.point_on_surface(units.geometry.values)
        comp = np.full(len(units), -1)
        for j, poly in enumerate(compounds.to_crs(p.crs).geometry.values):
            hit = shapely.contains(poly, pts) & (comp < 0)
            comp[hit] = j
        hh = units["households"].to_numpy(float)
        for j in np.unique(comp[comp >= 0]):
            mine = comp == j
            if hh[mine].sum() <= hi:
                parent[node_of_unit[mine]] = node_of_unit[mine][0]
    atom = np.unique(parent, return_inverse=True)[1]
    weights = np.bincount(atom[node_of_unit], weights=units["households"].to_numpy(float),
                          minlength=atom.max() + 1 if n else 0)
    ap = np.sort(atom[pairs], axis=1) if len(pairs) else pairs
    ap = np.unique(ap[ap[:, 0] != ap[:, 1]], axis=0) if len(ap) else ap
    return weights, ap, len(g), int((g["status"] == "ok").sum())


def totals_bound(weights: np.ndarray, k: int, lo: float, hi: float) -> int:
    """Grids in band that totals allow: k, or k − 1 when the whole cannot be in band."""
    total = float(weights.sum())
    whole = k * lo <= total <= k * hi and (len(weights) == 0 or weights.max() <= hi)
    return k if whole else max(0, min(k - 1, math.floor((total - weights[weights > hi].sum())
                                                         / lo)))


def solve(weights: np.ndarray, pairs: np.ndarray, k: int, lo: float, hi: float,
          seconds: float) -> tuple[int | None, int, bool]:
    """Most grids in band by CP-SAT with a flow per grid: (best, bound, proved)."""
    from ortools.sat.python import cp_model

    n = len(weights)
    w = np.round(weights).astype(int).tolist()
    m = cp_model.CpModel()
    x = {(i, g): m.NewBoolVar("") for i in range(n) for g in range(k)}
    root = {(i, g): m.NewBoolVar("") for i in range(n) for g in range(k)}
    for i in range(n):
        m.AddExactlyOne(x[i, g] for g in range(k))
    index = []
    for g in range(k):
        m.AddExactlyOne(root[i, g] for i in range(n))
        for i in range(n):
            m.AddImplication(root[i, g], x[i, g])
        index.append(sum(i * root[i, g] for i in range(n)))
    for g in range(k - 1):
        m.Add(index[g] < index[g + 1])
    arcs = [(int(a), int(b)) for a, b in pairs] + [(int(b), int(a)) for a, b in pairs]
    for g in range(k):
        f = {arc: m.NewIntVar(0, n, "") for arc in arcs}
        for a, b in arcs:
            m.Add(f[a, b] <= n * x[a, g])
            m.Add(f[a, b] <= n * x[b, g])
        into = {i: [] for i in range(n)}
        out = {i: [] for i in range(n)}
        for a, b in arcs:
            out[a].append(f[a, b])
            into[b].append(f[a, b])
        for i in range(n):  # every member but the root takes in one unit more than it sends
            m.Add(sum(into[i]) - sum(out[i]) >= x[i, g] - n * root[i, g])
    ok = []
    for g in range(k):
        load = sum(w[i] * x[i, g] for i in range(n))
        b = m.NewBoolVar("")
        m.Add(load >= math.ceil(lo)).OnlyEnforceIf(b)
        m.Add(load <= math.floor(hi)).OnlyEnforceIf(b)
        ok.append(b)
    m.Maximize(sum(ok))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 2
    status = solver.Solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, k, False
    best = int(round(solver.ObjectiveValue()))
    bound = int(math.floor(solver.BestObjectiveBound() + 1e-6))
    return best, bound, status == cp_model.OPTIMAL


def measure(name: str, loader, params: PlanParams, seconds: float, max_atoms: int) -> dict:
    """Plan one dataset and compare every community with the independent model."""
    inputs, unit_polygons = loader()
    t0 = time.perf_counter()
    p = plan(**inputs, params=params)
    plan_s = time.perf_counter() - t0
    lo, hi = params.band
    row = {"dataset": name, "communities": 0, "grids": 0, "in_band": 0, "optimum": 0,
           "proved": 0, "gridplan_proved": p.report["optimality"]["communities_proved"],
           "behind": [], "plan_s": round(plan_s, 1)}
    t1 = time.perf_counter()
    for cid in p.communities["community_id"]:
        weights, pairs, k, in_band = community_graph(p, cid, unit_polygons,
                                                     inputs.get("compounds"), hi)
        row["communities"] += 1
        row["grids"] += k
        row["in_band"] += in_band
        if k == 0:
            row["proved"] += 1
            continue
        bound = totals_bound(weights, k, lo, hi)
        if in_band >= bound:
            best, proved = in_band, True
        elif len(weights) <= max_atoms:
            best, bound, proved = solve(weights, pairs, k, lo, hi, seconds)
            best = in_band if best is None else max(best, in_band)
            proved = proved or best >= bound
        else:
            best, proved = in_band, False
        log.info("%s %s: %d atoms, %d grids, gridplan %d in band, model %s%s", name, cid,
                 len(weights), k, in_band, best, " (proved)" if proved else f" ≤ {bound}")
        if proved:
            row["proved"] += 1
            row["optimum"] += best
            if in_band < best:
                row["behind"].append(f"{cid}: {in_band} < {best}")
        row.setdefault("in_band_proved", 0)
        row["in_band_proved"] = row["in_band_proved"] + (in_band if proved else 0)
    row["model_s"] = round(time.perf_counter() - t1, 1)
    return row


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="", help="comma-separated names (default: all found)")
    ap.add_argument("--seconds", type=float, default=60.0,
                    help="time limit of the independent model per community")
    ap.add_argument("--max-atoms", type=int, default=400,
                    help="largest community (atoms) given to the independent model")
    ap.add_argument("--data", default=None, help="the shared data folder (default ../shared/data)")
    ap.add_argument("--exact-seconds", type=float, default=PlanParams().exact_seconds,
                    help="gridplan's own exact-stage budget")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("gridplan").setLevel(logging.WARNING)
    global DATA
    DATA = Path(args.data) if args.data else DATA
    found = datasets()
    names = [n for n in args.datasets.split(",") if n] or list(found)
    params = PlanParams(exact_seconds=args.exact_seconds)
    rows = []
    for name in names:
        rows.append(measure(name, found[name], params, args.seconds, args.max_atoms))
        log.info("%s", rows[-1])
    table = pd.DataFrame([{
        "dataset": r["dataset"], "communities": r["communities"], "grids": r["grids"],
        "in band (gridplan)": r["in_band"], "proved communities": r["proved"],
        "gridplan in band there": r.get("in_band_proved", 0),
        "proven optimum there": r["optimum"], "gridplan proved": r["gridplan_proved"],
        "plan s": r["plan_s"], "model s": r["model_s"]} for r in rows])
    print(table.to_string(index=False))
    for r in rows:
        for b in r["behind"]:
            print(f"  {r['dataset']} behind the optimum: {b}")


if __name__ == "__main__":
    main()
