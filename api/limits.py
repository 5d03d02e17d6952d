"""Limits: refuse request bodies above the configured size before they are read whole."""

from __future__ import annotations

import json
import time

UPLOAD_PREFIXES = ("/layers",)


class BodyLimit:
    """ASGI middleware: 413 for bodies over ``upload_bytes`` (uploads) or ``json_bytes``.

    The declared Content-Length is checked first; chunked bodies are counted as they
    arrive, so an oversized body is never buffered whole.
    """

    def __init__(self, app, *, upload_bytes: int, json_bytes: int) -> None:
        self.app, self.upload_bytes, self.json_bytes = app, upload_bytes, json_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        upload = scope["path"].startswith(UPLOAD_PREFIXES)
        limit = self.upload_bytes if upload else self.json_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _too_large(send, limit, upload)
        seen = 0
        started = False

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except _TooLarge:
            if not started:
                await _too_large(send, limit, upload)


class _TooLarge(Exception):
    pass


async def _too_large(send, limit: int, upload: bool) -> None:
    what = "upload" if upload else "JSON body"
    body = json.dumps({"detail": {
        "problem": f"the {what} is larger than {limit // 1024:,} KiB",
        "fix": ("split the layer or raise GRIDPLAN_MAX_UPLOAD_MB" if upload else
                "send fewer items per request")}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class ServerTiming:
    """ASGI middleware: a ``Server-Timing: app;dur=<ms>`` header on every answer."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        body: list = []

        async def timed_send(message):
            if message["type"] == "http.response.start":
                body.append(message)
                return
            if body:
                start = body.pop()
                ms = (time.perf_counter() - t0) * 1000
                start["headers"] = [*start.get("headers", []),
                                    (b"server-timing", f"app;dur={ms:.2f}".encode())]
                await send(start)
            await send(message)

        await self.app(scope, receive, timed_send)


class JSONText:
    """ASGI middleware: 400 for text no answer or store could write back — a NUL character
    in the path or query (PostgreSQL refuses it), and a JSON request body that is not
    UTF-8 or holds a lone UTF-16 surrogate (``"\\ud800"``) or a NUL (``"\\u0000"``).

    Runs inside :class:`BodyLimit`, so the body it buffers is already bounded.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        query = scope.get("query_string", b"")
        if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
            return await _answer(send, 400, "the URL holds a NUL character (%00)",
                                 "leave NUL characters out of paths, ids and parameters")
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        ctype = dict(scope.get("headers") or []).get(b"content-type", b"").split(b";")[0]
        if not (ctype.strip().lower().endswith((b"/json", b"+json"))):
            return await self.app(scope, receive, send)
        chunks, more, tail = [], True, []
        while more:
            message = await receive()
            if message["type"] != "http.request":
                tail.append(message)
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = _text_problem(body)
        if problem:
            return await _answer(send, 400, *problem)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return tail.pop(0) if tail else await receive()

        await self.app(scope, replay, send)


def _text_problem(body: bytes) -> tuple[str, str] | None:
    """Why a JSON body cannot be read as text (problem, fix), or ``None``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (f"the JSON body is not UTF-8 (byte {exc.start})", "send the body as UTF-8")
    try:
        value = json.loads(text)
    except RecursionError:
        return ("the JSON body is nested too deeply",
                "send plain objects and arrays a few levels deep")
    except ValueError:
        return None  # malformed JSON: the validation answer says where (400)
    if "\\u" not in text:
        return None
    where = _unstorable_at(value, "")
    if where is None:
        return None
    return (f"the JSON body has a NUL character or a lone UTF-16 surrogate (a \\ud800–\\udfff "
            f"escape without its pair) in {where or 'the body'}",
            "leave out \\u0000, and send text as valid Unicode (pair high and low surrogates)")


def _unstorable_at(value, path: str) -> str | None:
    """The path of the first string (or key) in ``value`` holding a lone surrogate or NUL."""
    stack = [(value, path)]
    while stack:
        v, p = stack.pop()
        if isinstance(v, str):
            if not _encodable(v):
                return p
        elif isinstance(v, dict):
            for k, item in v.items():
                name = f"{p}.{k}" if p else str(k)
                if not _encodable(k):
                    return (p + "." if p else "") + k.encode("utf-8", "backslashreplace").decode()
                stack.append((item, name))
        elif isinstance(v, list):
            stack.extend((item, f"{p}[{i}]") for i, item in enumerate(v))
    return None


def _encodable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def _answer(send, status: int, problem: str, fix: str, headers=()) -> None:
    body = json.dumps({"detail": {"problem": problem, "fix": fix}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


class HeadAsGet:
    """ASGI middleware: ``HEAD`` answered as ``GET`` would be, headers and status alike,
    without the body (RFC 9110 §9.3.2)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def headless(message):
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app(dict(scope, method="GET"), receive, headless)
