"""Checks of the benchmark's synthetic city (bench/synthetic.py) and a plan made on it."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from gridplan.engine.pipeline import plan
from gridplan.layers.population import prepare_units
from gridplan.layers.prepare import prepare_communities
from gridplan.params import PlanParams

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(ROOT))
synthetic = importlib.import_module("bench.synthetic")
run_bench = importlib.import_module("bench.run_bench")


@pytest.fixture(scope="module")
def city() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    return synthetic.synthetic_city(1000, seed=3)


def test_generation_is_deterministic(city) -> None:
    units, communities = city
    again_units, again_comm = synthetic.synthetic_city(1000, seed=3)
    assert_geodataframe_equal(units, again_units)
    assert_geodataframe_equal(communities, again_comm)
    other, _ = synthetic.synthetic_city(1000, seed=4)
    assert not np.array_equal(other["households"].values, units["households"].values)


def test_layers_have_the_documented_shape(city) -> None:
    units, communities = city
    assert list(units.columns) == ["unit_id", "households", "geometry"]
    assert list(communities.columns) == ["id", "geometry"]
    assert len(units) == 1000 and units["unit_id"].is_unique
    assert len(communities) == 2 and communities["id"].is_unique
    assert units.crs == communities.crs == "EPSG:32650"
    assert set(units.geom_type) == {"Polygon"} and units.is_valid.all()
    assert units["households"].dtype == np.int64


def test_community_count_scales_with_units() -> None:
    _, communities = synthetic.synthetic_city(20_000, seed=0)
    assert len(communities) == 40


def test_units_tile_the_city_without_overlap(city) -> None:
    units, _ = city
    geoms = units.geometry.values
    square = synthetic.city_box(1000)
    assert shapely.area(geoms).sum() == pytest.approx(square.area, rel=1e-9)
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="overlaps")
    assert len(i) == 0
    assert shapely.area(shapely.difference(shapely.coverage_union_all(geoms), square)) < 1e-6


def test_every_unit_lies_in_exactly_one_community(city) -> None:
    units, communities = city
    square = synthetic.city_box(1000)
    assert shapely.area(communities.geometry.values).sum() == pytest.approx(square.area)
    points = shapely.point_on_surface(units.geometry.values)
    tree = shapely.STRtree(communities.geometry.values)
    hit, _ = tree.query(points, predicate="within")
    assert np.bincount(hit, minlength=len(units)).tolist() == [1] * len(units)


def test_households_are_lognormal_with_mean_about_25() -> None:
    units, _ = synthetic.synthetic_city(20_000, seed=1)
    h = units["households"].values
    assert 24.0 < h.mean() < 26.0
    assert h.min() >= 1 and h.max() <= synthetic.MAX_HOUSEHOLDS
    assert np.median(h) < h.mean()  # right-skewed


def test_points_are_clustered() -> None:
    """Unit cells vary in size far more than a uniform scatter's would."""
    units, _ = synthetic.synthetic_city(20_000, seed=0)
    area = shapely.area(units.geometry.values)
    assert area.mean() == pytest.approx(synthetic.AREA_PER_UNIT, rel=1e-6)
    assert np.quantile(area, 0.9) / np.quantile(area, 0.1) > 5


def test_unit_adjacency_and_csr_graph(city) -> None:
    units, _ = city
    pairs = synthetic.unit_adjacency(units.geometry.values)
    assert (pairs[:, 0] < pairs[:, 1]).all()
    assert 2.5 < len(pairs) / len(units) < 3.1  # planar tiling: about 3 edges per cell
    xadj, adjncy = synthetic.csr_graph(len(units), pairs)
    assert xadj[-1] == len(adjncy) == 2 * len(pairs)


def test_plan_on_a_synthetic_city(city) -> None:
    units, communities = city
    result = plan(prepare_units(units, unit_id="unit_id", households="households"),
                  prepare_communities(communities, id_field="id"),
                  params=PlanParams(tessellation="centroid"))
    grids = result.grids
    assert set(grids.geom_type) == {"Polygon"}
    assert result.report["contiguous_share"] == 1.0
    assert int(grids["households"].sum()) == int(units["households"].sum())
    assert len(result.units) == len(units) and result.units["grid_code"].notna().all()
    assert result.report["share_in_band"] >= 0.95
    assert set(result.report["stage_seconds"]) >= {"adjacency", "partition", "grids"}


def test_partition_quality_on_a_known_split(city) -> None:
    units, _ = city
    geoms = units.geometry.values
    pairs = synthetic.unit_adjacency(geoms)
    x = shapely.get_coordinates(shapely.centroid(geoms))[:, 0]
    halves = (x > np.median(x)).astype(int)
    q = run_bench.partition_quality(geoms, pairs, halves, units["households"].values,
                                    band=(0, 1e9), target=1)
    assert q["parts"] == 2 and q["share_in_band"] == 1.0
    assert 0 < q["mean_polsby_popper"] < 1
    alternate = np.arange(len(units)) % 2
    q = run_bench.partition_quality(geoms, pairs, alternate, units["households"].values)
    assert q["contiguous_share"] == 0.0 and q["polygon_share"] == 0.0
