"""Plans: list and read plans, their grids, parcels, units, metrics and staffing."""

from __future__ import annotations

from typing import Annotated

import geopandas as gpd
from fastapi import APIRouter, Depends, Query, Response
from gridplan.api import geojson
from gridplan.api.deps import get_store, reader
from gridplan.api.errors import HTTPProblem
from gridplan.api.store import Store, etag

from gridplan.engine.grids import block_edges
from gridplan.engine.metrics import RULES, share_in_band
from gridplan.errors import InputError
from gridplan.workforce.staffing import read_workers, staffing_table

router = APIRouter(prefix="/plans", tags=["plans"], dependencies=[Depends(reader)])

Version = Annotated[int | None, Query(ge=1, description="Plan version (the latest by default)")]
Limit = Annotated[int | None, Query(ge=1, le=10000, description="Features per page")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Features to skip")]
BBox = Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat (EPSG:4326)",
                                   max_length=200)]


def parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    """``minx,miny,maxx,maxy`` in longitude/latitude, checked."""
    if bbox is None:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in bbox.split(","))
    except ValueError:
        raise HTTPProblem(400, f"bbox {bbox!r} is not four numbers",
                          "give bbox=minLon,minLat,maxLon,maxLat") from None
    ok = -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90
    if not ok:
        raise HTTPProblem(400, f"bbox {bbox!r} is not a longitude/latitude box",
                          "give minLon,minLat,maxLon,maxLat with min ≤ max (lon first)")
    return x0, y0, x1, y1


def _summary(info: dict) -> dict:
    rep = info["report"]
    return {"id": info["id"], "name": info["name"], "version": info["version"],
            "etag": info["etag"], "grids": rep.get("grids"), "households": rep.get("households"),
            "created": str(info["created"]), "author": info["author"],
            "owner": info["owner"]}


@router.get("", summary="List plans")
def list_plans(store: Store = Depends(get_store)) -> list[dict]:
    """Every stored plan, newest first, with its latest version and ETag."""
    return [_summary(i) for i in store.list_plans()]


@router.get("/{plan_id}", summary="Read a plan")
def get_plan(plan_id: str, response: Response, store: Store = Depends(get_store)) -> dict:
    """A plan's latest version, ETag (send it as If-Match when editing), parameters, report."""
    info = store.plan_info(plan_id)
    response.headers["ETag"] = info["etag"]
    return {**_summary(info), "params": info["params"], "report": info["report"]}


@router.get("/{plan_id}/grids", summary="Grids as GeoJSON", response_class=Response,
            responses={200: {"content": {"application/geo+json": {}}}})
def get_grids(plan_id: str, version: Version = None, bbox: BBox = None,
              store: Store = Depends(get_store)):
    """Grids of a version as an RFC 7946 FeatureCollection (longitude/latitude)."""
    v = store.check_version(plan_id, version)
    gdf = store.grid_frame(plan_id, v, bbox=parse_bbox(bbox))
    return geojson.collection(gdf, "grid_code", {"ETag": etag(plan_id, v)}, version=v)


def _layer(plan_id: str, layer: str, version, bbox, limit, offset, store: Store):
    v = store.check_version(plan_id, version)
    gdf, total = store.layer_frame(plan_id, layer, v, bbox=parse_bbox(bbox), limit=limit,
                                   offset=offset)
    key = {"cells": "cell_id", "units": "unit_id", "communities": "community_id"}[layer]
    if layer == "cells":
        on_cell = store.cell_units(plan_id, gdf["cell_id"].tolist())
        gdf["households"] = [sum(h for _, h in on_cell.get(c, [])) for c in gdf["cell_id"]]
        gdf["unit_ids"] = [[u for u, _ in on_cell.get(c, [])] for c in gdf["cell_id"]]
    return geojson.collection(gdf, key, {"ETag": etag(plan_id, v)}, version=v,
                              numberMatched=total, numberReturned=len(gdf))


@router.get("/{plan_id}/cells", summary="Parcels as GeoJSON", response_class=Response,
            responses={200: {"content": {"application/geo+json": {}}}})
def get_cells(plan_id: str, version: Version = None, bbox: BBox = None, limit: Limit = None,
              offset: Offset = 0, store: Store = Depends(get_store)):
    """Parcels (the pieces a planner moves) with their grid, households and units."""
    return _layer(plan_id, "cells", version, bbox, limit, offset, store)


@router.get("/{plan_id}/units", summary="Units as GeoJSON", response_class=Response,
            responses={200: {"content": {"application/geo+json": {}}}})
def get_units(plan_id: str, version: Version = None, bbox: BBox = None, limit: Limit = None,
              offset: Offset = 0, store: Store = Depends(get_store)):
    """Units (buildings, stairwell sub-units, blocks) with households and grid."""
    return _layer(plan_id, "units", version, bbox, limit, offset, store)


@router.get("/{plan_id}/communities", summary="Communities as GeoJSON", response_class=Response,
            responses={200: {"content": {"application/geo+json": {}}}})
def get_communities(plan_id: str, store: Store = Depends(get_store)):
    """Community boundaries with households and grid counts."""
    return _layer(plan_id, "communities", None, None, None, 0, store)


@router.get("/{plan_id}/barriers", summary="Roads and rivers the plan follows (GeoJSON lines)",
            response_class=Response, responses={200: {"content": {"application/geo+json": {}}}})
def get_barriers(plan_id: str, store: Store = Depends(get_store)):
    """Where parcels of different blocks meet: the roads and rivers that bound the plan's
    blocks, one feature per community (none for a community of one block)."""
    cells, _ = store.layer_frame(plan_id, "cells")
    comm, lines = block_edges(store.to_metric(plan_id, cells.geometry.values),
                              cells["block"].to_numpy(), cells["community_id"].to_numpy())
    out = gpd.GeoDataFrame({"community_id": comm},
                           geometry=list(store.to_lonlat(plan_id, lines)), crs=4326)
    v = store.head(plan_id)
    return geojson.collection(out, "community_id", {"ETag": etag(plan_id, v)}, version=v)


@router.get("/{plan_id}/metrics", summary="Metrics of a version")
def get_metrics(plan_id: str, version: Version = None, store: Store = Depends(get_store)
                ) -> dict:
    """Quality figures and the result of every plan rule for one version."""
    v = store.check_version(plan_id, version)
    p = store.plan_at(plan_id, v)
    rules = {rule.__name__: rule(p) for rule in RULES}
    return {"version": v, "etag": etag(plan_id, v), **plan_metrics(p),
            "rules": {name: {"ok": not probs, "problems": probs} for name, probs in rules.items()}}


def plan_metrics(p) -> dict:
    """Counts and balance of a plan's grids (share in band as in ``report.json``)."""
    g = p.grids
    band = share_in_band(g, p.params.band)
    contiguous = g["contiguous"].astype(bool) if "contiguous" in g else g.geometry.geom_type.eq(
        "Polygon")
    return {"grids": len(g), "households": int(g["households"].sum()),
            "band": list(p.params.band), "balanced_on": band.column,
            "share_in_band": round(band.share, 4),
            "grids_out_of_band": band.out_of_band,
            "grids_not_contiguous": int((~contiguous).sum()),
            "locked": int(g["locked"].astype(bool).sum()) if "locked" in g else 0,
            "mean_polsby_popper": round(float(g["polsby_popper"].mean()), 4) if len(g) else 0}


@router.get("/{plan_id}/staffing", summary="Staffing of a version")
def get_staffing(plan_id: str, version: Version = None,
                 per_10k: Annotated[float, Query(gt=0, le=1000)] = 18.0,
                 workers: Annotated[str | None, Query(max_length=64, description=(
                     "id of an uploaded workers layer (CSV: worker_id, community_id, ...)"))]
                 = None,
                 store: Store = Depends(get_store)) -> dict:
    """Community workers required (≥ per_10k per 10,000 residents, ≥ 1 per grid), available
    (from an uploaded workers table) and assigned to grids."""
    v = store.check_version(plan_id, version)
    p = store.plan_at(plan_id, v)
    roster = None
    if workers:
        row = store.get_row("layers", workers)
        if row["kind"] != "workers":
            raise HTTPProblem(422, f"layer {workers} is a {row['kind']} layer, not workers",
                              "upload the workers table with kind=workers")
        try:
            roster = read_workers(row["path"], p.communities["community_id"])
        except InputError as exc:
            raise InputError(exc.problem, source=f"layer {workers} ({row['name']})",
                             field=exc.field, fix=exc.fix) from None
    table = staffing_table(p, roster, per_10k)
    assigned = {w for ws in p.grids.get("workers", []) for w in (ws or [])}
    grid_workers = p.grids.set_index("grid_code")["workers"] if "workers" in p.grids else {}
    uncovered = [c for c, ws in dict(grid_workers).items() if not ws]
    out = {"version": v, "per_10k": per_10k, "required": int(table["required"].sum()),
           "workers_assigned": len(assigned), "grids_without_worker": uncovered}
    if roster is None:
        table = table.drop(columns=["available", "balance"])
    else:
        out["available"] = int(table["available"].sum())
        out["shortfall"] = int((-table["balance"].clip(upper=0)).sum())
    out["communities"] = table.to_dict("records")
    return out

