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
