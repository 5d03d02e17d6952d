"""Hostile requests to the web service, one table: each case names a request builder and the
statuses it may get (never a 5xx).

A builder takes the suite's context (:class:`Ctx`: the stored plan, grids and parcels to aim
at) and returns ``(method, url, httpx keyword arguments)``. The tests in
``test_hostile_api.py`` send each case, bounded in time, and check that the stored plan's head
version and grids are unchanged afterwards.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import math
import sqlite3
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

KEY = "test-key"
WRITE = {"X-API-Key": KEY}
LON, LAT = 116.30, 39.93  # Beijing


@dataclass
class Ctx:
    """What the cases aim at: a stored demo plan with one grid locked."""

    plan: str
    etag: str  # the plan's current ETag
    stale: str  # an ETag of an earlier version
    grid: str  # an unlocked grid
    neighbour: str  # an unlocked grid of the same community, next to ``grid``
    other_community: str  # an unlocked grid of another community
    locked: str  # a locked grid
    cell: str  # a parcel of ``grid`` next to ``neighbour``
    locked_cell: str  # a parcel of ``locked``
    unit: str  # a unit of ``grid``


Request = tuple[str, str, dict]
Builder = Callable[[Ctx], Request]


@dataclass(frozen=True)
class Case:
    """One hostile request: ``id`` (readable), ``area``, the builder, statuses allowed, and
    ``around(app)``, a context the request is sent in (e.g. every job slot taken)."""

    id: str
    area: str
    build: Builder
    expect: tuple[int, ...]
    around: Callable[[object], AbstractContextManager] = lambda app: nullcontext()


@contextmanager
def jobs_full(app) -> Iterator[None]:
    """Every plan-job place taken (as if ``GRIDPLAN_MAX_JOBS`` jobs were queued)."""
    runner = app.state.jobs
    fake = {f"busy{i}" for i in range(runner.max_jobs)}
    runner.active |= fake
    try:
        yield
    finally:
        runner.active -= fake


@contextmanager
def readers_busy(app) -> Iterator[None]:
    """Every upload reader busy (as if ``GRIDPLAN_READ_WORKERS`` uploads were being read)."""
    taken = 0
    while app.state.readers.acquire(blocking=False):
        taken += 1
    try:
        yield
    finally:
        for _ in range(taken):
            app.state.readers.release()


# ---- builders -------------------------------------------------------------------------------
def _edit(path: str, body: bytes | dict | None, *, if_match: str | None = "etag",
          headers: dict | None = None, ctype: str | None = "application/json") -> Builder:
    """POST to ``/plans/{plan}/{path}`` with the key, ``If-Match`` and a raw or JSON body.

    ``if_match`` is ``"etag"`` (the current one), ``"stale"``, ``None`` (no header) or the
    literal header value; ``{grid}``-style names in a bytes body are filled from the context.
    """
    def build(ctx: Ctx) -> Request:
        h = dict(WRITE if headers is None else headers)
        if if_match is not None:
            h["If-Match"] = {"etag": ctx.etag, "stale": ctx.stale}.get(if_match, if_match)
        if ctype:
            h["Content-Type"] = ctype
        content = body(ctx) if callable(body) else body
        if isinstance(content, dict):
            content = json.dumps(content).encode()
        elif isinstance(content, bytes):
            content = content.replace(b"{grid}", ctx.grid.encode()).replace(
                b"{cell}", ctx.cell.encode())
        return "POST", f"/plans/{ctx.plan}/{path}", {"content": content or b"", "headers": h}
    return build


def _get(url: str, headers: dict | None = None) -> Builder:
    def build(ctx: Ctx) -> Request:
        return "GET", url.replace("{p}", ctx.plan).replace("{grid}", ctx.grid), {
            "headers": headers or {}}
    return build


def _job(body: bytes | dict) -> Builder:
    def build(ctx: Ctx) -> Request:
        content = json.dumps(body).encode() if isinstance(body, dict) else body
        return "POST", "/jobs", {"content": content,
                                 "headers": {**WRITE, "Content-Type": "application/json"}}
    return build


def _upload(name: str, data: Callable[[], bytes] | bytes, kind: str = "communities",
            **form: str) -> Builder:
    def build(ctx: Ctx) -> Request:
        raw = data() if callable(data) else data
        return "POST", "/layers", {"files": {"file": (name, raw)},
                                   "data": {"kind": kind, **form}, "headers": WRITE}
    return build


# ---- layers ---------------------------------------------------------------------------------
def _square(x: float, y: float, d: float = 0.001) -> list:
    return [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]


def feature_collection(features: list[tuple[dict, dict]]) -> bytes:
    """GeoJSON bytes of ``(properties, geometry)`` pairs (NaN written as NaN)."""
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": p, "geometry": g} for p, g in features]}).encode()


def communities(n: int = 2) -> bytes:
    return feature_collection([({"id": f"C{i}"}, {"type": "Polygon", "coordinates": _square(
        LON + 0.002 * i, LAT)}) for i in range(n)])


def buildings(households: list) -> bytes:
    return feature_collection([({"unit_id": f"b{i}", "households": h}, {
        "type": "Polygon", "coordinates": _square(LON + 0.0002 * i, LAT, 0.0001)})
        for i, h in enumerate(households)])


def _bowtie() -> bytes:
    ring = [[LON, LAT], [LON + 0.01, LAT + 0.01], [LON + 0.01, LAT], [LON, LAT + 0.01],
            [LON, LAT]]
    return feature_collection([({"id": "bow"}, {"type": "Polygon", "coordinates": [ring]})])


def _circle(n: int) -> bytes:
    ring = [[LON + 0.01 * math.cos(2 * math.pi * i / n), LAT + 0.01 * math.sin(
        2 * math.pi * i / n)] for i in range(n)]
    return feature_collection([({"id": "big"}, {"type": "Polygon",
                                                "coordinates": [[*ring, ring[0]]]})])


def _swapped() -> bytes:
    return feature_collection([({"id": "C1"}, {"type": "Polygon", "coordinates": [
        [[y, x] for x, y in _square(LON, LAT)[0]]]})])


def _zip(members: dict[str, bytes], *, symlink: str | None = None,
         encrypted: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name == symlink:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, data)
    raw = buf.getvalue()
    if encrypted:  # set the "encrypted" flag bit of every header naming the member
        raw = _flag_encrypted(raw, encrypted.encode())
    return raw


def _flag_encrypted(raw: bytes, name: bytes) -> bytes:
    out = bytearray(raw)
    for sig, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = 0
        while (at := out.find(sig, start)) >= 0:
            if out[at + name_at:at + name_at + len(name)] == name:
                out[at + flag_at] |= 1
            start = at + 4
    return bytes(out)


def _shapefile_parts() -> dict[str, bytes]:
    import geopandas as gpd
    import shapely

    gdf = gpd.GeoDataFrame({"id": ["C1"]}, geometry=[shapely.box(LON, LAT, LON + 0.01,
                                                                 LAT + 0.01)], crs=4326)
    with tempfile.TemporaryDirectory() as tmp:
        gdf.to_file(Path(tmp) / "c.shp")
        return {p.name: p.read_bytes() for p in Path(tmp).iterdir()}


def _gpkg(crs: int | None = 4326, coords_scale: float = 1.0) -> bytes:
    import geopandas as gpd
    import shapely

    gdf = gpd.GeoDataFrame({"id": ["C1", "C2"]}, geometry=[
        shapely.box(LON * coords_scale, LAT, LON * coords_scale + 0.01, LAT + 0.01),
        shapely.box(LON * coords_scale + 0.01, LAT, LON * coords_scale + 0.02, LAT + 0.01)],
        crs=crs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.gpkg"
        gdf.to_file(path, driver="GPKG")
        return path.read_bytes()


def _plain_sqlite() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.sqlite"
        con = sqlite3.connect(path)
        con.execute("create table t (a)")
        con.commit()
        con.close()
        return path.read_bytes()


def _zip_bomb() -> bytes:
    return _zip({"c.geojson": b" " * (40 * 1024 * 1024)})


BILLION_LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE osm [<!ENTITY a "aaaaaaaaaa">'
                  + b"".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">'.encode()
                             for p, c in zip("abcdefgh", "bcdefghi", strict=True))
                  + b']>\n<osm version="0.6"><node id="1" lat="39.9" lon="116.3">'
                    b'<tag k="name" v="&i;"/></node></osm>')
XXE = (b'<?xml version="1.0"?><!DOCTYPE osm [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<osm version="0.6"><node id="1" lat="39.9" lon="116.3"><tag k="n" v="&x;"/></node>'
       b"</osm>")


def _gbk_csv() -> bytes:
    rows = ["编号,户数,经度,纬度"] + [f"楼{i},{50 + i},{LON + 0.0003 * i:.6f},{LAT:.6f}"
                                     for i in range(5)]
    return "\n".join(rows).encode("gbk")


# ---- the table ------------------------------------------------------------------------------
MOVE = "edits/move"


def _move(ctx_field: str = "cell", to: str = "neighbour", **extra) -> Callable[[Ctx], dict]:
    return lambda ctx: {"cells": [getattr(ctx, ctx_field)], "to_grid": getattr(ctx, to),
                        **extra}


# a move that is refused on its own (across a community boundary): whatever a hostile header
# does, the edit behind it must not be stored
REFUSED_MOVE = _move(to="other_community", force=True)

CASES: list[Case] = [
    # JSON bodies
    Case("json-nan", "json", _edit(MOVE, b'{"cells":["{cell}"],"to_grid":"{grid}","force":NaN}'),
         (422,)),
    Case("json-infinity", "json", _edit("restore", b'{"version": Infinity}'), (422,)),
    Case("json-minus-infinity", "json", _edit("restore", b'{"version": -Infinity}'), (422,)),
    Case("json-1e999", "json", _job(b'{"demo": true, "params": {"tolerance": 1e999}}'), (422,)),
    Case("json-huge-integer", "json", _edit("restore", b'{"version": ' + b"9" * 40 + b"}"),
         (404, 422)),
    Case("json-lone-surrogate", "json", _edit(MOVE, rb'{"cells":["\ud800"],"to_grid":"x"}'),
         (400,)),
    Case("json-lone-surrogate-key", "json", _edit(MOVE, rb'{"x\udc00":1}'), (400,)),
    Case("json-nul", "json", _edit(MOVE, rb'{"cells":["a\u0000"],"to_grid":"b"}'), (400,)),
    Case("json-not-utf8", "json", _edit(MOVE, b'{"cells":["\xff\xfe"],"to_grid":"b"}'), (400,)),
    Case("json-deep-arrays", "json", _edit(MOVE, b"[" * 20000 + b"]" * 20000), (400,)),
    Case("json-deep-objects", "json", _edit(MOVE, b'{"a":' * 5000 + b"1" + b"}" * 5000),
         (400,)),
    Case("json-huge-array", "json",
         _edit(MOVE, lambda ctx: {"cells": [f"c{i}" for i in range(30000)],
                                  "to_grid": ctx.grid}), (422,)),
    Case("json-over-body-limit", "json",
         _edit(MOVE, lambda ctx: {"cells": ["x" * 100] * 30000, "to_grid": ctx.grid}), (413,)),
    Case("json-cells-not-a-list", "json", _edit(MOVE, lambda ctx: {"cells": "abc",
                                                                    "to_grid": ctx.grid}),
         (422,)),
    Case("json-grid-a-number", "json", _edit(MOVE, lambda ctx: {"cells": [ctx.cell],
                                                                 "to_grid": 5}), (422,)),
    Case("json-force-a-list", "json", _edit(MOVE, _move(force=[1])), (422,)),
    Case("json-unknown-field", "json", _edit(MOVE, _move(bogus=1)), (422,)),
    Case("json-empty-body", "json", _edit(MOVE, b""), (400, 422)),
    Case("json-null-body", "json", _edit(MOVE, b"null"), (422,)),
    Case("json-array-body", "json", _edit(MOVE, b"[]"), (422,)),
    Case("json-trailing-comma", "json", _edit("restore", b'{"version": 1,}'), (400,)),
    Case("json-wrong-content-type", "json", _edit(MOVE, _move(), ctype="text/plain"),
         (400, 415, 422)),
    Case("json-as-form", "json",
         _edit(MOVE, b"cells=a&to_grid=b", ctype="application/x-www-form-urlencoded"),
         (400, 415, 422)),
    Case("json-restore-version-0", "json", _edit("restore", {"version": 0}), (422,)),
    Case("json-restore-unknown-version", "json", _edit("restore", {"version": 999}),
         (404, 422)),
    Case("json-split-line-nan", "json", _edit("edits/split", lambda ctx: b'{"grid":"'
         + ctx.grid.encode() + b'","line":{"type":"LineString","coordinates":[[NaN,1],[2,3]]}}'),
         (422,)),
    Case("json-split-line-one-point", "json", _edit("edits/split", lambda ctx: {
        "grid": ctx.grid, "line": {"type": "LineString", "coordinates": [[LON, LAT]]}}),
        (422,)),
    Case("json-split-line-a-point", "json", _edit("edits/split", lambda ctx: {
        "grid": ctx.grid, "line": {"type": "Point", "coordinates": [LON, LAT]}}), (422,)),
    Case("json-split-bowtie-polygon", "json", _edit("edits/split", lambda ctx: {
        "grid": ctx.grid, "polygon": json.loads(_bowtie())["features"][0]["geometry"]}),
        (422,)),
    Case("json-split-line-huge", "json", _edit("edits/split", lambda ctx: {
        "grid": ctx.grid, "line": {"type": "LineString", "coordinates": [
            [LON + 1e-6 * i, LAT + 1e-6 * (i % 2)] for i in range(40000)]}}), (413, 422)),
    Case("json-split-line-not-geojson", "json", _edit("edits/split", lambda ctx: {
        "grid": ctx.grid, "line": {"type": "LineString", "coordinates": "x"}}), (422,)),
    # path and query parameters
    Case("path-unknown-plan", "params", _get("/plans/nope"), (404,)),
    Case("path-traversal-plan", "params", _get("/plans/..%2F..%2Fetc%2Fpasswd"), (404,)),
    Case("path-traversal-layer", "params", _get("/layers/%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
         (404,)),
    Case("path-traversal-feature", "params", _get("/collections/{p}/items/..%2F..%2Fetc"),
         (404,)),
    Case("path-very-long-id", "params", _get("/plans/" + "a" * 5000), (404, 422)),
    Case("path-unknown-job", "params", _get("/jobs/0000"), (404,)),
    Case("path-unknown-collection", "params", _get("/collections/{p}.nope/items"), (404,)),
    Case("query-limit-negative", "params", _get("/plans/{p}/cells?limit=-1"), (422,)),
    Case("query-limit-huge", "params", _get("/plans/{p}/cells?limit=" + "9" * 30), (422,)),
    Case("query-ogc-limit-huge", "params", _get("/collections/{p}/items?limit=" + "9" * 30),
         (200, 400)),
    Case("query-offset-negative", "params", _get("/collections/{p}/items?offset=-5"), (400,)),
    Case("query-offset-huge", "params", _get("/plans/{p}/units?offset=" + "9" * 30), (422,)),
    Case("query-bbox-three-numbers", "params", _get("/collections/{p}/items?bbox=1,2,3"),
         (400,)),
    Case("query-bbox-text", "params", _get("/plans/{p}/grids?bbox=a,b,c,d"), (400, 422)),
    Case("query-bbox-nan", "params", _get("/collections/{p}/items?bbox=nan,nan,nan,nan"),
         (400,)),
    Case("query-bbox-infinite", "params", _get("/plans/{p}/grids?bbox=-inf,-inf,inf,inf"),
         (400, 422)),
    Case("query-bbox-inverted", "params", _get("/collections/{p}/items?bbox=117,40,116,39"),
         (200, 400)),
    Case("query-bbox-lat-lon", "params", _get("/collections/{p}/items?bbox=39,116,40,117"),
         (400,)),
    Case("query-unknown-parameter-ogc", "params", _get("/collections/{p}/items?colour=red"),
         (400,)),
    Case("query-unknown-parameter", "params", _get("/plans/{p}/grids?colour=red"), (200,)),
    Case("query-version-text", "params", _get("/plans/{p}/grids?version=abc"), (422,)),
    Case("query-version-zero", "params", _get("/collections/{p}/items?version=0"), (400,)),
    Case("query-version-unknown", "params", _get("/plans/{p}/grids?version=999"), (404, 422)),
    Case("query-version-huge", "params", _get("/plans/{p}/metrics?version=" + "9" * 30),
         (404, 422)),
    Case("query-diff-huge", "params", _get("/plans/{p}/diff?from=1&to=" + "9" * 30),
         (404, 422)),
    Case("query-export-format-traversal", "params",
         _get("/plans/{p}/export?format=../../etc/passwd"), (422,)),
    Case("query-staffing-nan", "params", _get("/plans/{p}/staffing?per_10k=nan"), (422,)),
    Case("query-staffing-workers-traversal", "params",
         _get("/plans/{p}/staffing?workers=../../etc"), (404, 422)),
    Case("query-crs-unknown", "params",
         _get("/collections/{p}/items?crs=http://www.opengis.net/def/crs/EPSG/0/3857"), (400,)),
    # headers
    Case("header-if-match-garbage", "headers", _edit(MOVE, REFUSED_MOVE, if_match="garbage"),
         (412,)),
    Case("header-if-match-missing", "headers", _edit(MOVE, REFUSED_MOVE, if_match=None), (428,)),
    Case("header-if-match-stale", "headers", _edit(MOVE, REFUSED_MOVE, if_match="stale"), (412,)),
    Case("header-if-match-huge", "headers",
         _edit(MOVE, REFUSED_MOVE, if_match='"' + "x" * 8000 + '"'), (412,)),
    Case("header-no-key", "headers", _edit(MOVE, REFUSED_MOVE, headers={}), (401,)),
    Case("header-wrong-key", "headers", _edit(MOVE, REFUSED_MOVE, headers={"X-API-Key": "nope"}),
         (401,)),
    Case("header-basic-auth", "headers",
         _edit(MOVE, REFUSED_MOVE, headers={"Authorization": "Basic dGVzdDp0ZXN0"}), (401,)),
    Case("header-empty-bearer", "headers",
         _edit(MOVE, REFUSED_MOVE, headers={"Authorization": "Bearer "}), (401,)),
    Case("header-key-not-ascii", "headers",
         _edit(MOVE, REFUSED_MOVE, headers={"X-API-Key": "ключ".encode()}), (401,)),
    Case("header-oversize", "headers",
         _edit(MOVE, REFUSED_MOVE, headers={**WRITE, "X-Junk": "x" * 64_000}), (422, 431)),
    Case("header-if-none-match-garbage", "headers",
         _get("/collections/{p}/items", headers={"If-None-Match": "\x7f" * 100}), (200,)),
    # uploads
    Case("upload-empty-file", "uploads", _upload("c.geojson", b""), (400, 415, 422)),
    Case("upload-zero-byte-zip", "uploads", _upload("c.zip", b""), (400, 415, 422)),
    Case("upload-empty-zip", "uploads", _upload("c.zip", lambda: _zip({})), (400, 415, 422)),
    Case("upload-zip-bomb", "uploads", _upload("c.zip", _zip_bomb), (400, 413)),
    Case("upload-zip-traversal", "uploads",
         _upload("c.zip", lambda: _zip({"../../evil.geojson": communities()})), (400,)),
    Case("upload-zip-absolute-path", "uploads",
         _upload("c.zip", lambda: _zip({"/etc/evil.geojson": communities()})), (400,)),
    Case("upload-zip-symlink", "uploads",
         _upload("c.zip", lambda: _zip({"c.geojson": b"/etc/passwd"}, symlink="c.geojson")),
         (400,)),
    Case("upload-zip-encrypted", "uploads",
         _upload("c.zip", lambda: _zip({"c.geojson": communities()}, encrypted="c.geojson")),
         (400,)),
    Case("upload-zip-nested", "uploads",
         _upload("c.zip", lambda: _zip({"inner.zip": _zip({"c.geojson": communities()})})),
         (400, 415)),
    Case("upload-bz2-bomb", "uploads",
         _upload("a.osm.bz2", lambda: bz2.compress(b"<osm>" + b" " * 50_000_000), "osm"),
         (400, 413)),
    Case("upload-gzip-bomb", "uploads",
         _upload("a.osm.gz", lambda: gzip.compress(b"<osm>" + b" " * 50_000_000), "osm"),
         (400, 413)),
    Case("upload-corrupt-bz2", "uploads",
         _upload("a.osm.bz2", lambda: bz2.compress(b"<osm/>" * 1000)[:-40], "osm"), (400,)),
    Case("upload-self-intersecting", "uploads", _upload("bow.geojson", _bowtie), (201, 422)),
    Case("upload-too-many-vertices", "uploads", _upload("big.geojson", lambda: _circle(12_000)),
         (422,)),
    Case("upload-no-crs", "uploads", _upload("c.gpkg", lambda: _gpkg(crs=None)), (422,)),
    Case("upload-swapped-lat-lon", "uploads", _upload("c.geojson", _swapped), (422,)),
    Case("upload-crs-unknown", "uploads",
         _upload("c.gpkg", lambda: _gpkg(crs=None), crs="EPSG:999999"), (422,)),
    Case("upload-wrong-crs", "uploads",
         _upload("c.gpkg", lambda: _gpkg(crs=32650)), (422,)),
    Case("upload-nan-households", "uploads",
         _upload("b.geojson", lambda: buildings([50, None, 60]), "population",
                 households="households"), (422,)),
    Case("upload-negative-households", "uploads",
         _upload("b.geojson", lambda: buildings([50, -5, 60]), "population",
                 households="households"), (422,)),
    Case("upload-text-households", "uploads",
         _upload("b.geojson", lambda: buildings([50, "many", 60]), "population",
                 households="households"), (422,)),
    Case("upload-duplicate-ids", "uploads",
         _upload("c.geojson", lambda: feature_collection(
             [({"id": "C1"}, {"type": "Polygon", "coordinates": _square(LON, LAT)}),
              ({"id": "C1"}, {"type": "Polygon", "coordinates": _square(LON + 0.01, LAT)})])),
         (422,)),
    Case("upload-missing-field", "uploads",
         _upload("b.geojson", lambda: buildings([50, 60]), "population", households="户数"),
         (422,)),
    Case("upload-gbk-csv", "uploads",
         _upload("b.csv", _gbk_csv, "population", households="户数", unit_id="编号"), (201,)),
    Case("upload-gbk-geojson", "uploads",
         _upload("c.geojson", lambda: communities().replace(b'"C0"', "\"社区\"".encode("gbk"))),
         (201, 400, 415, 422)),
    Case("upload-shp-without-dbf", "uploads", _upload("c.zip", lambda: _zip(
        {k: v for k, v in _shapefile_parts().items() if not k.endswith(".dbf")})),
        (400, 422)),
    Case("upload-shp-alone", "uploads",
         _upload("c.shp", lambda: _shapefile_parts()["c.shp"]), (400, 415, 422)),
    Case("upload-truncated-gpkg", "uploads",
         _upload("c.gpkg", lambda: _gpkg()[:20_000]), (400, 415, 422)),
    Case("upload-sqlite-not-gpkg", "uploads", _upload("c.gpkg", _plain_sqlite), (400, 415)),
    Case("upload-xml-doctype-entities", "uploads",
         _upload("a.osm", BILLION_LAUGHS, "osm"), (400,)),
    Case("upload-osm-xml-bomb-bz2", "uploads",
         _upload("a.osm.bz2", lambda: bz2.compress(BILLION_LAUGHS), "osm"), (400,)),
    Case("upload-xml-external-entity", "uploads", _upload("a.osm", XXE, "osm"), (400,)),
    Case("upload-xml-not-osm", "uploads",
         _upload("a.osm", b'<?xml version="1.0"?><svg/>', "osm"), (400, 415)),
    Case("upload-vrt", "uploads",
         _upload("x.vrt", b"<OGRVRTDataSource><OGRVRTLayer name='x'/></OGRVRTDataSource>"),
         (400, 415)),
    Case("upload-png-as-geojson", "uploads",
         _upload("c.geojson", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100), (400, 415)),
    Case("upload-deep-geojson", "uploads",
         _upload("c.geojson", b"[" * 5000 + b"]" * 5000), (400,)),
    Case("upload-json-not-geojson", "uploads", _upload("c.geojson", b'{"a": 1}'), (415, 422)),
    Case("upload-infinite-coordinate", "uploads", _upload("c.geojson", feature_collection(
        [({"id": "C1"}, {"type": "Polygon", "coordinates": [[[LON, LAT], [1e999, LAT],
                                                             [LON, LAT + 0.01], [LON, LAT]]]})])),
        (400, 422)),
    Case("upload-filename-traversal", "uploads",
         _upload("../../../../tmp/evil.geojson", communities), (201, 400)),
    Case("upload-unknown-kind", "uploads", _upload("c.geojson", communities, "secrets"), (422,)),
    Case("upload-bad-datum", "uploads",
         _upload("b.geojson", lambda: buildings([50]), "population", households="households",
                 datum="mars"), (422,)),
    Case("upload-readers-busy", "uploads", _upload("c.geojson", communities), (429,),
         readers_busy),
    Case("upload-no-file", "uploads", lambda ctx: ("POST", "/layers", {
        "data": {"kind": "communities"}, "headers": WRITE}), (422,)),
    # jobs
    Case("job-no-layers", "jobs", _job({}), (422,)),
    Case("job-unknown-layer", "jobs", _job({"layers": {"population": "abcdef12"}}), (422,)),
    Case("job-layer-id-traversal", "jobs", _job({"layers": {"population": "../../etc"}}),
         (422,)),
    Case("job-unknown-slot", "jobs", _job({"layers": {"secrets": "abcdef12"}}), (422,)),
    Case("job-tolerance-out-of-bounds", "jobs", _job({"demo": True, "params": {
        "tolerance": 5}}), (422,)),
    Case("job-target-zero", "jobs", _job({"demo": True, "params": {"target": 0}}), (422,)),
    Case("job-unknown-scheme", "jobs", _job({"demo": True, "params": {"code_scheme": "x"}}),
         (422,)),
    Case("job-unknown-param", "jobs", _job({"demo": True, "params": {"colour": "red"}}),
         (422,)),
    Case("job-huge-list-param", "jobs", _job({"demo": True, "params": {
        "dedicated_tags": ["a=b"] * 1000}}), (422,)),
    Case("job-too-many-jobs", "jobs", _job({"demo": True}), (429,), jobs_full),
    Case("job-empty-name", "jobs", _job({"demo": True, "name": ""}), (422,)),
    # edits
    Case("edit-move-into-other-community", "edits",
         _edit(MOVE, _move(to="other_community", force=True)), (422,)),
    Case("edit-move-locked-grid", "edits",
         _edit(MOVE, _move("locked_cell", "grid", force=True)), (422,)),
    Case("edit-move-into-locked-grid", "edits", _edit(MOVE, _move(to="locked", force=True)),
         (422,)),
    Case("edit-merge-locked-grid", "edits", _edit("edits/merge", lambda ctx: {
        "grids": [ctx.grid, ctx.locked], "force": True}), (422,)),
    Case("edit-merge-grid-with-itself", "edits", _edit("edits/merge", lambda ctx: {
        "grids": [ctx.grid, ctx.grid]}), (422,)),
    Case("edit-unknown-unit", "edits", _edit(MOVE, lambda ctx: {
        "units": ["no-such-unit"], "to_grid": ctx.grid}), (422,)),
    Case("edit-unknown-parcel", "edits", _edit(MOVE, lambda ctx: {
        "cells": ["no-such-parcel"], "to_grid": ctx.grid}), (422,)),
    Case("edit-unknown-grid", "edits", _edit(MOVE, lambda ctx: {
        "cells": [ctx.cell], "to_grid": "XYZ"}), (422,)),
    Case("edit-empty-move", "edits", _edit(MOVE, lambda ctx: {"cells": [],
                                                               "to_grid": ctx.grid}), (422,)),
    Case("edit-lock-nothing", "edits", _edit("edits/lock", {"grids": []}), (422,)),
    Case("edit-workers-unknown-grid", "edits", _edit("edits/workers", {
        "grid": "XYZ", "workers": ["W1"]}), (404, 422)),
    Case("edit-split-locked-grid", "edits", _edit("edits/split", lambda ctx: {
        "grid": ctx.locked, "force": True}), (422,)),
]
