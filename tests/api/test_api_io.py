"""Web API: layer uploads → plan jobs, exports in every format, and writes that survive a kill."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from apiutil import WRITE, add_demo, make_client
from click.testing import CliRunner

from gridplan.engine.metrics import validate_plan
from gridplan.run import demo_files


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    c = make_client("sqlite", tmp_path_factory.mktemp("api-io"), max_upload_mb=5)
    with c:
        yield c


def _upload(client, path_or_bytes, name, kind, **form):
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    return client.post("/layers", files={"file": (name, data)}, data={"kind": kind, **form},
                       headers=WRITE)


def _wait(client, job_id):
    for _ in range(400):
        row = client.get(f"/jobs/{job_id}").json()
        if row["status"] not in ("queued", "running"):
            return row
        time.sleep(0.25)
    raise AssertionError("job did not finish")


def test_upload_layers_then_plan_from_them(client):
    files = demo_files()
    comm = _upload(client, files["communities"], "communities.geojson", "communities",
                   id_field="id", code_field="code")
    assert comm.status_code == 201, comm.json()
    assert comm.json()["summary"]["features"] == 7 and "path" not in comm.json()
    pop = _upload(client, files["buildings"], "buildings.geojson", "population",
                  households="households")
    assert pop.status_code == 201, pop.json()
    r = client.post("/jobs", json={"name": "from layers", "layers": {
        "communities": comm.json()["id"], "population": pop.json()["id"]}}, headers=WRITE)
    assert r.status_code == 202
    row = _wait(client, r.json()["id"])
    assert row["status"] == "done", row
    plan = client.app.state.store.plan_at(row["plan_id"])
    validate_plan(plan)
    assert int(plan.grids["households"].sum()) == 17761
    assert plan.grids["grid_code"].str.len().eq(15).all()  # codes from the uploaded code field


def test_gcj02_csv_points_upload_then_plan(client):
    """Amap (GCJ-02) points in a GBK CSV, uploaded with datum=gcj02, plan like WGS84 ones."""
    from gridplan.layers.datum import from_wgs84

    files = demo_files()
    b = gpd.read_file(files["buildings"])
    pts = from_wgs84(b.representative_point().values, "gcj02")
    table = b.drop(columns="geometry").assign(经度=[p.x for p in pts], 纬度=[p.y for p in pts])
    data = table.to_csv(index=False).encode("gbk")
    bad = _upload(client, data, "amap.csv", "population", households="households",
                  datum="mars")
    assert bad.status_code == 422 and bad.json()["detail"]["field"] == "datum"
    assert "pass datum=wgs84" in bad.json()["detail"]["fix"] and "gcj02" in bad.text
    up = _upload(client, data, "amap.csv", "population", households="households",
                 datum="gcj02")
    assert up.status_code == 201, up.json()
    summary = up.json()["summary"]
    assert summary["geometry_types"] == ["Point"] and summary["features"] == len(b)
    assert summary["notes"]["datum"] == {"population": "gcj02"}
    assert summary["notes"]["sources"]["amap.csv"]["encoding"] == "gb18030"
    wgs = b.representative_point().total_bounds
    assert max(abs(a - w) for a, w in zip(summary["bbox_4326"], wgs, strict=True)) < 1e-6
    comm = _upload(client, files["communities"], "communities.geojson", "communities",
                   code_field="code")
    r = client.post("/jobs", json={"name": "amap", "layers": {
        "communities": comm.json()["id"], "population": up.json()["id"]}}, headers=WRITE)
    row = _wait(client, r.json()["id"])
    assert row["status"] == "done", row
    plan = client.app.state.store.plan_at(row["plan_id"])
    assert int(plan.grids["households"].sum()) == int(b["households"].sum())  # none outside


def test_job_with_bad_layer_fails_with_the_layer_named(client):
    bad = gpd.read_file(demo_files()["buildings"])
    bad = bad.drop(columns=["households"])
    buf = io.BytesIO()
    bad.to_file(buf, driver="GeoJSON")
    up = _upload(client, buf.getvalue(), "no-households.geojson", "population")
    assert up.status_code == 422
    assert "no-households.geojson" in json.dumps(up.json()) and "/layers/" not in json.dumps(
        up.json())


@pytest.mark.parametrize(("data", "name", "status"), [
    (b"<VRTDataset><OGRVRTLayer name='x'/></VRTDataset>", "x.vrt", 415),
    (b"[" * 5000 + b"]" * 5000, "deep.geojson", 400),
    (b"\x00" * (6 * 1024 * 1024), "big.geojson", 413),
])
def test_unsafe_uploads_are_refused(client, data, name, status):
    r = _upload(client, data, name, "communities")
    assert r.status_code == status, r.json()
    assert r.json()["detail"]["problem"]


def test_zip_with_path_traversal_is_refused(client):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../etc/evil.shp", b"x")
    r = _upload(client, buf.getvalue(), "evil.zip", "communities")
    assert r.status_code == 400 and ".." in r.json()["detail"]["problem"]


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "csv", "parquet", "fgb"])
def test_exports_read_back(client, fmt, tmp_path):
    plan_id = add_demo(client)
    r = client.get(f"/plans/{plan_id}/export?format={fmt}")
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == f'"{plan_id}:1"'
    path = tmp_path / r.headers["content-disposition"].split("filename=")[1].strip('"')
    path.write_bytes(r.content)
    if fmt == "geojson":
        gdf = gpd.read_file(path)
        assert gdf.crs.to_epsg() == 4326
    elif fmt == "gpkg":
        assert {"grids", "units", "communities"} <= set(pyogrio.list_layers(path)[:, 0])
        gdf = gpd.read_file(path, layer="grids")
    elif fmt == "shp":
        with zipfile.ZipFile(path) as zf:
            assert any(n.endswith(".cpg") for n in zf.namelist())
        gdf = gpd.read_file(f"zip://{path}!grids.shp") if "grids.shp" in zipfile.ZipFile(
            path).namelist() else gpd.read_file(f"zip://{path}")
    elif fmt == "csv":
        with zipfile.ZipFile(path) as zf:
            name = next(n for n in zf.namelist() if "grids" in n)
            import pandas as pd

            gdf = pd.read_csv(zf.open(name), encoding="utf-8-sig")
    elif fmt == "fgb":
        gdf = pyogrio.read_dataframe(path)
    else:
        gdf = gpd.read_parquet(path)
    assert len(gdf) == 68 and int(gdf["households"].sum()) == 17761  # 8 dedicated grids
    assert client.get(f"/plans/{plan_id}/export?format=kml").status_code == 422


def test_a_killed_writer_leaves_the_last_version_intact(client, tmp_path):
    """SIGKILL a process in the middle of a stream of edits; the store stays consistent."""
    plan_id = add_demo(client)
    url = client.app.state.store.url
    script = textwrap.dedent(f"""
        import random
        from gridplan.api.store import Store
        from gridplan.practice.editing import EditRefused
        store = Store({url!r})
        version, state = store.state({plan_id!r})
        rng = random.Random(1)
        cells = sorted(state.cell_grid)
        print("ready", flush=True)
        while True:
            c = rng.choice(cells)
            others = sorted({{state.cell_grid[n] for n in state.nbrs[c]}} - {{state.cell_grid[c]}})
            if not others:
                continue
            try:
                delta = state.move([c], rng.choice(others))
            except EditRefused:
                continue
            version = store.commit({plan_id!r}, version, delta, author="k", op="move")
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            cwd=os.getcwd())
    assert proc.stdout.readline().strip() == b"ready"
    store = client.app.state.store
    deadline = time.monotonic() + 60
    while store.head(plan_id) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    head = store.head(plan_id)
    assert head > 2  # it was killed while writing, after several edits
    assert [v["version"] for v in store.versions(plan_id)] == list(range(1, head + 1))
    validate_plan(store.plan_at(plan_id))
    current = store.grid_frame(plan_id).set_index("grid_code")["households"]
    replayed = store.plan_at(plan_id, head).grids.set_index("grid_code")["households"]
    assert current.sort_index().equals(replayed.sort_index())


def test_staffing_with_an_uploaded_worker_table(client):
    plan_id = add_demo(client)
    up = _upload(client, demo_files()["workers"], "workers.csv", "workers")
    assert up.status_code == 201, up.json()
    s = client.get(f"/plans/{plan_id}/staffing?workers={up.json()['id']}").json()
    c04 = next(c for c in s["communities"] if c["community_id"] == "C04")
    assert c04["balance"] == -4 and s["shortfall"] >= 4  # the demo leaves C04 short of 4
    comm = _upload(client, demo_files()["communities"], "c.geojson", "communities")
    r = client.get(f"/plans/{plan_id}/staffing?workers={comm.json()['id']}")
    assert r.status_code == 422


def test_plan_folders_from_the_cli_are_imported_once(client, tmp_path):
    from gridplan.api.imports import store_plan_dir

    from gridplan.cli.main import main
    from gridplan.export.folder import read_plan

    out = tmp_path / "district_2026"
    r = CliRunner().invoke(main, ["demo", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    store = client.app.state.store
    info = store_plan_dir(store, out)
    assert info["id"] == "district_2026" and info["version"] == 1
    assert len(client.get("/plans/district_2026/grids").json()["features"]) == len(
        read_plan(out).grids)
    edited = client.post("/plans/district_2026/edits/lock", json={"grids": [
        read_plan(out).grids["grid_code"].iloc[0]]},
        headers={**WRITE, "If-Match": info["etag"]})
    assert edited.status_code == 200
    again = store_plan_dir(store, out)  # never replaces the stored (edited) plan
    assert again["version"] == 2
