"""Jobs: plans made in the background, in their own process, with progress and cancel."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import socket
import threading
import time
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path

from gridplan.api.store import Store
from gridplan.api.store.store import now

from gridplan.engine.pipeline import plan
from gridplan.errors import GridplanError
from gridplan.layers.load import PLAN_OPTIONS, load_inputs
from gridplan.layers.vector import GeometryLimits, limited_geometry
from gridplan.params import ParamError
from gridplan.run import demo_options

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
STOPPED = {"problem": "the service stopped while this job ran",
           "fix": "start it again (POST /jobs with the same parameters)"}


class JobRunner:
    """Start, watch and cancel plan jobs; each runs in a fresh process (spawned).

    A job that dies without finishing (killed, out of memory) is marked failed; a
    plan is stored in one transaction at the end, so a job that stops part-way
    stores nothing. A job process ends itself when its service dies (it watches the
    parent's sentinel), and jobs a dead service left active are marked failed by
    :meth:`recover` when the service starts again.
    """

    def __init__(self, store: Store, slots: int = 1, max_jobs: int = 4,
                 geometry: GeometryLimits | None = None) -> None:
        self.store = store
        self.geometry = geometry
        self.slots = threading.Semaphore(slots)
        self.max_jobs = max_jobs
        self.active: set[str] = set()
        self.lock = threading.Lock()
        self.procs: dict[str, mp.Process] = {}
        self.cancelled: set[str] = set()
        self.ctx = mp.get_context("spawn")

    def recover(self) -> list[str]:
        """Mark failed the jobs left queued or running by a service that stopped; their ids.

        A job row names the service that runs it (host and process id, never shown by the
        API) and is touched by it every ``HEARTBEAT`` seconds. A job is failed when its row
        was not touched for ``STALE`` seconds, or at once when its service's process is
        gone from this host.
        """
        left = [r["id"] for r in self.store.list_rows("jobs")
                if r["status"] in ACTIVE and r["id"] not in self.active
                and not _service_alive((r["params"] or {}).get(SERVICE), r["updated"])]
        for job_id in left:
            self.store.update_job(job_id, status="failed", stage="stopped", error=STOPPED)
        if left:
            log.warning("marked %d job(s) failed: the service stopped while they ran",
                        len(left))
        return left

    def submit(self, spec: dict, author: str) -> dict | None:
        """Queue a plan job; returns its row, or ``None`` when ``max_jobs`` are active."""
        with self.lock:
            if len(self.active) >= self.max_jobs:
                return None
            job_id = uuid.uuid4().hex[:12]
            self.active.add(job_id)
        stamp = now()
        row = {"id": job_id, "status": "queued", "stage": "queued", "percent": 0.0,
               "params": {**spec, SERVICE: service_id()}, "plan_id": None, "error": None,
               "created": stamp, "updated": stamp, "author": author}
        try:
            self.store.add_row("jobs", row)
        except BaseException:
            self._done(job_id)
            raise
        threading.Thread(target=self._run, args=(job_id, spec, author), daemon=True).start()
        return row

    def _done(self, job_id: str) -> None:
        with self.lock:
            self.active.discard(job_id)

    def _run(self, job_id: str, spec: dict, author: str) -> None:
        try:
            self._run_process(job_id, spec, author)
        finally:
            self._done(job_id)

    def _run_process(self, job_id: str, spec: dict, author: str) -> None:
        while not self.slots.acquire(timeout=HEARTBEAT):
            if job_id in self.cancelled:
                return
            self._touch(job_id)
        try:
            if job_id in self.cancelled:
                return
            proc = self.ctx.Process(target=run_job, args=(self.store.url, job_id, spec, author,
                                                          os.getpid(), self.geometry),
                                    daemon=True)
            self.procs[job_id] = proc
            proc.start()
            proc.join(HEARTBEAT)
            while proc.is_alive():
                self._touch(job_id)
                proc.join(HEARTBEAT)
            self.procs.pop(job_id, None)
        finally:
            self.slots.release()
        row = self.store.get_row("jobs", job_id)
        if row["status"] in ACTIVE and job_id not in self.cancelled:
            self.store.update_job(job_id, status="failed", stage="stopped", error={
                "problem": f"the planning process stopped unexpectedly (exit code "
                           f"{proc.exitcode})", "fix": "run the job again; if it stops again, "
                           "plan fewer communities per job"})

    def _touch(self, job_id: str) -> None:
        """Mark a waiting or running job's row as alive (its ``updated`` time)."""
        if job_id not in self.cancelled:
            try:
                self.store.update_job(job_id)
            except Exception:  # noqa: BLE001 - a missed heartbeat only ages the row
                log.warning("could not touch job %s", job_id, exc_info=True)

    def cancel(self, job_id: str) -> dict:
        """Stop a queued or running job; a finished job is left as it is."""
        row = self.store.get_row("jobs", job_id)
        if row["status"] not in ACTIVE:
            return row
        self.cancelled.add(job_id)
        proc = self.procs.get(job_id)
        if proc is not None and proc.is_alive():
            proc.terminate()
            proc.join(10)
        self.store.update_job(job_id, status="cancelled", stage="cancelled")
        self._done(job_id)
        return self.store.get_row("jobs", job_id)

    def shutdown(self) -> None:
        """Stop every running job (the service is stopping)."""
        for job_id in list(self.procs):
            self.cancel(job_id)


def job_inputs(store: Store, spec: dict) -> dict:
    """``gridplan plan`` options for a job: layer ids become the stored files' paths."""
    kw = dict(spec.get("params") or {})
    if spec.get("demo"):
        kw.update(demo_options())
    datums = {}
    for option, key in (("communities", "communities"), ("population", "population"),
                        ("osm", "osm"), ("compounds", "compounds"), ("barriers", "barriers"),
                        ("special_path", "special"), ("dedicated_path", "dedicated")):
        layer_id = (spec.get("layers") or {}).get(key)
        if layer_id:
            row = store.get_row("layers", layer_id)
            given = row["summary"].get("options", {})
            # the layer named at upload, and the datum, apply to this layer alone
            kw[option] = str(Path(row["path"])) + (f":{given['layer']}"
                                                   if given.get("layer") else "")
            if given.get("datum"):
                datums[key] = given["datum"]
            for upload_opt, plan_opt in LAYER_OPTIONS.get(key, {}).items():
                value = given.get(upload_opt)
                if value and plan_opt not in (spec.get("params") or {}):
                    kw[plan_opt] = value
    if datums and "datum" not in (spec.get("params") or {}):
        kw["datum"] = ",".join(f"{kind}={datum}" for kind, datum in datums.items())
    return kw


# options given at upload → the plan option they stand for (unless the job sets it)
LAYER_OPTIONS = {kind: {name: PLAN_OPTIONS[name] for name in names} for kind, names in (
    ("communities", ("id_field", "code_field", "crs")),
    ("population", ("unit_id", "households", "population_field", "crs", "encoding",
                    "x_field", "y_field")))}


SERVICE = "_service"  # key of a job's params naming the service that runs it


def service_id() -> str:
    """This service process: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


HEARTBEAT = 30.0  # seconds between touches of an active job's row by its service
STALE = 3 * HEARTBEAT  # an active job untouched this long has lost its service


def _service_alive(service: str | None, updated: datetime | None = None) -> bool:
    """Whether the service that ran a job may still be running: its row was touched in the
    last ``STALE`` seconds and, on this host, its process (not this one) lives."""
    host, _, pid = (service or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        if int(pid) == os.getpid():
            return False  # this process is starting: whatever it ran before died with it
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
    if updated is None:
        return False
    if updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
    return (datetime.now(UTC) - updated).total_seconds() < STALE


def watch_parent(parent_pid: int | None = None) -> threading.Thread:
    """End this (job) process as soon as its parent, the service, dies.

    Waits on the parent's sentinel (a pipe the parent holds open) where multiprocessing
    gives one, else checks the parent pid twice a second.
    """
    parent = mp.parent_process()

    def watch() -> None:
        if parent is not None and parent.sentinel is not None:
            from multiprocessing.connection import wait

            wait([parent.sentinel])
        else:
            while os.getppid() == parent_pid:
                time.sleep(0.5)
        os._exit(70)

    thread = threading.Thread(target=watch, name="watch-parent", daemon=True)
    thread.start()
    return thread


def run_job(url: str, job_id: str, spec: dict, author: str,
            parent_pid: int | None = None, geometry: GeometryLimits | None = None) -> None:
    """Plan in this (child) process and store the result; the job row tells how it went.

    The layers are read under the service's vertex limits (``geometry``).
    """
    if parent_pid is not None:
        watch_parent(parent_pid)
    store = Store(url)
    last = [0.0, 0.0]

    def progress(stage: str, fraction: float) -> None:
        percent = round(5 + 85 * fraction, 1)
        if percent - last[0] >= 1 or time.monotonic() - last[1] > 2:
            last[:] = [percent, time.monotonic()]
            store.update_job(job_id, stage=stage, percent=percent)

    try:
        store.update_job(job_id, status="running", stage="reading layers", percent=1.0)
        with limited_geometry(geometry or GeometryLimits()):
            inputs = load_inputs(job_inputs(store, spec))
        result = plan(**inputs, on_progress=progress)
        store.update_job(job_id, stage="storing the plan", percent=92.0)
        info = store.create_plan(result, name=spec.get("name") or "plan", author=author)
        store.update_job(job_id, status="done", stage="done", percent=100.0,
                         plan_id=info["id"])
    except GridplanError as exc:
        if isinstance(exc, ParamError):
            exc = exc.spelled(f"params.{exc.field}")
        names = _layer_names(store, spec)
        store.update_job(job_id, status="failed", stage="failed", error={
            k: _hide_paths(getattr(exc, k, None), names)
            for k in ("problem", "source", "field", "fix")})
    except Exception as exc:  # noqa: BLE001 - a job reports every failure instead of dying
        log.error("job %s failed:\n%s", job_id, traceback.format_exc())
        store.update_job(job_id, status="failed", stage="failed", error={
            "problem": f"planning failed: {type(exc).__name__}: {exc}",
            "fix": "check the layers; report the problem with the job id if they are right"})


def _layer_names(store: Store, spec: dict) -> dict[str, str]:
    """Server paths of a job's layers → how the user knows them."""
    out = {}
    for layer_id in (spec.get("layers") or {}).values():
        if layer_id:
            row = store.get_row("layers", layer_id)
            out[row["path"]] = f"layer {layer_id} ({row['name']})"
    return out


def _hide_paths(text, names: dict[str, str]):
    """``text`` with server paths replaced by layer names (paths are never shown)."""
    if not isinstance(text, str):
        return text
    for path, name in names.items():
        text = text.replace(path, name)
    return text
