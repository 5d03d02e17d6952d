"""Features: plans as OGC API – Features collections, so QGIS can add a plan as a layer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote, urlencode

import geopandas as gpd
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from gridplan.api import geojson
from gridplan.api.deps import get_store, reader
from gridplan.api.errors import HTTPProblem
from gridplan.api.routes.plans import BBox, parse_bbox
from gridplan.api.store import NotFound, Store, etag

router = APIRouter(tags=["OGC API Features"], dependencies=[Depends(reader)])

# The service description is OpenAPI 3.1 (FastAPI), so the oas30 class is not claimed.
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
OPENAPI_MEDIA = "application/vnd.oai.openapi+json;version=3.1"
DEFAULT_LIMIT, MAX_LIMIT = 100, 10_000
LAYERS = {"": ("grids", "grid_code", "网格 grids"), "units": ("units", "unit_id", "单元 units"),
          "communities": ("communities", "community_id", "社区 communities"),
          "cells": ("cells", "cell_id", "地块 parcels")}
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CRS84_NAMES = {CRS84, "OGC:CRS84", "CRS84", "urn:ogc:def:crs:OGC:1.3:CRS84",
               "urn:ogc:def:crs:OGC::CRS84"}
FORMATS = {"json", "geojson", "application/json", "application/geo+json"}


def known_params(*names: str):
    """A dependency answering 400 for a query parameter outside ``names`` (and ``f``), and
    for a ``crs``, ``bbox-crs`` or ``f`` this service cannot serve."""
    allowed = {"f", *names}

    def check(request: Request) -> None:
        for name, value in request.query_params.multi_items():
            if name not in allowed:
                raise HTTPProblem(400, f"unknown query parameter {name!r}",
                                  f"use only {', '.join(sorted(allowed))}", field=name)
            if name in ("crs", "bbox-crs") and value not in CRS84_NAMES:
                raise HTTPProblem(400, f"{name} {value!r} is not served here",
                                  f"leave {name} out or give {name}={CRS84} "
                                  "(longitude/latitude, WGS 84)", field=name)
            if name == "f" and value not in FORMATS:
                raise HTTPProblem(400, f"format f={value!r} is not served here",
                                  "leave f out or give f=json (GeoJSON)", field="f")
        for name in allowed:
            if len(request.query_params.getlist(name)) > 1:
                raise HTTPProblem(400, f"query parameter {name!r} is given twice",
                                  f"give {name} once", field=name)

    return Depends(check)


def not_modified(tag: str, if_none_match: str | None) -> Response | None:
    """A 304 answer when ``If-None-Match`` names ``tag`` (weak comparison) or ``*``."""
    if not if_none_match:
        return None
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    if tag in tags or "*" in tags:
        return Response(status_code=304, headers={"ETag": tag})
    return None


def _split(collection_id: str) -> tuple[str, str]:
    plan_id, _, layer = collection_id.partition(".")
    if layer not in LAYERS:
        raise NotFound(f"no collection {collection_id!r}")
    return plan_id, layer


def _link(request: Request, path: str, rel: str, kind: str = "application/json",
          title: str = "", **params) -> dict:
    url = str(request.url_for("landing")).rstrip("/") + path
    query = {k: v for k, v in params.items() if v is not None}
    if query:
        url += "?" + urlencode(query, safe=",:/")
    link = {"href": url, "rel": rel, "type": kind}
    if title:
        link["title"] = title
    return link


@router.get("/", name="landing", summary="Landing page", dependencies=[known_params()])
def landing(request: Request) -> dict:
    """Entry point of the service (OGC API – Features landing page)."""
    return {"title": "gridplan", "description": "Community grid plans (网格化管理) as features",
            "links": [_link(request, "/", "self"),
                      _link(request, "/openapi.json", "service-desc", OPENAPI_MEDIA),
                      _link(request, "/docs", "service-doc", "text/html"),
                      _link(request, "/conformance", "conformance"),
                      _link(request, "/collections", "data")]}


@router.get("/conformance", summary="Conformance classes", dependencies=[known_params()])
def conformance() -> dict:
    """The OGC API – Features conformance classes this service implements."""
    return {"conformsTo": CONFORMANCE}


def _collection(request: Request, store: Store, info: dict, layer: str) -> dict:
    name, _, title = LAYERS[layer]
    cid = info["id"] + (f".{layer}" if layer else "")
    extent = store.extent(info["id"])
    return {"id": cid, "title": f"{info['name']} – {title}",
            "description": f"{title} of plan {info['id']}, version {info['version']}",
            "itemType": "feature", "crs": [CRS84], "storageCrs": CRS84,
            "extent": {"spatial": {"bbox": [extent], "crs": CRS84}},
            "links": [_link(request, f"/collections/{cid}", "self"),
                      _link(request, f"/collections/{cid}/items", "items",
                            geojson.MEDIA, f"{name} as GeoJSON")]}


@router.get("/collections", summary="Collections", dependencies=[known_params()])
def collections(request: Request, store: Store = Depends(get_store)) -> dict:
    """Each plan's grids, units, parcels and communities."""
    out = [_collection(request, store, info, layer)
           for info in store.list_plans() for layer in LAYERS]
    return {"collections": out, "links": [_link(request, "/collections", "self")]}


@router.get("/collections/{collection_id}", summary="A collection",
            dependencies=[known_params()])
def collection(collection_id: str, request: Request, store: Store = Depends(get_store)) -> dict:
    """Metadata of one collection."""
    plan_id, layer = _split(collection_id)
    return _collection(request, store, store.plan_info(plan_id), layer)


LIMIT_HELP = (f"Features per page: {DEFAULT_LIMIT} unless given; values above {MAX_LIMIT:,} "
              f"are served as {MAX_LIMIT:,} (follow the next link for more)")


@router.get("/collections/{collection_id}/items", summary="Features of a collection",
            response_class=geojson.Response,
            responses={200: {"content": {"application/geo+json": {}}},
                       304: {"description": "Not modified (If-None-Match)"},
                       400: {"description": "A query parameter is unknown or invalid"}},
            dependencies=[known_params("limit", "offset", "bbox", "bbox-crs", "crs",
                                       "datetime", "version")])
def items(collection_id: str, request: Request,
          limit: Annotated[int, Query(ge=1, description=LIMIT_HELP)] = DEFAULT_LIMIT,
          offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0, bbox: BBox = None,
          version: Annotated[int | None, Query(ge=1)] = None,
          datetime_: Annotated[str | None, Query(
              alias="datetime", max_length=100,
              description="Accepted; plans carry no time, so every feature matches")] = None,
          if_none_match: Annotated[str | None, Header()] = None,
          store: Store = Depends(get_store)):
    """A page of features (GeoJSON), with ``numberMatched``, ``numberReturned`` and a next
    link while more remain; ``bbox`` keeps features whose geometry intersects the box."""
    plan_id, layer = _split(collection_id)
    v = store.check_version(plan_id, version)
    tag = etag(plan_id, v)
    if (unchanged := not_modified(tag, if_none_match)) is not None:
        return unchanged
    limit = min(limit, MAX_LIMIT)
    box = parse_bbox(bbox)
    if layer == "":
        gdf = store.grid_frame(plan_id, v, bbox=box, limit=limit, offset=offset)
        total = store.count_grids(plan_id, v, bbox=box)
    else:
        gdf, total = store.layer_frame(plan_id, layer, v, bbox=box, limit=limit, offset=offset)
    path = f"/collections/{collection_id}/items"
    keep = {"bbox": bbox, "version": version}
    links = [_link(request, path, "self", geojson.MEDIA, limit=limit, offset=offset, **keep),
             _link(request, f"/collections/{collection_id}", "collection")]
    if offset + len(gdf) < total:
        links.append(_link(request, path, "next", geojson.MEDIA, limit=limit,
                           offset=offset + limit, **keep))
    if offset > 0:
        links.append(_link(request, path, "prev", geojson.MEDIA, limit=limit,
                           offset=max(offset - limit, 0), **keep))
    return geojson.collection(
        gdf, LAYERS[layer][1], {"ETag": tag, "Content-Crs": f"<{CRS84}>"}, numberMatched=total,
        numberReturned=len(gdf), timeStamp=datetime.now(UTC).isoformat(), links=links)


@router.get("/collections/{collection_id}/items/{feature_id:path}", summary="One feature",
            response_class=geojson.Response,
            responses={200: {"content": {"application/geo+json": {}}},
                       304: {"description": "Not modified (If-None-Match)"}},
            dependencies=[known_params("version", "crs")])
def item(collection_id: str, feature_id: str, request: Request,
         version: Annotated[int | None, Query(ge=1)] = None,
         if_none_match: Annotated[str | None, Header()] = None,
         store: Store = Depends(get_store)):
    """One grid (by grid_code), unit, parcel or community. Ids may hold ``/`` (OSM ids such
    as ``way/105276039``), as is or percent-encoded."""
    plan_id, layer = _split(collection_id)
    v = store.check_version(plan_id, version)
    tag = etag(plan_id, v)
    if (unchanged := not_modified(tag, if_none_match)) is not None:
        return unchanged
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
    path = f"/collections/{collection_id}/items/{quote(feature_id, safe='')}"
    links = json.dumps([_link(request, path, "self", geojson.MEDIA, version=version),
                        _link(request, f"/collections/{collection_id}", "collection")])
    text = feats[0][:-1] + f',"links":{links}}}'
    return geojson.response(text, {"ETag": tag, "Content-Crs": f"<{CRS84}>"})
