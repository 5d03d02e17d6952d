"""The start page in headless Chromium against the real API served on 127.0.0.1: a planner
opens ``/``, sees the plans, uploads the demo's boundary and population files (one by the
file chooser, one dropped), sets the target, starts, watches the progress reach 100 % and
lands in the new plan's editor. No page or file may ask any host but the app itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import ARTIFACTS, CHROMIUM, PageLog, external, serve
from gridplan.maps.assets import libraries_installed

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
    pytest.mark.skipif(not libraries_installed(), reason="run `npm ci --prefix maps`"),
]
KEY = "test-key"
DATA = Path(__file__).resolve().parents[2] / "data" / "boundaries"
DEMO_NAME = "示例 demo"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from apiutil import cached_demo_plan
    from gridplan.api.app import create_app
    from gridplan.api.settings import Settings

    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("start-api"),
                              api_keys=f"tester:{KEY}"))
    app.state.store.create_plan(cached_demo_plan(), name=DEMO_NAME, author="tests",
                                plan_id="shown")
    return app


@pytest.fixture(scope="module")
def base_url(app):
    with serve(app) as url:
        yield url


@pytest.fixture
def page(browser, base_url):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.log = PageLog(page)
    page.goto(base_url + "/")
    page.wait_for_function("window.gridStart && window.gridStart.ready")
    yield page
    assert page.log.errors == [], page.log.errors
    assert external(page.log.requests) == [], external(page.log.requests)
    context.close()


def give_key(page, key: str = KEY) -> None:
    page.fill("#api-key", key)
    page.dispatch_event("#api-key", "change")


def drop_file(page, kind: str, path: Path) -> None:
    """Drop a file on an upload box as a planner's drag and drop does."""
    page.evaluate("""([kind, name, text]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([text], name, {type: "application/geo+json"}));
        const box = document.querySelector(`.drop[data-kind="${kind}"]`);
        box.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true}));
        box.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true}));
    }""", [kind, path.name, path.read_text(encoding="utf-8")])


def test_plan_list_shows_each_plan_with_its_figures(page, app):
    row = page.locator('#plans tr[data-id="shown"]')
    assert DEMO_NAME in row.inner_text()
    assert row.locator("a").first.get_attribute("href") == "/plans/shown/editor"
    page.wait_for_function("""() => !document.querySelector('#plans tr[data-id="shown"] .edited')
                              .textContent.includes('…')""")
    report = app.state.store.plan_info("shown")["report"]
    assert row.locator(".communities").inner_text() == str(report["communities"])
    assert row.locator(".grids").inner_text() == str(report["grids"])
    assert row.locator(".share").inner_text() == f"{100 * report['share_in_band']:.1f}%"
    assert "tests" in row.locator(".edited").inner_text()


@pytest.mark.slow
def test_upload_set_target_plan_and_land_in_the_editor(page, app, base_url):
    give_key(page)
    assert page.locator("#key-state").inner_text() == "密钥已保存在本浏览器"
    page.set_input_files("#file-communities", str(DATA / "communities.geojson"))
    page.wait_for_selector('.drop[data-kind="communities"].ok')
    assert "7 要素" in page.locator("#result-communities").inner_text()
    drop_file(page, "population", DATA / "buildings.geojson")
    page.wait_for_selector('.drop[data-kind="population"].ok')
    text = page.locator("#result-population").inner_text()
    assert "1003 要素" in text and "17761 户" in text and "EPSG:4326" in text
    assert page.locator("#param-target").input_value() == "300"
    page.fill("#param-tolerance", "2")  # out of range: said at once, nothing is sent
    page.click("#start")
    assert "参数不在允许范围内" in page.locator('[data-param="tolerance"] .invalid').inner_text()
    assert page.evaluate("window.gridStart.state.job") is None
    page.fill("#param-tolerance", "0.15")
    page.fill("#param-target", "280")
    page.fill("#plan-name", "网页规划")
    page.click("#start")
    page.wait_for_selector("#job:not([hidden])")
    page.wait_for_function("document.getElementById('progress').value >= 100", timeout=240_000)
    assert page.locator("#percent").inner_text() == "100%"
    page.wait_for_url("**/plans/*/editor", timeout=30_000)
    page.wait_for_function("window.gridEditor && window.gridEditor.ready", timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "start-to-editor.png"))
    plan_id = page.url.split("/plans/")[1].split("/")[0]
    info = app.state.store.plan_info(plan_id)
    assert info["name"] == "网页规划" and info["params"]["target"] == 280
    assert info["report"]["communities"] == 7


@pytest.mark.slow
def test_a_started_plan_can_be_cancelled(page):
    give_key(page)
    page.set_input_files("#file-communities", str(DATA / "communities.geojson"))
    page.set_input_files("#file-population", str(DATA / "buildings.geojson"))
    page.wait_for_selector('.drop[data-kind="communities"].ok')
    page.wait_for_selector('.drop[data-kind="population"].ok')
    page.click("#start")
    page.wait_for_selector("#cancel:not([hidden])")
    page.click("#cancel")
    page.wait_for_selector('#job-result:has-text("已取消")', timeout=60_000)
    assert page.locator("#cancel").is_hidden() and page.locator("#start").is_enabled()
    assert page.evaluate("window.gridStart.state.job.status") == "cancelled"


def test_refusals_explain_problem_and_fix_and_english_toggle(page, tmp_path):
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    page.set_input_files("#file-communities", str(empty))  # no key yet
    page.wait_for_selector('.drop[data-kind="communities"].failed')
    assert "需要有效的 API 密钥" in page.locator("#result-communities").inner_text()
    assert page.locator("#key-state").inner_text() == "未填写密钥：上传和开始规划需要它"
    give_key(page, "wrong")
    page.set_input_files("#file-communities", str(empty))
    page.wait_for_selector("#key-state.bad")
    assert page.locator("#key-state").inner_text() == "密钥无效，请检查"
    give_key(page)
    page.set_input_files("#file-communities", str(empty))
    page.wait_for_selector('#result-communities:has-text("layer is empty")')
    text = page.locator("#result-communities").inner_text()
    assert "数据或参数有误" in text and "问题：社区边界图层里没有任何要素" in text
    assert "原文：the communities layer is empty" in text and "解决办法：" in text
    page.set_input_files("#file-workers", str(DATA / "workers.csv"))
    page.wait_for_selector('.drop[data-kind="workers"].ok')
    assert "82 行" in page.locator("#result-workers").inner_text()
    page.click("#start")  # communities and population missing
    assert "请先上传社区边界和人口图层" in page.locator("#job-result").inner_text()
    page.fill("#param-target", "250")
    page.click("#lang")
    assert page.locator("h1").inner_text() == "Grid planning"
    assert page.locator('[data-param="target"] .label').inner_text() == "Target"
    assert page.locator("#param-target").input_value() == "250"  # kept across the toggle
    page.click("#lang")
    assert page.locator('[data-param="target"] .label').inner_text() == "每格目标户数"
    page.log.failed_loads.clear()  # the refused uploads' 401 and 422 were expected


def test_docs_page_works_offline(browser, base_url):
    context = browser.new_context()
    page = context.new_page()
    log = PageLog(page)
    page.goto(base_url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "gridplan" in page.locator(".swagger-ui .info .title").inner_text()
    page.wait_for_selector("#operations-jobs-start_jobs_post")
    assert external(log.requests) == [], external(log.requests)
    assert log.errors == [], log.errors
    context.close()


def test_closed_reads_load_once_the_key_is_given(browser, tmp_path):
    from apiutil import cached_demo_plan
    from gridplan.api.app import create_app
    from gridplan.api.settings import Settings

    app = create_app(Settings(data_dir=tmp_path, api_keys=f"tester:{KEY}", open_reads=False))
    app.state.store.create_plan(cached_demo_plan(), name="closed", author="tests",
                                plan_id="closed")
    with serve(app) as url:
        context = browser.new_context()
        page = context.new_page()
        log = PageLog(page)
        page.goto(url + "/")
        page.wait_for_function("window.gridStart && window.gridStart.ready")
        assert "需要有效的 API 密钥" in page.locator("#messages").inner_text()
        assert page.locator("#plans tbody tr").count() == 0
        give_key(page)
        page.wait_for_selector('#plans tr[data-id="closed"]')
        page.wait_for_selector("#param-target")
        assert log.errors == [] and external(log.requests) == []
        context.close()
