"""Exports: a plan version as GeoJSON, GeoPackage, zipped Shapefile, CSV or GeoParquet."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from gridplan.api.deps import get_store, reader
from gridplan.api.store import Store, etag
from starlette.background import BackgroundTask

from gridplan.export.formats import export_plan, output_type

router = APIRouter(prefix="/plans/{plan_id}", tags=["exports"], dependencies=[Depends(reader)])

Layer = Literal["grids", "units", "communities"]


@router.get("/export", summary="Download a plan version", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}}})
async def export(plan_id: str,
                 format: Literal["geojson", "gpkg", "shp", "csv", "parquet", "fgb"] = "gpkg",  # noqa: A002
                 version: Annotated[int | None, Query(ge=1)] = None,
                 layers: Annotated[list[Layer] | None, Query()] = None,
                 store: Store = Depends(get_store)):
    """A file for QGIS and other GIS tools: GeoJSON (RFC 7946, EPSG:4326), GeoPackage
    (grids, units, communities), zipped Shapefile, CSV (with lon/lat), GeoParquet or
    FlatGeobuf.

    Single-layer formats with several ``layers`` come as a zip.
    """
    v = store.check_version(plan_id, version)
    single = format in ("geojson", "parquet", "fgb")
    chosen = tuple(dict.fromkeys(layers)) if layers else (
        ("grids",) if single else ("grids", "units", "communities"))
    plan = await run_in_threadpool(store.plan_at, plan_id, v)
    folder = Path(tempfile.mkdtemp(prefix="gridplan-export-"))
    try:
        ext, media = output_type(format, chosen)
        path = await run_in_threadpool(export_plan, plan, format, folder / f"{plan_id}-v{v}{ext}",
                                       chosen)
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(path, media_type=media, filename=path.name,
                        headers={"ETag": etag(plan_id, v)},
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))
