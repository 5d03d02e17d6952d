"""Layers: upload communities, population, OSM extracts, dedicated sites, worker and
special-population tables."""

from __future__ import annotations

import shutil
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from gridplan.api.deps import get_settings, get_store, reader, writer
from gridplan.api.errors import HTTPProblem
from gridplan.api.settings import Settings
from gridplan.api.store import Store
from gridplan.api.store.store import now
from gridplan.api.uploads import UploadLimits, save_upload
from gridplan.api.uploads.common import MB
from gridplan.api.uploads.worker import read_in_process

router = APIRouter(prefix="/layers", tags=["layers"])
RETRY_AFTER = 10  # seconds a client waits when every reader is busy

Kind = Literal["communities", "population", "osm", "compounds", "barriers", "dedicated",
               "workers", "special"]


def _public(row: dict) -> dict:
    return {k: (str(v) if k == "created" else v) for k, v in row.items() if k != "path"}


@router.post("", status_code=201, summary="Upload a layer")
async def upload(request: Request, file: Annotated[UploadFile, File(description=(
                     "GeoJSON, GeoPackage, zipped Shapefile, OSM XML (.osm/.osm.bz2), CSV or "
                     "Excel (.xlsx; tables of points: lon/lat columns)"))],
                 kind: Annotated[Kind, Form()],
                 name: Annotated[str | None, Form(max_length=200)] = None,
                 crs: Annotated[str | None, Form(max_length=60, description=(
                     "CRS for a layer that declares none, e.g. EPSG:4326"))] = None,
                 id_field: Annotated[str | None, Form(max_length=100, description=(
                     "communities: id field (default id)"))] = None,
                 code_field: Annotated[str | None, Form(max_length=100, description=(
                     "communities: 12-digit division code field"))] = None,
                 unit_id: Annotated[str | None, Form(max_length=100, description=(
                     "population: unit id field (default unit_id)"))] = None,
                 households: Annotated[str | None, Form(max_length=100, description=(
                     "population: households field"))] = None,
                 population_field: Annotated[str | None, Form(max_length=100, description=(
                     "population: residents field (households = residents / 2.6)"))] = None,
                 layer: Annotated[str | None, Form(max_length=200, description=(
                     "the layer of a GeoPackage of several layers"))] = None,
                 encoding: Annotated[str | None, Form(max_length=40, description=(
                     "text encoding of a CSV or Shapefile attributes, e.g. gbk "
                     "(default: UTF-8, else GB18030)"))] = None,
                 datum: Annotated[str | None, Form(max_length=10, description=(
                     "datum of the coordinates: wgs84 (default), gcj02 (Amap, Tencent) or "
                     "bd09 (Baidu); converted to WGS84"))] = None,
                 x_field: Annotated[str | None, Form(max_length=100, description=(
                     "CSV of points: longitude/x column (default lon, lng, 经度...)"))] = None,
                 y_field: Annotated[str | None, Form(max_length=100, description=(
                     "CSV of points: latitude/y column (default lat, 纬度...)"))] = None,
                 author: str = Depends(writer), settings: Settings = Depends(get_settings),
                 store: Store = Depends(get_store)) -> dict:
    """Check and store a layer; its id is what plan jobs name in ``layers``.

    Refused with 413 (too large, or a read longer than ``GRIDPLAN_READ_SECONDS``), 415
    (not an accepted format) or 400/422 (unsafe or bad content: zip tricks, compressed
    files that unpack beyond the limits, deep JSON, features beyond the vertex limits,
    invalid geometry, no CRS, NaN or negative counts...), each with the problem and the fix.
    The layer is read in a process of its own (:mod:`gridplan.api.uploads.worker`).
    """
    given = {"crs": crs, "id_field": id_field, "code_field": code_field, "unit_id": unit_id,
             "households": households, "population_field": population_field, "layer": layer,
             "encoding": encoding, "datum": datum, "x_field": x_field, "y_field": y_field}
    for field, text in {"name": name, "filename": file.filename, **given}.items():
        if text and "\x00" in text:  # no store can keep it (PostgreSQL refuses NUL)
            raise HTTPProblem(400, f"{field} holds a NUL character",
                              f"send {field} without NUL characters", field=field)
    limits = UploadLimits(max_bytes=int(settings.max_upload_mb * MB),
                          max_unzipped_bytes=int(settings.max_unpacked_mb * MB))
    dest = settings.data_dir / "layers"
    dest.mkdir(parents=True, exist_ok=True)
    saved = await save_upload(file, file.filename or "upload", dest, limits)
    options = {k: v for k, v in given.items() if v}
    readers = request.app.state.readers
    if not readers.acquire(blocking=False):
        shutil.rmtree(saved.folder, ignore_errors=True)
        raise HTTPProblem(429, f"the service is busy: {settings.read_workers} uploads are "
                               "being read", f"try again in {RETRY_AFTER} seconds",
                          headers={"Retry-After": str(RETRY_AFTER)})
    try:
        summary, notes = await run_in_threadpool(
            read_in_process, saved, kind, _for_kind(kind, options),
            geometry=settings.geometry_limits, seconds=settings.read_seconds)
    except Exception:
        shutil.rmtree(saved.folder, ignore_errors=True)
        raise
    finally:
        readers.release()
    row = {"id": saved.upload_id, "kind": kind, "name": name or saved.original_name,
           "path": str(saved.path), "summary": {**summary, "notes": notes,
                                                "format": saved.fmt, "options": options,
                                                "bytes": saved.size_bytes},
           "created": now(), "author": author}
    store.add_row("layers", row)
    return _public(row)


def _for_kind(kind: str, options: dict) -> dict:
    """The reading options that apply to a layer kind."""
    vector = {"crs", "layer", "encoding", "datum", "x_field", "y_field"}
    allowed = {"communities": vector | {"id_field", "code_field"},
               "population": vector | {"unit_id", "households", "population_field"},
               "compounds": vector, "barriers": vector, "dedicated": vector,
               "workers": {"encoding"}, "special": {"encoding"}}.get(kind, set())
    return {k: v for k, v in options.items() if k in allowed}


@router.get("", summary="List layers", dependencies=[Depends(reader)])
def list_layers(store: Store = Depends(get_store)) -> list[dict]:
    """Every uploaded layer, newest first."""
    return [_public(r) for r in store.list_rows("layers")]


@router.get("/{layer_id}", summary="A layer", dependencies=[Depends(reader)])
def get_layer(layer_id: str, store: Store = Depends(get_store)) -> dict:
    """A layer's kind, name and summary (features, CRS, bounding box, fields)."""
    return _public(store.get_row("layers", layer_id))
