"""Benchmark gridplan against METIS on synthetic cities of growing size.

Run from the repository root::

    .venv/bin/python -m bench.run_bench --sizes 1000,10000,100000 --json /tmp/bench.json

Each size runs in one subprocess per tool, so that the peak memory of each is its own:

1. ``generate``: build the synthetic city (:func:`bench.synthetic.synthetic_city`) and
   pickle it to a temporary folder; its time is reported apart and is not part of
   either tool's figures.
2. ``gridplan``: load the pickles, ``prepare_units`` / ``prepare_communities``, then
   ``plan(...)`` end to end (the timed figure), with the per-stage seconds of the
   plan's report and the peak resident memory of the process.
3. ``dask1``, ``dask2`` (``--workers``): plan the same city, written as GeoParquet with
   one row group per ``--partition-units``, with
   :func:`gridplan.scale.plan_partitioned` on a local Dask cluster of 1 and 2
   single-threaded worker processes; the plan is compared with the in-process one
   (SHA-1 of the unit → grid table) and the speed-up from 1 to 2 workers is printed.
4. ``command``: the whole ``gridplan plan`` command on the same city (``units.parquet``,
   ``communities.gpkg``) in a fresh process, map included, by
   :func:`bench.command_bench.run_once`: wall and CPU seconds and peak RSS of the process,
   and inside it plan(), the writers and the map; its plan is compared with the
   in-process one by the same SHA-1 (``--skip-command`` leaves it out).
5. ``metis``: load the units, build their adjacency graph (polygons sharing an edge,
   one graph for the whole city, communities ignored) and split it with
   ``pymetis.part_graph`` into ``k = households / 300`` contiguous parts weighted by
   households.

Both partitions are then measured with one yardstick on the unit polygons: share of
parts in the 255–345 band, share of parts whose units form one connected piece of
the unit graph, Polsby-Popper of the dissolved unit polygons and the largest
relative deviation from 300.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from bench import machine
from bench.synthetic import csr_graph, synthetic_city, unit_adjacency

log = logging.getLogger("bench")

ROOT = Path(__file__).resolve().parents[1]
TARGET = 300
TOLERANCE = 0.15
BAND = (TARGET * (1 - TOLERANCE), TARGET * (1 + TOLERANCE))
STAGES = ("layers", "units", "adjacency", "partition", "grids", "metrics")


def _load_average() -> list[float]:
    """1, 5 and 15 minute load averages (other processes compete for the cores)."""
    return [round(x, 2) for x in os.getloadavg()]


def cpu_seconds() -> float:
    """CPU seconds of this process and of its ended children (plan() forks workers)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def children_peak_mb() -> float:
    """Largest peak resident memory of this process's ended children, in MB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux ``ru_maxrss`` is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------
# quality on the unit polygons (one yardstick for both tools)


def partition_quality(geoms: np.ndarray, pairs: np.ndarray, labels: np.ndarray,
                      households: np.ndarray, *, band: tuple[float, float] = BAND,
                      target: float = TARGET) -> dict:
    """Quality of a partition of unit polygons into parts.

    Parameters
    ----------
    geoms : ndarray of shapely.Polygon
        Unit polygons (a tiling).
    pairs : ndarray (m, 2)
        Adjacent unit pairs (from :func:`bench.synthetic.unit_adjacency`).
    labels : ndarray (n,) of int
        Part of each unit.
    households : ndarray (n,)
        Households of each unit.
    band : tuple of float
        Lower and upper household bound of an in-band part (inclusive).
    target : float
        Households aimed at per part.

    Returns
    -------
    dict
        ``parts`` (non-empty), ``share_in_band`` and ``max_deviation`` over parts with
        households, ``contiguous_share`` (units of the part connected in the unit graph),
        ``polygon_share`` (dissolved part is one Polygon) and ``mean_polsby_popper`` of
        the dissolved parts.
    """
    labels = np.asarray(labels, dtype=np.int64)
    _, labels = np.unique(labels, return_inverse=True)
    k = int(labels.max()) + 1
    hh = np.bincount(labels, weights=households, minlength=k)
    with_hh = hh[hh > 0]
    in_band = (with_hh >= band[0]) & (with_hh <= band[1])
    same = labels[pairs[:, 0]] == labels[pairs[:, 1]]
    inner = pairs[same]
    n = len(labels)
    g = coo_matrix((np.ones(len(inner), dtype=np.int8), (inner[:, 0], inner[:, 1])),
                   shape=(n, n))
    _, comp = connected_components(g, directed=False)
    pieces = np.bincount(np.unique(np.column_stack([labels, comp]), axis=0)[:, 0], minlength=k)
    dissolved = dissolve(geoms, labels, k)
    area, perim = shapely.area(dissolved), shapely.length(dissolved)
    pp = np.where(perim > 0, 4 * np.pi * area / np.maximum(perim, 1e-12) ** 2, 0.0)
    return {
        "parts": k,
        "share_in_band": float(in_band.mean()) if len(with_hh) else 0.0,
        "max_deviation": float(np.abs(with_hh - target).max() / target) if len(with_hh) else 0.0,
        "contiguous_share": float((pieces == 1).mean()),
        "polygon_share": float((shapely.get_type_id(dissolved) == 3).mean()),
        "mean_polsby_popper": float(pp.mean()),
    }


def dissolve(geoms: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Coverage union of the polygons of each label ``0..k-1`` (labels all present)."""
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(k + 1))
    return np.array([shapely.coverage_union_all(geoms[order[a:b]])
                     for a, b in zip(starts[:-1], starts[1:], strict=True)], dtype=object)


# ---------------------------------------------------------------------------
# workers (each in its own process)


def _load(data: Path, name: str):
    with open(data / f"{name}.pkl", "rb") as f:
        return pickle.load(f)


def _dump(data: Path, name: str, obj) -> None:
    with open(data / f"{name}.pkl", "wb") as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def work_generate(n: int, seed: int, data: Path, partition_units: int = 50_000) -> dict:
    """Generate the city of ``n`` units and pickle it into ``data``; also write the units as
    GeoParquet with one row group (a partition of the Dask runs) per ``partition_units``."""
    t0 = time.perf_counter()
    units, communities = synthetic_city(n, seed=seed)
    seconds = time.perf_counter() - t0
    _dump(data, "units", units)
    _dump(data, "communities", communities)
    units.to_parquet(data / "units.parquet", row_group_size=partition_units)
    communities.to_file(data / "communities.gpkg", driver="GPKG")  # for the command
    log.info("[%d] generated %d units, %d communities, %d households in %.1f s", n, len(units),
             len(communities), int(units["households"].sum()), seconds)
    return {"generate_seconds": round(seconds, 3), "units": len(units),
            "communities": len(communities), "households": int(units["households"].sum()),
            "peak_mb": round(peak_mb(), 1)}


def work_gridplan(n: int, seed: int, data: Path, tessellation: str, progress: bool,
                  yardstick: bool) -> dict:
    """Run ``gridplan.engine.pipeline.plan`` on the pickled city and measure it."""
    from gridplan.engine.pipeline import plan
    from gridplan.layers.population import prepare_units
    from gridplan.layers.prepare import prepare_communities
    from gridplan.params import PlanParams

    raw_units, raw_comm = _load(data, "units"), _load(data, "communities")
    t0 = time.perf_counter()
    units = prepare_units(raw_units, unit_id="unit_id", households="households")
    communities = prepare_communities(raw_comm, id_field="id")
    prepare = time.perf_counter() - t0
    params = PlanParams(target=TARGET, tolerance=TOLERANCE, seed=seed,
                        tessellation=tessellation)
    log.info("[%d] gridplan: planning %d units in %d communities (tessellation=%s)", n,
             len(units), len(communities), tessellation)
    t0, c0 = time.perf_counter(), cpu_seconds()
    result = plan(units, communities, params=params, progress=progress)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    peak = max(peak_mb(), children_peak_mb())
    rep = result.report
    stages = dict(rep["stage_seconds"])
    if "stage_seconds_are" in rep:  # several processes: stages are busy time, summed
        stages = {f"{k} (summed)": v for k, v in stages.items()}
    else:
        stages["other"] = round(rep["runtime_seconds"] - sum(stages.values()), 3)
    out = {
        "wall_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
        "prepare_seconds": round(prepare, 3), "load_average": _load_average(),
        "stage_seconds": stages, "peak_mb": round(peak, 1), "grids": rep["grids"],
        "share_in_band": rep["share_in_band"], "contiguous_share": rep["contiguous_share"],
        "mean_polsby_popper": rep["mean_polsby_popper"], "max_deviation": rep["max_deviation"],
        "plan_digest": plan_digest(result.units["unit_id"], result.units["grid_code"]),
    }
    log.info("[%d] gridplan: %d grids in %.1f s, peak %.0f MB, %.2f%% in band", n,
             rep["grids"], wall, peak, 100 * rep["share_in_band"])
    if yardstick:
        t0 = time.perf_counter()
        geoms = raw_units.geometry.values
        pairs = unit_adjacency(geoms)
        code = dict(zip(result.units["unit_id"], result.units["grid_code"], strict=True))
        _, labels = np.unique(np.array([code[u] for u in raw_units["unit_id"]], dtype=object)
                              .astype(str), return_inverse=True)
        out["yardstick"] = partition_quality(geoms, pairs, labels,
                                             raw_units["households"].values)
        log.info("[%d] gridplan: measured on the unit polygons in %.1f s", n,
                 time.perf_counter() - t0)
    return out


def plan_digest(unit_ids, grid_codes) -> str:
    """SHA-1 of the sorted unit → grid code pairs: equal digests, equal plans."""
    import hashlib

    pairs = sorted(zip(map(str, unit_ids), map(str, grid_codes), strict=True))
    return hashlib.sha1("\n".join(f"{u},{g}" for u, g in pairs).encode()).hexdigest()


def work_dask(n: int, seed: int, data: Path, tessellation: str, workers: int,
              progress: bool) -> dict:
    """Plan the city's GeoParquet partitions on a local Dask cluster of ``workers`` processes.

    The timed figure is :func:`gridplan.scale.plan_partitioned` end to end (kernel
    warm-up on the workers, the three stages and the merged files); starting and closing
    the cluster are timed apart.
    """
    import pandas as pd

    from gridplan.layers.prepare import prepare_communities
    from gridplan.params import PlanParams
    from gridplan.scale import UnitOptions, dask_client, plan_partitioned

    communities = prepare_communities(_load(data, "communities"), id_field="id")
    params = PlanParams(target=TARGET, tolerance=TOLERANCE, seed=seed,
                        tessellation=tessellation)
    out = data / f"dask{workers}"
    log.info("[%d] dask: planning on a local cluster of %d worker(s)", n, workers)
    t0 = time.perf_counter()
    with dask_client(workers=workers) as client:
        start = time.perf_counter() - t0
        t1, c1 = time.perf_counter(), time.process_time()
        outcome = plan_partitioned(data / "units.parquet", communities, out, params=params,
                                   options=UnitOptions(households="households"), client=client,
                                   progress=progress)
        wall, cpu = time.perf_counter() - t1, time.process_time() - c1
        t2 = time.perf_counter()
    close = time.perf_counter() - t2
    rep, part = outcome.report, outcome.report["partitioned"]
    units = pd.read_csv(out / "units.csv", dtype=str)
    result = {
        "wall_seconds": round(wall, 3), "driver_cpu_seconds": round(cpu, 3),
        "worker_cpu_seconds": part["worker_cpu_seconds"],
        "cpu_seconds": round(cpu + sum(part["worker_cpu_seconds"].values()), 3),
        "cluster_start_seconds": round(start, 3), "cluster_close_seconds": round(close, 3),
        "load_average": _load_average(), "workers": workers, "peak_mb": round(peak_mb(), 1),
        "stage_seconds": part["wall_seconds"], "busy_seconds": rep["stage_seconds"],
        "partitions": part["partitions"], "prepare_peak_mb_max": part["prepare_peak_mb_max"],
        "plan_peak_mb_max": part["plan_peak_mb_max"], "batches": part.get("batches"),
        "merge_seconds": part.get("merge_seconds"),
        "largest_community_units": part["largest_community_units"],
        "grids": rep["grids"], "share_in_band": rep["share_in_band"],
        "contiguous_share": rep["contiguous_share"],
        "mean_polsby_popper": rep["mean_polsby_popper"], "max_deviation": rep["max_deviation"],
        "plan_digest": plan_digest(units["unit_id"], units["grid_code"]),
    }
    log.info("[%d] dask %d: %d grids in %.1f s (cluster start %.1f s), driver peak %.0f MB, "
             "worker peak %.0f MB preparing, %.0f MB planning", n, workers, rep["grids"], wall,
             start, result["peak_mb"], part["prepare_peak_mb_max"], part["plan_peak_mb_max"])
    return result


def work_metis(n: int, seed: int, data: Path) -> dict:
    """Split the pickled city's unit graph with pymetis (contiguous k-way) and measure it."""
    import pymetis

    units = _load(data, "units")
    geoms = units.geometry.values
    hh = units["households"].values.astype(np.int64)
    t0, c0 = time.perf_counter(), time.process_time()
    pairs = unit_adjacency(geoms)
    xadj, adjncy = csr_graph(len(units), pairs)
    graph_s, graph_cpu = time.perf_counter() - t0, time.process_time() - c0
    k = max(1, round(float(hh.sum()) / TARGET))
    log.info("[%d] metis: graph of %d units, %d edges in %.1f s; splitting into %d parts", n,
             len(units), len(pairs), graph_s, k)
    dtype = pymetis.zero_copy_dtype()
    t0, c0 = time.perf_counter(), time.process_time()
    result = pymetis.part_graph(
        k, adjacency=pymetis.CSRAdjacency(adj_starts=xadj.astype(dtype),
                                          adjacent=adjncy.astype(dtype)),
        vweights=hh.astype(dtype), options=pymetis.Options(contig=1, seed=seed))
    part_s, part_cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = peak_mb()
    labels = np.asarray(result.vertex_part, dtype=np.int64)
    log.info("[%d] metis: %d parts in %.1f s, peak %.0f MB", n, k, part_s, peak)
    t0 = time.perf_counter()
    quality = partition_quality(geoms, pairs, labels, hh)
    log.info("[%d] metis: measured in %.1f s", n, time.perf_counter() - t0)
    return {"graph_seconds": round(graph_s, 3), "partition_seconds": round(part_s, 3),
            "wall_seconds": round(graph_s + part_s, 3),
            "cpu_seconds": round(graph_cpu + part_cpu, 3),
            "partition_cpu_seconds": round(part_cpu, 3), "load_average": _load_average(),
            "peak_mb": round(peak, 1), "k": k,
            "edge_cut": int(result.edge_cuts), **quality}


# ---------------------------------------------------------------------------
# driver


def run_worker(kind: str, n: int, args: argparse.Namespace, data: Path) -> dict:
    """Run one worker in a fresh Python process; its result, or ``{"error": ...}``."""
    result_file = data / f"{kind}.json"
    cmd = [sys.executable, "-m", "bench.run_bench", "--worker", kind, "--sizes", str(n),
           "--seed", str(args.seed), "--data", str(data), "--result", str(result_file),
           "--tessellation", args.tessellation, "--partition-units",
           str(args.partition_units)]
    if args.progress:
        cmd.append("--progress")
    if args.no_yardstick:
        cmd.append("--no-yardstick")
    before = _machine_before()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        log.error("[%d] %s: timed out after %s s", n, kind, args.timeout)
        return {"error": f"timeout after {args.timeout} s"}
    if proc.returncode != 0:
        why = "killed by the OS (out of memory?)" if proc.returncode in (-9, 137) else \
            f"exit code {proc.returncode}"
        if result_file.exists():
            why = json.loads(result_file.read_text()).get("error", why)
        log.error("[%d] %s failed: %s", n, kind, why)
        return {"error": why}
    out = json.loads(result_file.read_text())
    out["process_seconds"] = round(time.perf_counter() - t0, 3)
    out["machine"] = _machine_since(before)
    return out


def _machine_before() -> tuple[dict, list[int] | None]:
    """The machine's speed probe and CPU counters, read just before a run."""
    return machine.speed_probe(), machine.cpu_counters()


def _machine_since(before: tuple[dict, list[int] | None]) -> dict:
    """The machine's state around a run: the probe before it, the CPU stolen since."""
    probe, ticks = before
    return {"probe_seconds": probe,
            "steal_share": machine.steal_share(ticks, machine.cpu_counters())}


def bench_size(n: int, args: argparse.Namespace) -> dict:
    """Generate, plan and (unless skipped) METIS-partition one city size."""
    with tempfile.TemporaryDirectory(prefix=f"gridplan-bench-{n}-") as tmp:
        data = Path(tmp)
        row = {"size": n, "generate": run_worker("generate", n, args, data)}
        if "error" in row["generate"]:
            return row
        row["gridplan"] = run_worker("gridplan", n, args, data)
        if not args.skip_command:
            row["command"] = run_command(n, args, data)
        for w in _worker_counts(args):
            row[f"dask{w}"] = run_worker(f"dask{w}", n, args, data)
        if not args.skip_metis:
            row["metis"] = run_worker("metis", n, args, data)
    return row


def run_command(n: int, args: argparse.Namespace, data: Path) -> dict:
    """The whole ``gridplan plan`` command on the city, map included, in a fresh process.

    Timed by :func:`bench.command_bench.run_once` (the command's own bench): process wall
    and CPU seconds, peak RSS, and plan(), writers and map inside it.
    """
    from bench.command_bench import run_once

    log.info("[%d] command: gridplan plan (map included) in a fresh process", n)
    before = _machine_before()
    out = run_once(data, data / "command", ["--seed", str(args.seed)],
                   tessellation=args.tessellation, digest=True)
    if "error" in out:
        log.error("[%d] command failed: %s", n, out["error"])
        return out
    out["load_average"] = _load_average()
    out["machine"] = _machine_since(before)
    log.info("[%d] command: %.1f s wall, %.1f s CPU, peak %.0f MB (plan() %.1f s, writers "
             "%.1f s, map %.1f s)", n, out["whole"], out["cpu"], out["peak_mb"],
             out.get("plan", 0.0), out.get("writers", 0.0), out.get("map", 0.0))
    return out


def _worker_counts(args: argparse.Namespace) -> list[int]:
    return [int(w) for w in args.workers.split(",") if w.strip()] if args.workers else []


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _num(x, fmt: str = ".1f") -> str:
    return "-" if x is None else format(x, fmt)


def format_table(rows: list[dict]) -> str:
    """The results as a text table, one line per size and tool."""
    head = (f"{'size':>7} {'tool':<8} {'wall s':>7} {'cpu s':>7} {'peak MB':>8} {'grids':>6} "
            f"{'in band':>8} {'contig':>8} {'PP':>6} {'maxdev':>6} | "
            f"{'band*':>8} {'contig*':>8} {'poly*':>8} {'PP*':>6} | detail (s)")
    lines = [head, "-" * len(head)]
    for row in rows:
        n, gen = row["size"], row["generate"]
        if "error" in gen:
            lines.append(f"{n:>7} generate failed: {gen['error']}")
            continue
        lines.append(f"{n:>7} {'city':<8} {gen['generate_seconds']:>7.1f} {'':>7} "
                     f"{gen['peak_mb']:>8.0f} {'':>6} {'':>8} {'':>8} {'':>6} {'':>6} | "
                     f"{'':>8} {'':>8} {'':>8} {'':>6} | {gen['communities']} communities, "
                     f"{gen['households']} households (generation, not counted)")
        tools = ["command", "gridplan", *sorted(t for t in row if t.startswith("dask")),
                 "metis"]
        for tool in tools:
            if tool not in row:
                continue
            r = row[tool]
            if "error" in r:
                lines.append(f"{n:>7} {tool:<8} failed: {r['error']}")
                continue
            if tool == "command":
                lines += _command_lines(n, r, row.get("gridplan", {}))
                continue
            ys = r.get("yardstick", r)
            if tool == "gridplan":
                detail = " ".join(f"{k} {v:.1f}" for k, v in r["stage_seconds"].items())
                grids = r["grids"]
            elif tool.startswith("dask"):
                detail, ys = _dask_detail(r, row.get("gridplan", {}))
                grids = r["grids"]
            else:
                detail = (f"graph {r['graph_seconds']:.1f} part_graph "
                          f"{r['partition_seconds']:.1f} (k={r['k']})")
                grids = r["parts"]
            lines.append(
                f"{n:>7} {tool:<8} {r['wall_seconds']:>7.1f} {_num(r.get('cpu_seconds')):>7} "
                f"{r['peak_mb']:>8.0f} {grids:>6} "
                f"{_pct(r['share_in_band']):>8} {_pct(r['contiguous_share']):>8} "
                f"{r['mean_polsby_popper']:>6.3f} {r['max_deviation']:>6.3f} | "
                f"{_pct(ys.get('share_in_band')):>8} {_pct(ys.get('contiguous_share')):>8} "
                f"{_pct(ys.get('polygon_share')):>8} "
                f"{_num(ys.get('mean_polsby_popper'), '.3f'):>6} | {detail}"
                + (f"; load {r['load_average'][0]:.1f}" if "load_average" in r else "")
                + _machine_text(r))
    lines += _speedups(rows)
    lines += _command_ratios(rows)
    lines.append("")
    lines.append("command: the whole `gridplan plan` in a fresh process (start-up, reading, "
                 "plan(), plan files, map.html, exit): wall, CPU (user + system) and peak RSS "
                 "of the process, forked processes included; files: writing every file "
                 "(writers then the map here, plan.gpkg beside them on a forked process); "
                 "writers, gpkg and map: their wall and CPU seconds inside it; "
                 "gridplan: plan() alone in its own process.")
    lines.append("dask<N>: plan_partitioned() on a local cluster of N single-threaded worker "
                 "processes (cluster start apart); cpu s = driver + all workers' task CPU "
                 "time; peak MB = the driver's; worker peaks in the detail, per partition and "
                 "per batch of communities.")
    lines.append("wall s / cpu s: gridplan = plan() end to end; metis = graph build + "
                 "part_graph; stage seconds are wall clock; load = 1-minute load average; "
                 "probe = seconds of a fixed Python loop just before the run, alone and on "
                 "two processes at once (the machine's speed that minute, and whether its "
                 "two vCPUs share a core); steal = share of CPU time the hypervisor gave "
                 "other guests during the run. "
                 "contig: gridplan = grids that are one Polygon; metis = parts connected in "
                 "the unit graph.")
    lines.append("* = one yardstick for both tools on the unit polygons: in band, connected in "
                 "the unit graph, dissolved part is one Polygon, Polsby-Popper of the dissolve.")
    return "\n".join(lines)


def _machine_text(r: dict) -> str:
    """The machine's state around a run: its Python speed before it, alone and on two
    processes at once, and the CPU time stolen during it."""
    m = r.get("machine") or {}
    probe, steal = m.get("probe_seconds"), m.get("steal_share")
    if not probe:
        return ""
    return (f"; probe {probe['one']:.3f} s, {probe['two']:.3f} s on two"
            + (f", steal {100 * steal:.1f} %" if steal is not None else ""))


def _command_lines(n: int, r: dict, inproc: dict) -> list[str]:
    """Rows of the whole command and of its writers and map step."""
    same = inproc.get("plan_digest") == r.get("plan_digest")
    blank = f"{'':>6} {'':>8} {'':>8} {'':>6} {'':>6} | {'':>8} {'':>8} {'':>8} {'':>6} |"
    html = f", map.html {r['map_mb']:.1f} MB" if r.get("map_mb") is not None else ""
    detail = (f"start+imports {r['start_and_imports']:.1f} plan() {r.get('plan', 0):.1f} "
              f"(cpu {r.get('plan_cpu', 0):.1f}) files {r.get('files', 0):.1f} other "
              f"{r['other_in_main']:.1f} teardown "
              f"{r['teardown']:.1f}{html}; plan {str(r.get('plan_digest'))[:10]}, same plan "
              f"as plan(): {'yes' if same else 'NO'}; load {r['load_average'][0]:.1f}"
              f"{_machine_text(r)}")
    lines = [f"{n:>7} {'command':<8} {r['whole']:>7.1f} {r['cpu']:>7.1f} {r['peak_mb']:>8.0f} "
             f"{_num(r.get('grids'), 'd'):>6} {blank[7:]} {detail}"]
    for step, what in (("writers", "grids.geojson, units.csv, report.json, grids.xlsx"),
                       ("gpkg", "plan.gpkg"), ("map", "map.html")):
        if step in r:
            lines.append(f"{n:>7} {step:<8} {r[step]:>7.1f} {r[step + '_cpu']:>7.1f} "
                         f"{'':>8} {blank} {what}, inside the command's files "
                         f"({r.get('files', 0):.1f} s: writers then the map here, plan.gpkg "
                         f"beside them on a forked process)")
    return lines


def _command_ratios(rows: list[dict]) -> list[str]:
    """The whole command against plan() and against pymetis's partition call."""
    lines = []
    for row in rows:
        cmd, metis, gp = row.get("command", {}), row.get("metis", {}), row.get("gridplan", {})
        if "whole" not in cmd:
            continue
        parts = []
        if "wall_seconds" in gp:
            parts.append(f"command ÷ plan(): wall {cmd['whole'] / gp['wall_seconds']:.2f}×, "
                         f"CPU {cmd['cpu'] / gp['cpu_seconds']:.2f}×")
        if "partition_seconds" in metis:
            parts.append(f"command ÷ pymetis part_graph: wall "
                         f"{cmd['whole'] / metis['partition_seconds']:.2f}×, CPU "
                         f"{cmd['cpu'] / max(metis['partition_cpu_seconds'], 1e-9):.2f}×")
            parts.append(f"÷ pymetis graph + part_graph: wall "
                         f"{cmd['whole'] / metis['wall_seconds']:.2f}×, CPU "
                         f"{cmd['cpu'] / max(metis['cpu_seconds'], 1e-9):.2f}×")
        lines.append(f"{row['size']:>7} " + "; ".join(parts))
    return [""] + lines if lines else []


def _dask_detail(r: dict, inproc: dict) -> tuple[str, dict]:
    """Detail text of a Dask row, and its yardstick (the in-process one when plans match)."""
    same = inproc.get("plan_digest") == r["plan_digest"]
    st = r["stage_seconds"]
    writing = (f" (the driver wrote files for {r['merge_seconds']:.1f} s in all, most while "
               f"the workers planned)" if r.get("merge_seconds") is not None else "")
    detail = (f"prepare {st.get('prepare', 0):.1f} plan {st.get('plan', 0):.1f} merge "
              f"{st.get('merge', 0):.1f}{writing}; cluster start {r['cluster_start_seconds']:.1f}; "
              f"{r['partitions']} partitions; worker peak MB: partition "
              f"{r['prepare_peak_mb_max']:.0f}, batch {r['plan_peak_mb_max']:.0f} "
              f"({r.get('batches', '?')} batches; largest community "
              f"{r['largest_community_units']} units); same plan as in-process: "
              f"{'yes' if same else 'NO'}")
    return detail, (inproc.get("yardstick", {}) if same else {})


def _speedups(rows: list[dict]) -> list[str]:
    """Speed-up lines (1 → N workers, in-process → N workers) and the CPU ratios."""
    lines = []
    for row in rows:
        done = {int(t[4:]): row[t] for t in row if t.startswith("dask") and "error" not in row[t]}
        if not done:
            continue
        runs = {w: r["wall_seconds"] for w, r in done.items()}
        base = row.get("gridplan", {}).get("wall_seconds")
        parts = [f"{w} workers {t:.1f} s" for w, t in sorted(runs.items())]
        if 1 in runs:
            parts += [f"speed-up 1→{w}: {runs[1] / t:.2f}×" for w, t in sorted(runs.items())
                      if w > 1]
        if base:
            parts += [f"in-process→{w}: {base / t:.2f}×" for w, t in sorted(runs.items())]
        lines.append(f"{row['size']:>7} " + "; ".join(parts))
        lines += _cpu_ratios(row, done)
    return [""] + lines if lines else []


def _cpu_ratios(row: dict, done: dict[int, dict]) -> list[str]:
    """CPU of each Dask run against plan() in-process, and against plan() plus the same
    plan files written by the command (its writers and plan.gpkg; the Dask runs draw no
    map)."""
    gp_cpu = row.get("gridplan", {}).get("cpu_seconds")
    if not gp_cpu:
        return []
    cmd = row.get("command", {})
    files = cmd.get("writers_cpu", 0.0) + cmd.get("gpkg_cpu", 0.0)
    parts = []
    for w, r in sorted(done.items()):
        text = f"{w} workers ÷ plan(): {r['cpu_seconds'] / gp_cpu:.2f}×"
        if files:
            text += f", ÷ plan() + plan files: {r['cpu_seconds'] / (gp_cpu + files):.2f}×"
        parts.append(text)
    return [f"{row['size']:>7} CPU " + "; ".join(parts)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,10000,100000",
                   help="comma-separated unit counts (default 1000,10000,100000)")
    p.add_argument("--units", type=int,
                   help="one city size (same as --sizes N), e.g. 100000 or 500000")
    p.add_argument("--skip-command", action="store_true",
                   help="do not time the whole `gridplan plan` command")
    p.add_argument("--seed", type=int, default=0, help="seed of the city and both tools")
    p.add_argument("--tessellation", default="centroid",
                   choices=("centroid", "auto", "footprint"),
                   help="gridplan tessellation; the synthetic units are Voronoi cells, not "
                        "building footprints, so 'centroid' (default) is the faithful choice")
    p.add_argument("--skip-metis", action="store_true", help="do not run pymetis")
    p.add_argument("--no-yardstick", action="store_true",
                   help="skip measuring gridplan's grids on the unit polygons")
    p.add_argument("--timeout", type=float, default=None, help="seconds per worker process")
    p.add_argument("--progress", action="store_true", help="gridplan progress bar")
    p.add_argument("--json", type=Path, help="write all figures to this JSON file")
    p.add_argument("--note", default="", help="free text stored with the figures (e.g. the "
                   "gridplan commit when benchmarking a copy outside git)")
    p.add_argument("--workers", default="1,2",
                   help="Dask local-cluster sizes to run gridplan on, comma-separated "
                        "(default 1,2; empty string to skip)")
    p.add_argument("--partition-units", type=int, default=50_000,
                   help="units per GeoParquet row group, i.e. per partition of the Dask runs "
                        "(default 50000)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--worker``, one worker of it)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    sizes = ([args.units] if args.units else
             [int(s) for s in args.sizes.split(",") if s.strip()])
    if args.worker:
        return _run_worker_here(args, sizes[0])
    log.info("benchmarking gridplan from %s", _gridplan_source())
    rows = []
    for n in sizes:
        log.info("=== %d units ===", n)
        rows.append(bench_size(n, args))
        if args.json:  # write as we go, so a long run leaves its finished sizes
            _write_json(args.json, rows, args)
    print(format_table(rows))
    return 0


def _run_worker_here(args: argparse.Namespace, n: int) -> int:
    """Body of a worker process: run it, write its figures (or its error) to ``--result``."""
    try:
        if args.worker == "generate":
            out = work_generate(n, args.seed, args.data, args.partition_units)
        elif args.worker == "gridplan":
            out = work_gridplan(n, args.seed, args.data, args.tessellation, args.progress,
                                not args.no_yardstick)
        elif args.worker.startswith("dask"):
            out = work_dask(n, args.seed, args.data, args.tessellation,
                            int(args.worker[4:]), args.progress)
        else:
            out = work_metis(n, args.seed, args.data)
    except Exception as exc:  # report any failure of the tool under test, then fail
        log.exception("[%d] %s worker failed", n, args.worker)
        args.result.write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:300],
                                           "peak_mb": round(peak_mb(), 1)}))
        return 1
    args.result.write_text(json.dumps(out))
    return 0


def _write_json(path: Path, rows: list[dict], args: argparse.Namespace) -> None:
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.platform(),
            "cpus": _cpu_count(), "python": platform.python_version(), "seed": args.seed,
            "tessellation": args.tessellation, "band": list(BAND), "note": args.note,
            **_gridplan_source()}
    path.write_text(json.dumps({"meta": meta, "results": rows}, indent=2))


def _gridplan_source() -> dict:
    """Where the benchmarked gridplan came from: its folder, git commit and local edits."""
    import gridplan

    folder = Path(gridplan.__file__).resolve().parent
    out = {"gridplan_path": str(folder)}
    try:
        git = ["git", "-C", str(folder)]
        out["gridplan_commit"] = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
            check=True).stdout.strip()
        out["gridplan_modified"] = bool(subprocess.run(
            [*git, "status", "--porcelain", "--", "."], capture_output=True, text=True,
            check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        out["gridplan_commit"] = None  # not a git checkout (e.g. a snapshot)
    return out


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())
