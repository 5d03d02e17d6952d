"""App: the FastAPI application — plans, edits, versions, features, layers, jobs, exports,
the start page and the API documentation."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from gridplan.api import errors, openapi
from gridplan.api.deps import parse_keys
from gridplan.api.jobs import JobRunner
from gridplan.api.limits import BodyLimit, HeadAsGet, JSONText, ServerTiming
from gridplan.api.reads import Readers, ReadLane
from gridplan.api.routes import (
    edits,
    features,
    jobs,
    layers,
    pages,
    params,
    plans,
    suggest,
    users,
    versions,
)
from gridplan.api.routes.pages import StartPage
from gridplan.api.settings import Settings
from gridplan.api.store import Store
from gridplan.api.store.users import Users
from gridplan.api.uploads.worker import start_readers

log = logging.getLogger(__name__)

GZIP_MIN_BYTES = 1024  # answers from this size on are gzipped for clients that accept it

DESCRIPTION = """
Community governance grids (网格化管理) as a web service: upload layers, plan in the
background, read plans as OGC API – Features collections (QGIS: *Add WFS / OGC API –
Features layer* with this server's URL), edit grids with optimistic concurrency
(`If-Match` with the plan's `ETag`), browse versions, undo/redo/restore, export.
Writes need `X-API-Key` (or `Authorization: Bearer`) or a signed-in user's token
(`POST /auth/login`, then `Authorization: Bearer <token>`); viewers read only (403 on writes),
editors edit, admins also manage users (`/users`) and lift anyone's grid locks. A browser
opening `/` gets the start page (plans, uploads, a new plan with its progress); JSON clients
(`Accept: application/json`, `*/*`, `?f=json`) get the OGC landing page. `GET /params`
describes every plan parameter (type, default, bounds, choices, Chinese label, help) for forms.

Feature pages hold 100 features unless `limit` says otherwise, at most 10,000 (larger limits
are served as 10,000; follow the `next` link). Errors answer `{"detail": …}` naming the
problem, the field and the fix: 400 for JSON that does not parse or holds text no store can
keep (lone surrogates, NUL) and for invalid OGC API query parameters, 422 for values out of
range, 429 with `Retry-After` while `GRIDPLAN_MAX_JOBS` plan jobs are running or queued —
never a 5xx for bad input. Each route lists its 4xx answers; every error body is a
`Problem` (`{"detail": {"problem", "fix", "source", "field", …}}`), or for invalid fields
`InvalidFields` (`{"detail": [{"field", "problem", "fix", "loc", "type", "msg"}, …]}`).
"""


def create_app(settings: Settings | None = None, *, lane: bool = True) -> FastAPI:
    """The gridplan web service.

    Parameters
    ----------
    settings : Settings, optional
        From the ``GRIDPLAN_*`` environment variables by default.
    lane : bool
        Answer plan reads through :class:`gridplan.api.reads.ReadLane` (per-version cache,
        reader processes); false in the reader processes themselves.

    Examples
    --------
    >>> from fastapi.testclient import TestClient                   # doctest: +SKIP
    >>> client = TestClient(create_app(Settings(data_dir="/tmp/gp")))  # doctest: +SKIP
    >>> client.get("/plans").json()                                  # doctest: +SKIP
    []
    """
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.jobs.recover()
        start_readers()
        app.state.read_lane.start()
        yield
        app.state.jobs.shutdown()
        app.state.read_lane.close()

    # /docs is served by routes.pages with Swagger UI from the package (FastAPI's own loads
    # it from a CDN: a blank page offline)
    app = FastAPI(title="gridplan", version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.store = Store(settings.store_url)
    app.state.api_keys = parse_keys(settings)
    app.state.users = Users(app.state.store)
    app.state.readers = threading.BoundedSemaphore(settings.read_workers)
    app.state.jobs = JobRunner(app.state.store, settings.job_workers,
                               settings.max_jobs, settings.geometry_limits)
    errors.install(app)
    for module in (features, plans, edits, suggest, versions, layers, jobs, users, params, pages):
        app.include_router(module.router)
    _optional_routers(app)
    openapi.install(app)  # If-Match required, each route's 4xx and the error bodies
    app.state.read_lane = Readers(head=app.state.store.head, settings=settings,
                                  processes=settings.read_processes,
                                  cache_mb=settings.read_cache_mb if lane else 0)
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=5)
    app.add_middleware(ReadLane, readers=app.state.read_lane)
    app.add_middleware(ServerTiming)
    app.add_middleware(JSONText)
    app.add_middleware(BodyLimit, upload_bytes=int(settings.max_upload_mb * 1024 * 1024),
                       json_bytes=settings.max_body_kb * 1024)
    app.add_middleware(StartPage)  # browsers at / get the start page, JSON clients the landing
    app.add_middleware(HeadAsGet)
    log.info("gridplan service on %s", settings.store_url.split("@")[-1])
    return app


def _optional_routers(app: FastAPI) -> None:
    """Routers of modules that may be absent from a slim install (exports, editor)."""
    import importlib

    for name in ("gridplan.api.routes.exports", "gridplan.api.routes.editor"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        app.include_router(module.router)
