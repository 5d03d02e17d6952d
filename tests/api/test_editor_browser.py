"""The grid editor in headless Chromium against the real API served on 127.0.0.1.

Each test stores its own copy of the demo plan, opens ``/plans/{id}/editor`` and works as a
planner would: clicks, draws, reads the panel. No request may leave the machine.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import numpy as np
import pytest
import shapely
from browser import ARTIFACTS, CHROMIUM, PageLog, external, serve
from gridplan.maps.assets import libraries_installed
from gridplan.maps.gcj02 import wgs84_to_gcj02

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
    pytest.mark.skipif(not libraries_installed(), reason="run `npm ci --prefix maps`"),
]
KEY = "test-key"
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def demo_plan():
    from apiutil import cached_demo_plan

    return cached_demo_plan()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from gridplan.api.app import create_app
    from gridplan.api.settings import Settings

    folder = tmp_path_factory.mktemp("editor-api")
    return create_app(Settings(data_dir=folder, api_keys=f"tester:{KEY}"))


@pytest.fixture(scope="module")
def base_url(app):
    with serve(app) as url:
        yield url


@pytest.fixture
def plan_id(app, demo_plan):
    pid = "e" + uuid.uuid4().hex[:8]
    app.state.store.create_plan(demo_plan, name="示例 demo", author="tests", plan_id=pid)
    return pid


class Editor:
    """A page with the editor open, and what a planner does on it."""

    def __init__(self, browser, base_url: str, plan_id: str, query: str = "") -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 850},
                                           accept_downloads=True)
        self.page = self.context.new_page()
        self.log = PageLog(self.page)
        self.page.goto(f"{base_url}/plans/{plan_id}/editor{query}")
        self.page.wait_for_function("window.gridEditor && window.gridEditor.ready")
        self.page.fill("#api-key", KEY)
        self.page.dispatch_event("#api-key", "change")

    def settle(self, updates_before: int | None = None) -> None:
        if updates_before is not None:
            self.page.wait_for_function(f"window.gridEditor.panelUpdates > {updates_before}")
        self.page.wait_for_function("document.body.dataset.idle === '1'")

    def updates(self) -> int:
        return self.page.evaluate("window.gridEditor.panelUpdates")

    def households(self, code: str) -> int:
        return int(self.page.locator(f'#grid-table tr[data-code="{code}"] td.hh').inner_text())

    def rows(self) -> int:
        return self.page.locator("#grid-table tbody tr").count()

    def pick(self, code: str) -> None:
        self.page.locator(f'#grid-table tr[data-code="{code}"]').click()

    def point(self, lon: float, lat: float) -> dict:
        return self.page.evaluate("([lat, lon]) => window.gridEditor.containerPoint(lat, lon)",
                                  [lat, lon])

    def zoom_to(self, lon: float, lat: float, zoom: int = 18) -> None:
        self.page.evaluate("([lat, lon, z]) => window.gridEditor.map().setView([lat, lon], z, "
                           "{animate: false}) && null", [lat, lon, zoom])
        self.page.wait_for_timeout(100)

    def click_at(self, lon: float, lat: float) -> None:
        xy = self.point(lon, lat)
        self.page.mouse.click(xy["x"], xy["y"])

    def close(self) -> None:
        assert self.log.errors == [], self.log.errors
        assert external(self.log.requests) == [], external(self.log.requests)
        self.context.close()


@pytest.fixture
def editor(browser, base_url, plan_id):
    ed = Editor(browser, base_url, plan_id)
    yield ed
    ed.close()


def neighbours(plan, n: int = 1) -> list[tuple[str, str, str, float, float]]:
    """(active grid, cell, its grid, lon, lat): cells that touch another grid, not across a
    barrier, each cell's grid different from the others."""
    cells = plan.cells.set_index("cell_id")
    grid = cells["grid_code"]
    pts = cells.geometry.representative_point().to_crs(4326)
    edges = plan.cell_edges[~plan.cell_edges["crossing"].astype(bool)]
    out, used = [], set()
    for a, b in zip(edges["a"], edges["b"], strict=True):
        if grid[a] != grid[b] and not {grid[a], grid[b]} & used:
            out.append((grid[a], b, grid[b], pts[b].x, pts[b].y))
            used |= {grid[a], grid[b]}
            if len(out) == n:
                break
    return out


def box_centres(plan):
    """Cells in lon/lat and the centres of their bounding boxes (what box and lasso test)."""
    cells = plan.cells.to_crs(4326).set_index("cell_id")
    b = cells.geometry.bounds
    return cells, (b["minx"] + b["maxx"]) / 2, (b["miny"] + b["maxy"]) / 2


def cell_households(plan, cell: str) -> int:
    return int(plan.units.loc[plan.units["cell_id"] == cell, "households"].sum())


def test_move_by_click_updates_panel_then_undo_and_redo(editor, demo_plan):
    active, cell, other, lon, lat = neighbours(demo_plan)[0]
    h = cell_households(demo_plan, cell)
    assert h > 0
    editor.pick(active)
    before = editor.households(active), editor.households(other)
    n = editor.updates()
    editor.click_at(lon, lat)
    editor.settle(n)
    assert (editor.households(active), editor.households(other)) == (before[0] + h,
                                                                     before[1] - h)
    assert editor.page.evaluate(f"window.gridEditor.state.cells['{cell}'].f.properties"
                                ".grid_code") == active
    ARTIFACTS.mkdir(exist_ok=True)
    editor.page.screenshot(path=str(ARTIFACTS / "editor.png"))
    n = editor.updates()
    editor.page.locator("#undo").click()
    editor.settle(n)
    assert (editor.households(active), editor.households(other)) == before
    n = editor.updates()
    editor.page.keyboard.press("Control+y")
    editor.settle(n)
    assert editor.households(active) == before[0] + h


def test_box_selection_previews_then_moves_every_cell_inside(editor, demo_plan):
    active, cell, other, _, _ = neighbours(demo_plan)[0]
    cells, cx, cy = box_centres(demo_plan)
    x, y, d = cx[cell], cy[cell], 3e-5
    inside = cells.index[(abs(cx - x) < d) & (abs(cy - y) < d)
                         & (cells["grid_code"] != active)]
    h = sum(cell_households(demo_plan, c) for c in inside)
    assert cell in inside and h > 0
    editor.pick(active)
    before = editor.households(active)
    editor.page.locator("#mode-box").click()
    n = editor.updates()
    editor.click_at(x - d, y - d)
    editor.page.wait_for_timeout(150)
    editor.click_at(x + d, y + d)
    editor.page.wait_for_selector("#pending-ok")  # a preview first: nothing moved yet
    assert editor.households(active) == before
    assert f"（{h} 户）" in editor.page.locator("#pending").inner_text()
    editor.page.locator("#pending-ok").click()
    editor.settle(n)
    assert editor.households(active) == before + h
    moved = editor.page.evaluate(f"""() => Object.values(window.gridEditor.state.cells)
        .filter(c => c.f.properties.grid_code === '{active}').map(c => c.f.properties.cell_id)""")
    assert set(inside) <= set(moved)


def test_split_by_drawn_line_and_merge(editor, demo_plan):
    active = neighbours(demo_plan)[0][0]
    grid = demo_plan.grids.set_index("grid_code").geometry.to_crs(4326)[active]
    x0, y0, x1, y1 = grid.bounds
    mid = (y0 + y1) / 2
    editor.pick(active)
    rows, total = editor.rows(), editor.households(active)
    editor.page.locator("#mode-split").click()
    editor.page.check("#force")
    n = editor.updates()
    for lon in (x0 - 1e-4, x1 + 1e-4, x1 + 1e-4):  # clicking the last point ends the line
        editor.click_at(lon, mid)
        editor.page.wait_for_timeout(150)
    editor.settle(n)
    assert editor.rows() == rows + 1
    new = [c for c in editor.page.evaluate("window.gridEditor.state.order")
           if c not in set(demo_plan.grids["grid_code"])]
    assert len(new) == 1
    assert editor.households(active) + editor.households(new[0]) == total
    editor.page.locator("#mode-merge").click()
    n = editor.updates()
    editor.page.evaluate(f"window.gridEditor.mergeWith('{new[0]}')")
    editor.settle(n)
    assert editor.rows() == rows and editor.households(active) == total


def test_refused_edit_explains_and_changes_nothing(editor, demo_plan):
    active, _, other, _, _ = neighbours(demo_plan)[0]
    editor.pick(active)
    before = editor.households(active)
    editor.page.locator("#mode-merge").click()
    editor.page.evaluate(f"window.gridEditor.mergeWith('{other}')")
    editor.settle()
    msg = editor.page.locator("#messages .error").inner_text()
    assert "强制" in msg and "户" in msg  # the fix and the rule, in the planner's words
    assert "force" not in msg and "{" not in msg
    assert editor.households(active) == before and editor.households(other) > 0
    assert editor.page.evaluate("window.gridEditor.state.mode") == "move"  # merge is for one click


def test_stale_editor_reloads_on_412(editor, demo_plan, base_url, plan_id):
    import httpx

    active, cell, other, lon, lat = neighbours(demo_plan)[0]
    editor.pick(active)
    info = httpx.get(f"{base_url}/plans/{plan_id}").json()
    r = httpx.post(f"{base_url}/plans/{plan_id}/edits/lock", json={"grids": [other]},
                   headers={"X-API-Key": KEY, "If-Match": info["etag"]})
    assert r.status_code == 200
    editor.click_at(lon, lat)
    editor.page.wait_for_selector("#messages .warning")
    editor.settle()
    assert editor.page.evaluate("window.gridEditor.state.version") == info["version"] + 1
    assert "🔒" in editor.page.locator(f'#grid-table tr[data-code="{other}"]').inner_text()


def test_versions_diff_highlights_and_restore(editor, demo_plan):
    active, cell, other, lon, lat = neighbours(demo_plan)[0]
    editor.pick(active)
    before = editor.households(active)
    n = editor.updates()
    editor.click_at(lon, lat)
    editor.settle(n)
    editor.page.locator("#versions li[data-version='1'] button.diff").click()
    editor.page.wait_for_function("document.body.dataset.diff !== undefined")
    units = int(demo_plan.units["cell_id"].eq(cell).sum())
    assert editor.page.evaluate("document.body.dataset.diff") == str(units)
    assert editor.page.evaluate("Object.keys(window.gridEditor.state.diffCells)") == [cell]
    n = editor.updates()
    editor.page.locator("#versions li[data-version='1'] button.restore").click()
    editor.settle(n)
    assert editor.households(active) == before
    assert editor.page.evaluate("window.gridEditor.state.version") == 3


def test_export_buttons_download(editor, plan_id, demo_plan):
    href = editor.page.get_attribute("#export-geojson", "href")
    assert href == f"/plans/{plan_id}/export?format=geojson"
    assert editor.page.get_attribute("#export-gpkg", "href").endswith("format=gpkg")
    with editor.page.expect_download() as dl:
        editor.page.locator("#export-geojson").click()
    data = json.loads(Path(dl.value.path()).read_text(encoding="utf-8"))
    assert data["type"] == "FeatureCollection"
    assert len(data["features"]) == len(demo_plan.grids)
    with editor.page.expect_download() as dl:
        editor.page.locator("#export-gpkg").click()
    assert Path(dl.value.path()).read_bytes()[:15] == b"SQLite format 3"


def test_gcj02_base_map_shifts_overlays_like_python(browser, base_url, plan_id, demo_plan):
    tiles = f"{base_url}/no-tiles/{{z}}/{{x}}/{{y}}.png"  # a local URL: nothing leaves
    ed = Editor(browser, base_url, plan_id)
    ed.page.select_option("#basemap", "custom")
    ed.page.fill("#tile-url", tiles)
    ed.page.dispatch_event("#tile-url", "change")
    ed.page.check("#tile-gcj")
    ed.page.wait_for_function("document.body.dataset.gcj === '1'")
    cell = demo_plan.cells["cell_id"].iloc[0]
    drawn = ed.page.evaluate(f"""() => {{
        const l = window.gridEditor.state.cells['{cell}'].layer;
        return l.getLatLngs()[0].map(p => [p.lng, p.lat]); }}""")
    data = ed.page.evaluate(f"window.gridEditor.state.cells['{cell}'].f.geometry.coordinates[0]")
    data = np.array(data)[: len(drawn)]
    glon, glat = wgs84_to_gcj02(data[:, 0], data[:, 1])
    assert np.abs(np.array(drawn) - np.column_stack([glon, glat])).max() < 1e-9
    shift = shapely.Point(data[0]).distance(shapely.Point(glon[0], glat[0]))
    assert 0.001 < shift < 0.01  # hundreds of metres, in degrees
    rng = np.random.default_rng(3)
    pts = np.column_stack([rng.uniform(73, 135, 50), rng.uniform(18, 54, 50)]).tolist()
    js = np.array(ed.page.evaluate("pts => pts.map(p => gcj02.toGcj(p[0], p[1]))", pts))
    py = np.column_stack(wgs84_to_gcj02(np.array(pts)[:, 0], np.array(pts)[:, 1]))
    assert np.abs(js - py).max() < 1e-10
    ed.page.evaluate("localStorage.clear()")
    ed.close()


def test_language_toggle(editor):
    assert editor.page.locator("#undo").inner_text() == "撤销"
    editor.page.locator("#lang").click()
    assert editor.page.locator("#undo").inner_text() == "Undo"
    editor.page.locator("#lang").click()
    assert editor.page.locator("#undo").inner_text() == "撤销"


def test_forced_move_shows_contiguity_warning_and_lock(editor, demo_plan):
    cells = demo_plan.cells.set_index("cell_id")
    active = neighbours(demo_plan)[0][0]
    comm = demo_plan.grids.set_index("grid_code")["community_id"][active]
    shape = demo_plan.grids.set_index("grid_code").geometry[active]
    far = cells[(cells["community_id"] == comm) & (cells["grid_code"] != active)
                & (cells.geometry.distance(shape) > 50)]
    far = far[far.index.map(lambda c: cell_households(demo_plan, c) > 0)]
    cell = far.index[0]
    pt = cells.loc[[cell]].geometry.representative_point().to_crs(4326).iloc[0]
    editor.pick(active)
    editor.page.check("#force")
    n = editor.updates()
    editor.click_at(pt.x, pt.y)
    editor.settle(n)
    row = editor.page.locator(f'#grid-table tr[data-code="{active}"]')
    assert "不连续" in row.inner_text()
    assert editor.page.locator("#messages .warning").count() >= 1
    n = editor.updates()
    editor.page.locator("#lock").click()
    editor.settle(n)
    assert "🔒" in row.inner_text()
    assert editor.page.locator("#lock").inner_text() == "解锁"


def test_lasso_moves_cells_inside_the_drawn_polygon(editor, demo_plan):
    active, cell, other, _, _ = neighbours(demo_plan)[0]
    cells, cx, cy = box_centres(demo_plan)
    x, y, d = cx[cell], cy[cell], 6e-5
    ring = [(x - d, y - d), (x + d, y - d), (x, y + d)]
    tri = shapely.Polygon(ring)
    inside = [c for c in cells.index if cells["grid_code"][c] != active
              and tri.contains(shapely.Point(cx[c], cy[c]))]
    assert cell in inside
    h = sum(cell_households(demo_plan, c) for c in inside)
    editor.pick(active)
    before = editor.households(active)
    editor.zoom_to(x, y)
    editor.page.locator("#mode-lasso").click()
    n = editor.updates()
    for lon, lat in [*ring, ring[0]]:  # clicking the first point again closes the polygon
        editor.click_at(lon, lat)
        editor.page.wait_for_timeout(150)
    editor.page.wait_for_selector("#pending-ok")
    editor.page.keyboard.press("Enter")  # Enter confirms the preview
    editor.settle(n)
    assert editor.households(active) == before + h


def test_suggest_in_a_drawn_area_previews_and_applies_the_engines_division(editor, app,
                                                                           plan_id, demo_plan):
    """区域建议: a polygon drawn across two grids of one community asks the engine to
    re-divide them; the proposal is previewed with its effect and applied on accept. The
    plan is first spoiled by a forced move (as a planner may make one), so a better
    division exists: the parcel moved goes back, or better."""
    from apiutil import spoiling_move

    store = app.state.store
    _, state = store.state(plan_id)
    cell, to = spoiling_move(state)
    spoiled = state.cell_grid[cell]
    mate = next(n for n in sorted(state.nbrs[cell]) if state.cell_grid[n] == spoiled)
    n = editor.updates()
    editor.page.evaluate("([c, g]) => { document.getElementById('force').checked = true;"
                         " window.gridEditor.moveCells([c], g); }", [cell, to])
    editor.settle(n)
    cells, cx, cy = box_centres(demo_plan)
    line = shapely.LineString([(cx[cell], cy[cell]), (cx[mate], cy[mate])])
    ring = list(line.buffer(3e-5, quad_segs=1).exterior.coords)[:-1]
    inside = {state.cell_grid[c] for c in cells.index
              if shapely.Polygon(ring).contains(shapely.Point(cx[c], cy[c]))}
    assert {spoiled, to} <= inside  # and maybe more grids of the same community
    editor.zoom_to(line.centroid.x, line.centroid.y, 20)  # the ring's points far apart
    editor.page.locator("#mode-area").click()
    with editor.page.expect_response(lambda r: r.url.endswith("/suggest")) as asked:
        for lon, lat in [*ring, ring[0]]:  # clicking the first point again closes it
            editor.click_at(lon, lat)
            editor.page.wait_for_timeout(150)
    proposal = asked.value.json()
    assert proposal["found"] and proposal["grid"] is None
    assert set(proposal["grids"]) == inside
    assert "所画区域" in editor.page.locator("#proposal").inner_text()
    n = editor.updates()
    editor.page.locator("#proposal-ok").click()
    editor.settle(n)
    gain = proposal["in_band_after"] - proposal["in_band_before"]
    assert gain > 0 or proposal["deviation_after"] < proposal["deviation_before"]
    assert editor.page.evaluate("document.body.dataset.mode") == "move"


def test_overlays_draw_roads_and_buildings_and_clicks_still_move_parcels(editor, demo_plan):
    """道路河流 draws the lines between blocks; 楼栋户数 draws the buildings in view (from zoom
    16) with their households, and a click still moves the parcel under it."""
    page = editor.page
    page.check("#show-barriers")
    page.wait_for_function("Number(document.body.dataset.barriers) > 0")
    active, cell, other, lon, lat = neighbours(demo_plan)[0]
    h = cell_households(demo_plan, cell)
    editor.pick(active)
    editor.zoom_to(lon, lat, 17)
    page.check("#show-units")
    page.wait_for_function("Number(document.body.dataset.units) > 0")
    labels = page.locator(".unit-label span").all_inner_texts()
    assert labels and all(x.isdigit() for x in labels)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "editor-overlays.png"))
    before = editor.households(active)
    n = editor.updates()
    editor.click_at(lon, lat)
    editor.settle(n)
    assert editor.households(active) == before + h
    page.uncheck("#show-units")
    page.wait_for_function("document.body.dataset.units === '0'")


def test_closed_reads_load_once_the_key_is_given(browser, tmp_path, demo_plan):
    from gridplan.api.app import create_app
    from gridplan.api.settings import Settings

    app = create_app(Settings(data_dir=tmp_path, api_keys=f"tester:{KEY}", open_reads=False))
    app.state.store.create_plan(demo_plan, name="closed", author="tests", plan_id="closed")
    with serve(app) as url:
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        page = context.new_page()
        log = PageLog(page)
        page.goto(f"{url}/plans/closed/editor")
        page.wait_for_selector("#messages .error")
        assert page.evaluate("window.gridEditor.ready") is False
        page.fill("#api-key", KEY)
        page.dispatch_event("#api-key", "change")
        page.wait_for_function("window.gridEditor.ready")
        assert page.locator("#grid-table tbody tr").count() == len(demo_plan.grids)
        assert log.errors == [] and external(log.requests) == []
        context.close()


def status_counts(plan) -> dict:
    return plan.grids["status"].value_counts().to_dict()


def test_legend_shows_band_statuses_with_counts(editor, demo_plan):
    legend = editor.page.locator("#legend")
    text = legend.inner_text()
    for word in ("达标", "偏多", "偏少", "专属网格", "社区边界"):
        assert word in text, text
    for status, n in status_counts(demo_plan).items():
        item = legend.locator(f'[data-status="{status}"] .n')
        assert item.inner_text() == str(n)
    colours = editor.page.evaluate("""() => Object.fromEntries(
        Object.values(window.gridEditor.state.grids)
        .map(g => [g.properties.status, g.layer.options.fillColor]))""")
    assert len(set(colours.values())) == len(colours)  # one colour per status
    assert int(editor.page.evaluate("document.body.dataset.communities")) == len(
        demo_plan.communities)
    editor.page.wait_for_function("Number(document.body.dataset.labels) > 0")


def test_hover_shows_households_deviation_and_reason(editor, demo_plan):
    grids = demo_plan.grids.set_index("grid_code")
    code = grids.index[(grids["status"] == "above_band") & (grids["reason_zh"] != "")][0]
    row = grids.loc[code]
    pt = grids.geometry.to_crs(4326)[code].representative_point()
    editor.zoom_to(pt.x, pt.y, 17)
    xy = editor.point(pt.x, pt.y)
    editor.page.mouse.move(xy["x"], xy["y"])
    editor.page.mouse.move(xy["x"] + 1, xy["y"] + 1)
    tip = editor.page.locator(".grid-tip")
    tip.wait_for()
    text = tip.inner_text()
    assert code in text and str(int(row["households"])) in text
    assert row["reason_zh"][:12] in text and "偏多" in text
    assert f"+{int(row['households']) - 300}" in text  # deviation from the target 300
    ARTIFACTS.mkdir(exist_ok=True)
    editor.page.screenshot(path=str(ARTIFACTS / "editor-hover.png"))
    editor.page.locator("#lang").click()
    editor.page.mouse.move(xy["x"], xy["y"])
    editor.page.mouse.move(xy["x"] + 2, xy["y"] + 2)
    editor.page.wait_for_function("document.querySelector('.grid-tip') && "
                                  "document.querySelector('.grid-tip').innerText.includes('above')")
    assert row["reason"][:20] in editor.page.locator(".grid-tip").inner_text()
    editor.page.locator("#lang").click()


def test_hover_on_a_neighbouring_parcel_says_what_moving_it_would_do(editor, demo_plan):
    """With a grid active, a parcel of a neighbouring grid says, on hover, both grids'
    households after the move and whether grids in band would rise or fall."""
    active, _cell, other, lon, lat = neighbours(demo_plan)[0]
    hh = demo_plan.grids.set_index("grid_code")["households"]
    editor.pick(active)
    editor.zoom_to(lon, lat, 17)
    xy = editor.point(lon, lat)
    editor.page.mouse.move(xy["x"], xy["y"])
    editor.page.mouse.move(xy["x"] + 1, xy["y"] + 1)
    editor.page.wait_for_function("document.querySelector('.grid-tip .hint')")
    text = editor.page.locator(".grid-tip .hint").inner_text()
    assert "点击移入当前网格" in text and ("达标网格" in text or "目标" in text)
    (a0, a1), (b0, b1) = [tuple(map(int, m)) for m in re.findall(r"(\d+)→(\d+)", text)]
    assert (a0, b0) == (int(hh[active]), int(hh[other])) and a1 - a0 == b0 - b1 > 0
    ARTIFACTS.mkdir(exist_ok=True)
    editor.page.screenshot(path=str(ARTIFACTS / "editor-move-hint.png"))


def test_refused_move_into_locked_grid_speaks_chinese_then_clears(editor, demo_plan):
    (active, cell, other, lon, lat), (a2, c2, o2, lon2, lat2) = neighbours(demo_plan, 2)
    editor.pick(other)
    n = editor.updates()
    editor.page.locator("#lock").click()
    editor.settle(n)
    editor.pick(active)
    editor.click_at(lon, lat)
    editor.page.wait_for_selector("#messages .error")
    editor.settle()
    msg = editor.page.locator("#messages .error").inner_text()
    assert "已锁定" in msg and "解锁" in msg, msg
    for raw in ("{", "rule", "POST", "locked=false", "force", "grid(s)"):
        assert raw not in msg, msg
    assert editor.page.locator("#messages .error").count() == 1
    assert editor.page.locator("#messages li").count() == 0  # the violation said once
    editor.page.locator("#lang").click()
    msg = editor.page.locator("#messages .error").inner_text()
    assert "locked" in msg and "unlock it first" in msg and "已锁定" not in msg
    assert editor.page.locator("#status").inner_text() == "Ready"
    assert "Initial plan" in editor.page.locator("#versions").inner_text()
    assert "Locked" in editor.page.locator("#versions").inner_text()
    editor.page.locator("#lang").click()
    assert editor.page.locator("#status").inner_text() == "就绪"
    editor.pick(a2)
    editor.page.check("#force")  # the move may leave the band: accepted as a warning
    n = editor.updates()
    editor.click_at(lon2, lat2)
    editor.settle(n)
    assert editor.page.locator("#messages .error").count() == 0  # a success clears it
    versions = editor.page.locator("#versions").inner_text()
    assert "移动 1 个地块" in versions and f"到 …{a2[-3:]}" in versions


def test_cross_community_move_is_refused_before_asking(editor, demo_plan):
    cells = demo_plan.cells.set_index("cell_id")
    grids = demo_plan.grids.set_index("grid_code")
    active = neighbours(demo_plan)[0][0]
    comm = grids["community_id"][active]
    far = cells[cells["community_id"] != comm]
    cell = far.index[0]
    pt = cells.loc[[cell]].geometry.representative_point().to_crs(4326).iloc[0]
    editor.pick(active)
    editor.zoom_to(pt.x, pt.y, 17)
    before = len(editor.log.requests)
    editor.click_at(pt.x, pt.y)
    editor.page.wait_for_selector("#messages .error")
    assert "不能跨社区" in editor.page.locator("#messages .error").inner_text()
    assert not [u for u in editor.log.requests[before:] if "/edits/" in u]


def test_table_filters_and_sorts_by_status(editor, demo_plan):
    counts = status_counts(demo_plan)
    editor.page.select_option("#status-filter", "above_band")
    assert editor.rows() == counts["above_band"]
    shown = editor.page.locator("#grid-table td.st").evaluate_all(
        "tds => tds.map(td => td.dataset.status)")
    assert set(shown) == {"above_band"}
    editor.page.locator('#legend [data-status="below_band"]').click()  # the legend filters too
    assert editor.rows() == counts["below_band"]
    editor.page.select_option("#status-filter", "")
    assert editor.rows() == len(demo_plan.grids)
    editor.page.locator('#grid-table th[data-sort="households"]').click()
    hh = [int(x) for x in editor.page.locator("#grid-table td.hh").all_inner_texts()]
    assert hh == sorted(hh, reverse=True)
    editor.page.locator('#grid-table th[data-sort="households"]').click()
    hh = [int(x) for x in editor.page.locator("#grid-table td.hh").all_inner_texts()]
    assert hh == sorted(hh)
    bars = len(demo_plan.grids) - counts.get("dedicated", 0)
    editor.page.wait_for_function(f"document.querySelectorAll('#chart rect.bar').length === {bars}")


def test_long_table_grows_as_it_scrolls_and_the_chart_bins_its_bars(editor, demo_plan):
    """A plan with more grids than S.tableStep shows that many rows and more on scrolling,
    on clicking the "more" row, and up to a grid that becomes active further down; above
    S.chartBars grids the chart draws one bar per run of grids. (The demo is made long by
    lowering both limits: 10,000 grids behave the same at 300 and 360.)"""
    page, n = editor.page, len(demo_plan.grids)
    page.evaluate("() => { const s = window.gridEditor.state; s.tableStep = 10; s.chartBars = 8; }")
    page.dispatch_event("#filter", "input")  # a new filter starts from the first rows again
    coded = "#grid-table tbody tr[data-code]"
    assert page.locator(coded).count() == 10
    assert str(n - 10) in page.locator("#grid-table tr.more").inner_text()
    assert page.locator("#table-count").inner_text().startswith(f"{n} ")
    # ten rows fit without scrolling, so the scroll event is dispatched by hand
    page.evaluate("() => { const w = document.getElementById('grid-table-wrap');"
                  " w.scrollTop = w.scrollHeight; w.dispatchEvent(new Event('scroll')); }")
    assert page.locator(coded).count() == 20
    # the click alone: a pointer click first scrolls the "more" row into view, which is a
    # scroll to the end; when the browser handles that scroll first (under load), the table
    # grows, the row is replaced and Playwright clicks the new one: 40 rows, not 30
    page.locator("#grid-table tr.more").dispatch_event("click")
    assert page.locator(coded).count() == 30
    last = sorted(demo_plan.grids["grid_code"])[-1]
    page.evaluate("c => window.gridEditor.setActive(c)", last)
    assert page.locator(f'#grid-table tr.active[data-code="{last}"]').count() == 1
    assert page.locator(coded).count() == n and page.locator("#grid-table tr.more").count() == 0
    page.wait_for_function("document.querySelectorAll('#chart rect.bar').length === 8")
    title = page.locator("#chart rect.bar title").first.text_content()
    assert "网格" in title and "–" in title


def test_force_lasts_one_edit_and_ctrl_z_leaves_text_fields_alone(editor, demo_plan):
    active, cell, other, lon, lat = neighbours(demo_plan)[0]
    editor.pick(active)
    editor.page.check("#force")
    n = editor.updates()
    editor.click_at(lon, lat)
    editor.settle(n)
    assert not editor.page.is_checked("#force")
    version = editor.page.evaluate("window.gridEditor.state.version")
    editor.page.fill("#filter", "9901")
    editor.page.focus("#filter")
    editor.page.keyboard.press("Control+z")  # the field's own undo, not the plan's
    editor.page.wait_for_timeout(300)
    editor.settle()
    assert editor.page.evaluate("window.gridEditor.state.version") == version
    editor.page.fill("#filter", "")
    n = editor.updates()
    editor.page.keyboard.press("Control+z")  # an empty field: the plan's undo
    editor.settle(n)
    assert editor.page.evaluate("window.gridEditor.state.version") == version + 1
    assert editor.households(other) > 0
