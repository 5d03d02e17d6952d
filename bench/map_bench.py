"""Map bench: coverage-map file size, writing time and load time in headless Chromium.

Plans a synthetic city of about 1 000 grids (or takes ``--plan``) and writes its coverage
map at several ``--simplify`` tolerances, timing ``gridplan map`` and opening each file in
Debian's Chromium (time until the page has loaded and painted).
"""

from __future__ import annotations

import argparse
import logging
import re
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
VERTEX = re.compile(r"\[-?\d+\.\d+, ?-?\d+\.\d+\]")


def load_ms(path: Path) -> float | None:
    """Milliseconds until ``path`` has loaded and painted in headless Chromium (None without)."""
    if not Path(CHROMIUM).exists():
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--headless=new", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        t0 = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load")
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => "
                      "requestAnimationFrame(r)))")
        ms = (time.perf_counter() - t0) * 1000
        browser.close()
    return ms


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.map_bench [--units 12600] [--plan DIR] [--simplify 0,1,5]``."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--units", type=int, default=12_600)
    ap.add_argument("--plan", help="plan folder instead of a synthetic city")
    ap.add_argument("--simplify", default="0,1,5", help="tolerances in metres")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from gridplan.cli.map import write_map
    from gridplan.export.folder import read_plan

    with tempfile.TemporaryDirectory() as tmp:
        plan_dir = Path(args.plan) if args.plan else Path(tmp) / "plan"
        if not args.plan:
            from bench.synthetic_plan import write_synthetic_plan

            write_synthetic_plan(args.units, plan_dir)
        plan = read_plan(plan_dir)
        print(f"map bench: {len(plan.grids)} grids, {len(plan.units)} units")
        print("simplify_m  write_s  size_kB  vertices  load_ms")
        for tol in (float(v) for v in args.simplify.split(",")):
            out = Path(tmp) / f"map{tol:g}.html"
            t0 = time.perf_counter()
            write_map(plan_dir, out, tiles="none", simplify_m=tol)
            secs = time.perf_counter() - t0
            verts = len(VERTEX.findall(out.read_text(encoding="utf-8")))
            ms = load_ms(out)
            print(f"{tol:10g}  {secs:7.2f}  {out.stat().st_size / 1024:7.0f}  {verts:8d}  "
                  f"{'-' if ms is None else f'{ms:7.0f}'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
