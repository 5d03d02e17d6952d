"""Map layers: service points, walking-distance bands, uncovered households and light geometry."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from gridplan.maps.gcj02 import shift_geometries
from scipy.spatial.distance import cdist

from gridplan.errors import InputError
from gridplan.export.folder import to_rfc7946

log = logging.getLogger(__name__)

DEFAULT_BANDS = (500.0, 1000.0, 1500.0)  # walking metres from the service point
DETOUR = 1.3  # walking distance ÷ straight-line distance, as in gridplan.workforce.workload
EDGE_REACH = 60.0  # metres either side of a reached street that a band covers
UNASSIGNED = "(unassigned)"
MEDOID_CANDIDATES = 300  # units tried as the most central one of a community
MEDOID_BLOCK = 2_000_000  # distances computed at once when looking for it (16 MB)


@dataclass
class Bands:
    """Walking bands around the service points and each unit's walking distance."""

    polygons: gpd.GeoDataFrame  # community_id, band_m, geometry (rings, plan CRS)
    unit_walk_m: pd.Series  # per unit row of the plan: walking metres to its service point
    method: str  # "network" or "straight"


def service_points(plan, centres: gpd.GeoDataFrame | None = None, *,
                   unit_xy: np.ndarray | None = None) -> gpd.GeoDataFrame:
    """One service point per community: from ``centres`` where given, else its most central unit.

    The most central unit minimises the household-weighted straight-line distance to the
    community's other units. ``centres`` needs point geometries; its ``community_id``
    column is used when present, else each point goes to the community containing it.
    ``unit_xy`` gives the units' points on surface when already computed.

    Examples
    --------
    >>> pts = service_points(plan)  # doctest: +SKIP
    >>> set(pts["source"])  # doctest: +SKIP
    {'central_unit'}
    """
    rows = {}
    given = _given_centres(plan, centres) if centres is not None else {}
    groups = _community_rows(plan.units)
    xy = _unit_points(plan.units) if unit_xy is None else unit_xy
    hh = plan.units["households"].to_numpy(float)
    for cid, idx in groups.items():
        if cid in given:
            rows[cid] = (given[cid], "file")
        else:
            rows[cid] = (_central_unit(xy[idx], hh[idx]), "central_unit")
    return gpd.GeoDataFrame({"community_id": list(rows), "source": [s for _, s in rows.values()]},
                            geometry=[p for p, _ in rows.values()], crs=plan.crs)


def _community_rows(units: pd.DataFrame) -> dict:
    """Row positions of each community's units, communities sorted, found in one pass."""
    return dict(sorted(units.groupby("community_id", sort=False).indices.items()))


def _unit_points(units: gpd.GeoDataFrame) -> np.ndarray:
    """One point on each unit (``point_on_surface``), as an (n, 2) array."""
    return shapely.get_coordinates(shapely.point_on_surface(units.geometry.values))


def _given_centres(plan, centres: gpd.GeoDataFrame) -> dict[str, shapely.Point]:
    if centres.crs is None:
        raise InputError("the service centres declare no CRS", field="--centres",
                         fix="save them with a CRS (e.g. EPSG:4326 GeoJSON)")
    pts = centres.to_crs(plan.crs)
    if not (pts.geom_type == "Point").all():
        raise InputError("service centres must be points", field="--centres",
                         fix="give one point per community")
    if "community_id" not in pts.columns:
        joined = gpd.sjoin(pts[["geometry"]], plan.communities[["community_id", "geometry"]],
                           predicate="within", how="inner")
        pts = joined.drop(columns="index_right")
    return {str(c): g for c, g in zip(pts["community_id"], pts.geometry, strict=True)}


def _central_unit(xy: np.ndarray, w: np.ndarray) -> shapely.Point:
    """Of the ``MEDOID_CANDIDATES`` units nearest the weighted centroid, the one with the
    least household-weighted distance to all units (scipy's ``cdist`` and one
    matrix-vector product per block: 7× faster than ``np.hypot`` and a sum, the same
    units chosen)."""
    w = w if w.sum() > 0 else np.ones(len(xy))
    centroid = (xy * w[:, None]).sum(axis=0) / w.sum()
    cand = np.argsort(np.hypot(*(xy - centroid).T))[:MEDOID_CANDIDATES]
    cost = np.empty(len(cand))
    step = max(1, MEDOID_BLOCK // max(len(xy), 1))
    for s in range(0, len(cand), step):  # candidates × units distances, a block at a time
        cost[s:s + step] = cdist(xy[cand[s:s + step]], xy) @ w
    return shapely.Point(xy[cand[int(np.argmin(cost))]])


def walking_bands(plan, points: gpd.GeoDataFrame, bands_m=DEFAULT_BANDS, street=None, *,
                  unit_xy: np.ndarray | None = None) -> Bands:
    """Bands of walking distance around each community's service point, clipped to it.

    With ``street`` (a :class:`gridplan.workforce.workload.StreetNetwork` in the plan's CRS)
    distances follow the street network (a band covers the streets reached within it, widened by
    ``EDGE_REACH`` m); without it they are straight lines × ``DETOUR``. Distances are
    measured to each unit's point on surface (``unit_xy`` when already computed).

    Examples
    --------
    >>> bands = walking_bands(plan, service_points(plan))  # doctest: +SKIP
    >>> bands.method  # doctest: +SKIP
    'straight'
    """
    bands_m = sorted(float(b) for b in bands_m)
    if not bands_m or bands_m[0] <= 0:
        raise InputError("walking bands must be positive distances", field="--bands",
                         fix="give metres such as 500,1000,1500")
    unit_xy = _unit_points(plan.units) if unit_xy is None else unit_xy
    walk = np.full(len(plan.units), np.inf)
    rows = []
    comm = plan.communities.set_index("community_id").geometry
    groups = _community_rows(plan.units)
    none = np.zeros(0, dtype=np.intp)
    for cid, centre in zip(points["community_id"], points.geometry, strict=True):
        mask = groups.get(cid, none)
        cxy = np.array([centre.x, centre.y])
        reach = _network_reach(street, cxy, bands_m[-1]) if street is not None else None
        if reach is None:
            walk[mask] = np.hypot(*(unit_xy[mask] - cxy).T) * DETOUR
            shapes = [shapely.Point(cxy).buffer(b / DETOUR, 32) for b in bands_m]
        else:
            walk[mask] = _network_distance(street, reach, unit_xy[mask])
            shapes = [_band_shape(street, reach, b) for b in bands_m]
        rows += _rings(cid, comm.get(cid), bands_m, shapes)
    polygons = gpd.GeoDataFrame(rows, columns=["community_id", "band_m", "geometry"],
                                geometry="geometry", crs=plan.crs)
    return Bands(polygons, pd.Series(walk, index=plan.units.index),
                 "network" if street is not None else "straight")


def _rings(cid, boundary, bands_m, shapes) -> list[tuple]:
    rows, inner = [], None
    for band, shape in zip(bands_m, shapes, strict=True):
        ring = shape if boundary is None else shape.intersection(boundary)
        if inner is not None:
            ring = ring.difference(inner)
        inner = shape if inner is None else inner.union(shape)
        if not ring.is_empty:
            rows.append((cid, band, ring))
    return rows


def _network_reach(street, cxy: np.ndarray, cutoff: float) -> dict | None:
    """Walking metres from ``cxy`` to every street node within ``cutoff`` (None off-network)."""
    idx = int(street.tree.nearest(shapely.Point(cxy)))
    snap = float(np.hypot(*(street.xy[idx] - cxy)))
    if snap > street.max_snap:
        return None
    import networkx as nx  # only with a street network: not imported by every command

    lengths = nx.single_source_dijkstra_path_length(street.graph, street.nodes[idx],
                                                    cutoff=cutoff + 2 * street.max_snap,
                                                    weight="length")
    return {n: d + snap for n, d in lengths.items()}


def _network_distance(street, reach: dict, xy: np.ndarray) -> np.ndarray:
    """Walking metres to points ``xy`` via their nearest street node (inf if not reached)."""
    idx = street.tree.nearest(shapely.points(xy))
    snap = np.hypot(*(street.xy[idx] - xy).T)
    node_d = np.array([reach.get(n, np.inf) for n in street.nodes[idx]])
    return np.where(snap <= street.max_snap, node_d + snap, np.inf)


def _band_shape(street, reach: dict, band: float):
    pos = {n: xy for n, xy in zip(street.nodes, street.xy, strict=True) if n in reach}
    lines = [shapely.LineString([pos[u], pos[v]]) for u, v in street.graph.edges(list(pos))
             if u in pos and v in pos and reach[u] <= band and reach[v] <= band]
    if not lines:
        return shapely.Polygon()
    return shapely.union_all(shapely.buffer(lines, EDGE_REACH, quad_segs=4))


def uncovered_units(plan, walk_m: pd.Series, max_walk: float) -> pd.DataFrame:
    """Units with households that no worker holds or that lie beyond the last walking band.

    Returns the plan's unit rows with a ``why`` column (``no_worker``, ``beyond_walk``).

    Examples
    --------
    >>> uncovered_units(plan, bands.unit_walk_m, 1500)["households"].sum()  # doctest: +SKIP
    90
    """
    units = plan.units
    no_worker = pd.Series(False, index=units.index)
    if "workers" in plan.grids.columns:
        held = plan.grids.set_index("grid_code")["workers"].map(worker_text)
        if held.notna().any():  # staffed: a grid nobody holds leaves its households uncovered
            lacking = held.isna() | (held == UNASSIGNED)
            no_worker = units["grid_code"].map(lacking).fillna(False).astype(bool)
    beyond = walk_m > max_walk
    pick = (no_worker | beyond) & (units["households"] > 0)
    out = units.loc[pick].copy()
    out["why"] = np.where(no_worker[pick], "no_worker", "beyond_walk")
    return out


def worker_text(value) -> str | None:
    """The worker(s) of a grid as text: a list (from the API) joined, nothing → ``None``.

    Examples
    --------
    >>> worker_text(["C01-W1", "C01-W2"]), worker_text([]), worker_text("C01-W3")
    ('C01-W1, C01-W2', None, 'C01-W3')
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(map(str, value)) or None
    return str(value) or None


def light_geojson(gdf: gpd.GeoDataFrame, simplify_m: float = 1.0, digits: int = 6,
                  gcj02: bool = False) -> gpd.GeoDataFrame:
    """A layer made light for a web map: simplified in metres, EPSG:4326, rounded coordinates.

    ``simplify_m`` is the Douglas-Peucker tolerance in the layer's metric CRS (topology
    preserved; 0 keeps every vertex); ``digits`` decimal places of a degree (6 ≈ 0.1 m);
    ``gcj02`` shifts the result for a GCJ-02 base map.

    Examples
    --------
    >>> light_geojson(plan.grids, simplify_m=2.0).crs.to_epsg()  # doctest: +SKIP
    4326
    """
    out = gdf.copy()
    if simplify_m > 0:
        out.geometry = shapely.simplify(out.geometry.values, simplify_m, preserve_topology=True)
    out = to_rfc7946(out)
    geoms = out.geometry.values
    if gcj02:

        geoms = shift_geometries(geoms)
    out.geometry = shapely.transform(geoms, lambda xy: np.round(xy, digits))
    return out


def feature_collection(gdf: gpd.GeoDataFrame) -> dict:
    """A GeoJSON FeatureCollection dict of ``gdf`` (already in EPSG:4326), built in bulk.

    Much faster than ``gdf.__geo_interface__`` for tens of thousands of features.

    Examples
    --------
    >>> fc = feature_collection(light_geojson(plan.grids))  # doctest: +SKIP
    >>> fc["type"]  # doctest: +SKIP
    'FeatureCollection'
    """
    geoms = shapely.to_geojson(gdf.geometry.values)
    props = json.loads(pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).to_json(
        orient="records", force_ascii=False))
    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": p, "geometry": json.loads(g)}
                         for p, g in zip(props, geoms, strict=True)]}


def feature_collection_text(gdf: gpd.GeoDataFrame) -> str:
    """The GeoJSON FeatureCollection of ``gdf`` (already in EPSG:4326) as text, built in bulk.

    Geometries come from ``shapely.to_geojson`` and properties from pandas' JSON writer
    (one line per row: NaN and None become ``null``, ``/`` is escaped, so the text is safe
    inside a ``<script>``), joined as strings without a Python dict per feature.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"a": ["x"]}, geometry=[shapely.Point(1, 2)], crs=4326)
    >>> feature_collection_text(g)
    '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"a":"x"},\
"geometry":{"type":"Point","coordinates":[1.0,2.0]}}]}'
    """
    if gdf.empty:
        return '{"type":"FeatureCollection","features":[]}'
    geoms = shapely.to_geojson(gdf.geometry.values).tolist()
    props = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).to_json(
        orient="records", lines=True, force_ascii=False).splitlines()
    return ('{"type":"FeatureCollection","features":['
            + ",".join([f'{{"type":"Feature","properties":{p},"geometry":{g}}}'
                        for p, g in zip(props, geoms, strict=True)]) + "]}")


__all__ = ["Bands", "DEFAULT_BANDS", "DETOUR", "feature_collection", "feature_collection_text",
           "light_geojson",
           "service_points", "uncovered_units", "walking_bands", "worker_text"]
