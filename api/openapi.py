"""OpenAPI: the description says what the service really does — ``If-Match`` required on
every edit, each route's 4xx answers, and the error bodies as they are sent.

FastAPI derives the description from the routes' signatures, which cannot say this: the
``If-Match`` header is read as optional so that its absence is answered 428 (not 422), and
the errors are answered by :mod:`gridplan.api.errors`, not by FastAPI. :func:`install`
completes the generated description from what each operation declares (its path, method
and headers: the API key of ``deps.writer``/``deps.reader``, the ``If-Match`` of
``deps.if_match``), so a new route that writes, reads or edits is described like the
others without listing it here.
"""

from __future__ import annotations

from fastapi import FastAPI

# the error bodies (gridplan.api.errors): one problem, or a list of invalid fields
PROBLEM = {
    "title": "Problem",
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {
        "type": "object",
        "required": ["problem", "fix"],
        "properties": {
            "problem": {"type": "string", "description": "What is wrong"},
            "fix": {"type": "string", "description": "What to do about it"},
            "source": {"type": ["string", "null"], "description": "The file concerned"},
            "field": {"type": ["string", "null"],
                      "description": "The field or parameter concerned, e.g. params.tolerance"},
            "etag": {"type": "string", "description": "412/428: the plan's current ETag"},
            "violations": {"type": "array", "items": {"type": "object"},
                           "description": "422 from an edit: each plan rule it would break"},
        },
        "additionalProperties": True,
    }},
}
INVALID_FIELDS = {
    "title": "InvalidFields",
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {
        "type": "array",
        "maxItems": 50,
        "items": {
            "type": "object",
            "required": ["loc", "type", "msg", "field", "problem", "fix"],
            "properties": {
                "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                "type": {"type": "string", "description": "e.g. missing, finite_number"},
                "msg": {"type": "string"},
                "field": {"type": "string", "description": "Dotted name of the field"},
                "problem": {"type": "string"},
                "fix": {"type": "string"},
                "input": {"description": "The value sent, made JSON-safe and cut short"},
                "ctx": {"type": "object"},
            },
        },
    }},
}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
EITHER = {"anyOf": [PROBLEM_REF, {"$ref": "#/components/schemas/InvalidFields"}]}

ANSWERS = {
    400: "The request cannot be read (a list of fields for JSON that does not parse): JSON "
         "that does not parse, is not UTF-8, holds a NUL or "
         "a lone surrogate (\\ud800) or is nested too deeply; a NUL in the URL",
    401: "No valid API key or sign-in token: send X-API-Key: <key> or Authorization: "
         "Bearer <key or token> (POST /auth/login gives a token)",
    403: "The caller's role may not do this (viewer: read only; admin: users and anyone's "
         "locks), or the grid's lock is another user's",
    404: "No such plan, version, layer, job, collection or feature",
    409: "Nothing to undo or redo; or a user of that name exists already",
    412: "If-Match names an earlier version: someone else edited the plan; the answer's "
         "ETag header (and detail.etag) is the current version's",
    413: "The JSON body is larger than GRIDPLAN_MAX_BODY_KB",
    415: "The upload's format is not accepted, or its extension does not match its content",
    422: "A value out of range or of the wrong type (a list of the invalid fields), or data "
         "or an edit that breaks a rule (one problem, with the rules it breaks)",
    428: "If-Match is missing: GET the plan and send its ETag",
    429: "Too busy: wait the Retry-After seconds",
}
UPLOAD = {400: "Unsafe or malformed content: zip tricks (paths, links, encryption, nesting), "
               "archives or compressed XML beyond the unpacking limits, XML with a DOCTYPE, "
               "JSON nested too deeply; or a NUL in a form field",
          413: "The upload is larger than GRIDPLAN_MAX_UPLOAD_MB, or its read took longer "
               "than GRIDPLAN_READ_SECONDS",
          422: "Bad data, named with the file, the field and the fix: no CRS, swapped "
               "axes, missing fields, NaN or negative counts, duplicate ids, features beyond "
               "the vertex limits...",
          429: "GRIDPLAN_READ_WORKERS uploads are being read: wait the Retry-After seconds"}
OGC_400 = ("An invalid or unknown query parameter (OGC API – Features "
           "/req/core/query-param-invalid), or a NUL in the URL")
IF_MATCH = ("The plan's ETag from GET /plans/{plan_id} (or the last edit's answer): the edit "
            "applies only if the plan is still at that version (412 otherwise, 428 without "
            "it)")


def answers(path: str, method: str, op: dict) -> dict[int, str]:
    """The 4xx statuses the operation ``method path`` may answer, each with what it means
    there (from what the operation declares: its path, method and headers)."""
    headers = {p["name"].lower() for p in op.get("parameters", ()) if p["in"] == "header"}
    codes = {400, 422}
    if "{" in path:
        codes.add(404)
    if {"x-api-key", "authorization"} & headers:  # a write key, or a read key when closed
        codes.add(401)
        if method in ("post", "put", "patch", "delete"):
            codes.add(403)
    if path.startswith("/auth/") and method == "post":  # a wrong password, no session
        codes.add(401)
    if method in ("post", "put", "patch"):
        codes.add(413)
    if path == "/users" and method == "post":
        codes.add(409)
    if "if-match" in headers:
        codes |= {412, 428}
        if path.endswith(("/undo", "/redo")):
            codes.add(409)
    if (path, method) == ("/jobs", "post"):
        codes.add(429)
    upload = (path, method) == ("/layers", "post")
    if upload:
        codes |= {415, 429}
    out = {c: ANSWERS[c] for c in sorted(codes)}
    if upload:
        out.update(UPLOAD)
    elif path.startswith("/collections"):
        out[400] = OGC_400
    return out


def describe(schema: dict) -> dict:
    """Complete a generated OpenAPI ``schema`` of the service in place; returns it.

    Examples
    --------
    >>> op = {"parameters": [{"name": "If-Match", "in": "header", "required": False}],
    ...       "responses": {"200": {}}}
    >>> done = describe({"paths": {"/plans/{plan_id}/undo": {"post": op}}})
    >>> op["parameters"][0]["required"], sorted(op["responses"])
    (True, ['200', '400', '404', '409', '412', '413', '422', '428'])
    """
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"], schemas["InvalidFields"] = PROBLEM, INVALID_FIELDS
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for path, operations in schema.get("paths", {}).items():
        for method, op in operations.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            for code, text in answers(path, method, op).items():
                body = EITHER if code in (400, 422) else PROBLEM_REF
                op["responses"][str(code)] = {
                    "description": text, "content": {"application/json": {"schema": body}}}
            for param in op.get("parameters", ()):
                if param["in"] == "header" and param["name"].lower() == "if-match":
                    param.update(required=True, description=IF_MATCH,
                                 schema={"type": "string", "title": "If-Match"})
    return schema


def install(app: FastAPI) -> None:
    """Serve the completed description at ``/openapi.json`` (and ``/docs``)."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = describe(generate())
        return app.openapi_schema

    app.openapi = openapi
