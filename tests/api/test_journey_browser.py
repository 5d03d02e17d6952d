"""A planner's whole journey in headless Chromium against the real API on 127.0.0.1: sign in
on the start page, upload the demo's layers, plan, land in the editor, read the legend and a
grid's tooltip, ask for a suggested fix of an out-of-band grid and accept it, then sign in as
a viewer and find editing refused, in 中文 and in English. No request leaves the machine.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from apiutil import spoiling_move
from browser import ARTIFACTS, CHROMIUM, PageLog, chromium, external, serve
from gridplan.maps.assets import libraries_installed
from shapely.geometry import shape

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
    pytest.mark.skipif(not libraries_installed(), reason="run `npm ci --prefix maps`"),
]
DATA = Path(__file__).resolve().parents[2] / "data" / "boundaries"
PLANNER, VIEWER, PASSWORD = "planner", "viewer1", "journey-password"


@pytest.fixture
def app(tmp_path):
    from gridplan.api.app import create_app
    from gridplan.api.settings import Settings

    app = create_app(Settings(data_dir=tmp_path, api_keys="admin:admin-key",
                              suggest_seconds=5.0))
    app.state.users.add(PLANNER, "editor", PASSWORD)
    app.state.users.add(VIEWER, "viewer", PASSWORD)
    return app


def sign_in(page, name: str) -> None:
    page.fill("#sign-in-name", name)
    page.fill("#sign-in-password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_selector(f'#signed-in:has-text("{name}")')


def legend_count(page, status: str) -> int:
    return int(page.locator(f'#legend [data-status="{status}"] .n').inner_text())


def improving_grid(app, url: str, plan_id: str, token: str) -> tuple[str, dict]:
    """An out-of-band grid whose suggested fix brings more grids into the band.

    The engine's own out-of-band grids may have no better division (its exact stage may
    prove it), so first a forced move (as a planner may make one) takes a boundary parcel
    from an in-band grid; that grid is asked about first.
    """
    _, state = app.state.store.state(plan_id)
    cell, to = spoiling_move(state)
    spoiled = state.cell_grid[cell]
    with httpx.Client(base_url=url, headers={"X-API-Key": token}, timeout=60) as c:
        etag = c.get(f"/plans/{plan_id}").headers["ETag"]
        r = c.post(f"/plans/{plan_id}/edits/reassign", headers={"If-Match": etag},
                   json={"moves": {cell: to}, "force": True})
        assert r.status_code == 200, r.text
        version = r.json()["version"]
        grids = c.get(f"/plans/{plan_id}/grids").json()["features"]
        out = [f["id"] for f in grids if f["properties"]["status"] in ("above_band",
                                                                       "below_band")]
        for code in [spoiled, *sorted(set(out) - {spoiled}, reverse=True)]:
            r = c.post(f"/plans/{plan_id}/suggest", json={"grid": code, "version": version})
            assert r.status_code == 200, r.text
            if r.json()["found"] and r.json()["in_band_after"] > r.json()["in_band_before"]:
                return code, r.json()
    raise AssertionError("no out-of-band grid of the demo could be brought into the band")


def hover_grid(page, feature: dict) -> str:
    pt = shape(feature["geometry"]).representative_point()
    page.evaluate("([lat, lon]) => window.gridEditor.map().setView([lat, lon], 17, "
                  "{animate: false}) && null", [pt.y, pt.x])
    xy = page.evaluate("([lat, lon]) => window.gridEditor.containerPoint(lat, lon)", [pt.y, pt.x])
    page.mouse.move(xy["x"], xy["y"])
    page.mouse.move(xy["x"] + 1, xy["y"] + 1)
    tip = page.locator(".grid-tip")
    tip.wait_for()
    return tip.inner_text()


@pytest.mark.slow
def test_planner_journey_from_upload_to_suggested_fix_and_viewer(app):
    with serve(app) as url, chromium() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        log = PageLog(page)
        page.goto(url + "/")
        page.wait_for_function("window.gridStart && window.gridStart.ready")

        # sign in on the start page: the token becomes the page's key
        sign_in(page, PLANNER)
        assert "planner · 编辑者" in page.locator("#signed-in").inner_text()
        token = page.evaluate("localStorage.getItem('gridplan.apiKey')")
        assert token and token != "admin-key"

        # upload, start, progress to 100 %, the editor
        page.set_input_files("#file-communities", str(DATA / "communities.geojson"))
        page.set_input_files("#file-population", str(DATA / "buildings.geojson"))
        page.wait_for_selector('.drop[data-kind="communities"].ok')
        page.wait_for_selector('.drop[data-kind="population"].ok')
        page.fill("#plan-name", "旅程")
        page.click("#start")
        page.wait_for_selector("#job:not([hidden])")
        page.wait_for_function("document.getElementById('progress').value >= 100",
                               timeout=120_000)
        assert page.locator("#percent").inner_text() == "100%"
        page.wait_for_url("**/plans/*/editor", timeout=30_000)
        page.wait_for_function("window.gridEditor && window.gridEditor.ready", timeout=60_000)
        page.wait_for_function("document.body.dataset.idle === '1'")
        plan_id = page.url.split("/plans/")[1].split("/")[0]
        assert app.state.store.plan_info(plan_id)["author"] == PLANNER
        page.wait_for_selector('#signed-in:has-text("planner")')
        assert page.locator("#readonly").is_hidden()

        # the legend and a grid's tooltip
        legend = page.locator("#legend").inner_text()
        assert all(w in legend for w in ("达标", "偏多", "偏少")), legend
        code, _ = improving_grid(app, url, plan_id, token)
        page.reload()  # the forced move made a new version: the editor shows it
        page.wait_for_function("window.gridEditor && window.gridEditor.ready", timeout=60_000)
        page.wait_for_function("document.body.dataset.idle === '1'")
        grids = {f["id"]: f for f in httpx.get(f"{url}/plans/{plan_id}/grids",
                                               headers={"X-API-Key": token}).json()["features"]}
        props = grids[code]["properties"]
        tip = hover_grid(page, grids[code])
        assert code in tip and str(props["households"]) in tip, tip
        assert {"above_band": "偏多", "below_band": "偏少"}[props["status"]] in tip
        if props.get("reason_zh"):
            assert props["reason_zh"][:10] in tip, tip

        # suggest fix: previewed with its effect, then accepted as the editor's next version
        ok_before = legend_count(page, "ok")
        page.locator(f'#grid-table tr[data-code="{code}"]').click()
        with page.expect_response(lambda r: r.url.endswith("/suggest")) as asked:
            page.click("#suggest")
        proposal = asked.value.json()  # the page's own answer (a search may differ by a tie)
        assert proposal["found"] and proposal["grid"] == code, proposal
        page.wait_for_selector("#proposal-ok")
        effect = page.locator("#proposal .what").inner_text()
        assert (f"达标网格 {proposal['in_band_before']} → {proposal['in_band_after']}，"
                f"移动 {proposal['households_moved']} 户") in effect, effect
        assert int(page.evaluate("document.body.dataset.proposal")) >= 1  # outlined
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "journey-suggest.png"))
        with page.expect_response(lambda r: r.url.endswith("/edits/reassign")) as answer:
            page.click("#proposal-ok")
        assert answer.value.status == 200
        gain = proposal["in_band_after"] - proposal["in_band_before"]
        page.wait_for_function(
            f"""() => Number(document.querySelector('#legend [data-status="ok"] .n')
                       .textContent) === {ok_before + gain}""")
        page.wait_for_function("document.body.dataset.idle === '1'")
        assert page.locator("#proposal").is_hidden()
        # version 2 is the forced move that spoiled a grid, 3 the accepted fix
        assert page.evaluate("window.gridEditor.state.version") == 3
        assert app.state.store.plan_info(plan_id)["version"] == 3
        page.wait_for_selector('#versions li.current[data-version="3"]')

        # a viewer: read only, and a write the API refuses is said in the planner's words
        page.click("#sign-out")
        page.wait_for_selector("#sign-in-name")
        sign_in(page, VIEWER)
        page.wait_for_selector("#readonly:not([hidden])")
        assert page.locator("#readonly").inner_text() == "只读（查看者）"
        assert "查看者" in page.locator("#signed-in").inner_text()
        for tool in ("#mode-move", "#mode-box", "#split-half", "#lock", "#undo", "#suggest"):
            assert page.locator(tool).is_disabled(), tool
        page.evaluate("""() => {
            const S = window.gridEditor.state, to = S.order[0];
            const com = S.grids[to].properties.community_id;
            window.gridEditor.setActive(to);
            const c = Object.values(S.cells).find(c => c.f.properties.grid_code !== to &&
                                                       c.f.properties.community_id === com);
            return window.gridEditor.moveCells([c.f.properties.cell_id], to).then(() => null);
        }""")
        page.wait_for_selector('#messages .msg.error:has-text("查看者")')
        assert app.state.store.plan_info(plan_id)["version"] == 3

        # English and back
        page.click("#lang")
        assert page.locator("#readonly").inner_text() == "Read only (viewer)"
        assert "viewer role" in page.locator("#messages").inner_text()
        assert "in band" in page.locator("#legend").inner_text()
        assert "viewer1 · viewer" in page.locator("#signed-in").inner_text()
        page.click("#lang")
        assert page.locator("#readonly").inner_text() == "只读（查看者）"
        assert "偏多" in page.locator("#legend").inner_text()

        assert log.errors == [], log.errors
        assert external(log.requests) == [], external(log.requests)
        context.close()


def test_suggest_fix_says_when_the_plan_moved_on_and_when_nothing_is_found(tmp_path):
    from apiutil import cached_demo_plan
    from gridplan.api.app import create_app
    from gridplan.api.settings import Settings

    app = create_app(Settings(data_dir=tmp_path, api_keys="tester:test-key",
                              suggest_seconds=5.0))
    app.state.store.create_plan(cached_demo_plan(), name="demo", author="tests", plan_id="p")
    h = {"X-API-Key": "test-key"}
    with serve(app) as url, chromium() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        log = PageLog(page)
        page.goto(url + "/plans/p/editor")
        page.wait_for_function("window.gridEditor && window.gridEditor.ready")
        page.fill("#api-key", "test-key")
        page.dispatch_event("#api-key", "change")
        page.wait_for_function("document.body.dataset.idle === '1'")
        grids = httpx.get(f"{url}/plans/p/grids", headers=h).json()["features"]
        out = sorted(f["id"] for f in grids
                     if f["properties"]["status"] in ("above_band", "below_band"))
        assert page.locator("#suggest").is_disabled()  # no active grid yet

        # someone else locks every other grid of the community: the suggestion is refused
        # (412), said, and the editor reloads
        code = out[0]
        props = {f["id"]: f["properties"] for f in grids}
        others = [g for g, p in props.items()
                  if p["community_id"] == props[code]["community_id"] and g != code]
        r = httpx.post(f"{url}/plans/p/edits/lock", headers={**h, "If-Match": '"p:1"'},
                       json={"grids": others, "locked": True})
        assert r.status_code == 200, r.text
        page.locator(f'#grid-table tr[data-code="{code}"]').click()
        with page.expect_response(lambda r: r.url.endswith("/suggest")) as asked:
            page.click("#suggest")
        assert asked.value.status == 412
        page.wait_for_selector('#messages .msg:has-text("请再点一次「建议调整」")')
        page.wait_for_function("window.gridEditor.state.version === 2")
        assert page.locator("#proposal").is_hidden()

        # asked again: with every neighbour locked nothing can change; the reason is said
        page.wait_for_function("document.body.dataset.idle === '1'")
        with page.expect_response(lambda r: r.url.endswith("/suggest")) as asked:
            page.click("#suggest")
        answer_ = asked.value.json()
        assert asked.value.status == 200 and not answer_["found"], answer_
        page.wait_for_selector("body[data-suggest='none']")
        text = page.locator("#messages").inner_text()
        assert "没有找到更好的调整" in text and answer_["reason_zh"][:8] in text, text
        page.click("#lang")
        text = page.locator("#messages").inner_text()
        assert "No better division found" in text and answer_["reason"][:12] in text, text
        assert page.locator("#proposal").is_hidden()
        assert app.state.store.plan_info("p")["version"] == 2  # a proposal changes nothing
        assert log.errors == [], log.errors
        assert external(log.requests) == [], external(log.requests)
        context.close()
