"""Staffing bench: ``gridplan staff`` on a synthetic plan of about 8,000 grids, and tours.

Plans a synthetic city (``--units``, 96,000 give about 8,000 grids; cached in ``--cache``),
writes a workers table (``--workers``, spread over the communities in proportion to their
grids, two in three with a home, one in ten part-time), then

1. times ``gridplan staff`` as a whole command in a child process (wall time and the
   child's peak RSS), without and with the map;
2. times its parts in this process by wrapping the functions ``run_staff`` calls: reading
   the plan and the workers, grid loads (tours), the assignment, writing;
3. optionally (``--reference``) solves the same assignment with the min-cost flow
   (networkx) the assignment was first written with, and compares the optimal costs;
4. times tours of 50, 100 and 300 stops, straight-line and on the walking network of an
   OSM extract (``--osm``), and with ``--reference`` the networkx method (one Dijkstra per
   stop, Christofides up to 60 stops, else greedy) on the same stops.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

# real data lives beside the repository (../shared/data), as for the tests
OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "beijing_wudaokou.osm.bz2"
TOUR_SIZES = (50, 100, 300)
TOUR_SIDE = 800.0  # metres: stops are drawn in a square this wide around the network's middle


# --- inputs ---------------------------------------------------------------------------------

def ensure_plan(units: int, cache: Path, seed: int = 0) -> Path:
    """The synthetic plan of ``units`` units, planned once into ``cache``."""
    from bench.synthetic_plan import write_synthetic_plan

    out = cache / f"plan{units}"
    if not (out / "report.json").exists():
        log.info("planning a synthetic city of %d units into %s", units, out)
        write_synthetic_plan(units, out, seed)
    return out


def workers_table(plan, n_workers: int, seed: int = 0) -> pd.DataFrame:
    """``n_workers`` workers spread over the plan's communities in proportion to their grids.

    Two in three get a home (lon, lat) near a random unit of their community; one in ten
    is part-time (80 h a month), the others full-time (160 h).

    Examples
    --------
    >>> from gridplan.export.folder import read_plan  # doctest: +SKIP
    >>> workers_table(read_plan("/tmp/plan"), 8500).shape  # doctest: +SKIP
    (8500, 6)
    """
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    per = plan.grids.groupby("community_id").size()
    share = per / per.sum() * n_workers
    count = np.floor(share).astype(int)
    extra = (share - count).sort_values(ascending=False).index[:n_workers - count.sum()]
    count[extra] += 1
    comm = np.repeat(count.index.to_numpy(), count.to_numpy())
    pts = shapely.get_coordinates(shapely.point_on_surface(plan.units.geometry.values))
    by_comm = pd.Series(np.arange(len(pts))).groupby(plan.units["community_id"].values)
    rows = by_comm.indices
    pick = np.array([rng.choice(rows[c]) for c in comm])
    xy = pts[pick] + rng.normal(0, 50, (len(comm), 2))
    lonlat = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=plan.crs).to_crs(4326)
    home = rng.random(len(comm)) < 2 / 3
    return pd.DataFrame({
        "worker_id": [f"W{i:05d}" for i in range(len(comm))],
        "name": [f"worker {i}" for i in range(len(comm))],
        "community_id": comm,
        "lon": np.where(home, lonlat.x.round(6), np.nan),
        "lat": np.where(home, lonlat.y.round(6), np.nan),
        "capacity_hours": np.where(rng.random(len(comm)) < 0.1, 80.0, 160.0),
    })


# --- the whole command ----------------------------------------------------------------------

def time_command(plan_dir: Path, workers_csv: Path, out: Path, with_map: bool) -> dict:
    """Wall and CPU seconds and peak RSS (MB) of ``gridplan staff`` run as a child process.

    The CPU seconds (user + system of the child) hardly depend on what else the
    machine runs; the wall seconds do.
    """
    exe = Path(sys.executable).with_name("gridplan")
    cmd = [str(exe), "staff", "--plan", str(plan_dir), "--workers", str(workers_csv),
           "--out", str(out), "--quiet", "--map" if with_map else "--no-map"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode:
        raise RuntimeError(f"gridplan staff failed ({proc.returncode}): {err[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_mb": usage.ru_maxrss / 1024}


# --- its parts, in this process -------------------------------------------------------------

@contextmanager
def _timed(module, name: str, seconds: dict, label: str):
    """Replace ``module.name`` by a wrapper adding its wall and CPU seconds to
    ``seconds[label]``."""
    original = getattr(module, name)

    def wrapper(*args, **kw):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return original(*args, **kw)
        finally:
            wall, cpu = seconds.get(label, (0.0, 0.0))
            seconds[label] = (wall + time.perf_counter() - t0, cpu + time.process_time() - c0)

    setattr(module, name, wrapper)
    try:
        yield
    finally:
        setattr(module, name, original)


def time_parts(plan_dir: Path, workers_csv: Path, out: Path) -> dict:
    """Seconds of each part of ``run_staff`` (no map), and the assignment it made."""
    from contextlib import ExitStack

    import gridplan.export.folder as folder
    import gridplan.run as run

    seconds: dict[str, float] = {}
    made = {}
    original_assign = run.assign_workers

    def keep(*args, **kw):
        made["args"], made["result"] = args, original_assign(*args, **kw)
        return made["result"]

    # run_staff calls these through its own module's names: wrap them there
    with ExitStack() as stack:
        stack.enter_context(_setattr(run, "assign_workers", keep))
        for name, label in [("read_plan", "read plan"), ("read_layer", "read workers, special"),
                            ("grid_loads", "grid loads (tours)"),
                            ("assign_workers", "assignment"), ("write_plan", "write")]:
            stack.enter_context(_timed(run, name, seconds, label))
        for module, name, label in [(folder, "write_geojson", "  of which grids.geojson"),
                                    (folder, "write_geojson_like", "  of which grids.geojson"),
                                    (folder, "write_gpkg", "  of which plan.gpkg layers"),
                                    (folder, "_write_parcels", "  of which plan.gpkg parcels"),
                                    (folder, "write_grids_xlsx", "  of which grids.xlsx"),
                                    (run, "write_staffing_xlsx", "  of which staffing.xlsx")]:
            stack.enter_context(_timed(module, name, seconds, label))
        t0, c0 = time.perf_counter(), time.process_time()
        run.run_staff(str(plan_dir), str(workers_csv), str(out))
        total = (time.perf_counter() - t0, time.process_time() - c0)
    top = [s for label, s in seconds.items() if not label.startswith(" ")]
    seconds["other"] = tuple(t - sum(s[k] for s in top) for k, t in enumerate(total))
    seconds["run_staff"] = total
    return {"seconds": seconds, "args": made["args"], "assignment": made["result"]}


@contextmanager
def _setattr(module, name: str, value):
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


# --- the assignment's cost, and the min-cost flow it is checked against ---------------------

def assignment_cost(grids: pd.DataFrame, loads, workers, grid_xy, homes) -> int:
    """Cost of an assignment in the model of ``assign_workers``: whole metres from home to
    grid, ``SLOT_PENALTY × j²`` for a worker's j-th grid, 10⁹ per grid left unassigned."""
    from gridplan.workforce.staffing import SLOT_PENALTY, UNASSIGNED

    held = grids[grids["worker_id"] != UNASSIGNED]
    travel = sum(int(float(np.hypot(*(grid_xy[g] - homes[w]))))
                 for g, w in zip(held["grid_code"], held["worker_id"], strict=True))
    k = held.groupby("worker_id").size().to_numpy()
    slots = int((SLOT_PENALTY * k * (k + 1) * (2 * k + 1) // 6).sum())
    return travel + slots + 10**9 * int((grids["worker_id"] == UNASSIGNED).sum())


def flow_reference_cost(loads, workers, grid_xy, homes) -> int:
    """Optimal cost of the same model by networkx min-cost flow (the assignment's first method)."""
    import networkx as nx

    from gridplan.workforce.staffing import SLOT_PENALTY

    g = nx.DiGraph()
    g.add_node("S", demand=-len(loads))
    for row in loads.itertuples(index=False):
        g.add_node(("g", row.grid_code), demand=1)
        g.add_edge(("u", row.community_id), ("g", row.grid_code), capacity=1, weight=10**9)
    for cid in loads["community_id"].unique():
        g.add_edge("S", ("u", cid), capacity=len(loads), weight=0)
    mean_h = loads.groupby("community_id")["workload_hours"].mean()
    by_comm = dict(tuple(loads.groupby("community_id")))
    for w in workers.itertuples(index=False):
        mine = by_comm.get(w.community_id, loads.iloc[0:0])
        slots = int(min(len(mine), w.capacity_hours // max(mean_h.get(w.community_id, 1), 1e-9)))
        for j in range(1, slots + 1):
            g.add_edge("S", ("s", w.worker_id, j), capacity=1, weight=SLOT_PENALTY * j * j)
            g.add_edge(("s", w.worker_id, j), ("w", w.worker_id), capacity=1, weight=0)
        for row in mine.itertuples(index=False):
            d = float(np.hypot(*(grid_xy[row.grid_code] - homes[w.worker_id])))
            g.add_edge(("w", w.worker_id), ("g", row.grid_code), capacity=1, weight=int(d))
    return int(nx.cost_of_flow(g, nx.min_cost_flow(g)))


# --- tours ----------------------------------------------------------------------------------

def tour_stops(street, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` stops drawn in a square of TOUR_SIDE metres around the network's middle node,
    each within 100 m of a network node, and the square's centre as the start."""
    rng = np.random.default_rng(seed)
    mid = np.median(street.xy, axis=0)
    near = street.xy[(np.abs(street.xy - mid) <= TOUR_SIDE / 2).all(axis=1)]
    pts = near[rng.integers(0, len(near), n)] + rng.uniform(-50, 50, (n, 2))
    return pts, mid


def reference_tour(points: np.ndarray, start: np.ndarray, street=None,
                   detour: float = 1.3) -> float:
    """Tour length by the method tours were first measured with: networkx Dijkstra from
    every stop on the street graph, Christofides up to 60 stops, greedy beyond."""
    import networkx as nx

    stops = np.vstack([start[None, :], points])
    n = len(stops)
    if street is None:
        diff = stops[:, None, :] - stops[None, :, :]
        dist = np.hypot(diff[..., 0], diff[..., 1]) * detour
    else:
        dist = _networkx_distances(street, stops)
    g = nx.Graph()
    for i in range(n):
        for j in range(i + 1, n):
            g.add_edge(i, j, weight=float(dist[i, j]))
    method = nx.approximation.christofides if n <= 60 else nx.approximation.greedy_tsp
    cycle = nx.approximation.traveling_salesman_problem(g, cycle=True, method=method)
    return float(sum(dist[a, b] for a, b in zip(cycle[:-1], cycle[1:], strict=True)))


def _networkx_distances(street, stops: np.ndarray) -> np.ndarray:
    import networkx as nx
    import shapely

    idx = street.tree.nearest(shapely.points(stops))
    snap = np.hypot(*(street.xy[idx] - stops).T)
    nodes = street.nodes[idx]
    graph = nx.Graph()
    graph.add_weighted_edges_from(_edges(street), weight="length")
    dist = np.zeros((len(stops), len(stops)))
    for i in range(len(stops)):
        lengths = nx.single_source_dijkstra_path_length(graph, nodes[i], weight="length")
        for j in range(len(stops)):
            if j != i:
                dist[i, j] = lengths[nodes[j]] + snap[i] + snap[j]
    return dist


def _edges(street):
    """The street network's edges as (u, v, length), whatever it stores them as."""
    graph = getattr(street, "graph", None)
    if graph is not None:
        return [(u, v, d["length"]) for u, v, d in graph.edges(data=True)]
    m = street.matrix.tocoo()
    return [(street.nodes[a], street.nodes[b], w)
            for a, b, w in zip(m.row, m.col, m.data, strict=True)]


def bench_tours(osm: Path | None, sizes, reference: bool) -> list[dict]:
    """Time tours of each size, straight-line and on the street network."""
    from gridplan.workforce.workload import tour_length, walking_network

    street, build_s = None, None
    if osm is not None and osm.exists():
        t0 = time.perf_counter()
        street = walking_network(osm, "EPSG:32650")
        build_s = time.perf_counter() - t0
    tour_length(*_square_stops(30))  # load the compiled kernels once, as a command does
    rows = []
    for net in ([None, street] if street is not None else [None]):
        for n in sizes:
            pts, start = tour_stops(street, n) if street is not None else _square_stops(n)
            t0, c0 = time.perf_counter(), time.process_time()
            length, on_net = tour_length(pts, start, street=net)
            row = {"stops": n, "network": "street" if net is not None else "straight",
                   "seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                   "length_m": length, "on_net": on_net,
                   "network_build_s": build_s if net is not None else None}
            if reference:
                t0, c0 = time.perf_counter(), time.process_time()
                row["ref_length_m"] = reference_tour(pts, start, street=net)
                row["ref_seconds"] = time.perf_counter() - t0
                row["ref_cpu_s"] = time.process_time() - c0
            rows.append(row)
    return rows


def _square_stops(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, TOUR_SIDE, (n, 2)), np.array([TOUR_SIDE / 2, TOUR_SIDE / 2])


# --- report ---------------------------------------------------------------------------------

def format_tours(rows: list[dict]) -> str:
    """The tours table: this method, and the networkx reference when it ran."""
    lines = ["stops  network    wall s   cpu s   length m   ref wall s  ref cpu s  ref length m"
             "  shorter by"]
    for r in rows:
        ref = (f"{r['ref_seconds']:10.2f}  {r['ref_cpu_s']:9.2f}  {r['ref_length_m']:12.0f}"
               f"  {1 - r['length_m'] / r['ref_length_m']:10.1%}" if "ref_seconds" in r
               else f"{'-':>10s}  {'-':>9s}  {'-':>12s}  {'-':>10s}")
        on = "" if r["network"] == "straight" or r["on_net"] else " (fell back)"
        lines.append(f"{r['stops']:5d}  {r['network']:8s}  {r['seconds']:7.3f}  {r['cpu_s']:6.3f}"
                     f"  {r['length_m']:9.0f}  {ref}{on}")
    build = [r["network_build_s"] for r in rows if r["network_build_s"] is not None]
    if build:
        lines.append(f"street network built in {build[0]:.1f} s (walking_network)")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=96_000, help="units of the synthetic city")
    ap.add_argument("--workers", type=int, default=8_500, help="workers to assign")
    ap.add_argument("--cache", default="/tmp/gridplan-staffing-bench",
                    help="folder keeping the planned city and the outputs")
    ap.add_argument("--osm", default=str(OSM), help="OSM extract for the street network")
    ap.add_argument("--tour-sizes", default=",".join(map(str, TOUR_SIZES)))
    ap.add_argument("--reference", action="store_true",
                    help="also run the networkx min-cost flow and networkx tours (slow)")
    ap.add_argument("--skip-map", action="store_true", help="do not time the command with map")
    ap.add_argument("--skip-staff", action="store_true", help="only the tours")
    return ap.parse_args(argv)


def bench_staff(args: argparse.Namespace) -> None:
    """The staffing half: whole command, parts, and (with --reference) the flow's cost."""
    from gridplan.export.folder import read_plan

    cache = Path(args.cache)
    plan_dir = ensure_plan(args.units, cache)
    plan = read_plan(plan_dir)
    workers_csv = cache / f"workers{args.workers}.csv"
    if not workers_csv.exists():
        workers_table(plan, args.workers).to_csv(workers_csv, index=False)
    print(f"staffing bench: {len(plan.grids)} grids, {len(plan.units)} units, "
          f"{plan.communities.shape[0]} communities, {args.workers} workers")
    runs = [("gridplan staff --no-map", False)] + ([] if args.skip_map else
                                                   [("gridplan staff (with map)", True)])
    for label, with_map in runs:
        r = time_command(plan_dir, workers_csv, cache / "staff-cmd", with_map)
        print(f"{label:28s} {r['wall_s']:7.2f} s  cpu {r['cpu_s']:7.2f} s  "
              f"peak {r['peak_mb']:6.0f} MB")
    parts = time_parts(plan_dir, workers_csv, cache / "staff-parts")
    for label, (wall, cpu) in parts["seconds"].items():
        print(f"  {label:26s} {wall:7.2f} s  cpu {cpu:7.2f} s")
    a = parts["assignment"]
    cost = assignment_cost(a.grids, *parts["args"])
    open_grids = int((a.grids["worker_id"] == "(unassigned)").sum())
    print(f"assignment cost {cost}, grids without worker {open_grids}")
    if args.reference:
        t0 = time.perf_counter()
        ref = flow_reference_cost(*parts["args"])
        print(f"networkx min-cost flow: cost {ref} in {time.perf_counter() - t0:.1f} s "
              f"({'equal' if ref == cost else 'DIFFERENT'})")


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.staffing_bench [--units 96000] [--workers 8500] [--reference]``."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if not args.skip_staff:
        bench_staff(args)
    osm = Path(args.osm) if args.osm else None
    sizes = [int(s) for s in args.tour_sizes.split(",")]
    print(format_tours(bench_tours(osm, sizes, args.reference)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
