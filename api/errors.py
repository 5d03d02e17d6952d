"""Errors: domain errors mapped to HTTP status codes, in one table."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from gridplan.api.store import NotFound, VersionConflict, etag
from gridplan.api.uploads import UploadError
from gridplan.maps.assets import AssetMissing

from gridplan.errors import GridplanError, InputError, PlanInvariantError
from gridplan.params import ParamError
from gridplan.practice.editing import EditRefused
from gridplan.scale.driver import PartialPlanError

log = logging.getLogger(__name__)


class HTTPProblem(GridplanError):
    """A request the service refuses, with the status, the problem and the fix."""

    def __init__(self, status: int, problem: str, fix: str = "", headers: dict | None = None,
                 **extra) -> None:
        super().__init__(problem, fix=fix or None)
        self.status = status
        self.headers, self.extra = headers or {}, extra


@dataclass(frozen=True)
class Answer:
    """How the API answers a domain error.

    ``status`` ``None`` means the error carries its own (``exc.status``); ``fix`` is
    said when the error names none.
    """

    status: int | None
    fix: str = ""


# Every GridplanError class of gridplan → its answer (tests check that none is missing).
ANSWERS: dict[type[GridplanError], Answer] = {
    InputError: Answer(422),  # bad data in well-formed input
    ParamError: Answer(422),  # a plan parameter out of its range
    EditRefused: Answer(422),  # an edit that would break a plan rule
    NotFound: Answer(404, "list what exists with GET /plans, /layers or /jobs"),
    VersionConflict: Answer(412),  # If-Match names a version that is no longer the head
    PlanInvariantError: Answer(500, "nothing was stored; report this plan"),  # a bug
    AssetMissing: Answer(500),  # a broken install: the error names the file and the fix
    UploadError: Answer(None),  # 413 too large, 415 format refused, 400 malformed
    HTTPProblem: Answer(None),  # the status the route chose
    PartialPlanError: Answer(400),
    GridplanError: Answer(400),
}


def answer(exc: GridplanError) -> Answer:
    """The table's answer for ``exc`` (its nearest listed class), with its status resolved.

    Examples
    --------
    >>> answer(InputError("no households")).status
    422
    >>> answer(HTTPProblem(409, "there is no edit to undo")).status
    409
    """
    found = next(ANSWERS[c] for c in type(exc).__mro__ if c in ANSWERS)
    if found.status is None:
        return Answer(int(getattr(exc, "status", 400)), found.fix)
    return found


def problem_body(exc: GridplanError) -> tuple[dict, dict]:
    """JSON body (``{"detail": {problem, fix, source, field, ...}}``) and headers of an error."""
    detail = {**GridplanError.to_dict(exc), "fix": exc.fix or answer(exc).fix}
    headers: dict = {}
    if isinstance(exc, VersionConflict):
        tag = etag(exc.plan_id, exc.head)
        detail.update(problem=f"the plan changed: it is at version {exc.head} now",
                      fix="reload the plan and redo the edit with If-Match: " + tag, etag=tag)
        headers["ETag"] = tag
    elif isinstance(exc, EditRefused):
        detail["violations"] = exc.violations
    elif isinstance(exc, HTTPProblem):
        detail.update(exc.extra)
        headers.update(exc.headers)
    return {"detail": detail}, headers


def _body(problem: str, fix: str = "", **extra) -> dict:
    return {"detail": {"problem": problem, "fix": fix, **extra}}


def install(app: FastAPI) -> None:
    """Register the handlers that turn domain errors into answers (4xx, or 500 for bugs)."""

    @app.exception_handler(GridplanError)
    async def _domain(_: Request, exc: GridplanError):
        status = answer(exc).status
        if status >= 500:
            log.error("%s: %s", type(exc).__name__, exc, exc_info=exc)
        body, headers = problem_body(exc)
        return JSONResponse(body, status, headers)

    @app.exception_handler(RecursionError)
    async def _deep(_: Request, exc: RecursionError):
        return JSONResponse(_body("the JSON body is nested too deeply",
                                  "send plain objects and arrays a few levels deep"), 400)
