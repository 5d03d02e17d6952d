"""Errors: domain errors mapped to HTTP status codes, in one place."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from gridplan.api.store import NotFound, VersionConflict, etag

from gridplan.errors import GridplanError, InputError, PlanInvariantError
from gridplan.practice.editing import EditRefused

log = logging.getLogger(__name__)


class HTTPProblem(GridplanError):
    """A request the service refuses, with the status, the problem and the fix."""

    def __init__(self, status: int, problem: str, fix: str = "", headers: dict | None = None,
                 **extra) -> None:
        super().__init__(problem)
        self.status, self.problem, self.fix = status, problem, fix
        self.headers, self.extra = headers or {}, extra


def _body(problem: str, fix: str = "", **extra) -> dict:
    return {"detail": {"problem": problem, "fix": fix, **extra}}


def install(app: FastAPI) -> None:
    """Register the handlers that turn domain errors into 4xx answers."""

    @app.exception_handler(HTTPProblem)
    async def _problem(_: Request, exc: HTTPProblem):
        return JSONResponse(_body(exc.problem, exc.fix, **exc.extra), exc.status, exc.headers)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound):
        return JSONResponse(_body(str(exc), "list what exists with GET /plans, /layers or "
                                  "/jobs"), 404)

    @app.exception_handler(VersionConflict)
    async def _conflict(_: Request, exc: VersionConflict):
        tag = etag(exc.plan_id, exc.head)
        return JSONResponse(_body(f"the plan changed: it is at version {exc.head} now",
                                  "reload the plan and redo the edit with If-Match: " + tag,
                                  etag=tag), 412, {"ETag": tag})

    @app.exception_handler(EditRefused)
    async def _refused(_: Request, exc: EditRefused):
        return JSONResponse(_body(exc.problem, exc.fix, violations=exc.violations), 422)

    @app.exception_handler(InputError)
    async def _input(_: Request, exc: InputError):
        return JSONResponse(_body(exc.problem, exc.fix or "", source=exc.source,
                                  field=exc.field), 422)

    @app.exception_handler(PlanInvariantError)
    async def _invariant(_: Request, exc: PlanInvariantError):
        return JSONResponse(_body(str(exc), "nothing was stored; report this plan"), 422)

    @app.exception_handler(GridplanError)
    async def _domain(_: Request, exc: GridplanError):
        status = getattr(exc, "status", 400)
        return JSONResponse(_body(getattr(exc, "problem", str(exc)), getattr(exc, "fix", "")
                                  or ""), status)

    @app.exception_handler(RecursionError)
    async def _deep(_: Request, exc: RecursionError):
        return JSONResponse(_body("the JSON body is nested too deeply",
                                  "send plain objects and arrays a few levels deep"), 400)
