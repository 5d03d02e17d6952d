"""Output files: RFC 7946 GeoJSON, units.csv, plan.gpkg, report.json; written all or nothing."""

from __future__ import annotations

import csv
import json
import os
import threading
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from conftest import (
    GRID_COLUMNS,
    PLAN_FILES,
    REPORT_KEYS,
    X0,
    Y0,
    assert_output_files,
    assert_plan_rules,
    communities_frame,
    geojson_polygons,
    lattice,
    load_plan_dir,
    plan_args,
    prep_communities,
    prep_units,
    run_cli,
    signed_area,
    snapshot,
    units_frame,
    write_layer,
)

from gridplan.engine import metrics
from gridplan.engine.pipeline import plan
from gridplan.errors import PlanInvariantError
from gridplan.export import folder
from gridplan.export.folder import write_plan
from gridplan.params import PlanParams


def _inputs():
    """A coded community with a tower, and a ring-shaped one (a lake in the middle)."""
    rows = [r for r in lattice(6, 4) if r[0] != "u2_2"]
    rows.append(("T", 400, shapely.box(X0 + 105, Y0 + 105, X0 + 145, Y0 + 145)))
    outer = shapely.box(X0 + 300, Y0, X0 + 600, Y0 + 200)
    lake = shapely.box(X0 + 380, Y0 + 60, X0 + 520, Y0 + 140)
    ring = shapely.Polygon(outer.exterior.coords, [lake.exterior.coords])
    rows += [(f"r{i}", 30, shapely.Point(X0 + 320 + 30 * i, Y0 + 20)) for i in range(8)]
    units = units_frame(rows)
    comms = communities_frame([("A", "110108001001", shapely.box(X0, Y0, X0 + 300, Y0 + 200)),
                               ("H", "110108001002", ring)])
    return units, comms


@pytest.fixture(scope="module")
def planned():
    units, comms = _inputs()
    u, c = prep_units(units), prep_communities(comms)
    p = plan(u, c, params=PlanParams(seed=0))
    assert_plan_rules(p, u, c)
    return p, u


@pytest.fixture(scope="module")
def out_dir(planned, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "plan"
    written = write_plan(planned[0], out)
    assert set(written) == PLAN_FILES
    return out


def test_output_files(out_dir, planned):
    names = {p.name for p in out_dir.iterdir()}
    assert names == PLAN_FILES  # no map without extra, no temporary folders left
    assert_output_files(out_dir, planned[0])


def test_geojson_is_rfc7946(out_dir, planned):
    p, _ = planned
    doc = json.loads((out_dir / "grids.geojson").read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc
    feats = doc["features"]
    assert len(feats) == len(p.grids)
    holes = 0
    lon_lat = p.grids.to_crs(4326).total_bounds
    for f in feats:
        assert f["type"] == "Feature"
        for poly in geojson_polygons(f["geometry"]):
            exterior, *inner = poly
            for ring in poly:
                assert ring[0] == ring[-1] and len(ring) >= 4
                arr = np.asarray(ring)
                assert (np.abs(arr[:, 0] - 116.3) < 0.2).all(), "x must be longitude"
                assert (np.abs(arr[:, 1] - 39.93) < 0.2).all(), "y must be latitude"
                assert (arr[:, 0] >= lon_lat[0] - 1e-6).all()
                assert (arr[:, 1] <= lon_lat[3] + 1e-6).all()
            assert signed_area(exterior) > 0, "exterior rings counter-clockwise"
            for ring in inner:
                assert signed_area(ring) < 0, "holes clockwise"
                holes += 1
    assert holes >= 1, "the ring-shaped community should give a grid with a hole"


def test_geojson_properties(out_dir, planned):
    p, _ = planned
    doc = json.loads((out_dir / "grids.geojson").read_text(encoding="utf-8"))
    props = [f["properties"] for f in doc["features"]]
    for pr in props:
        assert set(pr) == set(GRID_COLUMNS)
    assert [pr["grid_code"] for pr in props] == p.grids["grid_code"].tolist()
    assert [pr["households"] for pr in props] == p.grids["households"].tolist()
    assert [pr["status"] for pr in props] == p.grids["status"].tolist()
    assert all(isinstance(pr["grid_code"], str) for pr in props)
    # UTF-8 text survives (stairwell reasons mention 单元)
    assert any("单元" in (pr["reason"] or "") for pr in props)


def test_geojson_geometry_matches_plan(out_dir, planned):
    p, _ = planned
    back = gpd.read_file(out_dir / "grids.geojson").to_crs(p.crs)
    assert back.crs is not None
    diff = shapely.area(shapely.symmetric_difference(back.geometry.values,
                                                     p.grids.geometry.values))
    assert (diff < 1e-3 * p.grids.area.values + 0.5).all()


def test_units_csv(out_dir, planned):
    p, _ = planned
    with open(out_dir / "units.csv", encoding="utf-8", newline="") as fh:
        header = fh.readline().rstrip("\r\n")
        assert header == "unit_id,grid_code,community_id,households"
        rows = list(csv.reader(fh))
    assert len(rows) == len(p.units)
    assert [r[0] for r in rows] == p.units["unit_id"].tolist()
    assert [r[1] for r in rows] == p.units["grid_code"].tolist()  # 15-digit codes as text
    assert sum(int(r[3]) for r in rows) == int(p.grids["households"].sum())
    assert {f"T#{i}" for i in range(1, 5)} <= {r[0] for r in rows}


def test_geopackage_layers(out_dir, planned):
    p, u = planned
    layers = pyogrio.list_layers(out_dir / "plan.gpkg")
    names = {str(n) for n in layers[:, 0]}
    assert {"grids", "units", "communities"} <= names
    for name, n in (("grids", len(p.grids)), ("units", len(p.units)),
                    ("communities", len(p.communities))):
        info = pyogrio.read_info(out_dir / "plan.gpkg", layer=name)
        assert info["features"] == n
        assert info["crs"] == p.crs.to_string()
    assert_plan_rules(load_plan_dir(out_dir), u, prep_communities(_inputs()[1]))


def test_report_json(out_dir, planned):
    p, _ = planned
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    assert set(report) >= REPORT_KEYS
    assert 0 <= report["share_in_band"] <= 1
    assert report["contiguous_share"] == 1.0
    assert report["max_deviation"] >= 0
    assert report["barrier_crossings"] == int(p.grids["barrier_crossings"].sum())
    assert isinstance(report["stage_seconds"], dict) and report["stage_seconds"]
    assert all(v >= 0 for v in report["stage_seconds"].values())
    assert report["runtime_seconds"] > 0
    assert report["households"] == int(p.grids["households"].sum())
    with_hh = p.grids[p.grids["households"] > 0]
    assert report["share_in_band"] == pytest.approx((with_hh["status"] == "ok").mean())


def test_failed_write_leaves_earlier_plan(planned, tmp_path):
    p, _ = planned
    out = tmp_path / "plan"
    write_plan(p, out)
    before = snapshot(out)

    def broken(path: Path) -> None:
        path.write_text("half", encoding="utf-8")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_plan(p, out, extra={"map.html": broken})
    assert snapshot(out) == before
    assert not [q for q in out.iterdir() if q.name.startswith(".gridplan-")]


def test_plan_gpkg_is_written_without_waiting_for_the_disk_and_the_setting_comes_back(
        planned, tmp_path, monkeypatch):
    # SQLite's fsync at each commit cost the 500k command 2-3 s; the file is new in a
    # temporary folder, so they guard nothing. A user's own setting is back afterwards.
    p, _ = planned
    seen, fail = [], []
    real = folder._write_layer

    def recording(gdf, path, name, *a, **k):
        seen.append((name, pyogrio.get_gdal_config_option(folder.SQLITE_SYNC)))
        if name == "cells" and fail:
            raise OSError("disk full")
        real(gdf, path, name, *a, **k)

    monkeypatch.setattr(folder, "_write_layer", recording)
    pyogrio.set_gdal_config_options({folder.SQLITE_SYNC: "FULL"})
    try:
        write_plan(p, tmp_path / "plan")
        assert {s for _, s in seen} == {False} and len(seen) >= 4  # pyogrio reads OFF as False
        assert pyogrio.get_gdal_config_option(folder.SQLITE_SYNC) == "FULL"
        fail.append(True)
        with pytest.raises(OSError, match="disk full"):
            write_plan(p, tmp_path / "plan")
        assert pyogrio.get_gdal_config_option(folder.SQLITE_SYNC) == "FULL"
    finally:
        pyogrio.set_gdal_config_options({folder.SQLITE_SYNC: None})


def test_overlapping_unsynced_writes_put_back_the_setting_when_the_last_ends():
    # GDAL's setting is the process's: a block ending while another (another thread's
    # plan) still writes leaves it off, and the last one puts back what was there
    pyogrio.set_gdal_config_options({folder.SQLITE_SYNC: "NORMAL"})
    try:
        first, second = folder.unsynced_gpkg(), folder.unsynced_gpkg()
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)
        assert pyogrio.get_gdal_config_option(folder.SQLITE_SYNC) is False
        second.__exit__(None, None, None)
        assert pyogrio.get_gdal_config_option(folder.SQLITE_SYNC) == "NORMAL"
    finally:
        pyogrio.set_gdal_config_options({folder.SQLITE_SYNC: None})


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks a process")
def test_a_forked_process_does_not_inherit_another_threads_unsynced_block():
    # the parent's thread is inside a block when the fork happens; the child's own block
    # then ends with the setting as it was before any block (and no lock held forever)
    entered, leave = threading.Event(), threading.Event()

    def hold():
        with folder.unsynced_gpkg():
            entered.set()
            leave.wait()

    thread = threading.Thread(target=hold)
    thread.start()
    entered.wait()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running pytest's teardown
        with folder.unsynced_gpkg():
            pass
        after = (pyogrio.get_gdal_config_option(folder.SQLITE_SYNC), folder._unsynced["writers"])
        os.write(write, repr(after).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    leave.set()
    thread.join()
    assert os.read(read, 100).decode() == "(None, 0)"
    assert pyogrio.get_gdal_config_option(folder.SQLITE_SYNC) is None


def test_failed_check_leaves_earlier_plan(planned, tmp_path):
    p, _ = planned
    out = tmp_path / "plan"
    write_plan(p, out)
    before = snapshot(out)

    def check() -> None:
        raise PlanInvariantError("plan broke its rules: a grid in two pieces")

    with pytest.raises(PlanInvariantError, match="two pieces"):
        write_plan(p, out, extra={"map.html": lambda path: path.write_text("m")}, check=check)
    assert snapshot(out) == before
    assert not [q for q in out.iterdir() if q.name.startswith(".gridplan-")]


def test_cli_plan_breaking_a_rule_writes_no_file(tmp_path, monkeypatch):
    """``gridplan plan`` checks the rules while it writes: a broken one lands no file."""
    units, comms = _inputs()
    up, cp = write_layer(units, tmp_path / "u.gpkg"), write_layer(comms, tmp_path / "c.gpkg")
    out = tmp_path / "out"
    monkeypatch.setattr(metrics, "RULES", (*metrics.RULES, lambda plan: ["grid X is broken"]))
    result = run_cli(*[a for a in plan_args(up, cp, out) if a != "--no-map"])
    assert result.exit_code != 0
    assert "grid X is broken" in result.output
    assert not out.exists() or not list(out.iterdir())


def test_rewrite_replaces_plan(planned, tmp_path):
    p, _ = planned
    out = tmp_path / "plan"
    write_plan(p, out)
    write_plan(p, out, extra={"note.txt": lambda path: path.write_text("x", encoding="utf-8")})
    assert {q.name for q in out.iterdir()} == PLAN_FILES | {"note.txt"}
    assert len(json.loads((out / "grids.geojson").read_text("utf-8"))["features"]) == len(
        p.grids)


def test_cli_writes_map_and_files(tmp_path):
    units, comms = _inputs()
    up, cp = write_layer(units, tmp_path / "u.gpkg"), write_layer(comms, tmp_path / "c.gpkg")
    out = tmp_path / "out"
    args = [a for a in plan_args(up, cp, out) if a != "--no-map"]
    result = run_cli(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    assert {p.name for p in out.iterdir()} == PLAN_FILES | {"map.html"}
    html = (out / "map.html").read_text(encoding="utf-8")
    assert "110108001001001" in html
    assert_plan_rules(load_plan_dir(out), prep_units(units), prep_communities(comms))


def test_new_plan_removes_the_earlier_plans_derived_files(planned, tmp_path, caplog):
    p, _ = planned
    out = tmp_path / "plan"
    derived = ["workers.csv", "staffing.csv", "microgrids.geojson", "microunits.csv",
               "unified_grids.geojson", "crosswalk.csv", "merge_report.json", "changes.csv"]
    write_plan(p, out)
    for name in [*derived, "my_notes.txt"]:
        (out / name).write_text("old", encoding="utf-8")
    write_plan(p, out, extra={"workers.csv": lambda q: q.write_text("new", encoding="utf-8")},
               new=False)  # the same plan again (staff): what was derived from it stays
    assert all((out / n).exists() for n in derived)
    with caplog.at_level("WARNING"):
        write_plan(p, out)
    assert {q.name for q in out.iterdir()} == PLAN_FILES | {"my_notes.txt"}  # a user's file stays
    assert "removed files of the earlier plan" in caplog.text and "crosswalk.csv" in caplog.text


def test_abandoned_temporary_folders_are_removed(planned, tmp_path):
    p, _ = planned
    out = tmp_path / "plan"
    dead = out / ".gridplan-999999999-abc"  # a writer killed before moving its files
    dead.mkdir(parents=True)
    (dead / "grids.geojson").write_text("half", encoding="utf-8")
    write_plan(p, out)
    assert not dead.exists()
    assert {q.name for q in out.iterdir()} == PLAN_FILES


def test_geojson_like_reuses_the_geometry_byte_for_byte(planned, out_dir, tmp_path):
    """New columns on the same grids: the file equals a full write, with the source's
    geometry text; other grids or other geometry are refused and nothing is left."""
    from gridplan.export.folder import plan_layers, write_geojson, write_geojson_like

    grids = plan_layers(planned[0])["grids"]
    grids = grids.assign(workload_hours=np.linspace(0, 10, len(grids)), workers="W1 ‘x’")
    grids = grids[[c for c in grids.columns if c != "geometry"] + ["geometry"]]
    write_geojson(grids, tmp_path / "full.geojson")
    source = out_dir / "grids.geojson"
    assert write_geojson_like(grids, tmp_path / "like.geojson", source)
    assert (tmp_path / "like.geojson").read_bytes() == (tmp_path / "full.geojson").read_bytes()

    moved = grids.copy()
    moved.geometry = moved.geometry.buffer(5)  # other vertices: counts differ
    assert not write_geojson_like(moved, tmp_path / "moved.geojson", source)
    assert not (tmp_path / "moved.geojson").exists()
    assert not write_geojson_like(grids.iloc[::-1], tmp_path / "order.geojson", source)
    assert not write_geojson_like(grids.iloc[1:], tmp_path / "fewer.geojson", source)
    assert not write_geojson_like(grids, tmp_path / "none.geojson", tmp_path / "missing.json")
    assert sorted(p.name for p in tmp_path.glob("*.geojson")) == ["full.geojson", "like.geojson"]


def test_geojson_rounds_to_7_decimals_and_keeps_shapes_valid(tmp_path):
    """Coordinates are written to 1e-7 degrees; where plain rounding would make a valid
    polygon touch itself, the shape is snap-rounded and stays valid."""
    import geopandas as gpd
    import shapely

    from gridplan.export.folder import write_geojson

    # a thin notch whose two sides round onto one line
    spike = shapely.Polygon([(116.0, 39.0), (116.001, 39.0), (116.001, 39.001),
                             (116.00050003, 39.001), (116.0005, 39.0005),
                             (116.00050001, 39.001), (116.0, 39.001)])
    square = shapely.box(116.12345678, 39.12345671, 116.2, 39.2)
    assert spike.is_valid
    assert not shapely.transform(spike, lambda xy: xy.round(7)).is_valid
    gdf = gpd.GeoDataFrame({"grid_code": ["A", "B"], "n": [1, None]},
                           geometry=[spike, square], crs=4326)
    write_geojson(gdf, tmp_path / "g.geojson")
    back = gpd.read_file(tmp_path / "g.geojson")
    assert back.is_valid.all() and back["grid_code"].tolist() == ["A", "B"]
    assert back["n"].isna().tolist() == [False, True]
    coords = shapely.get_coordinates(back.geometry.values)
    assert (abs(coords * 1e7 - (coords * 1e7).round()) < 1e-6).all()
    assert shapely.equals_exact(back.geometry.values[1], square, tolerance=1e-7)


def _gpkg_rows(path: Path, layer: str) -> list[tuple]:
    """Every row of a GeoPackage table as stored (geometry blobs included)."""
    import sqlite3

    with sqlite3.connect(path) as db:
        return db.execute(f'SELECT * FROM "{layer}"').fetchall()


@pytest.mark.parametrize("case", ["polygons", "points", "mixed", "none", "empty", "dates",
                                  "3d", "srid"])
def test_a_layer_written_from_wkb_is_stored_as_pyogrio_stores_it(tmp_path: Path,
                                                                  case: str) -> None:
    """write_wkb_layer promotes polygons on their WKB's bytes (or falls back to pyogrio):
    every stored row, geometry blob included, is pyogrio's."""
    from gridplan.export.folder import write_wkb_layer

    box = shapely.box(X0, Y0, X0 + 10, Y0 + 10)
    two = shapely.MultiPolygon([box, shapely.box(X0 + 20, Y0, X0 + 30, Y0 + 10)])
    geoms, kind, promote = {
        "polygons": ([box, two, shapely.Polygon()], None, True),
        "points": ([shapely.Point(X0, Y0), shapely.Point(X0 + 1, Y0)], "Point", False),
        "mixed": ([box, shapely.Point(X0, Y0)], None, True),  # promoted by pyogrio
        "none": ([box, None], "MultiPolygon", True),
        "empty": ([], "MultiPolygon", True),
        "dates": ([box, two], None, True),  # times of two offsets: pyogrio converts them
        "3d": ([shapely.force_3d(box, 5.0), two], None, True),  # decoded: a 3D layer
        "srid": ([shapely.Point(X0, Y0), shapely.Point(X0 + 1, Y0)], "Point", False),
    }[case]
    frame = gpd.GeoDataFrame({"cell_id": [f"c{i}" for i in range(len(geoms))],
                              "block": np.arange(len(geoms), dtype=np.int64),
                              "note": [None] * len(geoms)},
                             geometry=gpd.GeoSeries(geoms, dtype="geometry"), crs=32650)
    if case == "dates":
        drawn = ["2026-12-04T08:00+08:00", "2026-12-04T08:00+00:00"]
        frame.insert(2, "drawn", pd.Series([pd.Timestamp(t) for t in drawn], dtype=object))
    ref, wkb = tmp_path / "ref.gpkg", tmp_path / "wkb.gpkg"
    plain = pd.DataFrame(frame.drop(columns="geometry"))
    srid = case == "srid"  # EWKB with an SRID: decoded, as GDAL would not read it
    plain["geometry"] = shapely.to_wkb(shapely.set_srid(frame.geometry.values, 32650 * srid),
                                       include_srid=srid)
    for _ in range(2):  # the layer made, then appended to (as a partitioned run's merge does)
        pyogrio.write_dataframe(frame, ref, layer="cells", driver="GPKG", use_arrow=True,
                                geometry_type=kind, promote_to_multi=promote, append=True,
                                layer_options={"SPATIAL_INDEX": "NO"})
        write_wkb_layer(plain, wkb, "cells", crs=frame.crs, geometry_type=kind,
                        promote_to_multi=promote)
    for table in ("cells", "gpkg_geometry_columns", "gpkg_spatial_ref_sys"):
        assert _gpkg_rows(wkb, table) == _gpkg_rows(ref, table), table
    info = [pyogrio.read_info(p, layer="cells") for p in (ref, wkb)]
    assert info[0]["geometry_type"] == info[1]["geometry_type"]
    assert list(info[0]["fields"]) == list(info[1]["fields"])
    assert list(info[0]["dtypes"]) == list(info[1]["dtypes"])
