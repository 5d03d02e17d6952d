"""A GeoTIFF of residents per cell uploaded as a population layer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from gridplan.api.uploads import UploadError, UploadLimits, read_upload, save_upload

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import from_bounds  # noqa: E402

DEMO_BOUNDS = (116.3058804, 39.9820905, 116.3353409, 40.0002805)  # the demo's communities


def write_tif(path: Path, values: np.ndarray) -> Path:
    rows, cols = values.shape
    with rasterio.open(path, "w", driver="GTiff", height=rows, width=cols, count=1,
                       dtype="float32", crs="EPSG:4326", transform=from_bounds(*DEMO_BOUNDS,
                                                                               cols, rows)) as ds:
        ds.write(values.astype("float32"), 1)
    return path


class Body:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    async def read(self, n: int) -> bytes:
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk


def save(data: bytes, name: str, dest: Path):
    return asyncio.run(save_upload(Body(data), name, dest, UploadLimits()))


def test_geotiff_uploads_as_population(tmp_path: Path) -> None:
    tif = write_tif(tmp_path / "pop.tif", np.full((4, 4), 260.0))
    dest = tmp_path / "uploads"
    dest.mkdir()
    saved = save(tif.read_bytes(), "worldpop.tif", dest)
    assert saved.fmt == "tif" and saved.path.suffix == ".tif"
    layer = read_upload(saved, "population", household_size=2.6)
    assert layer.summary["features"] == 16 and layer.summary["households"] == 1600
    facts = layer.notes["sources"]["worldpop.tif"]
    assert facts["residents_read"] == pytest.approx(16 * 260)
    with pytest.raises(UploadError) as info:
        read_upload(saved, "communities")
    assert info.value.status == 415
    with pytest.raises(UploadError) as info:
        save(tif.read_bytes(), "worldpop.geojson", dest)
    assert info.value.status == 415


def test_plan_job_from_an_uploaded_geotiff(tmp_path: Path) -> None:
    import time

    from apiutil import WRITE, make_client

    from gridplan.run import demo_files

    tif = write_tif(tmp_path / "pop.tif", np.full((8, 8), 300.0))
    with make_client("sqlite", tmp_path / "api") as client:
        comm = client.post("/layers", headers=WRITE, data={"kind": "communities"}, files={
            "file": ("communities.geojson", demo_files()["communities"].read_bytes())})
        pop = client.post("/layers", headers=WRITE, data={"kind": "population"},
                          files={"file": ("worldpop.tif", tif.read_bytes())})
        assert comm.status_code == 201 and pop.status_code == 201, pop.json()
        r = client.post("/jobs", headers=WRITE, json={"layers": {
            "communities": comm.json()["id"], "population": pop.json()["id"]}})
        assert r.status_code == 202, r.json()
        for _ in range(400):
            row = client.get(f"/jobs/{r.json()['id']}").json()
            if row["status"] not in ("queued", "running"):
                break
            time.sleep(0.25)
        assert row["status"] == "done", row
        plan = client.app.state.store.plan_at(row["plan_id"])
        assert int(plan.grids["households"].sum()) > 0
