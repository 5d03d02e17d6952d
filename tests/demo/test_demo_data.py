"""Checks of the synthetic demo district (gridplan.demo) and its committed GeoJSON files."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from gridplan.demo.district import (
    BUILDING_GAP,
    CORRIDOR_WIDTH,
    DEMO_DIR,
    HEIGHT,
    LAYERS,
    METRIC_CRS,
    ORIGIN,
    WIDTH,
    generate_demo,
    write_demo,
)

COLUMNS = {
    "communities": ["id", "code", "name", "name_en"],
    "buildings": ["unit_id", "households", "building", "levels", "name"],
    "compounds": ["compound_id", "name"],
    "barriers": ["barrier_id", "kind", "name"],
    "dedicated": ["site_id", "kind", "name"],
}
RESIDENTIAL = {"apartments", "residential", "house"}


@pytest.fixture(scope="module")
def layers() -> dict[str, gpd.GeoDataFrame]:
    return generate_demo()


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def building_community(layers: dict[str, gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Each building joined to the community it lies within."""
    return layers["buildings"].sjoin(layers["communities"][["id", "geometry"]],
                                     predicate="within", how="left")


def test_generation_is_deterministic(layers: dict[str, gpd.GeoDataFrame]) -> None:
    again = generate_demo()
    assert list(again) == list(LAYERS)
    for name in LAYERS:
        assert_geodataframe_equal(layers[name], again[name])


def test_layers_have_the_documented_columns(layers: dict[str, gpd.GeoDataFrame]) -> None:
    for name, columns in COLUMNS.items():
        gdf = layers[name]
        assert [c for c in gdf.columns if c != gdf.geometry.name] == columns
        assert gdf.crs == METRIC_CRS
        assert gdf.geometry.is_valid.all()
    assert set(layers["barriers"].geom_type) == {"LineString"}
    for name in ("communities", "buildings", "compounds", "dedicated"):
        assert set(layers[name].geom_type) == {"Polygon"}


def test_written_files_match_committed_files(written: dict[str, Path]) -> None:
    assert sorted(written) == sorted([*LAYERS, "special", "workers"])
    for path in written.values():
        committed = DEMO_DIR / path.name
        assert committed.exists(), f"{committed} missing: run python -m gridplan.demo.district"
        assert path.read_bytes() == committed.read_bytes(), (
            f"{committed.name} differs from write_demo(): rerun python -m gridplan.demo.district")


def test_written_files_read_back(written: dict[str, Path],
                                 layers: dict[str, gpd.GeoDataFrame]) -> None:
    total = sum(path.stat().st_size for path in written.values())
    assert total < 1_500_000
    for name, path in written.items():
        if path.suffix == ".csv":
            continue
        gdf = gpd.read_file(path)
        assert gdf.crs.to_epsg() == 4326
        assert len(gdf) == len(layers[name])
        assert [c for c in gdf.columns if c != "geometry"] == COLUMNS[name]
        assert gdf.geometry.is_valid.all()
        # coordinates are rounded to 1e-7 degrees (about a centimetre)
        back = gdf.to_crs(METRIC_CRS).geometry
        assert back.hausdorff_distance(layers[name].geometry, align=False).max() < 0.05
    codes = gpd.read_file(written["communities"])["code"]
    assert codes.map(type).eq(str).all()
    buildings = gpd.read_file(written["buildings"]).to_crs(METRIC_CRS)
    communities = gpd.read_file(written["communities"]).to_crs(METRIC_CRS)
    hits = buildings.sjoin(communities, predicate="within").groupby(level=0).size()
    assert len(hits) == len(buildings) and (hits == 1).all()


def test_every_building_lies_in_exactly_one_community(
        layers: dict[str, gpd.GeoDataFrame], building_community: gpd.GeoDataFrame) -> None:
    buildings = layers["buildings"]
    assert building_community["id"].notna().all()
    assert building_community.index.is_unique
    assert len(building_community) == len(buildings)
    overlaps = buildings.sjoin(layers["communities"], predicate="intersects")
    assert len(overlaps) == len(buildings)


def test_buildings_do_not_overlap(layers: dict[str, gpd.GeoDataFrame]) -> None:
    geoms = layers["buildings"].geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    assert (left == right).all()


def test_buildings_keep_clear_of_roads_river_and_edges(
        layers: dict[str, gpd.GeoDataFrame]) -> None:
    buildings = layers["buildings"].geometry
    for _, barrier in layers["barriers"].iterrows():
        least = buildings.distance(barrier.geometry).min()
        assert least >= CORRIDOR_WIDTH[barrier["kind"]] / 2 + BUILDING_GAP - 1e-6, barrier["name"]
    edges = layers["communities"].boundary.union_all()
    assert buildings.distance(edges).min() >= BUILDING_GAP - 1e-6


def test_buildings_are_street_aligned_rectangles(layers: dict[str, gpd.GeoDataFrame]) -> None:
    geoms = layers["buildings"].geometry
    assert (geoms.area == geoms.envelope.area).all()
    bounds = geoms.bounds
    sides = np.concatenate([bounds.maxx - bounds.minx, bounds.maxy - bounds.miny])
    assert sides.min() >= 10.0 - 1e-6
    assert sides.max() <= 80.0 + 1e-6


def test_community_codes_are_unique_12_digits(layers: dict[str, gpd.GeoDataFrame]) -> None:
    codes = layers["communities"]["code"]
    assert codes.str.fullmatch(r"\d{12}").all()
    assert codes.is_unique
    assert codes.str.startswith("990101").all()
    assert 6 <= len(codes) <= 8


def test_ids_are_unique(layers: dict[str, gpd.GeoDataFrame]) -> None:
    for name, column in (("communities", "id"), ("buildings", "unit_id"),
                         ("compounds", "compound_id"), ("barriers", "barrier_id")):
        ids = layers[name][column]
        assert ids.is_unique, name
        assert ids.map(type).eq(str).all(), name


def test_households_are_non_negative_integers(layers: dict[str, gpd.GeoDataFrame]) -> None:
    buildings = layers["buildings"]
    for column in ("households", "levels"):
        assert np.issubdtype(buildings[column].dtype, np.integer)
    assert (buildings["households"] >= 0).all()
    assert (buildings["levels"] >= 1).all()
    other = ~buildings["building"].isin(RESIDENTIAL)
    assert (buildings.loc[other, "households"] == 0).all()
    assert (buildings.loc[~other, "households"] > 0).all()


def test_exactly_one_700_household_tower(layers: dict[str, gpd.GeoDataFrame]) -> None:
    buildings = layers["buildings"]
    tower = buildings[buildings["households"] == 700]
    assert len(tower) == 1
    assert tower.iloc[0]["building"] == "apartments"
    assert tower.iloc[0]["levels"] == 30
    assert (buildings["households"] < 345).sum() == len(buildings) - 1


def test_communities_tile_the_district(layers: dict[str, gpd.GeoDataFrame]) -> None:
    communities = layers["communities"]
    x0, y0 = ORIGIN
    district = shapely.box(x0, y0, x0 + WIDTH, y0 + HEIGHT)
    union = communities.union_all()
    assert union.area == pytest.approx(communities.area.sum(), rel=1e-9)
    assert union.symmetric_difference(district).area < 1e-3
    geoms = communities.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    for i, j in zip(left, right, strict=True):
        if i < j:
            assert geoms[i].intersection(geoms[j]).area < 1e-6


def test_household_totals_are_realistic(layers: dict[str, gpd.GeoDataFrame],
                                        building_community: gpd.GeoDataFrame) -> None:
    buildings = layers["buildings"]
    assert 600 <= len(buildings) <= 1200
    assert 12_000 <= buildings["households"].sum() <= 20_000
    per_community = building_community.groupby("id")["households"].sum()
    assert set(per_community.index) == set(layers["communities"]["id"])
    small = per_community[per_community < 255]
    assert len(small) == 1
    assert 120 <= small.iloc[0] <= 200
    assert per_community.drop(small.index).between(1500, 4000).all()
    houses = buildings[buildings["building"].isin({"house", "residential"})]
    assert houses["households"].between(2, 12).all()
    slabs = buildings[(buildings["building"] == "apartments") & (buildings["levels"] <= 18)]
    assert slabs["households"].between(30, 200).all()


def test_compounds_hold_apartments_inside_one_community(
        layers: dict[str, gpd.GeoDataFrame]) -> None:
    compounds = layers["compounds"]
    assert len(compounds) >= 6
    hits = compounds.sjoin(layers["communities"], predicate="within").groupby(level=0).size()
    assert len(hits) == len(compounds) and (hits == 1).all()
    inside = compounds.sjoin(layers["buildings"], predicate="contains")
    apartments = inside[inside["building"] == "apartments"].groupby(level=0).size()
    assert len(apartments) == len(compounds) and (apartments >= 3).all()
    assert (inside["building"] == "apartments").all()
    geoms = compounds.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    assert (left == right).all()


def test_barriers(layers: dict[str, gpd.GeoDataFrame]) -> None:
    barriers = layers["barriers"]
    assert set(barriers["kind"]) == {"primary", "secondary", "tertiary", "river"}
    river = barriers[barriers["kind"] == "river"].geometry.iloc[0]
    start, end = shapely.Point(river.coords[0]), shapely.Point(river.coords[-1])
    assert river.length > 1.05 * start.distance(end)  # it meanders
    assert (barriers["name"].str.len() > 0).all()


def test_barrier_ends_meet_exactly_in_written_file(written: dict[str, Path]) -> None:
    """Every barrier end inside the district is a vertex of another barrier."""
    barriers = gpd.read_file(written["barriers"])
    vertices = [set(map(tuple, np.asarray(g.coords))) for g in barriers.geometry]
    outline = gpd.read_file(written["communities"]).union_all().boundary
    for i, geom in enumerate(barriers.geometry):
        for end in (geom.coords[0], geom.coords[-1]):
            if outline.distance(shapely.Point(end)) < 1e-6:
                continue
            assert any(end in v for j, v in enumerate(vertices) if j != i), barriers.iloc[i]


def test_other_seed_keeps_the_invariants(layers: dict[str, gpd.GeoDataFrame]) -> None:
    other = generate_demo(seed=1)
    buildings, communities = other["buildings"], other["communities"]
    assert len(buildings) != len(layers["buildings"])  # the seed matters
    hits = buildings.sjoin(communities, predicate="within").groupby(level=0).size()
    assert len(hits) == len(buildings) and (hits == 1).all()
    geoms = buildings.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    assert (left == right).all()
    assert (buildings["households"] == 700).sum() == 1


def test_dedicated_sites_hold_their_schools_hospital_and_campuses(
        layers: dict[str, gpd.GeoDataFrame]) -> None:
    """Each site lies in one community and holds buildings of its kind, none residential."""
    sites = layers["dedicated"]
    assert sorted(sites["kind"]) == ["college"] * 4 + ["hospital"] + ["school"] * 3
    assert sites["name"].is_unique and (sites.geometry.area >= 5000).all()
    within = sites.sjoin(layers["communities"], predicate="within")
    assert len(within) == len(sites)
    b = layers["buildings"]
    pts = gpd.GeoDataFrame(b.drop(columns="geometry"), geometry=b.geometry.representative_point(),
                           crs=b.crs).sjoin(sites[["site_id", "kind", "geometry"]],
                                            predicate="within")
    assert set(pts["site_id"]) == set(sites["site_id"])
    assert not pts["building"].isin(RESIDENTIAL).any()
    assert (pts["households"] == 0).all()
