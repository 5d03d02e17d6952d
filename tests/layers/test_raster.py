"""Population rasters (GeoTIFF of residents per cell): cells or buildings as units."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import run_cli

from gridplan.errors import InputError
from gridplan.layers.load import LayerOptions, read_layer
from gridplan.layers.raster import apportion, is_raster

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import from_bounds  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
COMMUNITIES = ROOT / "data" / "boundaries" / "communities.geojson"
BUILDINGS = ROOT / "data" / "boundaries" / "buildings.geojson"


def write_tif(path: Path, values: np.ndarray, *, crs: str | None = "EPSG:4326",
              nodata: float | None = -99999.0, pad: float = 0.0) -> Path:
    """A one-band float GeoTIFF of ``values`` over the demo area (widened by ``pad`` deg)."""
    x0, y0, x1, y1 = gpd.read_file(COMMUNITIES).total_bounds
    rows, cols = values.shape
    transform = from_bounds(x0 - pad, y0 - pad, x1 + pad, y1 + pad, cols, rows)
    with rasterio.open(path, "w", driver="GTiff", height=rows, width=cols, count=1,
                       dtype="float32", crs=crs, transform=transform, nodata=nodata) as ds:
        ds.write(values.astype("float32"), 1)
    return path


def grid_values(n: int = 4, seed: int = 1) -> np.ndarray:
    values = np.random.default_rng(seed).uniform(100, 900, (n, n)).round(1)
    values[0, 0] = -99999.0  # nodata
    values[0, 1] = 0.0
    return values


def test_is_raster_by_suffix_and_magic(tmp_path):
    tif = write_tif(tmp_path / "p.tif", grid_values())
    renamed = tmp_path / "p.dat"
    renamed.write_bytes(tif.read_bytes())
    assert is_raster(tif) and is_raster(renamed)
    assert not is_raster(COMMUNITIES)


def test_cells_become_units_residents_conserved(tmp_path):
    values = grid_values()
    tif = write_tif(tmp_path / "pop.tif", values)
    units = read_layer(tif, "population", LayerOptions(household_size=2.5))
    expected = values[values > 0].astype("float32").astype(float).sum()
    assert len(units) == 14  # 16 cells less a nodata and an empty one
    assert units["population"].sum() == pytest.approx(expected, rel=1e-9)
    assert (units["households"] == np.rint(units["population"] / 2.5)).all()
    assert units.geometry.geom_type.eq("Polygon").all()


def test_buildings_share_cell_residents_conserved(tmp_path):
    values = np.full((6, 6), 250.0)
    # a ring of cells beyond the demo area has no buildings: they stay cell units
    tif = write_tif(tmp_path / "pop.tif", values, pad=0.01)
    notes_opts = LayerOptions(buildings=str(BUILDINGS))
    units = read_layer(tif, "population", notes_opts)
    assert units["population"].sum() == pytest.approx(values.sum(), rel=1e-9)
    cells = units["unit_id"].str.match(r"^r\d+c\d+$")
    assert cells.any() and (~cells).sum() > 100
    assert set(units.loc[~cells, "unit_id"]) <= set(gpd.read_file(BUILDINGS)["unit_id"])


def test_levels_weigh_footprints():
    cells = gpd.GeoDataFrame({"cell_id": ["a"], "residents": [90.0]},
                             geometry=[shapely.box(0, 0, 10, 10)], crs=3857)
    b = gpd.GeoDataFrame({"unit_id": ["low", "high"], "building:levels": ["1", "2"]},
                         geometry=[shapely.box(0, 0, 2, 2), shapely.box(5, 5, 7, 7)], crs=3857)
    got = dict(apportion(cells, b)[["unit_id", "population"]].values)
    assert got == {"low": 30.0, "high": 60.0}


def test_plan_from_raster_end_to_end(tmp_path):
    values = np.full((8, 8), 300.0)
    tif = write_tif(tmp_path / "tiny.tif", values)
    out = tmp_path / "out"
    r = run_cli("plan", "--communities", COMMUNITIES, "--population", tif, "--out", out,
                "--no-map", "--quiet")
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    facts = report["input"]["sources"][str(tif)]
    assert facts["residents_read"] == pytest.approx(values.sum())
    assert facts["households_made"] == 64 * round(300 / 2.6)
    assert facts["cells"] == 64
    assert report["grids"] > 0


def bad_rasters(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    no_crs = write_tif(tmp_path / "nocrs.tif", grid_values(), crs=None)
    empty = write_tif(tmp_path / "zeros.tif", np.zeros((4, 4)))
    fake = tmp_path / "fake.tif"
    fake.write_text("not a raster")
    return {"no crs": (no_crs, "gdal_edit.py -a_srs EPSG:4326"),
            "no residents": (empty, "no cell with residents > 0"),
            "not a raster": (fake, "cannot be read as a raster")}


@pytest.mark.parametrize("case", ["no crs", "no residents", "not a raster"])
def test_bad_rasters_exit_2_with_fix(tmp_path, case):
    path, expected = bad_rasters(tmp_path)[case]
    with pytest.raises(InputError) as err:
        read_layer(path, "population")
    assert str(path) in str(err.value) and "--population" in str(err.value)
    assert "Fix:" in str(err.value)
    r = run_cli("plan", "--communities", COMMUNITIES, "--population", path,
                "--out", tmp_path / "out", "--no-map", "--quiet")
    assert r.exit_code == 2 and expected in r.output, r.output
    assert not (tmp_path / "out").exists()


def test_buildings_without_a_raster_refused():
    with pytest.raises(InputError, match="not a raster") as err:
        read_layer(BUILDINGS, "population", LayerOptions(buildings=str(BUILDINGS)))
    assert err.value.field == "--buildings"


def test_raster_without_crs_reads_with_crs_option(tmp_path):
    tif = write_tif(tmp_path / "nocrs.tif", grid_values(), crs=None)
    units = read_layer(tif, "population", LayerOptions(crs="EPSG:4326"))
    assert units.crs.to_epsg() == 4326


def test_missing_rasterio_names_the_extra(tmp_path, monkeypatch):
    tif = write_tif(tmp_path / "pop.tif", grid_values())
    monkeypatch.setitem(sys.modules, "rasterio", None)
    with pytest.raises(InputError, match=r'pip install "gridplan\[raster\]"'):
        read_layer(tif, "population")
