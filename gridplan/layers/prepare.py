"""Inputs: normalise communities, compounds and barriers to the columns the pipeline uses."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from gridplan.codes import check_community_code
from gridplan.errors import InputError
from gridplan.layers.vector import InputNotes, check_ids, check_layer, require_field, source_of


def prepare_communities(gdf: gpd.GeoDataFrame, *, id_field: str = "id",
                        code_field: str | None = None, scheme: str = "nbs12+3",
                        notes: InputNotes | None = None) -> gpd.GeoDataFrame:
    """Communities with ``community_id``, ``code`` (or None), ``name`` and polygon geometry.

    Refuses missing/duplicate ids, codes that are not 12 digits, and communities
    that overlap one another by more than a digitising sliver.
    """
    notes = notes or InputNotes()
    gdf = check_layer(gdf, what="communities", notes=notes, polygons_only=True,
                      id_field=id_field)
    ids = check_ids(gdf, id_field, what="communities", option="--community-id")
    if code_field is not None and code_field not in gdf.columns:
        require_field(gdf, code_field, what="communities", option="--community-code")
    src = source_of(gdf, "communities")
    codes = [check_community_code(gdf[code_field].iloc[i] if code_field else None, ids.iloc[i],
                                  scheme, source=src, field=code_field or "--community-code")
             for i in range(len(gdf))]
    out = gpd.GeoDataFrame({"community_id": ids.values, "code": codes},
                           geometry=gdf.geometry.values, crs=gdf.crs)
    for extra in ("name", "name_en"):
        if extra in gdf.columns:
            out[extra] = gdf[extra].fillna("").astype(str).values
    out.attrs["source"] = source_of(gdf, "communities")
    dup_codes = out["code"].dropna()
    dup_codes = dup_codes[dup_codes.duplicated()]
    if len(dup_codes):
        raise InputError(f"duplicate community codes: {', '.join(dup_codes.head(5))}",
                         source=out.attrs["source"], field=code_field,
                         fix="give every community its own 12-digit code")
    return out


def check_overlaps(communities: gpd.GeoDataFrame, notes: InputNotes) -> gpd.GeoDataFrame:
    """Refuse overlapping communities; trim overlaps thinner than a sliver (0.5% of area)."""
    geoms = communities.geometry.values
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return communities
    inter = shapely.area(shapely.intersection(geoms[i], geoms[j]))
    small = np.minimum(shapely.area(geoms[i]), shapely.area(geoms[j]))
    big = (inter > 1.0) & (inter > 0.005 * small)
    if big.any():
        a, b = int(i[big][0]), int(j[big][0])
        ids = communities["community_id"].values
        raise InputError(
            f"communities {ids[a]} and {ids[b]} overlap by {inter[big][0]:.0f} m² "
            f"({int(big.sum())} overlapping pair(s) in all)",
            source=source_of(communities, "communities"),
            fix="correct the boundaries so that communities do not overlap")
    trimmed = communities.copy()
    geoms = trimmed.geometry.values.copy()
    for a, b, area in zip(i, j, inter, strict=True):
        if area > 0:
            geoms[b] = shapely.difference(geoms[b], geoms[a])
    trimmed.geometry = geoms
    if (inter > 0).any():
        notes.warn(f"trimmed {int((inter > 0).sum())} sliver overlap(s) between communities")
    return trimmed


def prepare_compounds(gdf: gpd.GeoDataFrame | None, notes: InputNotes) -> gpd.GeoDataFrame | None:
    """Compounds (小区) with ``compound_id`` and ``name``; ``None`` passes through."""
    if gdf is None or len(gdf) == 0:
        return None
    gdf = check_layer(gdf, what="compounds", notes=notes, polygons_only=False)
    polys = gdf[gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    ids = polys["compound_id"] if "compound_id" in polys.columns else polys.index
    out = gpd.GeoDataFrame({"compound_id": [str(v) for v in ids]}, geometry=polys.geometry.values,
                           crs=polys.crs)
    out["name"] = polys["name"].fillna("").astype(str).values if "name" in polys else ""
    return out


def prepare_barriers(gdf: gpd.GeoDataFrame | None, notes: InputNotes) -> gpd.GeoDataFrame | None:
    """Barrier lines (roads, railways, rivers) with a ``kind``; polygons become outlines."""
    if gdf is None or len(gdf) == 0:
        return None
    gdf = check_layer(gdf, what="barriers", notes=notes)
    geoms = gdf.geometry.values
    polys = shapely.get_type_id(geoms) >= 3
    geoms = np.where(polys, shapely.boundary(geoms), geoms)
    kind = gdf["kind"].astype(str).values if "kind" in gdf.columns else np.full(len(gdf), "barrier")
    return gpd.GeoDataFrame({"kind": kind}, geometry=geoms, crs=gdf.crs)
