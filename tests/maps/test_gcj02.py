"""GCJ-02 shift: properties of the forward formula and its iterative inverse."""

from __future__ import annotations

import numpy as np
import shapely
from gridplan.maps.gcj02 import gcj02_to_wgs84, out_of_china, shift_geometries, wgs84_to_gcj02
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

GEOD = Geod(ellps="WGS84")
CHINA_LON = st.floats(min_value=74.0, max_value=134.0)
CHINA_LAT = st.floats(min_value=18.0, max_value=53.0)


def shift_m(lon: float, lat: float) -> float:
    glon, glat = wgs84_to_gcj02(lon, lat)
    return GEOD.inv(lon, lat, float(glon), float(glat))[2]


@settings(max_examples=300, deadline=None)
@given(CHINA_LON, CHINA_LAT)
def test_inverse_round_trip_within_1e_6_degree(lon, lat):
    glon, glat = wgs84_to_gcj02(lon, lat)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert abs(float(wlon) - lon) < 1e-6 and abs(float(wlat) - lat) < 1e-6


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=-180, max_value=180), st.floats(min_value=-85, max_value=85))
def test_outside_china_unchanged(lon, lat):
    if not out_of_china(lon, lat):
        return
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)


def test_known_places_outside_china():
    assert out_of_china(24.94, 60.17)  # Helsinki
    assert out_of_china(-71.41, 41.82)  # Providence
    assert not out_of_china(116.39, 39.91)  # Beijing
    assert not out_of_china(121.47, 31.23)  # Shanghai


def test_beijing_shift_is_a_few_hundred_metres_to_the_east_and_north():
    for lon in np.linspace(116.1, 116.7, 7):
        for lat in np.linspace(39.7, 40.1, 5):
            d = shift_m(lon, lat)
            assert 100 < d < 700, (lon, lat, d)
            glon, glat = wgs84_to_gcj02(lon, lat)
            assert glon > lon and glat > lat


def test_arrays_and_geometries_shift_like_points():
    lon, lat = np.array([116.30, 121.47, 24.94]), np.array([39.99, 31.23, 60.17])
    glon, glat = wgs84_to_gcj02(lon, lat)
    for i in range(3):
        assert (float(glon[i]), float(glat[i])) == tuple(map(float, wgs84_to_gcj02(lon[i],
                                                                                   lat[i])))
    poly = shapely.box(116.30, 39.99, 116.31, 40.00)
    moved = shift_geometries([poly])[0]
    back = shift_geometries([moved], inverse=True)[0]
    assert moved.is_valid and not moved.equals(poly)
    assert shapely.hausdorff_distance(back, poly) < 1e-7
