"""Chinese datums: GCJ-02 and BD-09 coordinates to and from WGS84.

GCJ-02: shift WGS84 coordinates onto Chinese web maps (Amap/Gaode, Tencent) and back.

Chinese web base maps are drawn in GCJ-02, the WGS84 coordinates offset by a published
obfuscation formula (a few hundred metres in cities). Overlays in WGS84 drawn on such a
base map must be shifted the same way or they sit beside their streets. The forward
formula is the widely reimplemented one (e.g. the ``eviltransform`` and ``coordtransform``
projects); the inverse is found by fixed-point iteration. Outside mainland China (the usual
rough bounding box) coordinates are left unchanged, as the base maps do.
``maps/editor/gcj02.js`` is the same code for the browser; a test checks they agree.

BD-09 (Baidu) is GCJ-02 moved once more by a closed-form polar offset; its inverse is the
well-known closed form, exact to about 1e-6 degrees, refined here by fixed-point iteration.

Input layers in GCJ-02 or BD-09 (``--datum``) are converted to WGS84 on read
(:func:`to_wgs84`). ``gridplan.maps.gcj02`` re-exports the GCJ-02 functions for the maps.
"""

from __future__ import annotations

import numpy as np
import shapely

from gridplan.errors import InputError

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


X_PI = np.pi * 3000.0 / 180.0  # Baidu's constant for BD-09

DATUMS = {"wgs84": "WGS84 (GPS, OpenStreetMap, Tianditu 天地图)",
          "gcj02": "GCJ-02 (Amap/Gaode 高德, Tencent 腾讯, Apple in China)",
          "bd09": "BD-09 (Baidu 百度)"}


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 coordinates of GCJ-02 ``lon, lat`` (Baidu's closed form).

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09(116.404, 39.915)
    >>> round(float(lon), 4), round(float(lat), 4)
    (116.4104, 39.9213)
    """
    x, y = np.asarray(lon, float), np.asarray(lat, float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat, tol: float = 1e-10, max_iter: int = 10
                  ) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 coordinates of BD-09 ``lon, lat``: the closed form, refined to ``tol`` degrees.

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02(*gcj02_to_bd09(116.404, 39.915))
    >>> round(float(lon), 9), round(float(lat), 9)
    (116.404, 39.915)
    """
    blon, blat = np.asarray(lon, float), np.asarray(lat, float)
    x, y = blon - 0.0065, blat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * X_PI)
    glon, glat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(max_iter):
        flon, flat = gcj02_to_bd09(glon, glat)
        ex, ey = flon - blon, flat - blat
        glon, glat = glon - ex, glat - ey
        if np.all(np.abs(ex) < tol) and np.all(np.abs(ey) < tol):
            break
    return glon, glat


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 coordinates of WGS84 ``lon, lat`` (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 coordinates of BD-09 ``lon, lat`` (through GCJ-02).

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(*wgs84_to_bd09(116.397, 39.908))
    >>> round(float(lon), 8), round(float(lat), 8)
    (116.397, 39.908)
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


# other names planners use for the datums: the maps they come from
ALIASES = {"wgs": "wgs84", "gps": "wgs84", "epsg4326": "wgs84", "osm": "wgs84",
           "tianditu": "wgs84", "天地图": "wgs84", "gcj": "gcj02", "amap": "gcj02",
           "gaode": "gcj02", "高德": "gcj02", "tencent": "gcj02", "腾讯": "gcj02",
           "火星坐标": "gcj02", "bd": "bd09", "baidu": "bd09", "百度": "bd09"}

_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS84 = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def check_datum(datum: str | None, *, source: str | None = None,
                option: str = "--datum") -> str:
    """The datum's key (``wgs84``, ``gcj02``, ``bd09``); anything else is an InputError.

    Examples
    --------
    >>> check_datum("GCJ-02"), check_datum(None), check_datum("Baidu"), check_datum("高德")
    ('gcj02', 'wgs84', 'bd09', 'gcj02')
    >>> check_datum("mars")
    Traceback (most recent call last):
    ...
    gridplan.errors.InputError: field --datum: unknown datum 'mars'. Fix: pass --datum wgs84 \
(WGS84 (GPS, OpenStreetMap, Tianditu 天地图)), gcj02 (GCJ-02 (Amap/Gaode 高德, Tencent 腾讯, \
Apple in China)) or bd09 (BD-09 (Baidu 百度))
    """
    if datum is None:
        return "wgs84"
    key = str(datum).strip().lower().replace("-", "").replace("_", "")
    key = ALIASES.get(key, key)
    if key not in DATUMS:
        choices = [f"{k} ({v})" for k, v in DATUMS.items()]
        raise InputError(f"unknown datum {datum!r}", source=source, field=option,
                         fix=f"pass {option} " + ", ".join(choices[:-1]) + f" or {choices[-1]}")
    return key


def datum_for(datum: str | None, kind: str, *, source: str | None = None,
              kinds: tuple[str, ...] | None = None) -> str:
    """The datum of layer ``kind`` in a ``--datum`` value: one datum for every layer, or
    ``kind=datum`` pairs separated by commas (layers not named are WGS84).

    Examples
    --------
    >>> datum_for("gcj02", "communities")
    'gcj02'
    >>> datum_for("population=gcj02", "population"), datum_for("population=bd09", "barriers")
    ('gcj02', 'wgs84')
    >>> datum_for("roads=gcj02", "population", kinds=("communities", "population"))
    Traceback (most recent call last):
    ...
    gridplan.errors.InputError: field --datum: unknown layer 'roads' in --datum \
'roads=gcj02'. Fix: name layers among communities, population, e.g. --datum \
population=gcj02, or give one datum for all layers
    """
    text = str(datum or "wgs84")
    if "=" not in text:
        return check_datum(text, source=source)
    found = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = pair.partition("=")
        name = name.strip().lower()
        if kinds is not None and name not in kinds:
            raise InputError(f"unknown layer {name!r} in --datum {text!r}", source=source,
                             field="--datum",
                             fix=f"name layers among {', '.join(kinds)}, e.g. --datum "
                                 "population=gcj02, or give one datum for all layers")
        found[name] = check_datum(value, source=source)
    return found.get(kind, "wgs84")


def transform_geometries(geoms, fn) -> np.ndarray:
    """Shapely geometries (lon/lat) with every vertex moved by ``fn(lon, lat)``."""
    def move(xy: np.ndarray) -> np.ndarray:
        x, y = fn(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), move)


def to_wgs84(geoms, datum: str) -> np.ndarray:
    """Lon/lat geometries in ``datum`` (``gcj02``, ``bd09``, ``wgs84``) moved to WGS84.

    Examples
    --------
    >>> g = to_wgs84(shift_geometries([shapely.Point(116.397, 39.908)]), "gcj02")[0]
    >>> round(g.x, 8), round(g.y, 8)
    (116.397, 39.908)
    """
    datum = check_datum(datum)
    if datum == "wgs84":
        return np.asarray(geoms, dtype=object)
    return transform_geometries(geoms, _TO_WGS84[datum])


def from_wgs84(geoms, datum: str) -> np.ndarray:
    """WGS84 lon/lat geometries moved to ``datum`` (the inverse of :func:`to_wgs84`)."""
    datum = check_datum(datum)
    if datum == "wgs84":
        return np.asarray(geoms, dtype=object)
    return transform_geometries(geoms, _FROM_WGS84[datum])


__all__ = ["DATUMS", "bd09_to_gcj02", "bd09_to_wgs84", "check_datum", "datum_for", "from_wgs84",
           "gcj02_to_bd09", "gcj02_to_wgs84", "out_of_china", "shift_geometries",
           "to_wgs84", "transform_geometries", "wgs84_to_bd09", "wgs84_to_gcj02"]
