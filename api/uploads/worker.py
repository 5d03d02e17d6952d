"""Uploads: a saved upload read in a process of its own, stopped at a time limit.

A layer's read can be long (a huge polygon's repair, a large OSM extract) and can take
much memory. :func:`read_in_process` runs :func:`~gridplan.api.uploads.read.read_upload`
in a child process (forked from a server that has the readers already imported, so it
starts in milliseconds), under the vertex limits, and returns only what the service
keeps: the summary and the notes. A read still running at ``seconds`` is killed and
refused (413, naming ``GRIDPLAN_READ_SECONDS``); whatever memory it took goes back to the
system with the process. The child ends itself when the service dies, and limits its own
CPU time as well.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import resource
import threading
from multiprocessing import forkserver
from multiprocessing.connection import wait
from typing import Any

from gridplan.api.uploads.common import SavedUpload, UploadError
from gridplan.api.uploads.read import read_upload

from gridplan.errors import InputError
from gridplan.layers.vector import GeometryLimits, limited_geometry

log = logging.getLogger(__name__)

PRELOAD = ["gridplan.api.uploads.read"]
_ctx: Any = None


def _context():
    """The forkserver context; its server imports the readers once, before any fork."""
    global _ctx
    if _ctx is None:
        _ctx = mp.get_context("forkserver")
        _ctx.set_forkserver_preload(PRELOAD)
    return _ctx


def start_readers() -> None:
    """Start the fork server now (it imports the readers, a few seconds), not at the first
    upload; called when the service starts."""
    _context()
    forkserver.ensure_running()


def read_in_process(saved: SavedUpload, kind: str, options: dict, *,
                    geometry: GeometryLimits | None = None,
                    seconds: float = 120.0) -> tuple[dict, dict]:
    """Read ``saved`` as ``kind`` in a child process; its summary and notes.

    Raises what :func:`read_upload` raises (``UploadError``, ``InputError``), and
    ``UploadError(413)`` when the read takes longer than ``seconds`` (the child is
    killed) or ``InputError`` when the child dies (e.g. out of memory).
    """
    ctx = _context()
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, saved, kind, options,
                                            geometry or GeometryLimits(), seconds),
                       name=f"gridplan-read-{saved.upload_id[:8]}", daemon=True)
    proc.start()
    log.debug("reading upload %s as %s in process %s", saved.upload_id, kind, proc.pid)
    send.close()
    try:
        if not receive.poll(seconds):
            raise UploadError(
                413, f"reading the {kind} layer took longer than the {seconds:g} s limit "
                     "(GRIDPLAN_READ_SECONDS) and was stopped", source=saved.original_name,
                fix="simplify the polygons (e.g. in QGIS Vector ▸ Geometry Tools ▸ "
                    "Simplify), or split the layer into smaller areas")
        try:
            answer = receive.recv()
        except EOFError:
            proc.join(5)
            raise InputError(f"reading the {kind} layer stopped: the reading process ended "
                             f"(exit code {proc.exitcode}), e.g. out of memory",
                             source=saved.original_name,
                             fix="upload a smaller layer, or split it into areas") from None
    finally:
        receive.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)
    return _result(answer)


def _result(answer: tuple) -> tuple[dict, dict]:
    tag, *rest = answer
    if tag == "ok":
        return rest[0], rest[1]
    if tag == "upload":
        status, problem, source, fix = rest
        raise UploadError(status, problem, source=source, fix=fix)
    problem, source, field, fix = rest
    raise InputError(problem, source=source, field=field, fix=fix)


def _end_with_service() -> None:
    """End this process as soon as the service that asked for the read dies."""
    parent = mp.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(70)

    threading.Thread(target=watch, name="watch-service", daemon=True).start()


def _child(send, saved: SavedUpload, kind: str, options: dict, geometry: GeometryLimits,
           seconds: float) -> None:
    """Read and send back ``("ok", summary, notes)`` or the error's parts."""
    _end_with_service()
    cpu = int(seconds) + 5  # the parent kills at ``seconds``; this ends an orphaned child
    with contextlib.suppress(ValueError, OSError):  # a hard limit below ours: keep it
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    try:
        with limited_geometry(geometry):
            layer = read_upload(saved, kind, **options)
        answer: tuple = ("ok", layer.summary, layer.notes)
    except UploadError as exc:
        answer = ("upload", exc.status, exc.problem, exc.source, exc.fix)
    except InputError as exc:
        answer = ("input", exc.problem, exc.source, exc.field, exc.fix)
    except MemoryError:
        answer = ("input", f"reading the {kind} layer ran out of memory",
                  saved.original_name, None, "upload a smaller layer, or split it into areas")
    send.send(answer)
    send.close()
