"""Units: buildings, points or blocks with households, placed in communities, compounds, blocks."""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.affinity import rotate

from gridplan.errors import InputError
from gridplan.layers.datum import from_wgs84, to_wgs84
from gridplan.layers.vector import InputNotes, source_of

log = logging.getLogger(__name__)







def representative_points(geoms: gpd.GeoSeries) -> np.ndarray:
    """One point inside every geometry (the point itself for points)."""
    return shapely.point_on_surface(geoms.values)


def assign_communities(units: gpd.GeoDataFrame, communities: gpd.GeoDataFrame,
                       notes: InputNotes) -> gpd.GeoDataFrame:
    """Place each unit in the community containing its representative point.

    A point on a shared boundary goes to the first community listed. Units outside
    every community are dropped from planning and reported in ``notes``.
    """
    units = units.copy()
    units["community_id"] = tag_by_polygons(units, communities, "community_id", "community_id")
    outside = units["community_id"].isna()
    if outside.any():
        notes.units_outside = units.loc[outside, "unit_id"].astype(str).tolist()
        notes.households_outside = int(units.loc[outside, "households"].sum())
        notes.warn(f"{int(outside.sum())} unit(s) with {notes.households_outside} households "
                   "lie outside every community and are left out of the plan"
                   + datum_hint(units, communities, int(outside.sum()), notes))
        units = units.loc[~outside].copy()
    if len(units) == 0:
        raise InputError("no unit lies inside any community",
                         source=source_of(communities, "communities"),
                         fix="check that both layers cover the same area and use correct CRS")
    return units


DATUM_HINT_SHARE = 0.1  # units outside, as a share of all, from which a datum shift is tried


def datum_hint(units: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, n_outside: int,
               notes: InputNotes) -> str:
    """Why so many units lie outside: one layer looks GCJ-02 or BD-09 (else "").

    Tried when every layer was read as WGS84 and at least a tenth of the units fall
    outside every community: if reading the population (or the communities) in a
    Chinese datum would bring at least half of those inside, the hint names the datum
    and the fix.
    """
    if (n_outside < DATUM_HINT_SHARE * len(units) or units.crs is None
            or any(d != "wgs84" for d in notes.datum.values())):
        return ""
    inside_now = len(units) - n_outside
    lonlat = gpd.GeoSeries(representative_points(units.geometry), crs=units.crs).to_crs(4326)
    for datum, name in (("gcj02", "GCJ-02 (Amap/Gaode, Tencent)"), ("bd09", "BD-09 (Baidu)")):
        # population in the datum: move it to WGS84; communities in it: move units into it
        for layer, move in (("population", to_wgs84), ("communities", from_wgs84)):
            moved = gpd.GeoDataFrame(geometry=move(lonlat.values, datum), crs=4326,
                                     index=units.index).to_crs(units.crs)
            inside = int(tag_by_polygons(moved, communities, "community_id", "c").notna().sum())
            if inside - inside_now >= 0.5 * n_outside:
                return (f"; with the {layer} layer read as {name} coordinates, {inside} of "
                        f"{len(units)} units would lie inside (now {inside_now}). Fix: pass "
                        f"--datum {layer}={datum} (every layer from that map: --datum {datum}; "
                        f"API: datum={datum} on the {layer} upload)")
    return ""


def tag_by_polygons(units: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame | None,
                    id_column: str, column: str) -> pd.Series:
    """Id of the polygon containing each unit's representative point (or None)."""
    if polygons is None or len(polygons) == 0:
        return pd.Series([None] * len(units), index=units.index, dtype=object)
    pts = gpd.GeoDataFrame(geometry=representative_points(units.geometry), crs=units.crs,
                           index=units.index)
    joined = gpd.sjoin(pts, polygons[[id_column, "geometry"]], how="left",
                       predicate="intersects")
    joined = joined.sort_values("index_right", kind="stable")
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined[id_column].reindex(units.index).rename(column)


def split_large_buildings(units: gpd.GeoDataFrame, upper: float,
                          stairwell_households: int,
                          communities: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Split each unit above ``upper`` households into virtual stairwell (单元) sub-units.

    A building of ``h`` households becomes ``ceil(h / stairwell_households)`` sub-units
    with ids ``<unit_id>#1``, ``#2``... whose footprints are equal strips along the
    building's long axis and whose households add up to ``h``. A point building
    becomes a short row of points 0.3 m apart, laid towards the inside of its
    community (given ``communities``), so none falls outside it.
    """
    big = units["households"] > upper
    if not big.any():
        return units
    inner = ({} if communities is None else
             dict(zip(communities["community_id"],
                      shapely.point_on_surface(communities.geometry.values), strict=True)))
    rows = []
    for _, row in units.loc[big].iterrows():
        n = math.ceil(row["households"] / stairwell_households)
        shares = _even_split(int(row["households"]), n)
        pieces = _strips(row.geometry, n, inner.get(row.get("community_id")))
        for i, (hh, geom) in enumerate(zip(shares, pieces, strict=True), start=1):
            sub = row.copy()
            sub["unit_id"] = f"{row['unit_id']}#{i}"
            sub["households"] = hh
            sub["population"] = row["population"] * hh / max(row["households"], 1)
            sub["geometry"] = geom
            rows.append(sub)
        log.info("building %s (%d households) split into %d stairwell sub-units",
                 row["unit_id"], row["households"], n)
    subs = gpd.GeoDataFrame(rows, geometry="geometry", crs=units.crs)
    return pd.concat([units.loc[~big], subs]).reset_index(drop=True)


def _even_split(total: int, n: int) -> list[int]:
    """Split an integer into ``n`` integers differing by at most one."""
    base, extra = divmod(total, n)
    return [base + (1 if i < extra else 0) for i in range(n)]


def _strips(geom, n: int, towards=None) -> list:
    """Cut a footprint into ``n`` strips across its long axis (points: a short row)."""
    if geom.geom_type == "Point" or geom.area == 0:
        c = np.array(shapely.get_coordinates(geom.centroid)[0])
        step = np.array([0.3, 0.0])
        if towards is not None:
            d = shapely.get_coordinates(towards)[0] - c
            if np.hypot(*d) > 0:
                step = 0.3 * d / np.hypot(*d)
        return [shapely.Point(*(c + i * step)) for i in range(n)]
    rect = geom.minimum_rotated_rectangle
    coords = np.asarray(rect.exterior.coords)[:4]
    edges = np.diff(np.vstack([coords, coords[:1]]), axis=0)
    long_edge = edges[np.argmax(np.hypot(edges[:, 0], edges[:, 1]))]
    angle = math.degrees(math.atan2(long_edge[1], long_edge[0]))
    origin = geom.centroid
    flat = rotate(geom, -angle, origin=origin)
    minx, miny, maxx, maxy = flat.bounds
    xs = np.linspace(minx, maxx, n + 1)
    out = []
    for a, b in zip(xs[:-1], xs[1:], strict=True):
        piece = flat.intersection(shapely.box(a, miny - 1, b, maxy + 1))
        piece = rotate(piece, angle, origin=origin)
        out.append(piece if not piece.is_empty else shapely.Point(origin.x, origin.y))
    return out
