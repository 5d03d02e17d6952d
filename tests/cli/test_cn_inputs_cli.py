"""``gridplan plan`` and ``staff`` on the inputs Chinese planners have: tables of points,
GBK text, GCJ-02 coordinates, GeoPackages of several layers; bad ones exit 2 with the fix."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from conftest import run_cli

from gridplan.layers.datum import from_wgs84

DEMO_DIR = Path(__file__).resolve().parents[2] / "data" / "boundaries"
LAYERS = ("communities", "buildings", "compounds", "barriers")

pytestmark = pytest.mark.skipif(
    not all((DEMO_DIR / f"{n}.geojson").exists() for n in LAYERS),
    reason="demo data data/boundaries/*.geojson not generated yet")


def plan(*args, out: Path, communities=DEMO_DIR / "communities.geojson"):
    return run_cli("plan", "--communities", communities, "--community-code", "code",
                   "--households", "households", "--out", out, "--no-map", "--quiet", *args)


def households_per_grid(out: Path) -> list[tuple[str, int]]:
    grids = json.loads((out / "grids.geojson").read_text(encoding="utf-8"))["features"]
    return sorted((f["properties"]["grid_code"], f["properties"]["households"]) for f in grids)


def demo_points() -> pd.DataFrame:
    b = gpd.read_file(DEMO_DIR / "buildings.geojson")
    pts = b.representative_point()
    return b.drop(columns="geometry").assign(lon=pts.x, lat=pts.y)


def assert_refused(result, *words):
    """Exit 2, one ``error:`` line naming the problem and the fix, no traceback."""
    assert result.exit_code == 2, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "Fix:" in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


@pytest.fixture(scope="module")
def wgs_plan(tmp_path_factory) -> Path:
    """The demo's layers planned as they are (WGS84)."""
    out = tmp_path_factory.mktemp("wgs") / "plan"
    result = plan("--population", DEMO_DIR / "buildings.geojson",
                  "--compounds", DEMO_DIR / "compounds.geojson",
                  "--barriers", DEMO_DIR / "barriers.geojson", out=out)
    assert result.exit_code == 0, (result.output, result.exception)
    return out


@pytest.mark.slow
def test_gcj02_copy_of_the_demo_plans_the_same_grids(wgs_plan, tmp_path):
    for name in LAYERS:
        layer = gpd.read_file(DEMO_DIR / f"{name}.geojson")
        layer.assign(geometry=from_wgs84(layer.geometry.values, "gcj02")).to_file(
            tmp_path / f"{name}.geojson")
    args = ("--population", tmp_path / "buildings.geojson",
            "--compounds", tmp_path / "compounds.geojson",
            "--barriers", tmp_path / "barriers.geojson")
    result = plan(*args, "--datum", "gcj02", out=tmp_path / "gcj",
                  communities=tmp_path / "communities.geojson")
    assert result.exit_code == 0, (result.output, result.exception)
    assert households_per_grid(tmp_path / "gcj") == households_per_grid(wgs_plan)
    report = json.loads((tmp_path / "gcj" / "report.json").read_text(encoding="utf-8"))
    assert set(report["input"]["datum"].values()) == {"gcj02"}


def test_amap_buildings_on_wgs84_communities_say_the_fix(tmp_path):
    b = gpd.read_file(DEMO_DIR / "buildings.geojson")
    b.assign(geometry=from_wgs84(b.geometry.values, "gcj02")).to_file(tmp_path / "amap.geojson")
    result = run_cli("plan", "--communities", DEMO_DIR / "communities.geojson",
                     "--community-code", "code", "--population", tmp_path / "amap.geojson",
                     "--households", "households", "--out", tmp_path / "o", "--no-map")
    assert result.exit_code == 0
    assert "--datum population=gcj02" in result.stdout
    fixed = plan("--population", tmp_path / "amap.geojson", "--datum", "population=gcj02",
                 out=tmp_path / "o2")
    assert fixed.exit_code == 0
    report = json.loads((tmp_path / "o2" / "report.json").read_text(encoding="utf-8"))
    assert report["households"] == int(b["households"].sum())
    assert report["input"]["units_outside_communities"] == 0


@pytest.mark.parametrize("kind", ["csv", "gbk.csv", "xlsx"])
def test_plan_from_a_table_of_points(tmp_path, kind):
    table = demo_points()
    path = tmp_path / f"points.{kind}"
    if kind == "xlsx":
        table.to_excel(path, index=False)
    elif kind == "gbk.csv":
        table.rename(columns={"lon": "经度", "lat": "纬度"}).to_csv(path, index=False,
                                                                    encoding="gbk")
    else:
        table.to_csv(path, index=False)
    result = plan("--population", path, out=tmp_path / "o")
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads((tmp_path / "o" / "report.json").read_text(encoding="utf-8"))
    assert report["households"] == int(table["households"].sum())
    read = report["input"]["sources"][str(path)]
    assert read["coordinates"] == "EPSG:4326"
    assert read.get("encoding", "xlsx") == {"csv": "utf-8", "gbk.csv": "gb18030"}.get(kind,
                                                                                      "xlsx")


def test_geopackage_layers(tmp_path):
    path = tmp_path / "district.gpkg"
    for name in ("communities", "buildings"):
        pyogrio.write_dataframe(gpd.read_file(DEMO_DIR / f"{name}.geojson"), path,
                                layer=name, append=path.exists())
    result = run_cli("plan", "--communities", f"{path}:communities", "--community-code", "code",
                     "--population", path, "--households", "households",
                     "--out", tmp_path / "o", "--no-map", "--quiet")
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads((tmp_path / "o" / "report.json").read_text(encoding="utf-8"))
    assert report["input"]["sources"][str(path)] == {"layer": "buildings"}
    assert_refused(plan("--population", f"{path}:roads", out=tmp_path / "o2"),
                   str(path), "field roads", "no layer 'roads'", "district.gpkg:communities")


def test_bad_inputs_exit_2_with_the_fix(tmp_path):
    demo_points().drop(columns=["lon", "lat"]).to_csv(tmp_path / "nocoords.csv", index=False)
    assert_refused(plan("--population", tmp_path / "nocoords.csv", out=tmp_path / "o"),
                   "nocoords.csv", "field lon/lat", "--x-field")
    assert_refused(plan("--population", tmp_path / "nocoords.csv", "--x-field", "E",
                        out=tmp_path / "o"), "field E", "--x-field")
    (tmp_path / "bytes.csv").write_bytes(b"unit_id,households,lon,lat\nb\xff,3,116.31,39.99\n")
    assert_refused(plan("--population", tmp_path / "bytes.csv", out=tmp_path / "o"),
                   "bytes.csv", "field --encoding", "--encoding gbk")
    demo_points().to_csv(tmp_path / "ok.csv", index=False)
    assert_refused(plan("--population", tmp_path / "ok.csv", "--datum", "wgs-72",
                        out=tmp_path / "o"), "field --datum", "unknown datum", "gcj02")
    assert_refused(plan("--population", tmp_path / "ok.csv", "--encoding", "gbkk",
                        out=tmp_path / "o"), "ok.csv", "field --encoding", "unknown encoding")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_staff_reads_gbk_workers(wgs_plan, tmp_path):
    workers = pd.read_csv(DEMO_DIR / "workers.csv", dtype=str)
    workers.to_csv(tmp_path / "workers.csv", index=False, encoding="gbk")
    result = run_cli("staff", "--plan", wgs_plan, "--workers", tmp_path / "workers.csv",
                     "--out", tmp_path / "s", "--no-map", "--quiet")
    assert result.exit_code == 0, (result.output, result.exception)
    staffed = pd.read_csv(tmp_path / "s" / "workers.csv", dtype=str)
    assert set(staffed["name"]) == set(workers["name"])  # 网格员 names, not mojibake
    (tmp_path / "bad.csv").write_bytes(b"worker_id,name,community_id\nW1,\xff\xff,C01\n")
    assert_refused(run_cli("staff", "--plan", wgs_plan, "--workers", tmp_path / "bad.csv",
                           "--out", tmp_path / "s2", "--no-map"),
                   "bad.csv", "field --encoding", "--encoding gbk")
    assert run_cli("staff", "--plan", wgs_plan, "--workers", tmp_path / "workers.csv",
                   "--encoding", "gbk", "--out", tmp_path / "s3", "--no-map",
                   "--quiet").exit_code == 0


def test_partitioned_population_refuses_a_chinese_datum(tmp_path):
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "b.geojson").write_bytes((DEMO_DIR / "buildings.geojson").read_bytes())
    assert_refused(plan("--population", tmp_path / "parts", "--datum", "gcj02",
                        out=tmp_path / "o"), "field --datum", "partitioned")
