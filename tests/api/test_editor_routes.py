"""Editor routes of the API: the page, the offline libraries and a stored plan's coverage map."""

from __future__ import annotations

import re

import pytest
from apiutil import add_demo, make_client
from gridplan.maps.assets import libraries_installed

needs_libs = pytest.mark.skipif(not libraries_installed(), reason="vendored Leaflet missing")
EXTERNAL = re.compile(r"<(?:script|link)\b[^>]*?(?:src|href)\s*=\s*[\"']?(https?:)?//", re.I)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return make_client("sqlite", tmp_path_factory.mktemp("editor-routes"))


@pytest.fixture(scope="module")
def plan_id(client):
    return add_demo(client)


def test_editor_page_names_plan_and_loads_only_local_files(client, plan_id):
    r = client.get(f"/plans/{plan_id}/editor")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert f'data-plan="{plan_id}"' in r.text and 'data-tiles="none"' in r.text
    assert not EXTERNAL.search(r.text)
    srcs = re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text)
    assert len(srcs) == 6 + 9  # Leaflet, Geoman and the editor's CSS and main.js; preloads
    if libraries_installed():
        for src in srcs:
            assert client.get(src).status_code == 200, src


def test_editor_page_escapes_and_takes_tiles(client, monkeypatch):
    r = client.get('/plans/x"><script>/editor', params={"tiles": "osm"})
    assert "<script>/" not in r.text.split("<body", 1)[1].split(">", 1)[0]
    assert 'data-tiles="osm"' in r.text
    monkeypatch.setenv("GRIDPLAN_EDITOR_TILES", "http://intranet/{z}/{x}/{y}.png")
    assert 'data-tiles="http://intranet/{z}/{x}/{y}.png"' in client.get("/plans/a/editor").text


@pytest.mark.parametrize("path", ["/static/lib/jquery.js", "/static/editor/index.html",
                                  "/static/editor/../../api/app.py", "/static/lib/images/x.svg"])
def test_only_known_static_files(client, path):
    assert client.get(path).status_code == 404


@needs_libs
def test_plan_map_is_offline_html(client, plan_id):
    r = client.get(f"/plans/{plan_id}/map", params={"lang": "en"})
    assert r.status_code == 200 and "L.map(" in r.text
    assert not EXTERNAL.search(r.text)
    assert "tile.openstreetmap.org" not in r.text  # default base map: none
    r = client.get(f"/plans/{plan_id}/map", params={"tiles": "amap", "version": 1})
    assert r.status_code == 200 and "autonavi" in r.text


def test_plan_map_errors(client, plan_id):
    assert client.get("/plans/nope/map").status_code == 404
    assert client.get(f"/plans/{plan_id}/map", params={"version": 99}).status_code in (404, 409,
                                                                                        422)
    r = client.get(f"/plans/{plan_id}/map", params={"tiles": "ftp://x"})
    assert r.status_code == 422 and "tile URL" in r.json()["detail"]["problem"]
    assert client.get(f"/plans/{plan_id}/map", params={"lang": "fr"}).status_code == 422


def test_editor_page_preloads_every_module(client, plan_id):
    """Each ES module of the editor is preloaded, so they arrive at once, not one import
    level after another."""
    from gridplan.maps.assets import EDITOR_FILES

    html = client.get(f"/plans/{plan_id}/editor").text
    preloaded = set(re.findall(r'rel="modulepreload" href="/static/editor/([^"]+)"', html))
    modules = {name for name in EDITOR_FILES if name.endswith(".js")} - {"main.js"}
    assert preloaded == modules


def test_editor_page_loads_the_editable_state_for_the_first_edit(tmp_path):
    """Opening the editor loads the plan's editable state in the background (the first
    edit no longer waits for it); an unknown plan's page is served all the same."""
    client = make_client("sqlite", tmp_path)
    pid = add_demo(client)
    store = client.app.state.store
    assert pid not in store._states
    assert client.get(f"/plans/{pid}/editor").status_code == 200
    assert store._states[pid][0] == store.head(pid)
    assert client.get("/plans/no-such-plan/editor").status_code == 200


def test_barriers_are_the_lines_between_blocks_inside_communities(client, plan_id):
    """GET /plans/{id}/barriers: one feature of lines per community with several blocks,
    inside that community, never along its outline."""
    from shapely.geometry import shape

    r = client.get(f"/plans/{plan_id}/barriers")
    assert r.status_code == 200 and r.headers["ETag"] == f'"{plan_id}:1"'
    features = r.json()["features"]
    comms = {f["id"]: shape(f["geometry"]) for f in
             client.get(f"/plans/{plan_id}/communities").json()["features"]}
    assert features, "the demo's communities are crossed by roads"
    for f in features:
        line = shape(f["geometry"])
        assert line.geom_type in ("LineString", "MultiLineString") and line.length > 0
        comm = comms[f["properties"]["community_id"]]
        assert comm.buffer(1e-6).contains(line)
        assert line.intersection(comm.boundary.buffer(2e-6)).length < 1e-9
    assert client.get("/plans/no-such-plan/barriers").status_code == 404
