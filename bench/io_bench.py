"""Time uploads (save + check + read) and plan exports in every format.

Run from the repository root::

    .venv/bin/python -m bench.io_bench --geojson-mb 50

Prints one line per step: seconds, size and the process's peak resident memory so
far (it only grows, so read it step by step). Steps:

1. ``upload geojson``: a synthetic population GeoJSON of about ``--geojson-mb`` MB
   (square buildings in Beijing) streamed through ``save_upload`` in 1 MB chunks
   (includes the streaming JSON depth scan), then ``read_upload(kind="population")``.
2. ``upload osm``: each OSM extract found in ``../shared/data`` saved (size and XML
   checks) and read (``read_osm`` + ``prepare_units``).
3. ``export``: the demo district planned once, then ``export_plan`` in each format
   with all three layers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path

from gridplan.api.uploads import UploadLimits, read_upload, save_upload

from gridplan.export.formats import FORMATS, export_plan, output_type

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


class FileBody:
    """``async read(n)`` over a local file, like starlette's ``UploadFile``."""

    def __init__(self, path: Path) -> None:
        self.fh = open(path, "rb")  # noqa: SIM115 - closed at EOF

    async def read(self, n: int) -> bytes:
        chunk = self.fh.read(n)
        if not chunk:
            self.fh.close()
        return chunk


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def line(step: str, seconds: float, size: int, extra: str = "") -> None:
    print(f"{step:<34} {seconds:7.2f} s  {size / 1e6:8.1f} MB  peak RSS {peak_mb():7.0f} MB"
          f"  {extra}")


def synthetic_geojson(path: Path, target_mb: float) -> int:
    """Square buildings on a lattice until the file reaches ``target_mb``."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"type": "FeatureCollection", "features": [\n')
        while fh.tell() < target_mb * 1e6:
            x, y = 116.2 + (n % 2000) * 1e-4, 39.8 + (n // 2000) * 1e-4
            ring = [[x, y], [x + 6e-5, y], [x + 6e-5, y + 6e-5], [x, y + 6e-5], [x, y]]
            feat = {"type": "Feature", "properties": {"unit_id": f"b{n}", "households": 12,
                                                      "name": f"{n}号楼"},
                    "geometry": {"type": "Polygon", "coordinates": [ring]}}
            fh.write(("," if n else "") + json.dumps(feat, ensure_ascii=False) + "\n")
            n += 1
        fh.write("]}\n")
    return n


def upload(path: Path, name: str, dest: Path, kind: str, **options) -> None:
    limits = UploadLimits(max_bytes=500 * 1024 * 1024)
    t0 = time.perf_counter()
    saved = asyncio.run(save_upload(FileBody(path), name, dest, limits))
    t1 = time.perf_counter()
    line(f"save {name}", t1 - t0, saved.size_bytes, saved.fmt)
    layer = read_upload(saved, kind, **options)
    line(f"read {name} as {kind}", time.perf_counter() - t1, saved.size_bytes,
         f"{layer.summary['features']} features")


def exports(dest: Path) -> None:
    from gridplan.engine.pipeline import plan
    from gridplan.layers.load import load_inputs
    from gridplan.run import demo_options

    t0 = time.perf_counter()
    p = plan(**load_inputs(demo_options()))
    line("plan demo district", time.perf_counter() - t0, 0, f"{len(p.grids)} grids")
    for fmt in FORMATS:
        t0 = time.perf_counter()
        out = export_plan(p, fmt, dest / f"demo-{fmt}{output_type(fmt)[0]}")
        line(f"export {fmt}", time.perf_counter() - t0, out.stat().st_size, out.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--geojson-mb", type=float, default=50.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "population.geojson"
        n = synthetic_geojson(src, args.geojson_mb)
        print(f"synthetic GeoJSON: {n} buildings, {src.stat().st_size / 1e6:.1f} MB")
        upload(src, "population.geojson", tmp / "up", "population", households="households")
        for osm in sorted(SHARED.glob("*.osm.bz2")):
            upload(osm, osm.name, tmp / "up", "osm")
        exports(tmp)


if __name__ == "__main__":
    main()
