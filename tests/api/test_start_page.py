"""The start page at ``/`` (browsers) beside the OGC landing JSON (GDAL, QGIS, scripts),
``GET /params`` for forms, and ``/docs`` served from the package without internet."""

from __future__ import annotations

import re

import pytest
from apiutil import make_client
from gridplan.maps.assets import DOCS_LIBRARIES, START_FILES

from gridplan.params import param_fields

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
EXTERNAL = re.compile(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with make_client("sqlite", tmp_path_factory.mktemp("start")) as c:
        yield c


@pytest.mark.parametrize("accept,query", [(BROWSER, ""), ("text/html", ""), ("*/*", "?f=html")])
def test_browsers_get_the_start_page(client, accept, query):
    r = client.get("/" + query, headers={"Accept": accept})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "新建规划" in r.text and 'id="api-key"' in r.text
    assert "Accept" in r.headers["vary"]
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text):
        assert client.get(src).status_code == 200, src
    assert not EXTERNAL.search(r.text)


@pytest.mark.parametrize("accept,query", [
    ("application/json", ""), ("*/*", ""), (None, ""), (BROWSER, "?f=json"),
    ("application/json, text/html;q=0.5", ""), ("application/geo+json,text/html", "")])
def test_json_clients_get_the_ogc_landing_page(client, accept, query):
    headers = {"Accept": accept} if accept else {}
    r = client.get("/" + query, headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert {lk["rel"] for lk in body["links"]} >= {"self", "service-desc", "service-doc",
                                                  "conformance", "data"}
    assert "Accept" in r.headers["vary"]


def test_head_of_the_start_page_has_no_body(client):
    r = client.head("/", headers={"Accept": BROWSER})
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-type"].startswith("text/html")


def test_the_start_page_opens_where_reads_need_a_key(tmp_path):
    with make_client("sqlite", tmp_path, open_reads=False) as c:
        assert c.get("/", headers={"Accept": BROWSER}).status_code == 200
        assert c.get("/", headers={"Accept": "application/json"}).status_code == 401
        assert c.get("/params").status_code == 401


def test_params_describe_every_plan_parameter(client):
    r = client.get("/params")
    assert r.status_code == 200
    params = r.json()
    fields = param_fields()
    assert [p["name"] for p in params] == list(fields)
    by_name = {p["name"]: p for p in params}
    assert by_name["target"] == {
        "name": "target", "type": "integer", "default": 300, "bounds": {"gt": 0, "le": 100_000},
        "choices": None, "pattern": None, "label_zh": "每格目标户数", "label_en": "Target",
        "help": fields["target"].metadata["help"], "cli": "--target"}
    assert by_name["tolerance"]["type"] == "number"
    assert by_name["tolerance"]["bounds"] == {"gt": 0, "lt": 1}
    assert by_name["balance"]["choices"] == ["households", "workload"]
    assert by_name["dedicated_tags"]["type"] == "list"
    assert by_name["dedicated_tags"]["list_sep"] == ","
    assert by_name["object_class"]["pattern"] == r"^\d{6}$"
    for p in params:  # what the form sends back is what a job takes
        assert p["label_zh"] and p["help"] and p["cli"].startswith("--")
    schema = client.get("/openapi.json").json()["components"]["schemas"]["PlanOptions"]
    assert set(by_name) <= set(schema["properties"])


def test_docs_are_served_from_the_package(client):
    r = client.get("/docs")
    assert r.status_code == 200 and "SwaggerUIBundle" in r.text
    assert not EXTERNAL.search(r.text), r.text
    urls = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert {u.rsplit("/", 1)[-1] for u in urls} == set(DOCS_LIBRARIES)
    for url in urls:
        got = client.get(url)
        assert got.status_code == 200 and len(got.content) > 500, url
    assert client.get("/static/docs/nothing.js").status_code == 404
    assert client.get("/redoc").status_code == 404  # it would load ReDoc from a CDN
    assert client.get("/openapi.json").status_code == 200


def test_start_files_are_served_and_others_are_not(client):
    for name in set(START_FILES) - {"index.html"}:
        r = client.get(f"/static/start/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-type"].startswith(("text/javascript", "text/css"))
    assert client.get("/static/start/index.html").status_code == 404
    assert client.get("/static/start/..%2Fapp.py").status_code == 404
