"""Time and peak memory of reading OSM extracts, old XML reader against the pyosmium one.

Run from the repository root::

    .venv/bin/python -m bench.osm_read                         # new reader only
    .venv/bin/python -m bench.osm_read --old-python /work/venvs/exact/bin/python \\
        --old-root /work/wt/mexact                             # and the old one, for comparison

Every measurement runs in a fresh process, so its peak resident memory (``ru_maxrss``)
is its own; CPU seconds (user + system) hardly depend on other load, wall seconds do.
Steps:

1. ``read``: ``read_osm`` on each extract in ``../shared/data`` (XML, bz2) and on a
   generated city of ``--buildings`` buildings (default 22,500), written with pyosmium
   both as ``.osm.pbf`` and as plain ``.osm`` XML in a temporary folder (never kept).
   The old reader (ElementTree + osmnx, given by ``--old-python`` and ``--old-root``: a
   checkout and interpreter of the code before pyosmium) reads the XML files only.
2. ``street graph``: ``walking_network`` on the generated city (``--graph``).
3. ``plan``: the whole ``gridplan plan --osm city.osm.pbf --out …`` command, wall time,
   CPU seconds of all its processes, peak memory of its largest process (``ru_maxrss``)
   and of all its processes together (proportional set size, sampled every 0.2 s);
   ``--processes 1 0`` runs it on one process and on the automatic number.

The city: square blocks of 200 m, each a ``landuse=residential`` compound (every fifth
one a multipolygon relation) holding 5 × 5 buildings of 24 × 12 m with
``building:levels`` drawn from 2–18 (seeded) and a school in every ninth block; streets
around every block (``highway=secondary`` every fourth line, ``residential`` otherwise),
a river across the middle.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
EXTRACTS = ("beijing_wudaokou", "beijing_bnu", "shanghai_shu", "helsinki")
LON0, LAT0 = 116.30, 39.90
M_LON, M_LAT = 1 / 85_300, 1 / 111_000  # degrees per metre at 40°N
BLOCK, PER_SIDE, W, H = 200.0, 5, 24.0, 12.0
LEVELS = (2, 3, 4, 6, 6, 6, 11, 18)

READ = """
import json, resource, sys, time
from gridplan.layers.osm import read_osm
t, c = time.perf_counter(), time.process_time()
layers = read_osm(sys.argv[1])
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "cpu": time.process_time() - c,
                  "buildings": len(layers.buildings),
                  "households": int(layers.buildings["households"].sum()),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
GRAPH = """
import json, resource, sys, time
from gridplan.workforce.workload import walking_network
t, c = time.perf_counter(), time.process_time()
net = walking_network(sys.argv[1], "EPSG:32650")
print(json.dumps({"seconds": time.perf_counter() - t, "cpu": time.process_time() - c,
                  "nodes": len(net.nodes),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
CHILD = """
import json, resource, subprocess, sys, time
import psutil
t = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
top = psutil.Process(proc.pid)
tree_peak = 0.0
while proc.poll() is None:  # the plan's processes together (proportional set size)
    try:
        pss = sum(p.memory_full_info().pss for p in [top, *top.children(recursive=True)])
        tree_peak = max(tree_peak, pss / 2**20)
    except psutil.Error:
        pass
    time.sleep(0.2)
out = proc.stdout.read()
use = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": time.perf_counter() - t, "cpu": use.ru_utime + use.ru_stime,
                  "rc": proc.returncode, "tail": out[-600:],
                  "peak_mb": use.ru_maxrss / 1024, "all processes peak MB": round(tree_peak)}))
"""


def write_city(folder: Path, buildings: int, seed: int = 0) -> tuple[Path, Path]:
    """The generated city as ``city.osm.pbf`` and ``city.osm`` (same objects)."""
    import osmium

    rng = random.Random(seed)
    side = math.ceil(math.sqrt(buildings / PER_SIDE**2))
    paths = (folder / "city.osm.pbf", folder / "city.osm")
    header = osmium.io.Header()
    span = side * BLOCK
    header.add_box(osmium.osm.Box(osmium.osm.Location(LON0 - 0.001, LAT0 - 0.001),
                                  osmium.osm.Location(LON0 + span * M_LON + 0.001,
                                                      LAT0 + span * M_LAT + 0.001)))
    writers = [osmium.SimpleWriter(str(p), header=header, overwrite=True) for p in paths]
    nodes, ways, relations = [], [], []
    ids = {"n": 0, "w": 0, "r": 0}

    def new(kind: str) -> int:
        ids[kind] += 1
        return ids[kind]

    def node(x: float, y: float) -> int:
        ref = new("n")
        nodes.append(osmium.osm.mutable.Node(id=ref, location=(LON0 + x * M_LON,
                                                               LAT0 + y * M_LAT)))
        return ref

    def ring(x: float, y: float, w: float, h: float) -> list[int]:
        refs = [node(x, y), node(x + w, y), node(x + w, y + h), node(x, y + h)]
        return [*refs, refs[0]]

    grid = {(i, j): node(i * BLOCK, j * BLOCK) for i in range(side + 1)
            for j in range(side + 1)}
    for j in range(side + 1):  # streets along x, then along y
        kind = "secondary" if j % 4 == 0 else "residential"
        ways.append(osmium.osm.mutable.Way(id=new("w"), nodes=[grid[i, j] for i in
                                                               range(side + 1)],
                                           tags={"highway": kind, "name": f"东{j}街"}))
    for i in range(side + 1):
        kind = "secondary" if i % 4 == 0 else "residential"
        ways.append(osmium.osm.mutable.Way(id=new("w"), nodes=[grid[i, j] for j in
                                                               range(side + 1)],
                                           tags={"highway": kind, "name": f"北{i}路"}))
    river_y = (side // 2) * BLOCK + BLOCK / 2 - 6
    river = [node(-50.0 + k * (span + 100) / 20, river_y + 5 * math.sin(k)) for k in range(21)]
    ways.append(osmium.osm.mutable.Way(id=new("w"), nodes=river,
                                       tags={"waterway": "river", "name": "清河"}))
    count = 0
    for bi in range(side):
        for bj in range(side):
            x0, y0 = bi * BLOCK + 10, bj * BLOCK + 10
            outline = ring(x0, y0, BLOCK - 20, BLOCK - 20)
            block = bi * side + bj
            if bj == side // 2:
                pass  # the river's block row: no compound
            elif block % 5 == 0:
                member = new("w")
                ways.append(osmium.osm.mutable.Way(id=member, nodes=outline, tags={}))
                relations.append(osmium.osm.mutable.Relation(
                    id=new("r"), members=[("w", member, "outer")],
                    tags={"type": "multipolygon", "landuse": "residential",
                          "name": f"{block}号院"}))
            else:
                ways.append(osmium.osm.mutable.Way(id=new("w"), nodes=outline, tags={
                    "landuse": "residential", "name": f"{block}小区"}))
            for k in range(PER_SIDE * PER_SIDE):
                if count >= buildings:
                    break
                cx = x0 + 8 + (k % PER_SIDE) * 34
                cy = y0 + 8 + (k // PER_SIDE) * 34
                if bj == side // 2 and abs(cy + H / 2 - river_y) < 20:
                    cy += 24  # keep clear of the river
                tags = {"building": "apartments" if k % 3 else "residential",
                        "building:levels": str(rng.choice(LEVELS))}
                if k == 12 and block % 9 == 0:
                    tags = {"building": "school", "amenity": "school",
                            "name": f"第{block}小学"}
                ways.append(osmium.osm.mutable.Way(id=new("w"), nodes=ring(cx, cy, W, H),
                                                   tags=tags))
                count += 1
    for writer in writers:
        for obj in nodes:
            writer.add_node(obj)
        for obj in ways:
            writer.add_way(obj)
        for obj in relations:
            writer.add_relation(obj)
        writer.close()
    return paths


def measure(python: str, code: str, *args: str, cwd: str | None = None) -> dict:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([python, "-c", code, *args], capture_output=True, text=True,
                          cwd=cwd, env=env)
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1][:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def show(step: str, result: dict) -> None:
    if "error" in result:
        print(f"{step:<44} failed: {result['error']}", flush=True)
        return
    extra = ", ".join(f"{k} {v}" for k, v in result.items()
                      if k not in ("seconds", "cpu", "peak_mb", "tail", "rc"))
    print(f"{step:<44} {result['seconds']:7.2f} s wall {result['cpu']:7.2f} s CPU  "
          f"peak RSS {result['peak_mb']:6.0f} MB  {extra}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--buildings", type=int, default=22_500)
    parser.add_argument("--old-python", help="interpreter of the old (XML) reader's venv")
    parser.add_argument("--old-root", help="checkout of the old reader (run from there)")
    parser.add_argument("--no-plan", action="store_true", help="skip the whole plan command")
    parser.add_argument("--graph", action="store_true", help="also time walking_network")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--processes", type=int, nargs="*", default=[0],
                        help="plan with these GRIDPLAN_PROCESSES (0: automatic), e.g. 1 0")
    args = parser.parse_args()
    new_py = sys.executable
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="gridplan-osm-bench-") as tmp:
        t = time.perf_counter()
        pbf, xml = write_city(Path(tmp), args.buildings)
        print(f"city of {args.buildings} buildings written in {time.perf_counter() - t:.1f} s:"
              f" {pbf.name} {pbf.stat().st_size / 1e6:.1f} MB, "
              f"{xml.name} {xml.stat().st_size / 1e6:.1f} MB", flush=True)
        files = [SHARED / f"{n}.osm.bz2" for n in EXTRACTS if (SHARED / f"{n}.osm.bz2").exists()]
        for path in [*files, xml, pbf]:
            name = path.name
            results[f"new {name}"] = measure(new_py, READ, str(path))
            show(f"read new (pyosmium) {name}", results[f"new {name}"])
            if args.old_python and path.suffix != ".pbf":
                results[f"old {name}"] = measure(args.old_python, READ, str(path),
                                                 cwd=args.old_root)
                show(f"read old (ElementTree+osmnx) {name}", results[f"old {name}"])
        if args.graph:
            results["graph new"] = measure(new_py, GRAPH, str(pbf))
            show(f"walking_network new {pbf.name}", results["graph new"])
            if args.old_python:
                results["graph old"] = measure(args.old_python, GRAPH, str(xml),
                                               cwd=args.old_root)
                show(f"walking_network old {xml.name}", results["graph old"])
        if not args.no_plan:
            cli = str(Path(new_py).parent / "gridplan")
            for n in args.processes:
                key = f"plan processes={n or 'auto'}"
                os.environ.pop("GRIDPLAN_PROCESSES", None)
                if n:
                    os.environ["GRIDPLAN_PROCESSES"] = str(n)
                results[key] = measure(new_py, CHILD, cli, "plan", "--osm", str(pbf), "--out",
                                       str(Path(tmp) / f"plan{n}"))
                show(f"gridplan plan --osm {pbf.name} ({key})", results[key])
                if results[key].get("rc"):
                    print(results[key]["tail"])
            os.environ.pop("GRIDPLAN_PROCESSES", None)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
