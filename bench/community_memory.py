"""Peak memory of planning one community, by its number of units (each size in a fresh process).

A Dask worker plans one community per task, so its peak memory is set by the largest
community. This plans synthetic cities whose communities are merged into one, so the
whole city is one community, and reports the resident memory before planning (Python,
the libraries and the loaded units) and at its peak::

    .venv/bin/python -m bench.community_memory --sizes 1500,3000,6000,11000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]


def measure(n: int, seed: int) -> dict:
    """Plan a city of ``n`` units as one community here; memory before and at peak (MB)."""
    import shapely

    from bench.synthetic import synthetic_city
    from gridplan.engine.community import plan_community
    from gridplan.engine.pipeline import StageTimer
    from gridplan.layers.population import prepare_units
    from gridplan.params import PlanParams
    from gridplan.scale.cluster import peak_mb, warm_up

    warm_up()  # compiled kernels loaded, as in a worker before its first task
    raw, comm = synthetic_city(n, seed=seed)
    units = prepare_units(raw, households="households")
    units["community_id"] = "C1"
    units["compound_id"] = None
    area = shapely.union_all(comm.geometry.values)
    community = SimpleNamespace(community_id="C1", code=None, geometry=area)
    with open("/proc/self/clear_refs", "w") as fh:  # peak from here on (Linux)
        fh.write("5")
    before = peak_mb()
    grids = plan_community(community, units, None,
                           PlanParams(seed=seed, tessellation="centroid"), StageTimer())[0]
    peak = peak_mb()
    return {"units": n, "grids": len(grids), "before_mb": before, "peak_mb": peak,
            "growth_mb": round(peak - before, 1)}


def main(argv: list[str] | None = None) -> int:
    """Run each size in a fresh process and print a table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1500,3000,6000,11000",
                   help="units of the one community (a code allows at most 999 grids, about "
                        "12,000 units)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.seed)))
        return 0
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, "-m", "bench.community_memory", "--one", str(n),
                              "--seed", str(args.seed)], cwd=ROOT, capture_output=True,
                             text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'units':>7} {'grids':>6} {'before MB':>10} {'peak MB':>8} {'growth MB':>10} "
          f"{'MB per 1000 units':>18}")
    for r in rows:
        print(f"{r['units']:>7} {r['grids']:>6} {r['before_mb']:>10.0f} {r['peak_mb']:>8.0f} "
              f"{r['growth_mb']:>10.0f} {1000 * r['growth_mb'] / r['units']:>18.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
