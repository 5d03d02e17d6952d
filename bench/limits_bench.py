"""Runaway uploads against the service: how long each refusal takes and the server's memory.

Run from the repository root::

    .venv/bin/python -m bench.limits_bench

An app is served in this process (starlette's TestClient; the server is this process, so
its resident memory is the server's). Each step posts one upload to ``POST /layers`` and
prints the answer's status, the seconds it took and the server's RSS before and after:

1. ``bz2 bomb``: ``bz2.compress(b"<osm>" + b" " * 1 GB)`` (about 800 bytes), as OSM.
2. ``star, repair refused``: a self-intersecting star of 300,001 vertices (about 10 MB of
   GeoJSON) as communities, under the default limits.
3. ``star, read stopped``: a star of 40,001 vertices with the repair limit lifted and
   ``--read-seconds`` (default 5), so ``make_valid`` runs until the read is killed.
4. ``population``: a valid population GeoJSON of ``--points`` points (read in the child
   process; the server keeps only its summary); then the same file read in this process
   (``read_upload``, as the service read uploads before), for comparison.
5. ``make_valid curve``: seconds of ``shapely.make_valid`` on stars of 1k–20k vertices
   (``--curve``).
"""

from __future__ import annotations

import argparse
import bz2
import gc
import json
import math
import tempfile
import time
from pathlib import Path

import psutil
import shapely
from fastapi.testclient import TestClient
from gridplan.api.app import create_app
from gridplan.api.settings import Settings
from gridplan.api.uploads import SavedUpload, read_upload
from shapely.geometry import Polygon

KEY = "bench-key"
MB = 1024 * 1024


def star_ring(n: int) -> list[list[float]]:
    """A {n/2} star (n odd) around Beijing: every edge crosses two others."""
    ring = [[116.3 + 0.01 * math.cos(2 * math.pi * (i * 2 % n) / n),
             39.9 + 0.01 * math.sin(2 * math.pi * (i * 2 % n) / n)] for i in range(n)]
    return [*ring, ring[0]]


def collection(features: list[dict]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def star_geojson(n: int) -> bytes:
    return collection([{"type": "Feature", "properties": {"id": "star"},
                        "geometry": {"type": "Polygon", "coordinates": [star_ring(n)]}}])


def points_geojson(n: int) -> bytes:
    side = int(math.sqrt(n)) + 1
    return collection([{"type": "Feature",
                        "properties": {"unit_id": f"u{i}", "households": 10},
                        "geometry": {"type": "Point", "coordinates": [
                            116.3 + 0.0001 * (i % side), 39.9 + 0.0001 * (i // side)]}}
                       for i in range(n)])


def rss() -> float:
    return psutil.Process().memory_info().rss / MB


def post(client: TestClient, label: str, name: str, data: bytes, kind: str) -> None:
    before = rss()
    t0 = time.perf_counter()
    r = client.post("/layers", files={"file": (name, data)}, data={"kind": kind},
                    headers={"X-API-Key": KEY})
    seconds = time.perf_counter() - t0
    detail = r.json().get("detail", {}) if r.status_code >= 400 else {}
    print(f"{label:24s} {len(data) / MB:8.2f} MB  {r.status_code}  {seconds:6.2f} s  "
          f"RSS {before:6.0f} → {rss():6.0f} MB  {detail.get('problem', '')[:90]}", flush=True)


def in_process(folder: Path, data: bytes) -> None:
    """The population read in this process, as before reads had a process of their own."""
    path = folder / "pop-in-process.geojson"
    path.write_bytes(data)
    saved = SavedUpload("inproc", folder, path, "geojson", "pop.geojson", len(data), "")
    before = rss()
    t0 = time.perf_counter()
    layer = read_upload(saved, "population", households="households")
    del layer
    gc.collect()
    print(f"{'population, in-process':24s} {len(data) / MB:8.2f} MB  ---  "
          f"{time.perf_counter() - t0:6.2f} s  RSS {before:6.0f} → {rss():6.0f} MB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--read-seconds", type=float, default=5.0)
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--curve", default="1000,2000,4000,5000,10000,20000")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gridplan-limits-"))
    app = create_app(Settings(data_dir=folder, api_keys=f"bench:{KEY}"))
    with TestClient(app) as client:
        print(f"{'step':24s} {'upload':>11s}  answer  time   server memory")
        post(client, "warm-up (small star)", "warm.geojson", star_geojson(301), "communities")
        post(client, "bz2 bomb (1 GB)", "city.osm.bz2",
             bz2.compress(b"<osm>" + b" " * 1024 * MB), "osm")
        post(client, "star, repair refused", "star.geojson", star_geojson(300_001),
             "communities")
        post(client, "population", "pop.geojson", points_geojson(args.points), "population")
        in_process(folder, points_geojson(args.points))
    slow = create_app(Settings(data_dir=folder / "slow", api_keys=f"bench:{KEY}",
                               max_repair_vertices=1_000_000, read_seconds=args.read_seconds))
    with TestClient(slow) as client:
        post(client, "warm-up (small star)", "warm.geojson", star_geojson(301), "communities")
        post(client, "star, read stopped", "star.geojson", star_geojson(40_001), "communities")
    for n in (int(v) for v in args.curve.split(",")):
        n |= 1
        poly = Polygon(star_ring(n))
        t0 = time.perf_counter()
        shapely.make_valid(poly)
        print(f"make_valid star {n:6d} vertices: {time.perf_counter() - t0:6.2f} s", flush=True)


if __name__ == "__main__":
    main()
