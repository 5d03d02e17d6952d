"""Running tasks in this process or on a Dask cluster, and what a worker process measures."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import sys
import time
from collections.abc import Callable
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import shapely
from tqdm.auto import tqdm

from gridplan.engine.community import plan_community
from gridplan.engine.pipeline import StageTimer
from gridplan.errors import InputError
from gridplan.params import PlanParams

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = "20s"  # waiting for a Dask scheduler


def run_tasks(fn: Callable, jobs: dict[str, tuple], client=None, *, retries: int = 2,
              desc: str = "", progress: bool = False,
              on_result: Callable[[str, object], None] | None = None,
              sizes: dict[str, int] | None = None, unit: str = "task",
              ) -> tuple[dict, dict[str, str]]:
    """Call ``fn(*args)`` for every job; results and errors by job key.

    With a Dask ``client`` the jobs run on its workers (``retries`` passed to Dask);
    without one they run here, each retried up to ``retries`` times. A job that still
    fails is reported by key with its error; the others go on. ``on_result(key, result)``
    is called here as each job finishes (in the order they finish). The progress bar
    counts jobs, or ``sizes[key]`` of ``unit`` per job when given (communities in a batch).

    Examples
    --------
    >>> run_tasks(lambda x: 1 // x, {"a": (1,), "b": (0,)}, retries=0)
    ({'a': 1}, {'b': 'ZeroDivisionError: integer division or modulo by zero'})
    """
    results: dict = {}
    errors: dict[str, str] = {}
    step = sizes or dict.fromkeys(jobs, 1)
    bar = tqdm(total=sum(step[k] for k in jobs), desc=desc, unit=unit, disable=not progress)
    if client is None:
        for key, args in jobs.items():
            try:
                results[key] = with_retries(fn, args, retries, f"{desc} {key}")
            except Exception as exc:  # any failure of one job is reported, not fatal
                errors[key] = f"{type(exc).__name__}: {exc}"
            else:
                if on_result is not None:
                    on_result(key, results[key])
            bar.update(step[key])
    else:
        from distributed import as_completed

        futures = {client.submit(fn, *args, retries=retries, pure=False,
                                 key=f"{desc}-{key}-{os.urandom(4).hex()}"): key
                   for key, args in jobs.items()}
        for fut in as_completed(futures):
            key = futures[fut]
            if fut.status == "error":
                exc = fut.exception()
                errors[key] = f"{type(exc).__name__}: {exc}"
                log.warning("%s %s failed after %d retries: %s", desc, key, retries, exc)
            else:
                results[key] = fut.result()
                if on_result is not None:
                    on_result(key, results[key])
            fut.release()
            bar.update(step[key])
    bar.close()
    return results, errors


def with_retries(fn: Callable, args: tuple, retries: int, what: str, *,
                 final: tuple[type[Exception], ...] = ()):
    """``fn(*args)``, tried again up to ``retries`` times; exceptions of the ``final``
    types (bad input, say) are raised at once. Each failed try is logged.

    Examples
    --------
    >>> with_retries(lambda x: 1 // x, (1,), 2, "one")
    1
    """
    for attempt in range(retries + 1):
        try:
            return fn(*args)
        except final:
            raise
        except Exception as exc:
            log.warning("%s failed (attempt %d): %s", what, attempt + 1, exc)
            if attempt == retries:
                raise
    raise AssertionError("retries must be 0 or more")


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None):
    """A Dask client on a scheduler address, on a local cluster of ``workers``, or ``None``.

    The local cluster has one single-threaded process per worker (the planning code
    holds the GIL); both are closed when the block ends.
    """
    if not workers and not scheduler:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise InputError("Dask is not installed", field="--workers/--scheduler",
                         fix='pip install "gridplan[scale]"') from exc
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({exc})",
                             field="--scheduler",
                             fix="start one (dask scheduler) or check the address") from exc
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def warm_up() -> float:
    """Plan a small made-up community so that the compiled kernels are loaded; seconds taken.

    Each worker process compiles (or loads from the on-disk cache) the numba kernels
    on first use; doing it once per worker before the real tasks keeps that cost out
    of the first communities' timings.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 400, size=(60, 2))
    units = gpd.GeoDataFrame({"unit_id": [f"w{i}" for i in range(60)],
                              "building_id": [f"w{i}" for i in range(60)],
                              "households": np.full(60, 20), "population": np.full(60, 52.0),
                              "compound_id": [None] * 60},
                             geometry=gpd.points_from_xy(*xy.T), crs=32650)
    comm = SimpleNamespace(community_id="W", code=None, geometry=shapely.box(0, 0, 400, 400))
    plan_community(comm, units, None, PlanParams(), StageTimer())
    return round(time.perf_counter() - t0, 3)


def peak_mb() -> float:
    """Peak resident memory of this process, in MB: since :func:`reset_peak` where Linux
    allows it (``VmHWM``), else since the process started (``ru_maxrss``)."""
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def reset_peak() -> None:
    """In a Dask worker process, restart the peak-memory count (Linux), so that each
    task reports its own peak; elsewhere do nothing (the caller may be measuring)."""
    if "distributed" not in sys.modules:  # not imported: this is no Dask worker
        return
    try:
        sys.modules["distributed"].get_worker()
    except ValueError:
        return
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
