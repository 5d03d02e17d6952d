"""Editor routes: the grid editor page, its offline static files and a plan's coverage map."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse

from gridplan.errors import InputError
from maps.assets import EDITOR_DIR, LIBRARIES, NODE_MODULES, library_path

log = logging.getLogger(__name__)

EDITOR_FILES = {"editor.js", "editor.css", "gcj02.js"}
LEAFLET_IMAGES = NODE_MODULES / "leaflet" / "dist" / "images"
CACHE = {"Cache-Control": "public, max-age=86400"}
PlanLoader = Callable[[str, int | None], object]


def editor_router(load_plan: PlanLoader | None = None, tiles: str = "none") -> APIRouter:
    """Routes of the grid editor and of the coverage map, to include in the API app.

    Parameters
    ----------
    load_plan : callable, optional
        ``load_plan(plan_id, version) -> gridplan.pipeline.Plan``; raises ``KeyError`` for an
        unknown plan. Needed by ``GET /plans/{id}/map``; without it that route answers 501.
    tiles : str
        The editor's default base map: ``none``, ``osm``, ``amap`` or a tile URL. ``none``
        suits machines without internet; users can change it in the editor's settings.

    Examples
    --------
    >>> app.include_router(editor_router(store.load_plan, tiles="osm"))  # doctest: +SKIP
    """
    router = APIRouter(tags=["editor"])
    page = (EDITOR_DIR / "index.html").read_text(encoding="utf-8")

    @router.get("/plans/{plan_id}/editor", response_class=HTMLResponse,
                summary="Grid editor (网格编辑) for one plan")
    def editor_page(plan_id: str, tiles_: str | None = Query(None, alias="tiles")
                    ) -> HTMLResponse:
        text = (page.replace("{{PLAN_ID}}", html.escape(plan_id, quote=True))
                .replace("{{TILES}}", html.escape(tiles_ or tiles, quote=True)))
        return HTMLResponse(text, headers={"Cache-Control": "no-store"})

    @router.get("/static/lib/{name}", include_in_schema=False)
    def library(name: str) -> FileResponse:
        if name not in LIBRARIES:
            raise HTTPException(404, f"no library {name}")
        try:
            path = library_path(name)
        except InputError as exc:
            raise HTTPException(503, str(exc)) from exc
        return FileResponse(path, headers=CACHE)

    @router.get("/static/lib/images/{name}", include_in_schema=False)
    def library_image(name: str) -> FileResponse:
        return _file(LEAFLET_IMAGES, name, {p.name for p in LEAFLET_IMAGES.glob("*.png")})

    @router.get("/static/editor/{name}", include_in_schema=False)
    def editor_file(name: str) -> FileResponse:
        return _file(EDITOR_DIR, name, EDITOR_FILES)

    @router.get("/plans/{plan_id}/map", response_class=HTMLResponse,
                summary="Coverage map (网格覆盖图) of a plan as one offline HTML page")
    def coverage_map(plan_id: str, version: int | None = None,
                     lang: str = Query("zh", pattern="^(zh|en)$"),
                     tiles_: str | None = Query(None, alias="tiles"),
                     gcj02: bool = False) -> HTMLResponse:
        if load_plan is None:
            raise HTTPException(501, "this server has no plan store for maps")
        from maps.coverage import MapOptions, render_html

        try:
            plan = load_plan(plan_id, version)
        except KeyError as exc:
            raise HTTPException(404, f"no plan {plan_id!r}") from exc
        try:
            text = render_html(plan, lang=lang,
                               options=MapOptions(tiles=tiles_ or tiles, gcj02=gcj02))
        except InputError as exc:
            raise HTTPException(422, {"problem": exc.problem, "fix": exc.fix}) from exc
        return HTMLResponse(text)

    return router


def _file(folder: Path, name: str, allowed: set[str]) -> FileResponse:
    if name not in allowed:
        raise HTTPException(404, f"no file {name}")
    return FileResponse(folder / name, headers=CACHE)


__all__ = ["editor_router"]
