"""The inputs Chinese planners have: tables of points, GBK text, GCJ-02/BD-09, GeoPackages."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from gridplan.maps import gcj02

from gridplan.engine.units import assign_communities
from gridplan.errors import InputError
from gridplan.layers import datum as datum_module
from gridplan.layers.datum import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    datum_for,
    from_wgs84,
    gcj02_to_bd09,
    to_wgs84,
    wgs84_to_bd09,
)
from gridplan.layers.load import LayerOptions, read_layer
from gridplan.layers.vector import InputNotes

# two communities of about 1 km near the Summer Palace (Beijing), in WGS84
COMMUNITIES = gpd.GeoDataFrame(
    {"id": ["c1", "c2"], "code": ["990101001001", "990101001002"],
     "name": ["荷花池社区", "玉泉社区"]},
    geometry=[shapely.box(116.300, 39.980, 116.310, 39.990),
              shapely.box(116.310, 39.980, 116.320, 39.990)], crs=4326)


def points_table(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"unit_id": [f"b{i}" for i in range(n)],
                         "households": rng.integers(20, 80, n),
                         "name": [f"{i}号楼" for i in range(n)],
                         "lon": rng.uniform(116.301, 116.319, n),
                         "lat": rng.uniform(39.981, 39.989, n)})


# --- tables of points ------------------------------------------------------------------------

def test_csv_points_read_as_population(tmp_path):
    table = points_table()
    table.to_csv(tmp_path / "points.csv", index=False)
    notes = InputNotes()
    units = read_layer(tmp_path / "points.csv", "population", notes=notes)
    assert units.crs.to_epsg() == 4326 and len(units) == len(table)
    assert units["households"].sum() == table["households"].sum()
    np.testing.assert_allclose(units.geometry.x, table["lon"])
    assert notes.sources[str(tmp_path / "points.csv")] == {"encoding": "utf-8",
                                                           "coordinates": "EPSG:4326"}


@pytest.mark.parametrize("x, y", [("经度", "纬度"), ("LNG", "Lat"), ("Longitude", "LATITUDE"),
                                  ("x", "y")])
def test_coordinate_columns_found_by_common_names(tmp_path, x, y):
    table = points_table().rename(columns={"lon": x, "lat": y})
    table.to_csv(tmp_path / "p.csv", index=False, encoding="utf-8-sig")  # Excel's UTF-8: BOM
    units = read_layer(tmp_path / "p.csv", "population")
    np.testing.assert_allclose(units.geometry.y, table[y])


def test_xlsx_points(tmp_path):
    table = points_table().rename(columns={"lon": "经度", "lat": "纬度"})
    table.to_excel(tmp_path / "p.xlsx", index=False, sheet_name="楼栋")
    notes = InputNotes()
    units = read_layer(tmp_path / "p.xlsx", "population", notes=notes)
    assert units["households"].sum() == table["households"].sum()
    assert notes.sources[str(tmp_path / "p.xlsx")]["sheet"] == "楼栋"


def test_xlsx_sheet_named_after_the_file(tmp_path):
    table = points_table()
    with pd.ExcelWriter(tmp_path / "p.xlsx") as xl:
        table.to_excel(xl, index=False, sheet_name="a")
        table.head(5).to_excel(xl, index=False, sheet_name="b")
    with pytest.raises(InputError, match="2 sheets \\(a, b\\)") as err:
        read_layer(tmp_path / "p.xlsx", "population")
    assert "p.xlsx:a" in err.value.fix
    assert len(read_layer(f"{tmp_path / 'p.xlsx'}:b", "population")) == 5


def test_named_projected_columns(tmp_path):
    table = points_table()
    pts = gpd.GeoSeries(gpd.points_from_xy(table["lon"], table["lat"]), crs=4326).to_crs(32650)
    table = table.drop(columns=["lon", "lat"]).assign(E=pts.x, N=pts.y)
    table.to_csv(tmp_path / "p.csv", index=False)
    options = LayerOptions(x_field="E", y_field="N", crs="EPSG:32650")
    units = read_layer(tmp_path / "p.csv", "population", options)
    assert units.crs.to_epsg() == 32650 and len(units) == len(table)


def test_table_without_coordinates_names_columns_and_fix(tmp_path):
    points_table().drop(columns=["lon", "lat"]).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(InputError) as err:
        read_layer(tmp_path / "p.csv", "population")
    e = err.value
    assert e.source == str(tmp_path / "p.csv") and e.field == "lon/lat"
    assert "columns: unit_id, households, name" in e.problem
    assert "--x-field" in e.fix and "经度" in e.fix


def test_named_column_missing(tmp_path):
    points_table().to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(InputError, match="no column 'E'") as err:
        read_layer(tmp_path / "p.csv", "population", LayerOptions(x_field="E"))
    assert err.value.field == "E" and "--x-field" in err.value.fix


def test_non_numeric_coordinates_name_the_rows(tmp_path):
    table = points_table().astype({"lat": object})
    table.loc[3, "lat"] = "39°59'"
    table.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(InputError, match="rows 5") as err:
        read_layer(tmp_path / "p.csv", "population")
    assert err.value.field == "lat"


def test_swapped_lat_lon_in_a_table_refused(tmp_path):
    table = points_table().rename(columns={"lon": "lat", "lat": "lon"})
    table.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(InputError, match="look swapped"):
        read_layer(tmp_path / "p.csv", "population")


# --- encodings -------------------------------------------------------------------------------

def test_gbk_csv_detected_and_noted(tmp_path):
    table = points_table().rename(columns={"lon": "经度", "lat": "纬度", "unit_id": "楼栋编号"})
    table.to_csv(tmp_path / "gbk.csv", index=False, encoding="gbk")
    notes = InputNotes()
    units = read_layer(tmp_path / "gbk.csv", "population", LayerOptions(unit_id="楼栋编号"),
                       notes=notes)
    assert units["unit_id"].tolist() == table["楼栋编号"].tolist()
    assert notes.sources[str(tmp_path / "gbk.csv")]["encoding"] == "gb18030"
    assert json.loads(json.dumps(notes.to_dict()))["sources"]  # JSON-ready for report.json


def test_gbk_workers_and_special_csv(tmp_path):
    pd.DataFrame({"worker_id": ["w1", "w2"], "name": ["张三", "李四"],
                  "community_id": ["c1", "c2"]}).to_csv(tmp_path / "w.csv", index=False,
                                                        encoding="gbk")
    workers = read_layer(tmp_path / "w.csv", "workers", LayerOptions(community_ids=["c1", "c2"]))
    assert workers["name"].tolist() == ["张三", "李四"]
    pd.DataFrame({"unit_id": ["b1"], "category": ["elderly_alone"], "count": [2],
                  "备注": ["独居"]}).to_csv(tmp_path / "s.csv", index=False, encoding="gbk")
    notes = InputNotes()
    special = read_layer(tmp_path / "s.csv", "special", LayerOptions(unit_ids=["b1"]),
                         notes=notes)
    assert special["备注"].tolist() == ["独居"]
    assert notes.sources[str(tmp_path / "s.csv")] == {"encoding": "gb18030"}


def test_undecodable_csv_names_file_and_fix(tmp_path):
    (tmp_path / "bad.csv").write_bytes(b"unit_id,households,lon,lat\n\xff\xfe,3,116.3,39.98\n")
    with pytest.raises(InputError) as err:
        read_layer(tmp_path / "bad.csv", "population")
    e = err.value
    assert e.source == str(tmp_path / "bad.csv") and e.field == "--encoding"
    assert "--encoding gbk" in e.fix


def test_wrong_and_unknown_encoding(tmp_path):
    points_table().assign(name="荷花池").to_csv(tmp_path / "g.csv", index=False,
                                                encoding="gbk")
    with pytest.raises(InputError, match="cannot be decoded as utf-8") as err:
        read_layer(tmp_path / "g.csv", "population", LayerOptions(encoding="utf-8"))
    assert err.value.field == "--encoding"
    with pytest.raises(InputError, match="unknown encoding 'klingon'"):
        read_layer(tmp_path / "g.csv", "population", LayerOptions(encoding="klingon"))
    units = read_layer(tmp_path / "g.csv", "population", LayerOptions(encoding="gbk"))
    assert len(units) == 40


def gbk_shapefile(folder) -> str:
    path = folder / "c.shp"
    COMMUNITIES.to_file(path, encoding="gbk")
    (folder / "c.cpg").unlink()  # what many Chinese GIS exports ship: no code page
    return str(path)


def test_gbk_shapefile_without_cpg_read_as_gb18030(tmp_path):
    path = gbk_shapefile(tmp_path)
    notes = InputNotes()
    comm = read_layer(path, "communities", notes=notes)
    assert gpd.read_file(path)["name"][0] != "荷花池社区"  # GDAL alone: mojibake
    assert comm["name"].tolist() == ["荷花池社区", "玉泉社区"]
    assert notes.sources[path] == {"encoding": "gb18030"}
    assert any("no .cpg" in w and "gb18030" in w for w in notes.warnings)
    explicit = read_layer(path, "communities", LayerOptions(encoding="gbk"))
    assert explicit["name"].tolist() == ["荷花池社区", "玉泉社区"]


def test_utf8_shapefile_without_cpg(tmp_path):
    path = tmp_path / "u.shp"
    COMMUNITIES.to_file(path, encoding="utf-8")
    (tmp_path / "u.cpg").unlink()
    comm = read_layer(path, "communities")
    assert comm["name"].tolist() == ["荷花池社区", "玉泉社区"]


# --- datums ----------------------------------------------------------------------------------

def test_bd09_closed_form_round_trips():
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(75, 134, 500), rng.uniform(18, 53, 500)
    glon, glat = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    assert np.abs(glon - lon).max() < 1e-9 and np.abs(glat - lat).max() < 1e-9
    wlon, wlat = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert np.abs(wlon - lon).max() < 1e-8 and np.abs(wlat - lat).max() < 1e-8
    # Baidu's offset from GCJ-02 is about 0.0065° east, 0.006° north
    blon, blat = gcj02_to_bd09(116.404, 39.915)
    assert 0.005 < float(blon) - 116.404 < 0.008 and 0.005 < float(blat) - 39.915 < 0.008


def test_maps_reexport_the_same_functions():
    assert gcj02.wgs84_to_gcj02 is datum_module.wgs84_to_gcj02
    assert gcj02.shift_geometries is datum_module.shift_geometries


@pytest.mark.parametrize("datum", ["gcj02", "bd09"])
def test_shifted_csv_converted_to_wgs84(tmp_path, datum):
    table = points_table()
    pts = from_wgs84(gpd.points_from_xy(table["lon"], table["lat"]), datum)
    shifted = table.assign(lon=shapely.get_x(pts), lat=shapely.get_y(pts))
    assert np.abs(shifted["lon"] - table["lon"]).max() > 0.004  # hundreds of metres off
    shifted.to_csv(tmp_path / "p.csv", index=False)
    notes = InputNotes()
    units = read_layer(tmp_path / "p.csv", "population", LayerOptions(datum=datum),
                       notes=notes)
    np.testing.assert_allclose(units.geometry.x, table["lon"], atol=1e-7)
    np.testing.assert_allclose(units.geometry.y, table["lat"], atol=1e-7)
    assert notes.datum == {"population": datum}


def test_projected_layer_in_gcj02_ends_in_wgs84(tmp_path):
    gcj = COMMUNITIES.assign(geometry=from_wgs84(COMMUNITIES.geometry.values, "gcj02"))
    gcj.to_crs(32650).to_file(tmp_path / "c.gpkg")
    comm = read_layer(tmp_path / "c.gpkg", "communities", LayerOptions(datum="gcj02"))
    back = comm.geometry.to_crs(4326).values
    assert shapely.hausdorff_distance(back, COMMUNITIES.geometry.values).max() < 1e-6


def test_unknown_datum_and_per_layer_datum(tmp_path):
    points_table().to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(InputError, match="unknown datum 'mars'") as err:
        read_layer(tmp_path / "p.csv", "population", LayerOptions(datum="mars"))
    assert err.value.field == "--datum" and "gcj02" in err.value.fix
    assert datum_for("population=gcj02", "communities") == "wgs84"
    assert datum_for("population=GCJ-02,communities=bd09", "population") == "gcj02"
    with pytest.raises(InputError, match="unknown layer 'roads'"):
        read_layer(tmp_path / "p.csv", "population", LayerOptions(datum="roads=gcj02"))


def test_units_outside_say_when_they_look_gcj02():
    table = points_table(200)
    wgs = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]),
                           crs=4326)
    amap = wgs.assign(geometry=from_wgs84(wgs.geometry.values, "gcj02")).to_crs(32650)
    units = amap.assign(households=amap["households"].astype(int))
    comm = COMMUNITIES.rename(columns={"id": "community_id"}).to_crs(32650)
    notes = InputNotes(datum={"population": "wgs84", "communities": "wgs84"})
    kept = assign_communities(units, comm, notes)
    assert len(kept) < len(units)
    assert "--datum population=gcj02" in notes.warnings[-1]
    back = units.to_crs(4326).assign(geometry=lambda g: to_wgs84(g.geometry.values, "gcj02"))
    notes = InputNotes(datum={"population": "gcj02"})  # converted: no hint; all inside
    assert len(assign_communities(back.to_crs(32650), comm, notes)) == len(units)
    assert not notes.warnings


# --- layers of a GeoPackage ------------------------------------------------------------------

def two_layer_gpkg(tmp_path, names=("buildings", "communities")):
    path = tmp_path / "two.gpkg"
    table = points_table()
    pts = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]),
                           crs=4326)
    pyogrio.write_dataframe(pts, path, layer=names[0])
    pyogrio.write_dataframe(COMMUNITIES, path, layer=names[1], append=True)
    return path


def test_geopackage_layer_named_after_the_file(tmp_path):
    path = two_layer_gpkg(tmp_path, names=("a", "b"))
    assert len(read_layer(f"{path}:a", "population")) == 40
    assert len(read_layer(f"{path}:b", "communities")) == 2
    assert len(read_layer(path, "population", LayerOptions(layer="a"))) == 40


def test_geopackage_plainly_meant_layer_kept(tmp_path):
    path = two_layer_gpkg(tmp_path)
    notes = InputNotes()
    assert len(read_layer(path, "population", notes=notes)) == 40  # named "buildings"
    assert notes.sources[str(path)] == {"layer": "buildings"}
    assert len(read_layer(path, "communities")) == 2
    (tmp_path / "xy").mkdir()
    path2 = two_layer_gpkg(tmp_path / "xy", names=("x", "y"))
    assert len(read_layer(path2, "communities")) == 2  # the only polygon layer


def test_geopackage_ambiguous_or_wrong_layer_refused(tmp_path):
    path = tmp_path / "many.gpkg"
    pyogrio.write_dataframe(COMMUNITIES, path, layer="a")
    pyogrio.write_dataframe(COMMUNITIES, path, layer="b", append=True)
    with pytest.raises(InputError, match="2 layers \\(a \\(Polygon\\), b \\(Polygon\\)\\)") as e:
        read_layer(path, "communities")
    assert "many.gpkg:a" in e.value.fix
    with pytest.raises(InputError, match="no layer 'c'") as e:
        read_layer(f"{path}:c", "communities")
    assert e.value.field == "c" and e.value.source == str(path)


def test_encoding_leaves_utf8_formats_alone(tmp_path):
    COMMUNITIES.to_file(tmp_path / "c.geojson")
    comm = read_layer(tmp_path / "c.geojson", "communities", LayerOptions(encoding="gbk"))
    assert comm["name"].tolist() == ["荷花池社区", "玉泉社区"]
