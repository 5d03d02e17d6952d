"""Helpers for the browser tests: Debian's Chromium under Playwright, a local uvicorn server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(app, port: int | None = None) -> Iterator[str]:
    """Run an ASGI ``app`` with uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium():
    """Debian's Chromium under Playwright, headless (skips the test without Playwright)."""
    import pytest

    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def external(urls: list[str]) -> list[str]:
    """The URLs among ``urls`` that leave this machine (not localhost, file: or data:)."""
    out = []
    for url in urls:
        u = urlparse(url)
        if u.scheme in ("data", "file", "blob", "about"):
            continue
        if u.hostname not in LOCAL_HOSTS:
            out.append(url)
    return out


class PageLog:
    """Every request and JavaScript error of a Playwright page.

    ``errors`` holds uncaught exceptions and console errors; answers with an error status
    (a refused edit's 422, a missing tile's 404) are expected in some tests and are kept
    apart in ``failed_loads``.
    """

    def __init__(self, page) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.failed_loads: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", self._console)

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        if msg.text.startswith("Failed to load resource"):
            self.failed_loads.append(msg.text)
        else:
            self.errors.append(msg.text)
