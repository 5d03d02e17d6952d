"""Time the whole ``gridplan plan`` command on a synthetic city, and its parts.

Run from the repository root::

    .venv/bin/python -m bench.command_bench                        # 100k units
    .venv/bin/python -m bench.command_bench --sizes 100000,500000 --repeat 2

For each size the city (``bench/synthetic.py``) is written once as GeoParquet (units) and
GeoPackage (communities); then ``gridplan plan --population … --communities … --households
households --tessellation centroid --quiet`` runs in a fresh Python process, ``--repeat``
times. The process runs the command's own ``main`` with timers wrapped around
``gridplan.engine.pipeline.plan`` (plan(); the command checks the plan's rules while it
writes the files, so in *files* here), the plan files
(``gridplan.export.folder._write_all``: grids.geojson, units.csv, plan.gpkg, report.json)
and ``gridplan.maps.coverage.save_plan_map`` (map.html).

Printed per run: the whole command (process start to exit, as a user waits for it) and
its CPU seconds (user + system, forked processes included); plan(), its *metrics* stage;
*files*, the wall time of writing all files (``gridplan.run.write_plan``: the rules checked,
the plan files and the map, with plan.gpkg beside them on a forked process where the plan
is large enough), and within it the writers (``gridplan.export.folder._write_all``), the
GeoPackage (``_write_plan_gpkg``) and the map, each in wall and CPU seconds; the rest
before ``main`` returns (imports of the command, reading inputs); teardown (``main``
returned → process gone); the process's peak RSS (``ru_maxrss`` from ``wait4``); the size
of map.html; the 1-minute load average before the run.

``python -m bench.run_bench`` runs the same :func:`run_once` beside plan() alone and
pymetis on the same city (its *command*, *writers* and *map* rows).

It also runs as a plain script (``python /path/to/bench/command_bench.py``), so the same
bench can time another checkout: run it from that checkout's root with its venv.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cpu_seconds() -> float:
    """CPU seconds of this process and of its ended children (plan() forks workers)."""
    import resource

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def write_city(n: int, seed: int, folder: Path) -> dict:
    """The synthetic city of ``n`` units as ``units.parquet`` and ``communities.gpkg``."""
    sys.path.insert(0, str(HERE))
    from synthetic import synthetic_city

    units, communities = synthetic_city(n, seed=seed)
    units.to_parquet(folder / "units.parquet")
    communities.to_file(folder / "communities.gpkg", driver="GPKG")
    return {"units": len(units), "communities": len(communities)}


def child(args: argparse.Namespace) -> int:
    """Run ``gridplan plan`` in this process with timers around its parts."""
    t_start = float(args.t0)
    import gridplan.maps.coverage as coverage

    import gridplan.engine.pipeline as pipeline
    import gridplan.export.folder as folder
    import gridplan.run as run
    from gridplan.cli.main import main

    times: dict[str, float] = {}
    me, side = os.getpid(), Path(args.result + ".side")  # the map is written on a fork

    def timed(name, fn):
        def wrapper(*a, **k):
            t0, c0 = time.perf_counter(), cpu_seconds()
            try:
                return fn(*a, **k)
            finally:
                took = {name: time.perf_counter() - t0, name + "_cpu": cpu_seconds() - c0}
                for key, value in took.items():
                    times[key] = times.get(key, 0.0) + value
                if os.getpid() != me:
                    with open(side, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps(took) + "\n")
        return wrapper

    report = {}
    real_plan = pipeline.plan  # run_plan imports it when called, so the patch is seen

    def plan(*a, **k):
        result = real_plan(*a, **k)
        report.update(result.report)
        return result

    pipeline.plan = timed("plan", plan)
    folder._write_all = timed("writers", folder._write_all)
    folder._write_plan_gpkg = timed("gpkg", folder._write_plan_gpkg)
    coverage.save_plan_map = timed("map", coverage.save_plan_map)
    run.write_plan = timed("files", run.write_plan)
    imported = time.time()
    main(args.argv, standalone_mode=False)
    done = time.time()
    if side.exists():
        for line in side.read_text(encoding="utf-8").splitlines():
            times.update(json.loads(line))
        side.unlink()
    out = {k: round(v, 3) for k, v in times.items()}
    out["start_and_imports"] = round(imported - t_start, 3)
    out["main"] = round(done - imported, 3)
    out["main_returned"] = done
    out["metrics_stage"] = report.get("stage_seconds", {}).get("metrics")
    out["grids"] = report.get("grids")
    Path(args.result).write_text(json.dumps(out))
    return 0


def run_once(city: Path, out: Path, extra: list[str], *, tessellation: str = "centroid",
             digest: bool = False) -> dict:
    """One ``gridplan plan`` in a fresh process; its figures.

    ``city`` holds ``units.parquet`` and ``communities.gpkg``. With ``digest``, the figures
    also carry ``plan_digest``: the SHA-1 of the sorted unit → grid code pairs of the
    ``units.csv`` it wrote (as :func:`bench.run_bench.plan_digest`).
    """
    result = city / "result.json"
    argv = ["plan", "--population", str(city / "units.parquet"),
            "--communities", str(city / "communities.gpkg"), "--households", "households",
            "--tessellation", tessellation, "--out", str(out), "--quiet", *extra]
    load = os.getloadavg()[0]
    t0 = time.time()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--t0", repr(t0),
           "--result", str(result), "--", *argv]
    proc = subprocess.Popen(cmd, cwd=os.getcwd())
    _, status, usage = os.wait4(proc.pid, 0)
    end = time.time()
    if os.waitstatus_to_exitcode(status) != 0:
        return {"error": f"exit status {os.waitstatus_to_exitcode(status)}"}
    r = json.loads(result.read_text())
    r["whole"] = round(end - t0, 3)
    r["teardown"] = round(end - r.pop("main_returned"), 3)
    r["peak_mb"] = round(usage.ru_maxrss / 1024, 1)
    r["cpu"] = round(usage.ru_utime + usage.ru_stime, 3)
    r["load_average"] = round(load, 2)
    html = out / "map.html"
    r["map_mb"] = round(html.stat().st_size / 1e6, 1) if html.exists() else None
    r["other_in_main"] = round(r["main"] - r.get("plan", 0.0) - r.get("files", 0.0), 3)
    if digest:
        r["plan_digest"] = units_csv_digest(out / "units.csv")
    return r


def units_csv_digest(path: Path) -> str:
    """SHA-1 of the sorted ``unit_id,grid_code`` pairs of a plan's ``units.csv``."""
    import csv
    import hashlib

    with open(path, newline="", encoding="utf-8") as fh:
        pairs = sorted((row["unit_id"], row["grid_code"]) for row in csv.DictReader(fh))
    return hashlib.sha1("\n".join(f"{u},{g}" for u, g in pairs).encode()).hexdigest()


COLUMNS = ["whole", "cpu", "start_and_imports", "plan", "plan_cpu", "metrics_stage", "files",
           "writers", "writers_cpu", "gpkg", "gpkg_cpu", "map", "map_cpu", "other_in_main",
           "teardown", "peak_mb", "map_mb", "load_average"]


def format_rows(rows: list[dict]) -> str:
    head = ["units", "run", *COLUMNS]
    lines = ["  ".join(f"{h:>10}" for h in head)]
    for row in rows:
        cells = [str(row["size"]), str(row["run"])]
        cells += ["—" if row.get(c) is None else (f"{row[c]:.0f}" if c == "peak_mb" else
                                                   f"{row[c]:.2f}" if c == "load_average" else
                                                   f"{row[c]:.1f}") for c in COLUMNS]
        lines.append("  ".join(f"{c:>10}" for c in cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="100000", help="comma-separated unit counts")
    p.add_argument("--repeat", type=int, default=1, help="runs per size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-map", action="store_true", help="pass --no-map to gridplan plan")
    p.add_argument("--keep", help="keep the last plan folder of each size here")
    p.add_argument("--json", help="write every figure to this file")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--t0", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("argv", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    rows = []
    for n in (int(s) for s in args.sizes.split(",") if s.strip()):
        with tempfile.TemporaryDirectory(prefix=f"gridplan-cmd-{n}-") as tmp:
            city = Path(tmp)
            info = write_city(n, args.seed, city)
            print(f"[{n}] city: {info['units']} units, {info['communities']} communities",
                  file=sys.stderr, flush=True)
            for i in range(args.repeat):
                out = city / f"out{i}"
                r = run_once(city, out, ["--no-map"] if args.no_map else [])
                r.update(size=n, run=i + 1)
                rows.append(r)
                print(f"[{n}] run {i + 1}: {json.dumps(r)}", file=sys.stderr, flush=True)
            if args.keep:
                dest = Path(args.keep) / str(n)
                dest.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run(["rm", "-rf", str(dest)], check=True)
                subprocess.run(["cp", "-r", str(out), str(dest)], check=True)
    print(format_rows(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
