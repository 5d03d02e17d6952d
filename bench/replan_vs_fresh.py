"""Re-plan versus planning from scratch on the demo district after households change.

Run from the repository root::

    .venv/bin/python -m bench.replan_vs_fresh

Plans the bundled demo (as ``gridplan demo`` does), then changes its population in
three deterministic ways and, for each, re-plans the old plan (``gridplan replan``,
with several ``--max-moved`` budgets) and plans from scratch, printing per run the
households and units that changed grid, the grids changed and out of band, and the
wall time. Scenarios:

- ``new compound``: :func:`gridplan.demo.changes.add_compound` (4 buildings, 440 households);
- ``demolition``: every fourth residential building of community C03 removed;
- ``register update``: every building's households × a seeded factor in 0.85–1.15.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from gridplan.demo.changes import add_compound
from gridplan.demo.district import generate_demo
from gridplan.engine.pipeline import plan
from gridplan.export.folder import read_plan, write_plan
from gridplan.layers.load import load_inputs
from gridplan.layers.population import prepare_units
from gridplan.practice.replan import replan
from gridplan.run import demo_files

BUDGETS = (None, 100, 0)


def demo_plan(folder: Path):
    """The demo plan as ``gridplan demo`` makes it, written and read back."""
    files = demo_files()
    kw = dict(target=300, tolerance=0.15, seed=0, stairwell_households=100,
              code_scheme="nbs12+3", tessellation="auto", communities=str(files["communities"]),
              community_id="id", community_code="code", population=str(files["buildings"]),
              unit_id="unit_id", households_field="households",
              compounds=str(files["compounds"]), barriers=str(files["barriers"]))
    inputs = load_inputs(kw)
    write_plan(plan(**inputs), folder)
    return read_plan(folder), inputs


def scenarios(layers: dict) -> dict:
    """Changed building layers (EPSG:4326, as the demo files are) by scenario name."""
    b = layers["buildings"]
    out = {"new compound": add_compound(layers)}
    c03 = layers["communities"].loc[layers["communities"]["id"] == "C03", "geometry"].iloc[0]
    inside = b[b.geometry.centroid.within(c03) & (b["households"] > 0)]
    out["demolition"] = dict(layers, buildings=b.drop(index=inside.index[::4]))
    rng = np.random.default_rng(6)
    factor = rng.uniform(0.85, 1.15, len(b))
    out["register update"] = dict(layers, buildings=b.assign(
        households=np.rint(b["households"] * factor).astype(np.int64)))
    return out


def run(name: str, old, new_layers: dict, inputs: dict, svg: Path | None = None
        ) -> list[dict]:
    """Re-plan under each budget, and plan from scratch; one row per run."""
    units = prepare_units(new_layers["buildings"].to_crs(4326).to_crs(old.crs),
                          unit_id="unit_id", households="households")
    rows = []
    for budget in BUDGETS:
        t0 = time.perf_counter()
        res = replan(old, units, max_moved=budget, compounds=new_layers["compounds"],
                     barriers=inputs["barriers"], compare=budget is None)
        wall = time.perf_counter() - t0
        if svg is not None and budget is None:
            from gridplan.maps.diff import diff_svg

            svg.write_text(diff_svg(res.plan, res.old, res.changes), encoding="utf-8")
        r = res.summary["replan"]
        label = "replan, no budget" if budget is None else f"replan, max-moved {budget}"
        rows.append(dict(scenario=name, run=label, **_pick(r), wall=wall))
        if budget is None:
            rows.append(dict(scenario=name, run="fresh plan", **_pick(res.summary["fresh"]),
                             wall=float("nan")))
    return rows


def _pick(r: dict) -> dict:
    return {k: r[k] for k in ("households_moved", "units_moved", "grids_changed",
                              "grids_out_of_band", "grids")}


def main(argv: list[str] | None = None) -> int:
    """Print one table of all runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svg", type=Path, default=None,
                        help="also draw the new-compound re-plan as an SVG figure here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        old, inputs = demo_plan(Path(tmp))
    layers = generate_demo()
    rows = []
    for name, new_layers in scenarios(layers).items():
        rows += run(name, old, new_layers, inputs,
                    args.svg if name == "new compound" else None)
    head = (f"{'scenario':<16} {'run':<24} {'hh moved':>8} {'units':>6} {'grids chg':>9} "
            f"{'out of band':>11} {'grids':>5} {'wall s':>7}")
    print(head)  # noqa: T201 - a benchmark's output
    for r in rows:
        print(f"{r['scenario']:<16} {r['run']:<24} {r['households_moved']:>8} "  # noqa: T201
              f"{r['units_moved']:>6} {r['grids_changed']:>9} {r['grids_out_of_band']:>11} "
              f"{r['grids']:>5} {r['wall']:>7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
