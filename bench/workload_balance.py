"""Workload balance: worker hours when grids balance households vs. workload.

Plans the demo district and the Beijing Wudaokou OSM extract twice, once with
``--balance households`` and once with ``--balance workload``, then measures each
grid's monthly hours (visits + walking tours; on the osmnx street network for
Wudaokou) and assigns workers at least cost. Prints the coefficient of
variation (CV) and max/min ratio of grid hours and worker hours for both.

Special populations and workers: the demo ships synthetic ones; for Wudaokou they
are drawn with the same seeded model (gridplan.demo.people), as no real register
is public.

Usage::

    python bench/workload_balance.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import geopandas as gpd

from gridplan.demo.people import demo_special, demo_workers
from gridplan.run import demo_files, run_plan, run_staff

log = logging.getLogger("bench.workload")
ROOT = Path(__file__).resolve().parents[1]


def _plan_args(balance: str, out: Path, **inputs) -> dict:
    return dict(target=300, tolerance=0.15, seed=0, stairwell_households=100,
                code_scheme="nbs12+3", tessellation="auto", balance=balance, quiet=True,
                dedicated_tags="",  # campuses as residential areas, as when first measured
                verbose=0, out_dir=str(out), **inputs)


def demo_inputs() -> tuple[dict, Path, Path, None]:
    f = demo_files()
    inputs = dict(communities=str(f["communities"]), community_id="id", community_code="code",
                  population=str(f["buildings"]), unit_id="unit_id",
                  households_field="households", compounds=str(f["compounds"]),
                  barriers=str(f["barriers"]), special_path=str(f["special"]), osm=None)
    return inputs, f["special"], f["workers"], None


def wudaokou_inputs(shared: Path, work: Path) -> tuple[dict, Path, Path, Path]:
    """OSM inputs, with synthetic special populations and workers drawn for them."""
    from gridplan.layers.osm import read_osm

    osm = shared / "beijing_wudaokou.osm.bz2"
    first = work / "wdk-first"
    run_plan(**_plan_args("households", first, osm=str(osm)))
    comm = gpd.read_file(first / "plan.gpkg", layer="communities").rename(
        columns={"community_id": "id"})
    comm["name"] = ""
    buildings = read_osm(osm).buildings
    comm[["id", "geometry"]].to_file(work / "wdk_communities.gpkg")
    special, workers = work / "wdk_special.csv", work / "wdk_workers.csv"
    demo_special(buildings, comm.to_crs(4326)).to_csv(special, index=False)
    demo_workers(buildings, comm.to_crs(4326)).to_csv(workers, index=False)
    inputs = dict(osm=str(osm), communities=str(work / "wdk_communities.gpkg"), community_id="id",
                  special_path=str(special))
    return inputs, special, workers, osm


def measure(name: str, inputs: dict, special: Path, workers: Path, osm, work: Path) -> list:
    rows = []
    for balance in ("households", "workload"):
        out = work / f"{name}-{balance}"
        t0 = time.perf_counter()
        run_plan(**_plan_args(balance, out, **inputs))
        rep = run_staff(plan_dir=str(out), workers_path=str(workers), out_dir=str(out),
                        special_path=str(special), osm_path=str(osm) if osm else None)
        ld = rep["load"]
        rows.append((name, balance, rep["grids"], ld["grid_hours"]["cv"],
                     ld["grid_hours"]["max_min"], ld["worker_hours"]["cv"],
                     ld["worker_hours"]["max_min"], ld["tours_on_street_network"],
                     round(time.perf_counter() - t0, 1)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows += measure("demo", *demo_inputs(), work)
        if (args.shared / "beijing_wudaokou.osm.bz2").exists():
            rows += measure("wudaokou", *wudaokou_inputs(args.shared, work), work)
        else:
            log.warning("no %s: Wudaokou skipped", args.shared)
    head = ("dataset", "balance", "grids", "grid CV", "grid max/min", "worker CV",
            "worker max/min", "tours on streets", "s")
    print(" | ".join(head))
    for r in rows:
        print(" | ".join(str(v) for v in r))


if __name__ == "__main__":
    main()
