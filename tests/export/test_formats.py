"""Export formats: every format reads back with the same grids, households and CRS."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from conftest import (
    METRIC_CRS,
    X0,
    Y0,
    assert_plan_rules,
    communities_frame,
    lattice,
    prep_communities,
    prep_units,
    units_frame,
)

from gridplan.engine.pipeline import plan
from gridplan.errors import InputError
from gridplan.export import formats
from gridplan.export.formats import FORMATS, export_plan, output_type, shapefile_columns
from gridplan.params import PlanParams

NAMES = {"A": "荷花池社区", "H": "湖畔社区"}


@pytest.fixture(scope="module")
def planned():
    """Two communities with Chinese names; polygons and point units (a mixed layer)."""
    rows = lattice(6, 4)
    rows += [(f"p{i}", 30, shapely.Point(X0 + 320 + 30 * i, Y0 + 20)) for i in range(8)]
    units = units_frame(rows)
    comms = communities_frame([("A", "110108001001", shapely.box(X0, Y0, X0 + 300, Y0 + 200)),
                               ("H", None, shapely.box(X0 + 300, Y0, X0 + 600, Y0 + 200))])
    comms["name"] = comms["id"].map(NAMES)
    u = prep_units(units)
    c = prep_communities(comms)
    c["name"] = comms["name"].values
    p = plan(u, c, params=PlanParams(seed=0))
    assert_plan_rules(p, u, c)
    return p


def unzip(path: Path, tmp: Path) -> Path:
    out = tmp / f"unzipped_{path.stem}"
    with zipfile.ZipFile(path) as zf:
        zf.extractall(out)
    return out


def assert_same_grids(p, grids: pd.DataFrame, code: str = "grid_code",
                      hh: str = "households") -> None:
    assert sorted(grids[code]) == sorted(p.grids["grid_code"])
    assert int(grids[hh].sum()) == int(p.grids["households"].sum())
    expected = p.grids.set_index("grid_code")["households"]
    got = grids.set_index(code)[hh]
    assert (got.loc[expected.index].astype(int).values == expected.astype(int).values).all()


def test_geojson_single_layer_is_rfc7946(planned, tmp_path: Path) -> None:
    out = export_plan(planned, "geojson", tmp_path / "grids.geojson", layers=["grids"])
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert "crs" not in doc and doc["type"] == "FeatureCollection"
    back = gpd.read_file(out)
    assert back.crs.to_epsg() == 4326
    assert_same_grids(planned, back)


def test_geojson_all_layers_zip(planned, tmp_path: Path) -> None:
    out = export_plan(planned, "geojson", tmp_path)
    assert out == tmp_path / "plan.zip"
    folder = unzip(out, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.txt", "communities.geojson", "grids.geojson", "units.geojson"]
    assert_same_grids(planned, gpd.read_file(folder / "grids.geojson"))
    comm = gpd.read_file(folder / "communities.geojson")
    assert set(comm["name"]) == set(NAMES.values())
    units = gpd.read_file(folder / "units.geojson")
    assert int(units["households"].sum()) == int(planned.units["households"].sum())


def test_gpkg_round_trip_in_metric_crs(planned, tmp_path: Path) -> None:
    out = export_plan(planned, "gpkg", tmp_path / "plan.gpkg")
    assert list(pyogrio.list_layers(out)[:, 0]) == ["grids", "units", "communities"]
    grids = gpd.read_file(out, layer="grids")
    assert grids.crs == planned.crs and grids.crs.to_string() == METRIC_CRS
    assert_same_grids(planned, grids)
    assert grids.geometry.geom_type.eq("Polygon").all()
    comm = gpd.read_file(out, layer="communities")
    assert dict(zip(comm["community_id"], comm["name"], strict=True)) == NAMES
    assert set(comm["code"]) == {"110108001001", ""}


def test_shapefile_zip(planned, tmp_path: Path) -> None:
    out = export_plan(planned, "shp", tmp_path / "plan.zip")
    folder = unzip(out, tmp_path)
    names = sorted(p.name for p in folder.iterdir())
    for stem in ("grids", "communities", "units_points", "units_polygons"):
        assert {f"{stem}.{e}" for e in ("shp", "shx", "dbf", "prj", "cpg")} <= set(names)
        assert (folder / f"{stem}.cpg").read_text().strip().upper() in ("UTF-8", "UTF8")
    assert {"README.txt", "fields.csv"} <= set(names)
    mapping = list(csv.DictReader(io.StringIO((folder / "fields.csv").read_text("utf-8"))))
    short = {(r["layer"], r["field"]): r["shapefile_field"] for r in mapping}
    grids = gpd.read_file(folder / "grids.shp")
    assert grids.crs.to_string() == METRIC_CRS
    assert_same_grids(planned, grids, code=short[("grids", "grid_code")],
                      hh=short[("grids", "households")])
    assert short[("grids", "community_id")] == "comm_id" == short[("units", "community_id")]
    comm = gpd.read_file(folder / "communities.shp")
    assert dict(zip(comm["comm_id"], comm["name"], strict=True)) == NAMES
    for stem in ("grids", "communities", "units_points", "units_polygons"):
        fields = pyogrio.read_info(folder / f"{stem}.shp")["fields"]
        assert all(len(f) <= 10 for f in fields)
        assert len({f.lower() for f in fields}) == len(fields)
    units = pd.concat([gpd.read_file(folder / f"units_{k}.shp") for k in ("points", "polygons")])
    assert len(units) == len(planned.units)
    assert int(units["households"].sum()) == int(planned.units["households"].sum())
    assert "comm_id     <-  community_id  (grids)" in (folder / "README.txt").read_text("utf-8")


def test_shapefile_columns_unique_and_short() -> None:
    cols = {f"population_{i}": [i] for i in range(12)}
    g = gpd.GeoDataFrame(cols, geometry=[shapely.Point(0, 0)])
    renamed, fields = shapefile_columns(g)
    shorts = list(fields.values())
    assert len(set(shorts)) == 12 and all(len(s) <= 10 for s in shorts)
    assert shorts[:3] == ["population", "populati_2", "populati_3"]
    assert shorts[-1] == "populat_12"
    assert list(renamed.columns[:-1]) == shorts


def test_csv_zip_keeps_chinese_and_totals(planned, tmp_path: Path) -> None:
    out = export_plan(planned, "csv", tmp_path / "plan.zip")
    folder = unzip(out, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.txt", "communities.csv", "grids.csv", "units.csv"]
    assert (folder / "grids.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    grids = pd.read_csv(folder / "grids.csv", encoding="utf-8-sig", dtype={"grid_code": str})
    assert_same_grids(planned, grids)
    assert "geometry" not in grids.columns
    assert grids["lon"].between(116, 117).all() and grids["lat"].between(39, 41).all()
    comm = pd.read_csv(folder / "communities.csv", encoding="utf-8-sig", dtype=str)
    assert dict(zip(comm["community_id"], comm["name"], strict=True)) == NAMES
    units = pd.read_csv(folder / "units.csv", encoding="utf-8-sig")
    assert int(units["households"].sum()) == int(planned.units["households"].sum())


def test_csv_single_layer_is_plain_csv(planned, tmp_path: Path) -> None:
    assert output_type("csv", ["units"]) == (".csv", FORMATS["csv"].media_type)
    out = export_plan(planned, "csv", tmp_path, layers=["units"])
    assert out.name == "plan.csv"
    units = pd.read_csv(out, encoding="utf-8-sig", dtype={"unit_id": str})
    assert sorted(units["unit_id"]) == sorted(planned.units["unit_id"])


def test_geoparquet_round_trip(planned, tmp_path: Path) -> None:
    out = export_plan(planned, "parquet", tmp_path / "grids.parquet", layers=["grids"])
    grids = gpd.read_parquet(out)
    assert grids.crs == planned.crs
    assert_same_grids(planned, grids)
    expected = planned.grids.set_index("grid_code").geometry.loc[grids["grid_code"]].values
    assert shapely.equals_exact(grids.geometry.values, expected, tolerance=1e-6).all()
    out = export_plan(planned, "parquet", tmp_path / "all.zip")
    folder = unzip(out, tmp_path)
    comm = gpd.read_parquet(folder / "communities.parquet")
    assert comm.crs == planned.crs and set(comm["name"]) == set(NAMES.values())


def test_flatgeobuf_round_trip(planned, tmp_path: Path) -> None:
    out = export_plan(planned, "fgb", tmp_path / "grids.fgb", layers=["grids"])
    grids = pyogrio.read_dataframe(out)
    assert grids.crs == planned.crs
    assert_same_grids(planned, grids)
    expected = planned.grids.set_index("grid_code").geometry.loc[grids["grid_code"]].values
    assert shapely.equals_exact(grids.geometry.values, expected, tolerance=1e-6).all()
    out = export_plan(planned, "flatgeobuf", tmp_path / "all.zip")
    folder = unzip(out, tmp_path)
    units = pyogrio.read_dataframe(folder / "units.fgb")
    assert sorted(units["unit_id"]) == sorted(planned.units["unit_id"])
    assert set(units.geometry.geom_type) >= {"Point"}  # points and polygons in one layer
    comm = pyogrio.read_dataframe(folder / "communities.fgb")
    assert comm.crs == planned.crs and set(comm["name"]) == set(NAMES.values())


def test_unknown_format_and_layer(planned, tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        export_plan(planned, "kml", tmp_path)
    assert info.value.problem == "unknown export format 'kml'"
    assert info.value.fix == "use one of geojson, gpkg, shp, csv, parquet, fgb"
    with pytest.raises(InputError, match="unknown, repeated or no layers: cells"):
        export_plan(planned, "gpkg", tmp_path, layers=["grids", "cells"])
    assert list(tmp_path.iterdir()) == []


def test_failed_export_keeps_the_previous_file(planned, tmp_path: Path, monkeypatch) -> None:
    dest = tmp_path / "plan.gpkg"
    dest.write_bytes(b"previous export")

    def broken(layers, path):
        path.write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setitem(formats._WRITERS, "gpkg", broken)
    with pytest.raises(OSError, match="disk full"):
        export_plan(planned, "gpkg", dest)
    assert dest.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.gpkg"]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_writes_its_declared_type(planned, tmp_path: Path, fmt: str) -> None:
    ext, media = output_type(fmt, ["grids"])
    out = export_plan(planned, fmt, tmp_path, layers=["grids"])
    assert out.suffix == ext and out.stat().st_size > 0 and media
    assert list(tmp_path.iterdir()) == [out]
