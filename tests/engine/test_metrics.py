"""The rules validate_plan checks: a sound plan passes, and each plan broken on purpose fails."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from conftest import prep_communities, prep_units
from shapely import affinity

from gridplan.engine.metrics import grids_tile_communities, is_in, validate_plan
from gridplan.engine.pipeline import plan
from gridplan.errors import PlanInvariantError
from gridplan.params import PlanParams


@pytest.fixture
def sound(small_inputs):
    units, comms = small_inputs
    p = plan(prep_units(units), prep_communities(comms),
             params=PlanParams(target=300, tolerance=0.15, seed=0))
    validate_plan(p)
    assert len(p.grids) >= 2
    return p


def broken(p, **frames):
    out = copy.copy(p)
    for name, frame in frames.items():
        setattr(out, name, frame)
    return out


def with_grid_geometry(p, i, geom):
    grids = p.grids.copy()
    grids.loc[grids.index[i], "geometry"] = geom
    return broken(p, grids=grids)


def test_overlapping_grids_fail(sound):
    g0, g1 = sound.grids.geometry.iloc[0], sound.grids.geometry.iloc[1]
    bad = with_grid_geometry(sound, 0, g0.union(g1.buffer(-1)))  # grid 0 spills over grid 1
    assert grids_tile_communities(bad)
    with pytest.raises(PlanInvariantError, match="grids cover"):
        validate_plan(bad)


def test_grid_leaving_a_gap_fails(sound):
    g0 = sound.grids.geometry.iloc[0]
    bad = with_grid_geometry(sound, 0, g0.buffer(-2))
    assert not shapely.coverage_is_valid(bad.grids.geometry.values, gap_width=5)
    with pytest.raises(PlanInvariantError, match="grids cover"):
        validate_plan(bad)


def test_grid_outside_its_community_fails(sound):
    g0 = sound.grids.geometry.iloc[0]
    moved = affinity.translate(g0, xoff=-50)  # same total area, part of it outside
    bad = with_grid_geometry(sound, 0, moved)
    with pytest.raises(PlanInvariantError, match="grids cover"):
        validate_plan(bad)


@pytest.mark.parametrize(("shift", "caught"), [(0.004, False), (0.007, False), (0.03, True)])
def test_a_strip_outside_the_community_beyond_the_snapping_is_caught(shift, caught):
    # grids are snapped to 1 cm, so up to 7.07 mm outside is sound and not counted; a strip
    # 3 cm wide along a 100 m edge is 2.25 m² beyond the 7.5 mm reach (over the 1 m²
    # slack), though the grids' areas add up
    comm = gpd.GeoDataFrame({"community_id": ["C"]}, geometry=[shapely.box(0, 0, 100, 100)],
                            crs=32650)
    top = 5000 / (50 + shift)  # grid b grows by the strip's width and loses as much on top
    grids = gpd.GeoDataFrame({"community_id": ["C", "C"], "grid_code": ["a", "b"]},
                             geometry=[shapely.box(-shift, 0, 50 - shift, 100),
                                       shapely.box(50 - shift, 0, 100, top)], crs=32650)
    assert grids.area.sum() == pytest.approx(comm.area.sum())
    found = grids_tile_communities(SimpleNamespace(grids=grids, communities=comm))
    assert bool(found) is caught


def test_snapped_grids_of_a_sound_plan_are_not_measured_outside(small_inputs, monkeypatch):
    # moved off the 1 cm grid, the communities' corners are not where the grids' snapped
    # corners can be, so grids stick out by a few mm: within the rule's reach, so none
    # goes through the overlay that measures what lies outside
    units, comms = (gdf.set_geometry(gdf.translate(0.0037, 0.0041)) for gdf in small_inputs)
    p = plan(prep_units(units), prep_communities(comms),
             params=PlanParams(target=300, tolerance=0.15, seed=0))
    comm = p.communities.set_index("community_id").geometry
    sticks_out = [not comm[c].buffer(1e-3).contains(g)
                  for c, g in zip(p.grids["community_id"], p.grids.geometry, strict=True)]
    assert any(sticks_out)
    measured = []
    real = shapely.difference
    monkeypatch.setattr(shapely, "difference",
                        lambda a, *args, **kw: measured.append(len(a)) or real(a, *args, **kw))
    assert grids_tile_communities(p) == []
    assert sum(measured) == 0


@pytest.mark.parametrize("geom", [None, shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])],
                         ids=["missing", "bow-tie"])
def test_grid_without_a_valid_geometry_fails_by_name(sound, geom):
    # a missing area summed to NaN, which no slack catches; a self-crossing ring has
    # area 0 and stopped the union with a GEOS error instead of naming the grid
    code = sound.grids["grid_code"].iloc[0]
    with pytest.raises(PlanInvariantError, match=f"without a valid geometry: {code}"):
        validate_plan(with_grid_geometry(sound, 0, geom))


def test_unit_pointing_to_a_missing_grid_fails(sound):
    units = sound.units.copy()
    units.loc[units.index[0], "grid_code"] = "NOPE"
    with pytest.raises(PlanInvariantError, match="point to a grid that does not exist"):
        validate_plan(broken(sound, units=units))


def test_unit_on_a_missing_parcel_fails(sound):
    units = sound.units.copy()
    units.loc[units.index[0], "cell_id"] = "no-such-parcel"
    with pytest.raises(PlanInvariantError, match="parcel that does not exist"):
        validate_plan(broken(sound, units=units))


@pytest.mark.parametrize("values,pool", [
    (["a", "b", None], ["b", "c"]),
    (pd.array(["a", None, "c"], dtype="string[pyarrow]"), ["c"]),
    ([1, 2, float("nan")], [2.0, float("nan")]),
    ([1, 2], ["1", "2"]),
    (["x", "y"], [1, 2]),
])
def test_is_in_is_pandas_isin(values, pool):
    v, p = pd.Series(values), pd.Series(pool)
    assert is_in(v, p).tolist() == v.isin(p).tolist()
