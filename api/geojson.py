"""GeoJSON: features and collections (RFC 7946) written fast from GeoDataFrames."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import shapely
from fastapi.responses import Response

MEDIA = "application/geo+json"


def _clean(value):
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    return value


def _rfc7946(geoms: np.ndarray, precision: int = 7) -> np.ndarray:
    """Longitude/latitude geometries rounded to ``precision`` decimals, exterior rings
    counter-clockwise (RFC 7946 §3.1.6)."""
    rounded = shapely.set_precision(geoms, 10 ** -precision)
    return shapely.orient_polygons(rounded, exterior_cw=False)


def features(gdf: gpd.GeoDataFrame, id_field: str, precision: int = 7) -> list[str]:
    """Each row as a GeoJSON Feature text, EPSG:4326, exterior rings counter-clockwise."""
    if len(gdf) == 0:
        return []
    g = gdf.to_crs(4326) if gdf.crs is not None and gdf.crs.to_epsg() != 4326 else gdf
    texts = shapely.to_geojson(_rfc7946(g.geometry.values, precision), indent=None)
    props = g.drop(columns=g.geometry.name).to_dict("records")
    out = []
    for p, text in zip(props, texts, strict=True):
        p = {k: _clean(v) for k, v in p.items()}
        fid = json.dumps(p.get(id_field), ensure_ascii=False)
        props = json.dumps(p, ensure_ascii=False, default=str)
        out.append(f'{{"type":"Feature","id":{fid},"geometry":{text or "null"},'
                   f'"properties":{props}}}')
    return out


def collection_text(feats: list[str], **members) -> str:
    """A FeatureCollection from Feature texts, with extra top-level members."""
    extra = "".join(f',"{k}":{json.dumps(v, ensure_ascii=False, default=str)}'
                    for k, v in members.items())
    return f'{{"type":"FeatureCollection","features":[{",".join(feats)}]{extra}}}'


def response(text: str, headers: dict | None = None) -> Response:
    """A GeoJSON answer."""
    return Response(text, media_type=MEDIA, headers=headers)


def collection(gdf: gpd.GeoDataFrame, id_field: str, headers: dict | None = None,
               **members) -> Response:
    """A FeatureCollection answer."""
    return response(collection_text(features(gdf, id_field), **members), headers)


def as_dict(gdf: gpd.GeoDataFrame, id_field: str) -> dict:
    """A FeatureCollection as a Python dict (for embedding in JSON answers)."""
    return json.loads(collection_text(features(gdf, id_field)))


def rows_dict(props: list[dict], geoms, id_field: str) -> dict:
    """A FeatureCollection dict from property dicts and longitude/latitude geometries."""
    geoms = _rfc7946(np.asarray(geoms, dtype=object))
    feats = [{"type": "Feature", "id": p.get(id_field),
              "geometry": json.loads(shapely.to_geojson(g)),
              "properties": {k: _clean(v) for k, v in p.items()}}
             for p, g in zip(props, geoms, strict=True)]
    return {"type": "FeatureCollection", "features": feats}
