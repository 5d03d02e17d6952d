"""Pages: the start page for browsers at ``/`` and the API documentation at ``/docs``, both
served with their files from the package, so they work without internet (no CDN).

``/`` stays the OGC API – Features landing page (JSON) for clients that ask for JSON (GDAL,
QGIS, scripts: ``Accept: application/json``, ``*/*`` or ``?f=json``); a browser, which asks
for ``text/html`` first, gets the start page (:func:`wants_html`). The choice is made by the
:class:`StartPage` middleware in front of the routes, so the landing route stays as it is and
the page opens even where reads need a key (the page asks for it).
"""

from __future__ import annotations

import logging
import os
from importlib.resources.abc import Traversable

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from gridplan.maps.assets import DOCS_LIBRARIES, START_FILES, docs_file, start_file

log = logging.getLogger(__name__)

STATIC_START_FILES = set(START_FILES) - {"index.html"}  # index.html is the page at /
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".png": "image/png"}
CACHE = {"Cache-Control": "public, max-age=3600"}
DOCS_STATIC = "/static/docs/"

router = APIRouter(tags=["pages"])


def wants_html(request: Request) -> bool:
    """Whether a request for ``/`` comes from a browser: ``f=html``, or no ``f`` and an
    ``Accept`` header that names ``text/html`` before (or without) any JSON type.

    Examples
    --------
    >>> from starlette.requests import Request
    >>> def req(accept, query=b""):
    ...     return Request({"type": "http", "query_string": query,
    ...                     "headers": [(b"accept", accept.encode())]})
    >>> wants_html(req("text/html,application/xhtml+xml,*/*;q=0.8"))
    True
    >>> wants_html(req("application/json")), wants_html(req("*/*"))
    (False, False)
    >>> wants_html(req("text/html", b"f=json")), wants_html(req("*/*", b"f=html"))
    (False, True)
    """
    if "f" in request.query_params:
        return request.query_params.get("f") == "html"
    accept = request.headers.get("accept", "").lower()
    html = accept.find("text/html")
    if html < 0:
        return False
    json_at = [i for i in (accept.find("application/json"), accept.find("json")) if i >= 0]
    return not json_at or html < min(json_at)


def start_page() -> HTMLResponse:
    """The start page (新建规划, plan list); ``Vary: Accept`` since ``/`` is negotiated."""
    text = start_file("index.html").read_text(encoding="utf-8")
    return HTMLResponse(text, headers={"Cache-Control": "no-store", "Vary": "Accept"})


class StartPage:
    """ASGI middleware: ``GET /`` from a browser answers the start page; every answer for
    ``/`` says ``Vary: Accept`` (caches keep the page and the JSON apart)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        if wants_html(Request(scope)):
            return await start_page()(scope, receive, send)

        async def vary(message):
            if message["type"] == "http.response.start":
                message = dict(message, headers=[*message.get("headers", []),
                                                 (b"vary", b"Accept")])
            await send(message)

        await self.app(scope, receive, vary)


@router.get("/static/start/{name}", include_in_schema=False)
def start_static(name: str) -> Response:
    """The start page's module and style."""
    if name not in STATIC_START_FILES:
        raise HTTPException(404, f"no file {name}")
    return _file(start_file(name))


@router.get(DOCS_STATIC + "{name}", include_in_schema=False)
def docs_static(name: str) -> Response:
    """Swagger UI, vendored in the package (``maps/vendor``), for ``/docs``."""
    if name not in DOCS_LIBRARIES:
        raise HTTPException(404, f"no file {name}")
    return _file(docs_file(name))


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    """Swagger UI on the service's OpenAPI description, every file served by the app."""
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=root + (request.app.openapi_url or "/openapi.json"),
        title=f"{request.app.title} – API",
        swagger_js_url=root + DOCS_STATIC + "swagger-ui-bundle.js",
        swagger_css_url=root + DOCS_STATIC + "swagger-ui.css",
        swagger_favicon_url=root + DOCS_STATIC + "favicon-32x32.png",
        # no badge from the online validator (it would send the description away)
        swagger_ui_parameters={"validatorUrl": None})


def _file(path: Traversable) -> Response:
    """A packaged file (read through importlib.resources, so wheels serve it too)."""
    media = MEDIA_TYPES[os.path.splitext(path.name)[1]]
    return Response(path.read_bytes(), media_type=media, headers=CACHE)
