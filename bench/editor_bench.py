"""Editor bench: time until the grid editor is interactive, and from a click to the updated panel.

Plans a synthetic city of about 1 000 grids (or takes ``--plan``), serves it with the
gridplan API on 127.0.0.1 (or uses ``--url`` of a running server), opens
``/plans/{id}/editor`` in headless Debian Chromium and measures:

- time to interactive: navigation start → every grid and cell drawn and the panel filled
  (``window.gridEditor.readyAt``), median of ``--loads`` fresh page loads;
- click → panel: a cell is clicked into a neighbouring grid; from the click event to the
  panel showing the new household counts (the ``gridplan:panel`` event), round trip to the
  API included; median and max of ``--clicks`` moves.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

log = logging.getLogger(__name__)
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
GOALS = {"interactive_ms": 2000, "click_to_panel_ms": 200}


def moves(plan_dir: Path, n: int) -> list[tuple[str, str, float, float]]:
    """``n`` (active grid, cell of a neighbouring grid, lat, lon) to click, all different cells.

    Examples
    --------
    >>> moves(Path("/tmp/plan1000"), 3)  # doctest: +SKIP
    [('990101...001', 'B0123', 39.9, 116.3), ...]
    """
    from gridplan.export.folder import read_plan

    plan = read_plan(plan_dir)
    if plan.cells is None:
        raise SystemExit(f"{plan_dir}: the plan has no cells layer (plan it again)")
    cells = plan.cells.set_index("cell_id")
    grid = cells["grid_code"]
    pts = cells.geometry.representative_point().to_crs(4326)
    edges = plan.cell_edges[~plan.cell_edges["crossing"].astype(bool)]
    out, used = [], set()
    for a, b in zip(edges["a"], edges["b"], strict=True):
        if grid[a] != grid[b] and a not in used and b not in used and grid[a] not in used:
            out.append((grid[a], b, pts[b].y, pts[b].x))
            used.update((a, b, grid[a], grid[b]))
        if len(out) == n:
            break
    return out


def zoom_in(page, lat: float, lon: float) -> None:
    """Show a place at zoom 17, where the editor draws (and asks for) the cells."""
    page.evaluate("([lat, lon]) => { window.gridEditor.map().setView([lat, lon], 17, "
                  "{animate: false}); }", [lat, lon])


def measure_load(browser, url: str) -> float:
    """Milliseconds from navigation start until the editor is interactive."""
    page = browser.new_page(viewport={"width": 1400, "height": 850})
    page.goto(url)
    page.wait_for_function("window.gridEditor && window.gridEditor.ready", timeout=60_000)
    ms = page.evaluate("window.gridEditor.readyAt")
    page.close()
    return ms


def measure_clicks(browser, url: str, todo: list, key: str
                   ) -> tuple[list[float], list[dict]]:
    """Milliseconds from each click to the panel update, one move per entry of ``todo``.

    Also returns the editor's own split of each: ``request_ms`` (the API round trip) and
    ``apply_ms`` (updating map and panel from the response).
    """
    page = browser.new_page(viewport={"width": 1400, "height": 850})
    page.goto(url)
    page.wait_for_function("window.gridEditor && window.gridEditor.ready", timeout=60_000)
    zoom_in(page, todo[0][2], todo[0][3])  # a large plan asks for its cells when zoomed in
    page.wait_for_function("document.body.dataset.cellsLoaded === '1'", timeout=60_000)
    page.fill("#api-key", key)
    page.dispatch_event("#api-key", "change")
    page.evaluate("""() => {
        window.__clicks = []; window.__panels = [];
        document.getElementById('map').addEventListener('click',
            () => window.__clicks.push(performance.now()), true);
        document.addEventListener('gridplan:panel',
            () => window.__panels.push(performance.now()));
    }""")
    out, parts = [], []
    for active, _cell, lat, lon in todo:
        page.evaluate("([g, lat, lon]) => { window.gridEditor.setActive(g); "
                      "window.gridEditor.map().setView([lat, lon], 17, {animate: false}); }",
                      [active, lat, lon])
        page.wait_for_timeout(100)
        xy = page.evaluate("([lat, lon]) => window.gridEditor.containerPoint(lat, lon)",
                           [lat, lon])
        page.check("#force")  # band or contiguity breaks become warnings: every move is
        # stored (Force lasts one edit, so it is ticked before each)
        n = page.evaluate("window.__panels.length")
        page.mouse.click(xy["x"], xy["y"])
        page.wait_for_function(f"window.__panels.length > {n}", timeout=10_000)
        page.wait_for_function("document.body.dataset.idle === '1'")
        out.append(page.evaluate("window.__panels[window.__panels.length - 1] - "
                                 "window.__clicks[window.__clicks.length - 1]"))
        parts.append(page.evaluate("({...window.gridEditor.timing})"))
    page.close()
    return out, parts


KEY = "bench-key"


def start_server(plan_dir: Path, stack: ExitStack) -> tuple[str, str]:
    """Store ``plan_dir`` in a fresh gridplan API on 127.0.0.1; returns (base URL, plan id)."""
    import socket
    import threading

    import uvicorn
    from gridplan.api.app import create_app
    from gridplan.api.settings import Settings

    from gridplan.export.folder import read_plan

    folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    app = create_app(Settings(data_dir=folder, api_keys=f"bench:{KEY}"))
    t0 = time.perf_counter()
    app.state.store.create_plan(read_plan(plan_dir), name="bench", author="bench",
                                plan_id="bench")
    log.info("stored the plan in %.1f s", time.perf_counter() - t0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    stack.callback(stop)
    return f"http://127.0.0.1:{port}", "bench"


def run(args: argparse.Namespace) -> dict:
    """Plan (if needed), serve (if needed), open the editor and measure."""
    from playwright.sync_api import sync_playwright

    with ExitStack() as stack:
        plan_dir = Path(args.plan) if args.plan else None
        if plan_dir is None:
            from bench.synthetic_plan import write_synthetic_plan

            plan_dir = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "plan"
            write_synthetic_plan(args.units, plan_dir, seed=args.seed)
        if args.url:
            base, plan_id = args.url.rstrip("/"), args.plan_id
        else:
            base, plan_id = start_server(plan_dir, stack)
        url = f"{base}/plans/{plan_id}/editor?tiles=none"
        todo = moves(plan_dir, args.clicks)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            loads = []
            for i in range(args.loads):
                if i:  # planners do not open pages back to back: the service settles first
                    time.sleep(args.pause)
                loads.append(measure_load(browser, url))
            clicks, parts = measure_clicks(browser, url, todo, args.key or KEY)
            timing = page_timing(browser, url, (todo[0][2], todo[0][3]))
            browser.close()
        from gridplan.export.folder import read_plan

        plan = read_plan(plan_dir)  # before the temporary folder goes
    return {"grids": len(plan.grids), "cells": len(plan.cells), "loads_ms": loads,
            "interactive_ms_median": statistics.median(loads), "clicks_ms": clicks,
            "click_to_panel_ms_median": statistics.median(clicks),
            "click_to_panel_ms_max": max(clicks),
            "request_ms_median": statistics.median(p["request_ms"] for p in parts),
            "apply_ms_median": statistics.median(p["apply_ms"] for p in parts),
            "load_fetch_ms": timing["fetch_ms"], "load_draw_ms": timing["draw_ms"],
            "cells_loaded_ms": timing["cells_loaded_at"],
            "payload_kb": timing["payload_kb"], "date": time.strftime("%Y-%m-%d %H:%M")}


def page_timing(browser, url: str, place: tuple[float, float]) -> dict:
    """One more load: the editor's fetch/draw split and the kB of plan data it downloads
    (the cells' included: the page is zoomed in to ``place``, lat/lon, once ready)."""
    page = browser.new_page(viewport={"width": 1400, "height": 850})
    page.goto(url)
    page.wait_for_function("window.gridEditor && window.gridEditor.ready", timeout=60_000)
    zoom_in(page, *place)
    page.wait_for_function("document.body.dataset.cellsLoaded === '1'", timeout=60_000)
    out = page.evaluate("({...window.gridEditor.timing})")
    out["payload_kb"] = page.evaluate("performance.getEntriesByType('resource')"
                                      ".filter(e => e.name.includes('/plans/'))"
                                      ".reduce((a, e) => a + e.encodedBodySize, 0) / 1024")
    page.close()
    return out


def report(r: dict) -> str:
    """The figures as a few readable lines."""
    return "\n".join([
        f"editor bench: {r['grids']} grids, {r['cells']} cells, headless Chromium",
        f"  time to interactive: median {r['interactive_ms_median']:.0f} ms "
        f"(loads: {', '.join(f'{x:.0f}' for x in r['loads_ms'])}; goal < "
        f"{GOALS['interactive_ms']} ms)",
        f"  click → panel: median {r['click_to_panel_ms_median']:.0f} ms, max "
        f"{r['click_to_panel_ms_max']:.0f} ms over {len(r['clicks_ms'])} moves "
        f"(goal < {GOALS['click_to_panel_ms']} ms)",
        f"  of which: API round trip median {r['request_ms_median']:.0f} ms, map and panel "
        f"update median {r['apply_ms_median']:.0f} ms",
        f"  load split: fetching plan and grids {r['load_fetch_ms']:.0f} ms, drawing "
        f"{r['load_draw_ms']:.0f} ms; cells (asked for when zoomed in) in by "
        f"{r['cells_loaded_ms']:.0f} ms; {r['payload_kb']:.0f} kB of plan data in all",
    ])


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.editor_bench [--units 12600] [--plan DIR] [--url URL --plan-id ID]``."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", type=int, default=12_600,
                    help="units of the synthetic city (12 600 give about 1 000 grids)")
    ap.add_argument("--plan", help="plan folder to use instead of a synthetic city")
    ap.add_argument("--url", help="base URL of a running gridplan API serving the plan")
    ap.add_argument("--plan-id", default="demo", help="plan id on --url")
    ap.add_argument("--key", help="API key for edits on --url")
    ap.add_argument("--loads", type=int, default=3, help="page loads timed")
    ap.add_argument("--clicks", type=int, default=10, help="moves timed")
    ap.add_argument("--pause", type=float, default=5.0,
                    help="seconds between page loads (the first load makes the service load "
                    "the plan's editable state, about 4 s at 10,000 grids)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} not found: apt-get install chromium", file=sys.stderr)
        return 2
    r = run(args)
    print(report(r))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
