"""Reads: answers to plan reads made once per version, away from the editing process.

A version of a plan never changes (history is append-only), so the answer to a read of
version *v* — the GeoJSON of its grids, a page of its units, its metrics — is the same
every time it is asked for. :class:`ReadLane` keeps those answers, compressed as sent, in
a cache keyed by the request and the version it reads (the ``version`` the query names,
or the plan's head when it names none), so a repeated read costs a dictionary lookup and
a read after an edit, which sees a new head, is made afresh. Identical reads that arrive
while one is being made wait for it instead of making it again.

Answers that are not in the cache are made by the same application in
``GRIDPLAN_READ_PROCESSES`` processes of their own (one by default): making GeoJSON and
checking plan rules holds Python's interpreter lock for tens of milliseconds to seconds,
which, in the service's own process, stalls every edit waiting for the same lock. With
``0`` they are made in the service's process, as before, and only the cache helps.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing as mp
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from urllib.parse import parse_qs

import anyio

from gridplan.errors import GridplanError

log = logging.getLogger(__name__)

READS = re.compile(r"^/(?:plans/(?P<plan>[^/]+)/(?:grids|cells|units|communities|barriers|"
                   r"metrics|staffing|map)|collections/(?P<coll>[^/]+)/items(?:/.+)?)$")
DROPPED = {b"server-timing"}  # added again by the outer ServerTiming middleware
# routes without a version parameter: always the head's ETag
UNVERSIONED = ("/communities", "/barriers")
PARENT_POLL_S = 1.0  # how often a reader process checks that the service still runs
READER_NICE = 10  # reader processes yield the CPU to the service's process
SCOPE_KEYS = ("type", "http_version", "method", "scheme", "path", "raw_path", "root_path",
              "query_string", "headers", "server", "client")


@dataclass(frozen=True)
class Answer:
    """A whole HTTP answer: status, headers, body (as sent, possibly gzipped)."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    @property
    def etag(self) -> str | None:
        """The answer's ``ETag``, if any."""
        for name, value in self.headers:
            if name.lower() == b"etag":
                return value.decode("latin-1")
        return None


def etag_matches(tag: str, if_none_match: str | None) -> bool:
    """Whether ``If-None-Match`` names ``tag`` (weak comparison) or ``*``."""
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return tag.removeprefix("W/") in tags or "*" in tags


def plan_of(path: str) -> str | None:
    """The plan a cacheable read is about, or ``None`` for any other path."""
    m = READS.match(path)
    if m is None:
        return None
    return m["plan"] or m["coll"].partition(".")[0]


class AnswerCache:
    """Answers by key, least recently used dropped beyond ``max_bytes``; thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.items: OrderedDict[tuple, Answer] = OrderedDict()
        self.lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> Answer | None:
        """The answer kept under ``key``, or ``None``."""
        with self.lock:
            answer = self.items.get(key)
            if answer is None:
                self.misses += 1
                return None
            self.hits += 1
            self.items.move_to_end(key)
            return answer

    def put(self, key: tuple, answer: Answer) -> None:
        """Keep ``answer`` (unless it alone exceeds a quarter of the budget)."""
        if len(answer.body) > self.max_bytes // 4:
            return
        with self.lock:
            old = self.items.pop(key, None)
            self.size -= len(old.body) if old else 0
            self.items[key] = answer
            self.size += len(answer.body)
            while self.size > self.max_bytes:
                _, dropped = self.items.popitem(last=False)
                self.size -= len(dropped.body)


class Readers:
    """The answers kept, the reads being made, and the reader processes of one service.

    Parameters
    ----------
    head : callable
        ``head(plan_id) -> int``, the plan's current version (raises for an unknown plan).
    settings : Settings
        Rebuilt in each reader process, which runs the same application without the lane.
    processes : int
        Reader processes; 0 makes answers in the service's process.
    cache_mb : float
        Memory for kept answers; 0 keeps none (and leaves reads to the application).
    """

    def __init__(self, *, head: Callable[[str], int], settings, processes: int,
                 cache_mb: float) -> None:
        self.head, self.settings, self.processes = head, settings, processes
        self.cache = AnswerCache(int(cache_mb * 1024 * 1024))
        self.pending: dict[tuple, asyncio.Future] = {}
        self.pool: ProcessPoolExecutor | None = None
        self.pool_lock = threading.Lock()

    def reader_pool(self) -> ProcessPoolExecutor:
        """The reader processes, started at the first read that needs them."""
        with self.pool_lock:
            if self.pool is None:
                self.pool = ProcessPoolExecutor(
                    self.processes, mp_context=mp.get_context("spawn"),
                    initializer=_start_reader, initargs=(self.settings.model_dump(),))
                log.info("%d reader process(es) started", self.processes)
            return self.pool

    def start(self) -> None:
        """Start the reader processes with the service, so that the first read does not
        wait for a new interpreter to build the application (about 2 s)."""
        if self.processes > 0 and self.cache.max_bytes > 0:
            pool = self.reader_pool()
            for _ in range(self.processes):
                pool.submit(_ready)

    def close(self) -> None:
        """Stop the reader processes, also those in the middle of an answer."""
        with self.pool_lock:
            pool, self.pool = self.pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            proc.terminate()


class ReadLane:
    """ASGI middleware: plan reads answered from the per-version cache, each made once, in
    reader processes when there are any, so that edits keep the service's process.

    Sits outside gzip, so kept answers are compressed once; the application below it
    answers every other request, and reads of unknown plans, as before.
    """

    def __init__(self, app, *, readers: Readers) -> None:
        self.app, self.readers = app, readers

    async def __call__(self, scope, receive, send):
        plan_id = plan_of(scope["path"]) if scope["type"] == "http" else None
        if plan_id is None or scope["method"] != "GET" or self.readers.cache.max_bytes <= 0:
            return await self.app(scope, receive, send)
        key = await self.key(scope, plan_id)
        if key is None:
            return await self.app(scope, receive, send)
        inm = dict(scope["headers"]).get(b"if-none-match", b"").decode("latin-1") or None
        answer = self.readers.cache.get(key)
        if answer is None:
            answer = await self.made(key, scope)
        if answer.status == 200 and answer.etag and etag_matches(answer.etag, inm):
            answer = Answer(304, ((b"etag", answer.etag.encode("latin-1")),), b"")
        await _send(send, answer)

    async def key(self, scope, plan_id: str) -> tuple | None:
        """What the answer depends on: the request and the version it reads."""
        query = scope.get("query_string", b"")
        pinned = "version" in parse_qs(query.decode("latin-1"))
        if pinned and not scope["path"].endswith(UNVERSIONED):
            version = None  # the query names it: the answer never changes
        else:
            try:
                version = await anyio.to_thread.run_sync(self.readers.head, plan_id)
            except GridplanError:
                return None  # unknown plan: the application says so
        headers = dict(scope["headers"])
        gzip = b"gzip" in headers.get(b"accept-encoding", b"").lower()
        who = hashlib.sha256(headers.get(b"x-api-key", b"") + b"\0" +
                             headers.get(b"authorization", b"")).digest()
        return (scope["path"], query, version, gzip, who, scope.get("scheme"),
                headers.get(b"host"), scope.get("root_path", ""))

    async def made(self, key: tuple, scope) -> Answer:
        """The answer to ``key``'s request, made once however many ask for it at once (in a
        task of its own, so a client that goes away does not cancel it for the others)."""
        pending, loop = self.readers.pending, asyncio.get_running_loop()
        task = pending.get(key)
        if task is None or task.get_loop() is not loop:
            task = loop.create_task(self.keep(key, scope))
            pending[key] = task
            task.add_done_callback(lambda t: _done(pending, key, t))
        return await asyncio.shield(task)

    async def keep(self, key: tuple, scope) -> Answer:
        """Make the answer and keep it when it is a success."""
        answer = await self.make(scope)
        if answer.status == 200:
            self.readers.cache.put(key, answer)
        return answer

    async def make(self, scope) -> Answer:
        """Run the request through the application, here or in a reader process."""
        if self.readers.processes > 0:
            request = {k: scope[k] for k in SCOPE_KEYS if k in scope}  # what pickles
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.readers.reader_pool(), render, request)
        return await _collect(self.app, scope)


def _done(pending: dict, key: tuple, task: asyncio.Task) -> None:
    """Forget a finished read (and retrieve its error, which its callers were given)."""
    if pending.get(key) is task:
        del pending[key]
    if not task.cancelled() and task.exception() is not None:
        log.debug("read %s failed: %r", key[0], task.exception())


async def _collect(app, scope) -> Answer:
    """Run one GET through an ASGI application and keep its whole answer."""
    start: dict = {}
    body: list[bytes] = []
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # a GET has no more body; never disconnects

    async def send(message):
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(dict(scope), receive, send)
    headers = tuple((bytes(k), bytes(v)) for k, v in start.get("headers", [])
                    if bytes(k).lower() not in DROPPED)
    return Answer(start["status"], headers, b"".join(body))


async def _send(send, answer: Answer) -> None:
    await send({"type": "http.response.start", "status": answer.status,
                "headers": list(answer.headers)})
    await send({"type": "http.response.body", "body": answer.body})


# ---- in a reader process ---------------------------------------------------------------
_reader: dict = {}


def _start_reader(settings: dict) -> None:
    """Build the application once per reader process (without the lane: no cache here).

    Reader processes run at a lower priority (``nice`` +10), so that on a busy machine the
    operating system gives the service's process — edits — the CPU first.
    """
    from gridplan.api.app import create_app
    from gridplan.api.settings import Settings

    try:
        os.nice(READER_NICE)
    except OSError:  # not allowed here: run at the same priority
        log.debug("reader process priority unchanged")
    parent = os.getppid()
    threading.Thread(target=_end_with, args=(parent,), daemon=True,
                     name="reader-watch").start()
    _reader["app"] = create_app(Settings(**settings), lane=False)
    _reader["loop"] = asyncio.new_event_loop()


def _end_with(parent: int) -> None:
    """End this reader process when the service that started it has ended (even killed)."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(0)


def _ready() -> bool:
    """Nothing: run once per reader process as the service starts (see Readers.start)."""
    return True


def render(scope: dict) -> Answer:
    """Make one answer in a reader process."""
    return _reader["loop"].run_until_complete(_collect(_reader["app"], scope))
