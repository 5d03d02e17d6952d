"""Runaway input through POST /layers: vertex limits, repair limits, decompression bombs and
reads stopped at GRIDPLAN_READ_SECONDS, each refused quickly with its limit named."""

from __future__ import annotations

import bz2
import json
import math
import random
import time

import psutil
import pytest
from apiutil import WRITE, make_client


def star_geojson(n: int, fid: str = "C1") -> bytes:
    """A self-intersecting {n/2} star (n odd) around Beijing as a communities GeoJSON."""
    ring = [[116.3 + 0.01 * math.cos(2 * math.pi * (i * 2 % n) / n),
             39.9 + 0.01 * math.sin(2 * math.pi * (i * 2 % n) / n)] for i in range(n)]
    ring.append(ring[0])
    return json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"id": fid},
        "geometry": {"type": "Polygon", "coordinates": [ring]}}]}).encode()


def circle_geojson(n: int) -> bytes:
    ring = [[116.3 + 0.01 * math.cos(2 * math.pi * i / n),
             39.9 + 0.01 * math.sin(2 * math.pi * i / n)] for i in range(n)]
    ring.append(ring[0])
    return json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"id": "big"},
        "geometry": {"type": "Polygon", "coordinates": [ring]}}]}).encode()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    c = make_client("sqlite", tmp_path_factory.mktemp("api-limits"), max_upload_mb=5,
                    max_unpacked_mb=2, max_feature_vertices=10_000, max_repair_vertices=4_000,
                    read_seconds=60)
    with c:
        yield c


def _upload(client, data: bytes, name: str, kind: str = "communities"):
    t0 = time.perf_counter()
    r = client.post("/layers", files={"file": (name, data)}, data={"kind": kind},
                    headers=WRITE)
    return r, time.perf_counter() - t0


def test_a_star_too_large_to_repair_is_422_naming_the_feature(client):
    r, seconds = _upload(client, star_geojson(4_001, "C7"), "star.geojson")
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    text = detail["problem"] + " " + detail["fix"]
    assert "feature id 'C7'" in text and "4,002 vertices" in text and "4,000" in text
    assert "QGIS Vector ▸ Geometry Tools ▸ Simplify" in text
    assert seconds < 10


def test_a_feature_over_the_vertex_limit_is_422(client):
    r, seconds = _upload(client, circle_geojson(12_000), "big.geojson")
    assert r.status_code == 422, r.text
    problem = r.json()["detail"]["problem"]
    assert "feature id 'big'" in problem and "12,001 vertices" in problem
    assert "limit of 10,000 per feature" in problem


def test_a_small_star_is_still_repaired(client):
    r, _ = _upload(client, star_geojson(301), "small.geojson")
    assert r.status_code == 201, r.text
    assert r.json()["summary"]["notes"]["repaired_geometries"] == {"communities": 1}


def test_a_bz2_bomb_is_refused_while_unpacking(client):
    bomb = bz2.compress(b"<osm>" + b" " * 100_000_000)  # 100 MB of spaces, ~100 bytes packed
    r, seconds = _upload(client, bomb, "city.osm.bz2", "osm")
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert "decompression bomb" in detail["problem"] and "100:1" in detail["problem"]
    assert seconds < 5  # refused after a few MB, never unpacked whole


def test_compressed_xml_beyond_the_unpacked_limit_is_400(client):
    rng = random.Random(1)
    nodes = "".join(f'<node id="{i}" lat="{rng.uniform(39, 40):.7f}" '
                    f'lon="{rng.uniform(116, 117):.7f}"/>\n' for i in range(1, 40_000))
    xml = f'<?xml version="1.0"?>\n<osm version="0.6">\n{nodes}</osm>\n'.encode()
    assert len(xml) > 2 * 1024 * 1024
    r, _ = _upload(client, bz2.compress(xml, 1), "nodes.osm.bz2", "osm")
    assert r.status_code == 400, r.text
    assert "decompresses to more than 2 MB" in r.json()["detail"]["problem"]


def test_a_read_over_the_time_limit_is_stopped(tmp_path):
    """GRIDPLAN_READ_SECONDS: the read runs in its own process, killed at the limit; the
    server's memory does not grow with it."""
    c = make_client("sqlite", tmp_path, max_repair_vertices=1_000_000, read_seconds=1)
    with c:
        me = psutil.Process()
        _upload(c, star_geojson(301), "warm.geojson")
        before = me.memory_info().rss
        r, seconds = _upload(c, star_geojson(30_001), "slow.geojson")  # make_valid: ~10 s
        after = me.memory_info().rss
        assert r.status_code == 413, r.text
        problem = r.json()["detail"]["problem"]
        assert "1 s limit (GRIDPLAN_READ_SECONDS)" in problem and "stopped" in problem
        assert seconds < 6
        servers = [p for p in me.children() if "forkserver" in " ".join(p.cmdline())]
        assert servers and _reaped(servers[0])  # the reading process was killed
        assert after - before < 100 * 1024 * 1024


def _reaped(server: psutil.Process) -> bool:
    for _ in range(50):
        if not server.children():
            return True
        time.sleep(0.1)
    return False


def test_uploads_beyond_the_readers_are_429(client):
    readers = client.app.state.readers
    taken = 0
    while readers.acquire(blocking=False):  # every reader busy
        taken += 1
    try:
        r, _ = _upload(client, star_geojson(301), "busy.geojson")
    finally:
        for _ in range(taken):
            readers.release()
    assert r.status_code == 429 and r.headers["Retry-After"] == "10"
    assert "uploads are being read" in r.json()["detail"]["problem"]
    r, _ = _upload(client, star_geojson(301), "free.geojson")
    assert r.status_code == 201
