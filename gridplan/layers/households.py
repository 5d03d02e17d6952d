"""Estimate households per building from OSM footprints, building types and levels.

A residential building holds ``footprint area × levels ÷ dwelling_area`` households
(rounded half up); every other building holds none. Levels come from the
``levels`` column when it parses (see :func:`parse_levels`), else from a default
per building type (:data:`RESIDENTIAL_LEVELS`).
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from gridplan.errors import InputError

logger = logging.getLogger(__name__)

DEFAULT_DWELLING_AREA = 90.0
"""Gross floor area per dwelling in m² (floor area incl. walls, stairs and corridors)."""

RESIDENTIAL_LEVELS: dict[str, int] = {
    "apartments": 6,
    "residential": 6,
    "dormitory": 5,
    "house": 2,
    "detached": 2,
    "semidetached_house": 2,
    "terrace": 3,
    "bungalow": 1,
    "yes": 6,
}
"""Default levels per residential OSM ``building`` value.

``yes`` counts as residential only inside a ``residential_areas`` polygon
(``landuse=residential``); every value not listed here is non-residential.
"""

GENERIC_BUILDING = "yes"
MAX_LEVELS = 200.0  # anything taller is a tagging error


def parse_levels(value: object) -> float | None:
    """Parse an OSM ``building:levels`` value into a positive number of levels.

    Several values separated by ``;`` (a building with parts of different
    heights) give their mean. Missing, non-positive, absurd (> 200) or
    unparsable values give ``None`` so that the caller falls back to a default.

    Parameters
    ----------
    value : object
        A number, an OSM tag string, ``None`` or NaN.

    Returns
    -------
    float or None
        The number of levels, or ``None`` when unknown.

    Examples
    --------
    >>> parse_levels("6")
    6.0
    >>> parse_levels("6;7")
    6.5
    >>> parse_levels(" 5.5 ")
    5.5
    >>> parse_levels("abc") is None
    True
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return _valid_levels(float(value))
    if not isinstance(value, str):
        return None
    parts = [_valid_levels(_to_float(part)) for part in value.split(";")]
    found = [p for p in parts if p is not None]
    return sum(found) / len(found) if found else None


def _to_float(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _valid_levels(levels: float | None) -> float | None:
    if levels is None or not math.isfinite(levels) or not 0 < levels <= MAX_LEVELS:
        return None
    return levels


def estimate_households(
    buildings: gpd.GeoDataFrame,
    *,
    residential_areas: gpd.GeoSeries | None = None,
    dwelling_area: float = DEFAULT_DWELLING_AREA,
    levels_defaults: Mapping[str, int] | None = None,
) -> pd.Series:
    """Estimate the households living in each building.

    Households are ``round(area_m2 * levels / dwelling_area)`` (half up) for
    residential buildings and 0 for all others. Residential means a ``building``
    value among the keys of the level defaults, except ``yes``, which counts only
    when the building's representative point lies inside ``residential_areas``.
    Buildings without area (points, lines, empty geometries) hold 1 household
    when residential.

    Parameters
    ----------
    buildings : GeoDataFrame
        Column ``building`` (OSM value) and optionally ``levels`` (number or OSM
        string such as ``"6"``, ``"6;7"``). Geographic frames are projected to
        their UTM zone to measure areas; projected frames must use metres.
    residential_areas : GeoSeries, optional
        ``landuse=residential`` polygons; needed for ``building=yes`` to count.
        Without a CRS they are taken to share the CRS of ``buildings``.
    dwelling_area : float
        Gross floor area per dwelling in m² (default 90).
    levels_defaults : mapping of str to int, optional
        Default levels per building value, merged over
        :data:`RESIDENTIAL_LEVELS`; a new key makes that value residential.

    Returns
    -------
    pandas.Series
        ``int64`` households named ``households``, aligned to ``buildings.index``.

    Raises
    ------
    InputError
        If ``building`` is missing, ``dwelling_area`` is not positive or the frame
        has no CRS.

    Examples
    --------
    >>> from shapely import box
    >>> b = gpd.GeoDataFrame({"building": ["apartments", "school"], "levels": ["6", None]},
    ...                      geometry=[box(0, 0, 20, 45), box(50, 0, 90, 40)], crs=32650)
    >>> estimate_households(b).tolist()
    [60, 0]
    """
    _check_inputs(buildings, dwelling_area)
    if buildings.empty:
        return pd.Series([], index=buildings.index, dtype="int64", name="households")
    defaults = {**RESIDENTIAL_LEVELS, **(levels_defaults or {})}
    metric = _to_metric(buildings)
    types = _building_types(metric)
    residential = _residential_mask(metric, types, defaults, residential_areas)
    levels = _levels(metric, types, defaults)
    area = metric.geometry.area.fillna(0.0).to_numpy()
    floors = np.floor(area * levels / dwelling_area + 0.5)
    has_area = area > 0
    counts = np.where(has_area, floors, 1.0)
    counts = np.where(residential, counts, 0.0)
    result = pd.Series(counts.astype("int64"), index=buildings.index, name="households")
    logger.debug("%d of %d buildings residential, %d households", int(residential.sum()),
                 len(buildings), int(result.sum()))
    return result


def _check_inputs(buildings: gpd.GeoDataFrame, dwelling_area: float) -> None:
    if "building" not in buildings.columns:
        raise InputError("buildings have no 'building' column", field="building",
                         fix="add the OSM building type (e.g. apartments, yes) per building")
    if not dwelling_area > 0:
        raise InputError(f"dwelling area must be positive, got {dwelling_area}",
                         field="dwelling_area", fix="pass floor area per dwelling in m², e.g. 90")
    if buildings.crs is None and not buildings.empty:
        raise InputError("buildings have no CRS, so areas cannot be measured",
                         fix="set the CRS of the building layer (e.g. EPSG:4326)")


def _to_metric(buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if not buildings.crs.is_geographic:
        return buildings
    return buildings.to_crs(buildings.estimate_utm_crs())


def _building_types(buildings: gpd.GeoDataFrame) -> pd.Series:
    values = buildings["building"].astype(object)
    return values.where(values.notna(), "").astype(str).str.strip().str.lower()


def _residential_mask(
    buildings: gpd.GeoDataFrame,
    types: pd.Series,
    defaults: Mapping[str, int],
    residential_areas: gpd.GeoSeries | None,
) -> np.ndarray:
    named = types.isin([t for t in defaults if t != GENERIC_BUILDING]).to_numpy()
    generic = (types == GENERIC_BUILDING).to_numpy() & (GENERIC_BUILDING in defaults)
    if not generic.any() or residential_areas is None or len(residential_areas) == 0:
        return named
    inside = _inside(buildings[generic], residential_areas, buildings.crs)
    generic[generic] = inside
    return named | generic


def _inside(buildings: gpd.GeoDataFrame, areas: gpd.GeoSeries, crs: object) -> np.ndarray:
    areas = gpd.GeoSeries(areas).dropna()
    areas = areas.set_crs(crs) if areas.crs is None else areas.to_crs(crs)
    areas = areas[~areas.is_empty & areas.geom_type.isin(["Polygon", "MultiPolygon"])]
    points = buildings.geometry.representative_point()
    hits = areas.sindex.query(points, predicate="within")[0]
    mask = np.zeros(len(buildings), dtype=bool)
    mask[hits] = True
    return mask


def _levels(buildings: gpd.GeoDataFrame, types: pd.Series,
            defaults: Mapping[str, int]) -> np.ndarray:
    fallback = types.map(defaults).astype(float).fillna(1.0)
    if "levels" not in buildings.columns:
        return fallback.to_numpy()
    parsed = buildings["levels"].astype(object).map(_parse_or_nan).astype(float)
    return parsed.fillna(fallback).to_numpy()


def _parse_or_nan(value: object) -> float:
    levels = parse_levels(value)
    return np.nan if levels is None else levels


SITE_BUILDINGS = frozenset({"dormitory", "宿舍"})
"""``building`` values of dwellings that belong to an institution (a dormitory stays
with its campus, hospital or factory, not with the community's comprehensive grids)."""

RESIDENT_BUILDINGS = frozenset(
    (set(RESIDENTIAL_LEVELS) - SITE_BUILDINGS) | {"住宅", "住宅楼", "居民楼"})
"""``building`` values of homes: residents in them are the community's, wherever they lie."""


def resident_units(units: pd.DataFrame) -> np.ndarray:
    """Which units are homes of residents (not of an institution).

    A unit is a home when it holds households and its ``building`` type, if the layer
    has one, is a residential value (:data:`RESIDENT_BUILDINGS`: ``apartments``,
    ``residential``, ``house``, ``detached``..., ``yes``, or 住宅). Dormitories
    (:data:`SITE_BUILDINGS`) and every other type (``university``, ``school``,
    ``hospital``...) are not, whatever households they hold. A unit without a type
    (a buildings layer with a households field and no ``building`` column, a point, an
    empty value) is a home when it holds households.

    Parameters
    ----------
    units : DataFrame
        ``households`` and, optionally, ``building`` (OSM values, case-insensitive).

    Returns
    -------
    ndarray of bool
        One flag per unit, in order.

    Examples
    --------
    >>> u = pd.DataFrame({"households": [60, 40, 12, 0, 30, 8],
    ...                   "building": ["apartments", "dormitory", "university", "house", "", None]})
    >>> resident_units(u).tolist()
    [True, False, False, False, True, True]
    >>> resident_units(pd.DataFrame({"households": [5, 0]})).tolist()
    [True, False]
    """
    homes = units["households"].to_numpy(float) > 0
    if "building" not in units.columns:
        return homes
    types = _building_types(units)
    return homes & (types.isin(RESIDENT_BUILDINGS) | (types == "")).to_numpy()
