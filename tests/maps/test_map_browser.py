"""The coverage map in headless Chromium: it draws, layers toggle, nothing leaves the machine."""
# ruff: noqa: F811  (pytest fixtures imported from map_fixtures)

from __future__ import annotations

import pytest
from browser import ARTIFACTS, CHROMIUM, PageLog, external
from gridplan.maps.assets import libraries_installed
from map_fixtures import demo, demo_dir  # noqa: F401

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
    pytest.mark.skipif(not libraries_installed(), reason="run `npm ci --prefix maps`"),
]


@pytest.fixture(scope="module")
def map_file(demo_dir, tmp_path_factory):
    from gridplan.cli.map import write_map

    out = tmp_path_factory.mktemp("map") / "map.html"
    return write_map(demo_dir, out, lang="zh", tiles="none")


@pytest.mark.slow
def test_coverage_map_draws_offline(browser, map_file, demo):
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    log = PageLog(page)
    page.goto(map_file.as_uri())
    page.wait_for_function("document.querySelectorAll('.leaflet-control-layers-selector')"
                           ".length >= 6")
    assert page.locator(".gridplan-legend").is_visible()
    n_layers = page.evaluate("""() => { let n = 0; for (const k in window) {
        if (k.startsWith('map_') && window[k] && window[k].eachLayer) {
            window[k].eachLayer(() => n++); } } return n; }""")
    assert n_layers > len(demo.grids)  # every grid is drawn (plus cells, points, outlines)
    legend = page.locator(".gridplan-legend").bounding_box()
    scale = page.locator(".leaflet-control-scale").bounding_box()
    assert legend["y"] + legend["height"] <= scale["y"] + 1  # the scale bar stays in sight
    grid = demo.grids.to_crs(4326).iloc[0]
    pt = grid.geometry.representative_point()
    xy = page.evaluate("""([lat, lon]) => { for (const k in window) {
        const m = window[k];
        if (k.startsWith('map_') && m && m.latLngToContainerPoint) {
            const p = m.latLngToContainerPoint([lat, lon]);
            const r = m.getContainer().getBoundingClientRect();
            return {x: p.x + r.left, y: p.y + r.top}; } } }""", [pt.y, pt.x])
    page.mouse.move(xy["x"] - 2, xy["y"])
    page.mouse.move(xy["x"], xy["y"])  # through the community outlines, onto the grid
    page.wait_for_selector(".leaflet-tooltip")
    assert grid["grid_code"] in page.locator(".leaflet-tooltip").inner_text()
    bands = page.locator(".leaflet-control-layers-overlays label", has_text="Walking bands")
    bands.click()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "coverage-map.png"))
    assert log.errors == []
    assert external(log.requests) == []
    page.close()
