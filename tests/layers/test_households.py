"""Tests of gridplan.layers.households: levels parsing and household estimates on exact fixtures."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from shapely import Point, box

from gridplan.errors import InputError
from gridplan.layers.households import (
    DEFAULT_DWELLING_AREA,
    RESIDENTIAL_LEVELS,
    estimate_households,
    parse_levels,
)

UTM50 = "EPSG:32650"  # metric CRS around Beijing
ORIGIN = (440_000.0, 4_428_000.0)


def footprint(dx: float = 0.0, dy: float = 0.0, width: float = 20.0, depth: float = 45.0):
    """A width × depth m rectangle (900 m² by default) offset from ORIGIN."""
    x, y = ORIGIN[0] + dx, ORIGIN[1] + dy
    return box(x, y, x + width, y + depth)


def frame(rows: list[dict], crs: str = UTM50, index=None) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs, index=index)


RESIDENTIAL_AREA = gpd.GeoSeries([box(ORIGIN[0] - 10, ORIGIN[1] - 10, ORIGIN[0] + 100,
                                      ORIGIN[1] + 100)], crs=UTM50)


@pytest.mark.parametrize(("value", "expected"), [
    ("6", 6.0), (" 5.5 ", 5.5), ("6;7", 6.5), ("6; x", 6.0), (7, 7.0), (np.int64(3), 3.0),
    (2.5, 2.5), ("abc", None), ("", None), (None, None), (float("nan"), None), ("0", None),
    (-2, None), ("1000", None), (True, None), ([6], None),
])
def test_parse_levels(value, expected):
    assert parse_levels(value) == expected


def test_apartment_levels_six_gives_sixty():
    b = frame([{"building": "apartments", "levels": 6, "geometry": footprint()}])
    assert footprint().area == 900.0
    assert estimate_households(b).tolist() == [round(900 * 6 / 90)] == [60]


def test_non_residential_types_hold_no_households():
    types = ["school", "university", "commercial", "retail", "office", "industrial",
             "hospital", "garage", None]
    b = frame([{"building": t, "levels": 10, "geometry": footprint(dx=30 * i)}
               for i, t in enumerate(types)])
    assert estimate_households(b).tolist() == [0] * len(types)


def test_building_yes_counts_only_inside_residential_areas():
    b = frame([{"building": "yes", "geometry": footprint()},
               {"building": "yes", "geometry": footprint(dx=500)}])
    inside_outside = estimate_households(b, residential_areas=RESIDENTIAL_AREA)
    assert inside_outside.tolist() == [60, 0]  # default 6 levels for yes
    assert estimate_households(b).tolist() == [0, 0]


def test_residential_areas_in_other_crs_are_reprojected():
    b = frame([{"building": "yes", "geometry": footprint()}])
    areas = RESIDENTIAL_AREA.to_crs("EPSG:4326")
    assert estimate_households(b, residential_areas=areas).tolist() == [60]


@pytest.mark.parametrize(("levels", "expected"), [
    ("6;7", 65), ("abc", 60), ("5.5", 55), (None, 60), (float("nan"), 60), ("3", 30),
])
def test_levels_strings_and_defaults(levels, expected):
    b = frame([{"building": "residential", "levels": levels, "geometry": footprint()}])
    assert estimate_households(b).tolist() == [expected]


def test_type_defaults_without_levels_column():
    types = list(RESIDENTIAL_LEVELS)
    b = frame([{"building": t, "geometry": footprint(dx=30 * i)} for i, t in enumerate(types)])
    result = estimate_households(b, residential_areas=RESIDENTIAL_AREA.buffer(1000))
    expected = [round(900 * RESIDENTIAL_LEVELS[t] / DEFAULT_DWELLING_AREA) for t in types]
    assert result.tolist() == expected


def test_points_hold_one_household_if_residential():
    x, y = ORIGIN
    b = frame([{"building": "house", "geometry": Point(x, y)},
               {"building": "school", "geometry": Point(x + 1, y)},
               {"building": "yes", "geometry": Point(x + 2, y)},
               {"building": "yes", "geometry": Point(x + 900, y)}])
    assert estimate_households(b, residential_areas=RESIDENTIAL_AREA).tolist() == [1, 0, 1, 0]


def test_geographic_frames_are_measured_in_metres():
    b = frame([{"building": "apartments", "levels": "6", "geometry": footprint()}])
    assert estimate_households(b.to_crs("EPSG:4326")).tolist() == [60]


def test_result_is_int64_aligned_to_index():
    b = frame([{"building": "apartments", "geometry": footprint()},
               {"building": "office", "geometry": footprint(dx=50)}], index=["b", "a"])
    result = estimate_households(b)
    assert result.dtype == np.int64
    assert list(result.index) == ["b", "a"]
    assert result.to_dict() == {"b": 60, "a": 0}


def test_dwelling_area_and_level_overrides():
    b = frame([{"building": "apartments", "geometry": footprint()},
               {"building": "hotel", "geometry": footprint(dx=50)}])
    assert estimate_households(b, dwelling_area=45).tolist() == [120, 0]
    overrides = {"apartments": 10, "hotel": 4}
    assert estimate_households(b, levels_defaults=overrides).tolist() == [100, 40]


def test_rounding_is_half_up():
    b = frame([{"building": "house", "levels": 1, "geometry": footprint(width=9, depth=25)}])
    assert math.isclose(9 * 25 / 90, 2.5)
    assert estimate_households(b).tolist() == [3]


def test_empty_frame():
    b = gpd.GeoDataFrame({"building": []}, geometry=gpd.GeoSeries([], crs=UTM50))
    result = estimate_households(b)
    assert result.empty and result.dtype == np.int64


@pytest.mark.parametrize(("make", "kwargs", "field"), [
    (lambda: frame([{"kind": "apartments", "geometry": footprint()}]), {}, "building"),
    (lambda: frame([{"building": "apartments", "geometry": footprint()}]),
     {"dwelling_area": 0}, "dwelling_area"),
    (lambda: frame([{"building": "apartments", "geometry": footprint()}], crs=None), {}, None),
])
def test_bad_inputs_raise_input_error(make, kwargs, field):
    with pytest.raises(InputError) as info:
        estimate_households(make(), **kwargs)
    assert info.value.field == field
    assert info.value.fix
