"""Features: plans as OGC API – Features collections, so QGIS can add a plan as a layer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import geopandas as gpd
from fastapi import APIRouter, Depends, Query, Request
from gridplan.api import geojson
from gridplan.api.deps import get_store, reader
from gridplan.api.errors import HTTPProblem
from gridplan.api.routes.plans import BBox, parse_bbox
from gridplan.api.store import NotFound, Store, etag

router = APIRouter(tags=["OGC API Features"], dependencies=[Depends(reader)])

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
LAYERS = {"": ("grids", "grid_code", "网格 grids"), "units": ("units", "unit_id", "单元 units"),
          "communities": ("communities", "community_id", "社区 communities"),
          "cells": ("cells", "cell_id", "地块 parcels")}
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def _split(collection_id: str) -> tuple[str, str]:
    plan_id, _, layer = collection_id.partition(".")
    if layer not in LAYERS:
        raise NotFound(f"no collection {collection_id!r}")
    return plan_id, layer


def _link(request: Request, path: str, rel: str, kind: str = "application/json",
          title: str = "", **params) -> dict:
    url = request.url_for("landing").include_query_params().__str__().rstrip("/") + path
    if params:
        url += "?" + "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
    return {"href": url, "rel": rel, "type": kind, "title": title}


@router.get("/", name="landing", summary="Landing page")
def landing(request: Request) -> dict:
    """Entry point of the service (OGC API – Features landing page)."""
    return {"title": "gridplan", "description": "Community grid plans (网格化管理) as features",
            "links": [_link(request, "/", "self"),
                      _link(request, "/openapi.json", "service-desc",
                            "application/vnd.oai.openapi+json;version=3.0"),
                      _link(request, "/docs", "service-doc", "text/html"),
                      _link(request, "/conformance", "conformance"),
                      _link(request, "/collections", "data")]}


@router.get("/conformance", summary="Conformance classes")
def conformance() -> dict:
    """The OGC API – Features conformance classes this service implements."""
    return {"conformsTo": CONFORMANCE}


def _collection(request: Request, store: Store, info: dict, layer: str) -> dict:
    name, _, title = LAYERS[layer]
    cid = info["id"] + (f".{layer}" if layer else "")
    extent = store.extent(info["id"])
    return {"id": cid, "title": f"{info['name']} – {title}",
            "description": f"{title} of plan {info['id']}, version {info['version']}",
            "itemType": "feature", "crs": [CRS84],
            "extent": {"spatial": {"bbox": [extent], "crs": CRS84}},
            "links": [_link(request, f"/collections/{cid}", "self"),
                      _link(request, f"/collections/{cid}/items", "items",
                            geojson.MEDIA, f"{name} as GeoJSON")]}


@router.get("/collections", summary="Collections")
def collections(request: Request, store: Store = Depends(get_store)) -> dict:
    """Each plan's grids, units, parcels and communities."""
    out = [_collection(request, store, info, layer)
           for info in store.list_plans() for layer in LAYERS]
    return {"collections": out, "links": [_link(request, "/collections", "self")]}


@router.get("/collections/{collection_id}", summary="A collection")
def collection(collection_id: str, request: Request, store: Store = Depends(get_store)) -> dict:
    """Metadata of one collection."""
    plan_id, layer = _split(collection_id)
    return _collection(request, store, store.plan_info(plan_id), layer)


@router.get("/collections/{collection_id}/items", summary="Features of a collection",
            response_class=geojson.Response,
            responses={200: {"content": {"application/geo+json": {}}}})
def items(collection_id: str, request: Request,
          limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
          offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0, bbox: BBox = None,
          version: Annotated[int | None, Query(ge=1)] = None,
          store: Store = Depends(get_store)):
    """A page of features (GeoJSON), with ``numberMatched``, ``numberReturned`` and a next
    link while more remain."""
    plan_id, layer = _split(collection_id)
    v = store.check_version(plan_id, version)
    box = parse_bbox(bbox)
    if layer == "":
        gdf = store.grid_frame(plan_id, v, bbox=box, limit=limit, offset=offset)
        total = store.count_grids(plan_id, v, bbox=box)
    else:
        gdf, total = store.layer_frame(plan_id, layer, v, bbox=box, limit=limit, offset=offset)
    path = f"/collections/{collection_id}/items"
    links = [_link(request, path, "self", geojson.MEDIA, limit=limit, offset=offset, bbox=bbox,
                   version=version)]
    if offset + len(gdf) < total:
        links.append(_link(request, path, "next", geojson.MEDIA, limit=limit,
                           offset=offset + limit, bbox=bbox, version=version))
    if offset > 0:
        links.append(_link(request, path, "prev", geojson.MEDIA, limit=limit,
                           offset=max(offset - limit, 0), bbox=bbox, version=version))
    return geojson.collection(
        gdf, LAYERS[layer][1], {"ETag": etag(plan_id, v)}, numberMatched=total,
        numberReturned=len(gdf), timeStamp=datetime.now(UTC).isoformat(), links=links)


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature",
            response_class=geojson.Response,
            responses={200: {"content": {"application/geo+json": {}}}})
def item(collection_id: str, feature_id: str, request: Request,
         version: Annotated[int | None, Query(ge=1)] = None, store: Store = Depends(get_store)):
    """One grid (by grid_code), unit, parcel or community."""
    plan_id, layer = _split(collection_id)
    v = store.check_version(plan_id, version)
    key = LAYERS[layer][1]
    if layer == "":
        rows = store.grid_rows_at(plan_id, v, [feature_id])
        row = rows.get(feature_id)
        if row is None:
            raise NotFound(f"no grid {feature_id!r} in plan {plan_id} version {v}")
        gdf = gpd.GeoDataFrame([row], geometry="geometry", crs=4326)
    else:
        gdf = store.feature(plan_id, layer, feature_id, v)
    feats = geojson.features(gdf, key)
    if not feats:
        raise HTTPProblem(404, f"no feature {feature_id!r}", "list items first")
    links = json.dumps([_link(request, f"/collections/{collection_id}", "collection")])
    text = feats[0][:-1] + f',"links":{links}}}'
    return geojson.response(text, {"ETag": etag(plan_id, v)})
