"""Editor routes: the grid editor page, its offline static files and a plan's coverage map."""

from __future__ import annotations

import html
import logging
import os
from importlib.resources.abc import Traversable
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse, Response
from gridplan.api.deps import get_store, reader
from gridplan.api.store import Store
from gridplan.maps.assets import EDITOR_FILES, LIBRARIES, editor_file, leaflet_images, library_file

from gridplan.errors import GridplanError

log = logging.getLogger(__name__)

STATIC_EDITOR_FILES = set(EDITOR_FILES) - {"index.html"}  # index.html is the page route
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".png": "image/png"}
CACHE = {"Cache-Control": "public, max-age=3600"}
TILES_ENV = "GRIDPLAN_EDITOR_TILES"  # default base map: none, osm, amap or a tile URL
Tiles = Annotated[str | None, Query(max_length=500, description="Base map: none, osm, amap "
                                    "(Gaode, GCJ-02) or a tile URL with {z}/{x}/{y}")]

router = APIRouter(tags=["editor"])


def default_tiles() -> str:
    """The editor's base map unless the URL says otherwise: ``$GRIDPLAN_EDITOR_TILES`` or none.

    ``none`` suits machines without internet; planners change it in the editor's settings.

    Examples
    --------
    >>> default_tiles()  # doctest: +SKIP
    'none'
    """
    return os.environ.get(TILES_ENV, "none") or "none"


@router.get("/plans/{plan_id}/editor", response_class=HTMLResponse,
            summary="Grid editor (网格编辑) for one plan")
def editor_page(plan_id: str, tasks: BackgroundTasks, tiles: Tiles = None,
                store: Store = Depends(get_store)) -> HTMLResponse:
    """The browser grid editor; every change it makes goes through the edit endpoints."""
    page = editor_file("index.html").read_text(encoding="utf-8")
    text = (page.replace("{{PLAN_ID}}", html.escape(plan_id, quote=True))
            .replace("{{TILES}}", html.escape(tiles or default_tiles(), quote=True)))
    tasks.add_task(warm_state, store, plan_id)
    return HTMLResponse(text, headers={"Cache-Control": "no-store"})


def warm_state(store: Store, plan_id: str) -> None:
    """Load the plan's editable state while the page loads, so that the planner's first
    edit does not wait for it (4.4 s on a 10,000-grid plan); once per head version."""
    try:
        store.state(plan_id)
    except GridplanError as exc:  # no such plan: the page's own reads say so
        log.debug("editor page for %s: state not loaded (%s)", plan_id, exc)


@router.get("/static/lib/{name}", include_in_schema=False)
def library(name: str) -> Response:
    """Leaflet and Leaflet-Geoman, vendored in the package (never a CDN)."""
    if name not in LIBRARIES:
        raise HTTPException(404, f"no library {name}")
    return _file(library_file(name))


@router.get("/static/lib/images/{name}", include_in_schema=False)
def library_image(name: str) -> Response:
    """Leaflet's control icons."""
    images = leaflet_images()
    if name not in images:
        raise HTTPException(404, f"no file {name}")
    return _file(images[name])


@router.get("/static/editor/{name}", include_in_schema=False)
def editor_static(name: str) -> Response:
    """The editor's own modules and style, typed by name (modules run only as JavaScript)."""
    if name not in STATIC_EDITOR_FILES:
        raise HTTPException(404, f"no file {name}")
    return _file(editor_file(name))


@router.get("/plans/{plan_id}/map", response_class=HTMLResponse, dependencies=[Depends(reader)],
            summary="Coverage map (网格覆盖图) of a plan as one offline HTML page")
def coverage_map(plan_id: str, version: Annotated[int | None, Query(ge=1)] = None,
                 lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh", tiles: Tiles = None,
                 gcj02: bool = False, store: Store = Depends(get_store)) -> HTMLResponse:
    """Grids by household deviation, workers, service points, walking bands, uncovered
    households; Leaflet inlined, so the page works without internet (except its tiles)."""
    from gridplan.maps.coverage import MapOptions, render_html

    plan = store.plan_at(plan_id, version)
    text = render_html(plan, lang=lang, options=MapOptions(tiles=tiles or default_tiles(),
                                                           gcj02=gcj02))
    return HTMLResponse(text)


def _file(path: Traversable) -> Response:
    """A packaged file (read through importlib.resources, so wheels serve it too)."""
    media = MEDIA_TYPES[os.path.splitext(path.name)[1]]
    return Response(path.read_bytes(), media_type=media, headers=CACHE)
