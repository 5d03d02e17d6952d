"""Dedicated sites (专属网格 input): polygons from OSM tags or a file, checked and normalised."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import geopandas as gpd
import pandas as pd

from gridplan.errors import InputError
from gridplan.layers.vector import InputNotes, check_layer, source_of
from gridplan.params import (
    parse_tags,
)

log = logging.getLogger(__name__)


SITE_COLUMNS = ["site_id", "kind", "name", "geometry"]


KIND_FIELDS = ("kind", "type", "amenity", "landuse", "office", "shop")


def osm_sites(features: gpd.GeoDataFrame, tags: Sequence[str]) -> gpd.GeoDataFrame:
    """Polygons of OSM ``features`` carrying one of ``tags``, as a site layer.

    Parameters
    ----------
    features : GeoDataFrame
        OSM features (one column per tag key), indexed ``"way/123"``.
    tags : sequence of str
        ``key=value`` tags, e.g. :data:`gridplan.params.DEFAULT_DEDICATED_TAGS`.

    Returns
    -------
    GeoDataFrame
        ``site_id`` (the OSM id), ``kind`` (the tag value), ``name``, polygons.

    Examples
    --------
    >>> import shapely
    >>> f = gpd.GeoDataFrame({"amenity": ["school", "cafe"], "name": ["一中", None]},
    ...     geometry=[shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3, 1)], index=["way/1", "way/2"])
    >>> osm_sites(f, ["amenity=school"])[["site_id", "kind", "name"]].values.tolist()
    [['way/1', 'school', '一中']]
    """
    kind = pd.Series(None, index=features.index, dtype=object)
    for key, values in parse_tags(tags).items():
        if key in features.columns:
            col = features[key].astype(object)
            kind = kind.where(kind.notna(), col.where(col.isin(values)))
    polygonal = features.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    chosen = kind.notna().to_numpy() & polygonal
    names = features["name"] if "name" in features.columns else pd.Series("", index=features.index)
    return gpd.GeoDataFrame({
        "site_id": [str(i) for i in features.index[chosen]],
        "kind": kind[chosen].astype(str).tolist(),
        "name": [v if isinstance(v, str) else "" for v in names[chosen]],
    }, geometry=list(features.geometry[chosen]), crs=features.crs)


def prepare_sites(gdf: gpd.GeoDataFrame | None, notes: InputNotes | None = None
                  ) -> gpd.GeoDataFrame | None:
    """A ``--dedicated`` layer as sites: ``site_id``, ``kind``, ``name``, polygons.

    ``kind`` comes from the first of the fields ``kind``, ``type``, ``amenity``,
    ``landuse``, ``office``, ``shop`` present (else ``"site"``); ids from
    ``site_id`` or ``id`` (else the row number). Points and lines are refused.

    Examples
    --------
    >>> import shapely
    >>> g = gpd.GeoDataFrame({"kind": ["hospital"]}, geometry=[shapely.box(0, 0, 99, 99)],
    ...                      crs=32650)
    >>> prepare_sites(g)[["site_id", "kind", "name"]].values.tolist()
    [['S1', 'hospital', '']]
    """
    if gdf is None or len(gdf) == 0:
        return None
    notes = notes or InputNotes()
    gdf = check_layer(gdf, what="dedicated sites", notes=notes, polygons_only=True)
    kind_field = next((f for f in KIND_FIELDS if f in gdf.columns), None)
    id_field = next((f for f in ("site_id", "id") if f in gdf.columns), None)
    ids = (gdf[id_field].astype(str).tolist() if id_field
           else [f"S{i + 1}" for i in range(len(gdf))])
    if len(set(ids)) < len(ids):
        raise InputError(f"duplicate ids in field {id_field}", source=source_of(gdf, "sites"),
                         field=id_field, fix="give every dedicated site its own id")
    kinds = (gdf[kind_field].fillna("site").astype(str).tolist() if kind_field
             else ["site"] * len(gdf))
    names = gdf["name"].fillna("").astype(str).tolist() if "name" in gdf.columns else \
        [""] * len(gdf)
    return gpd.GeoDataFrame({"site_id": ids, "kind": kinds, "name": names},
                            geometry=gdf.geometry.values, crs=gdf.crs)
