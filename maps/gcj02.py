"""GCJ-02: shift WGS84 coordinates onto Chinese web maps (Amap/Gaode, Tencent) and back.

Chinese web base maps are drawn in GCJ-02, the WGS84 coordinates offset by a published
obfuscation formula (a few hundred metres in cities). Overlays in WGS84 drawn on such a
base map must be shifted the same way or they sit beside their streets. The forward
formula is the widely reimplemented one (e.g. the ``eviltransform`` and ``coordtransform``
projects); the inverse is found by fixed-point iteration. Outside mainland China (the usual
rough bounding box) coordinates are left unchanged, as the base maps do.
``maps/editor/gcj02.js`` is the same code for the browser; a test checks they agree.
"""

from __future__ import annotations

import numpy as np
import shapely

A = 6378245.0  # semi-major axis of Krasovsky 1940, used by the formula
EE = 0.00669342162296594323  # its first eccentricity squared
CHINA = (72.004, 0.8293, 137.8347, 55.8271)  # lon/lat box outside which nothing is shifted


def out_of_china(lon, lat) -> np.ndarray:
    """True where a WGS84 point lies outside the box in which GCJ-02 applies.

    Examples
    --------
    >>> bool(out_of_china(24.94, 60.17))  # Helsinki
    True
    """
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    return (lon < CHINA[0]) | (lon > CHINA[2]) | (lat < CHINA[1]) | (lat > CHINA[3])


def _dlat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    r += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return r


def _dlon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    r += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return r


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS84, in degrees, at WGS84 ``lon, lat`` (zero outside China)."""
    dlat = _dlat(lon - 105.0, lat - 35.0)
    dlon = _dlon(lon - 105.0, lat - 35.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - EE * np.sin(rad) ** 2
    sq = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sq) * np.pi)
    dlon = (dlon * 180.0) / (A / sq * np.cos(rad) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 coordinates of WGS84 ``lon, lat`` (scalars or arrays, degrees).

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(116.397, 39.908)  # Tian'anmen
    >>> 0.005 < float(lon) - 116.397 < 0.008
    True
    """
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    dlon, dlat = _offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat, tol: float = 1e-9, max_iter: int = 30
                   ) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 coordinates of GCJ-02 ``lon, lat``, by fixed-point iteration to ``tol`` degrees.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(*wgs84_to_gcj02(116.397, 39.908))
    >>> round(float(lon), 9), round(float(lat), 9)
    (116.397, 39.908)
    """
    glon, glat = np.asarray(lon, float), np.asarray(lat, float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        ex, ey = flon - glon, flat - glat
        wlon, wlat = wlon - ex, wlat - ey
        if np.all(np.abs(ex) < tol) and np.all(np.abs(ey) < tol):
            break
    return wlon, wlat


def shift_geometries(geoms, inverse: bool = False) -> np.ndarray:
    """Shapely geometries (lon/lat) moved from WGS84 to GCJ-02 (or back with ``inverse``).

    Examples
    --------
    >>> g = shift_geometries([shapely.Point(116.397, 39.908)])[0]
    >>> g.x > 116.397
    True
    """
    fn = gcj02_to_wgs84 if inverse else wgs84_to_gcj02

    def move(xy: np.ndarray) -> np.ndarray:
        x, y = fn(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), move)


__all__ = ["gcj02_to_wgs84", "out_of_china", "shift_geometries", "wgs84_to_gcj02"]
