"""OGC API – Features: reachable OSM ids, honest conformance, clamped limits, 400 for bad or
unknown parameters, exact bbox, links, HEAD, conditional GETs, and GDAL reading every
collection.

Runs on the SQLite store and on PostgreSQL/PostGIS (skipped where no server was started).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import uuid

import pytest
import shapely
from apiutil import BACKENDS, WRITE, add_demo, cached_demo_plan, make_client

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
OSM_BASE = 105276039


@pytest.fixture(scope="module", params=BACKENDS)
def client(request, tmp_path_factory):
    # no lifespan needed: these tests start no jobs
    return make_client(request.param, tmp_path_factory.mktemp(f"ogc-{request.param}"))


@pytest.fixture(scope="module")
def plan_id(client):
    return add_demo(client)


def osm_like_plan():
    """The demo plan with units named as OSM elements (``way/105276039``, ...)."""
    plan = cached_demo_plan()
    units = plan.units.copy()
    units["unit_id"] = [f"way/{OSM_BASE + i}" for i in range(len(units))]
    units["building_id"] = units["unit_id"]
    return dataclasses.replace(plan, units=units)


@pytest.fixture(scope="module")
def osm_plan_id(client):
    pid = "o" + uuid.uuid4().hex[:10]
    client.app.state.store.create_plan(osm_like_plan(), name="osm", author="tests",
                                       plan_id=pid)
    return pid


def _items(client, cid: str, **params):
    r = client.get(f"/collections/{cid}/items", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _link(doc: dict, rel: str) -> str | None:
    return next((lk["href"] for lk in doc.get("links", []) if lk["rel"] == rel), None)


def test_single_features_with_osm_ids_are_reachable(client, osm_plan_id):
    cid = f"{osm_plan_id}.units"
    page = _items(client, cid, limit=3)
    fid = page["features"][0]["id"]
    assert fid == f"way/{OSM_BASE}"
    for path in (f"way/{OSM_BASE}", f"way%2F{OSM_BASE}"):
        r = client.get(f"/collections/{cid}/items/{path}")
        assert r.status_code == 200, (path, r.text)
        assert r.json()["id"] == fid and r.json()["properties"]["unit_id"] == fid
    one = client.get(f"/collections/{cid}/items/{fid}").json()
    self_href = _link(one, "self")
    assert self_href.endswith(f"/collections/{cid}/items/way%2F{OSM_BASE}")
    assert client.get(self_href).json()["id"] == fid  # the self link leads back
    assert _link(one, "collection").endswith(f"/collections/{cid}")
    assert client.get(f"/collections/{cid}/items/way/1").status_code == 404


def test_grid_features_have_self_and_collection_links(client, plan_id):
    code = _items(client, plan_id, limit=1)["features"][0]["id"]
    one = client.get(f"/collections/{plan_id}/items/{code}", params={"version": 1}).json()
    assert _link(one, "self").endswith(f"/collections/{plan_id}/items/{code}?version=1")
    assert _link(one, "collection").endswith(f"/collections/{plan_id}")


def test_conformance_matches_the_openapi_version(client):
    classes = client.get("/conformance").json()["conformsTo"]
    assert not any(c.endswith("/conf/oas30") for c in classes)
    assert any(c.endswith("/conf/core") for c in classes)
    version = client.get("/openapi.json").json()["openapi"]
    desc = next(lk for lk in client.get("/").json()["links"] if lk["rel"] == "service-desc")
    assert desc["type"].endswith("version=" + ".".join(version.split(".")[:2]))


def test_limit_has_a_default_and_is_clamped_to_the_maximum(client, plan_id):
    page = _items(client, f"{plan_id}.units")
    assert page["numberReturned"] == 100 and page["numberMatched"] == 1009
    assert "limit=100&" in _link(page, "next")
    big = _items(client, f"{plan_id}.units", limit=10001)
    assert big["numberReturned"] == 1009 and "limit=10000" in _link(big, "self")
    param = next(p for p in client.get("/openapi.json").json()["paths"][
        "/collections/{collection_id}/items"]["get"]["parameters"] if p["name"] == "limit")
    assert param["schema"]["default"] == 100 and "10,000" in param["description"]


@pytest.mark.parametrize("query,name", [("limit=0", "limit"), ("limit=ten", "limit"),
                                        ("offset=-1", "offset"), ("version=0", "version"),
                                        ("bbox=1,2,3", "bbox"), ("bbox=a,b,c,d", "bbox")])
def test_invalid_parameters_are_400(client, plan_id, query, name):
    r = client.get(f"/collections/{plan_id}/items?{query}")
    assert r.status_code == 400, r.text
    assert name in r.text


@pytest.mark.parametrize("query,name", [
    ("foo=1", "foo"), ("crs=http://www.opengis.net/def/crs/EPSG/0/3857", "crs"),
    ("bbox-crs=http://www.opengis.net/def/crs/EPSG/0/3857&bbox=0,0,1,1", "bbox-crs"),
    ("properties=households", "properties"), ("f=html", "f"), ("limit=5&limit=6", "limit")])
def test_unknown_or_unserved_parameters_are_400_naming_them(client, plan_id, query, name):
    for path in (f"/collections/{plan_id}/items", f"/collections/{plan_id}"):
        if path.endswith(plan_id) and name not in ("foo", "f", "properties"):
            continue
        r = client.get(f"{path}?{query}")
        assert r.status_code == 400, (path, r.text)
        assert r.json()["detail"]["field"] == name and r.json()["detail"]["fix"]


def test_crs84_is_served(client, plan_id):
    r = client.get(f"/collections/{plan_id}/items", params={
        "crs": CRS84, "bbox-crs": CRS84, "bbox": "-180,-90,180,90", "limit": 2})
    assert r.status_code == 200 and r.headers["Content-Crs"] == f"<{CRS84}>"
    code = r.json()["features"][0]["id"]
    r = client.get(f"/collections/{plan_id}/items/{code}", params={"crs": CRS84})
    assert r.status_code == 200


def _envelope_miss(features: list[dict]) -> tuple[float, float, float, float, str]:
    """A tiny box inside a feature's envelope that misses the feature itself."""
    for f in features:
        geom = shapely.geometry.shape(f["geometry"])
        gap = shapely.box(*geom.bounds).difference(geom.buffer(3e-7))
        if gap.area > 1e-12:
            p = gap.representative_point()
            return (p.x - 5e-8, p.y - 5e-8, p.x + 5e-8, p.y + 5e-8, f["id"])
    raise AssertionError("every feature fills its envelope")


@pytest.mark.parametrize("layer", ["", ".units", ".communities"])
def test_bbox_keeps_features_that_intersect_it_head_and_old_versions(client, layer):
    pid = add_demo(client)
    everything = _items(client, pid + layer, limit=10000)["features"]
    *box, missed = _envelope_miss(everything)
    exact = sorted(f["id"] for f in everything
                   if shapely.geometry.shape(f["geometry"]).intersects(shapely.box(*box)))
    envelope = [f["id"] for f in everything
                if shapely.box(*shapely.geometry.shape(f["geometry"]).bounds).intersects(
                    shapely.box(*box))]
    assert missed in envelope and missed not in exact  # the box tells the two apart
    bbox = ",".join(repr(v) for v in box)
    head = _items(client, pid + layer, bbox=bbox)
    assert sorted(f["id"] for f in head["features"]) == exact
    assert head["numberMatched"] == len(exact)
    codes = [f["id"] for f in _items(client, pid, limit=1)["features"]]
    tag = client.get(f"/plans/{pid}").headers["ETag"]
    r = client.post(f"/plans/{pid}/edits/lock", json={"grids": codes},
                    headers={**WRITE, "If-Match": tag})
    assert r.status_code == 200 and r.json()["version"] == 2
    old = _items(client, pid + layer, bbox=bbox, version=1)
    assert sorted(f["id"] for f in old["features"]) == exact
    assert old["numberMatched"] == len(exact)


def test_bbox_pages_count_exact_matches(client, plan_id):
    x0, y0, x1, y1 = client.app.state.store.extent(plan_id)
    bbox = f"{x0},{y0},{(x0 + x1) / 2},{(y0 + y1) / 2}"
    full = _items(client, f"{plan_id}.units", bbox=bbox, limit=10000)
    pages, offset = [], 0
    while True:
        page = _items(client, f"{plan_id}.units", bbox=bbox, limit=50, offset=offset)
        assert page["numberMatched"] == full["numberMatched"]
        pages += [f["id"] for f in page["features"]]
        if not _link(page, "next"):
            break
        offset += 50
    assert pages == [f["id"] for f in full["features"]] and len(pages) > 50


@pytest.mark.parametrize("path", ["/", "/conformance", "/collections", "{cid}", "{cid}/items",
                                  "{cid}/items/{fid}"])
def test_head_answers_like_get_without_a_body(client, plan_id, path):
    fid = _items(client, plan_id, limit=1)["features"][0]["id"]
    url = path.format(cid=f"/collections/{plan_id}", fid=fid)
    get = client.get(url, headers={"Accept-Encoding": "identity"})
    head = client.head(url, headers={"Accept-Encoding": "identity"})
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert int(head.headers["content-length"]) == len(get.content)
    assert head.headers.get("ETag") == get.headers.get("ETag")
    assert client.head(f"/collections/{plan_id}/items/nope").status_code == 404


def test_if_none_match_answers_304(client):
    pid = add_demo(client)
    for url in (f"/collections/{pid}/items?limit=5", f"/collections/{pid}.units/items",
                f"/collections/{pid}/items/" + _items(client, pid, limit=1)["features"][0]["id"]):
        first = client.get(url)
        tag = first.headers["ETag"]
        again = client.get(url, headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == tag
        assert client.get(url, headers={"If-None-Match": "W/" + tag}).status_code == 304
        assert client.get(url, headers={"If-None-Match": '"other:1"'}).status_code == 200
    code = _items(client, pid, limit=1)["features"][0]["id"]
    tag = client.get(f"/plans/{pid}").headers["ETag"]
    client.post(f"/plans/{pid}/edits/lock", json={"grids": [code]},
                headers={**WRITE, "If-Match": tag})
    r = client.get(f"/collections/{pid}/items?limit=5", headers={"If-None-Match": tag})
    assert r.status_code == 200 and r.headers["ETag"] != tag  # the plan changed


# ---- GDAL's OGC API – Features driver against a live server ---------------------------------
OGRINFO = shutil.which("ogrinfo")


@pytest.mark.skipif(OGRINFO is None, reason="GDAL's ogrinfo is not installed")
def test_gdal_reads_every_collection(tmp_path):
    from browser import serve
    from gridplan.api.app import create_app
    from gridplan.api.settings import Settings

    app = create_app(Settings(data_dir=tmp_path, api_keys="tester:test-key"))
    plan = osm_like_plan()
    pid = "g" + uuid.uuid4().hex[:8]
    app.state.store.create_plan(plan, name="gdal", author="tests", plan_id=pid)
    want = {pid: len(plan.grids), f"{pid}.units": len(plan.units),
            f"{pid}.cells": len(plan.cells), f"{pid}.communities": len(plan.communities)}
    with serve(app) as url:
        out = subprocess.run([OGRINFO, "-ro", "-al", "-so", f"OAPIF:{url}/"],
                             capture_output=True, text=True, timeout=300, check=False)
        assert out.returncode == 0, out.stderr
        counts = dict(re.findall(r"Layer name: (\S+)\n(?:.*\n)*?Feature Count: (\d+)",
                                 out.stdout))
        assert {k: int(v) for k, v in counts.items()} == want, out.stdout[:2000]
        # read every feature of the units layer, page by page
        full = subprocess.run([OGRINFO, "-ro", "-q", f"OAPIF:{url}/", f"{pid}.units"],
                              capture_output=True, text=True, timeout=300, check=False)
        assert full.returncode == 0, full.stderr
        ids = re.findall(r"unit_id \(String\) = (\S+)", full.stdout)
        assert sorted(ids) == sorted(plan.units["unit_id"])
