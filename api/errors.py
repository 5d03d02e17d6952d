"""Errors: domain errors mapped to HTTP status codes, in one table."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from gridplan.api.store import NotFound, VersionConflict, etag
from gridplan.api.store.users import UserExists
from gridplan.api.uploads import UploadError
from gridplan.maps.assets import AssetMissing
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridplan.errors import GridplanError, InputError, PlanInvariantError
from gridplan.params import ParamError
from gridplan.practice.editing import EditRefused, LockHeld
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
    LockHeld: Answer(403, "ask whoever locked the grids, or an admin, to unlock them"),
    UserExists: Answer(409),  # a user name that is taken
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
    elif isinstance(exc, LockHeld):
        detail["grids"] = exc.grids
    elif isinstance(exc, HTTPProblem):
        detail.update(exc.extra)
        headers.update(exc.headers)
    return {"detail": detail}, headers


def _body(problem: str, fix: str = "", **extra) -> dict:
    return {"detail": {"problem": problem, "fix": fix, **extra}}


# Query parameters of these paths answer 400 when invalid
# (OGC API – Features, /req/core/query-param-invalid)
QUERY_400_PREFIXES = ("/collections",)
# pydantic error type → what the caller should do (``{field}`` is the dotted field name)
FIXES = {
    "missing": "add {field}",
    "extra_forbidden": "remove {field}: this endpoint does not take it (see /docs)",
    "finite_number": "send {field} as a finite number (NaN and Infinity are not JSON numbers)",
    "json_invalid": "send valid JSON (RFC 8259): double-quoted keys, no NaN or Infinity, "
                    "no trailing commas",
}


# the router's answers → (problem, fix); ``{path}`` is the path asked for
ROUTER_ANSWERS = {
    404: ("there is nothing at {path}", "check the path: the endpoints are listed at /docs"),
    405: ("{path} does not take this method", "check the method: see /docs"),
}


def _safe(value, depth: int = 0):
    """``value`` made JSON-safe for echoing: non-finite numbers as text, lone surrogates
    escaped, long or deep values cut short."""
    if depth > 4:
        return "…"
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, bool | int) or value is None:
        return value if not isinstance(value, int) or abs(value) < 10 ** 18 else str(value)[:40]
    if isinstance(value, str):
        text = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return text if len(text) <= 200 else text[:200] + "…"
    if isinstance(value, dict):
        items = list(value.items())[:20]
        return {_safe(str(k), depth + 1): _safe(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple | set):
        return [_safe(v, depth + 1) for v in list(value)[:20]]
    return _safe(str(value), depth + 1)


def validation_answer(path: str, errors) -> tuple[int, dict]:
    """Status and body for a request that failed validation: 400 when the body is not JSON
    (or an OGC query parameter is invalid), else 422; each error names its field and fix."""
    out, status = [], 422
    for err in list(errors)[:50]:
        loc = [str(p) if not isinstance(p, int) else p for p in err.get("loc", ())]
        kind = str(err.get("type", "value_error"))
        where = loc[0] if loc else "body"
        field = ".".join(str(p) for p in loc[1:]) or where
        msg = str(err.get("msg", "not valid"))
        if kind == "json_invalid" or (where == "query" and path.startswith(QUERY_400_PREFIXES)):
            status = 400
        fix = FIXES.get(kind, "correct {field}: " + msg[:1].lower() + msg[1:]).replace(
            "{field}", field, 1)
        item = {"loc": _safe(loc), "type": kind, "msg": _safe(msg), "field": _safe(field),
                "problem": _safe(f"{field}: {msg}"), "fix": _safe(fix)}
        if "input" in err and kind != "json_invalid":
            item["input"] = _safe(err["input"])
        ctx = {k: _safe(v) for k, v in (err.get("ctx") or {}).items()
               if isinstance(v, str | int | float)}
        if ctx:
            item["ctx"] = ctx
        out.append(item)
    return status, {"detail": out}


def install(app: FastAPI) -> None:
    """Register the handlers that turn domain errors into answers (4xx, or 500 for bugs)."""

    @app.exception_handler(GridplanError)
    async def _domain(_: Request, exc: GridplanError):
        status = answer(exc).status
        if status >= 500:
            log.error("%s: %s", type(exc).__name__, exc, exc_info=exc)
        body, headers = problem_body(exc)
        return JSONResponse(body, status, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        try:
            status, body = validation_answer(request.url.path, exc.errors())
            return JSONResponse(body, status)
        except Exception:  # noqa: BLE001 - an answer about bad input must never fail
            log.exception("validation answer failed")
            return JSONResponse(_body("the request is not valid",
                                      "check it against the schema at /docs"), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        # the router's own answers (no such path 404, wrong method 405): the same body
        # as every other error, with the problem and the fix
        status = exc.status_code
        problem, fix = ROUTER_ANSWERS.get(status, ("{detail}", "see /docs"))
        if exc.detail != HTTPStatus(status).phrase:  # a route's own words
            problem = "{detail}"
        problem = problem.format(path=_safe(request.url.path), detail=_safe(str(exc.detail)))
        return JSONResponse(_body(problem, fix), status, dict(exc.headers or {}))

    @app.exception_handler(RecursionError)
    async def _deep(_: Request, exc: RecursionError):
        return JSONResponse(_body("the JSON body is nested too deeply",
                                  "send plain objects and arrays a few levels deep"), 400)
