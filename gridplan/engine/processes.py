"""Processes: plan communities on several CPU cores, results in community order.

Communities are planned independently (:func:`gridplan.engine.community.plan_community`),
so :func:`gridplan.engine.pipeline.plan` hands them to a pool of forked processes when
there are enough of them to pay for it. Results come back in community order and every
community is planned exactly as in one process, so plans are the same whatever the
number of processes.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

MIN_COMMUNITIES = 8  # fewer communities: forking costs more than it saves
MIN_UNITS = 5_000  # fewer units: a plan takes a few seconds in one process
MAX_PROCESSES = 8
ENV = "GRIDPLAN_PROCESSES"  # set to a number to override the automatic choice

_TASK: Callable[[int], Any] | None = None  # the task of the running pool, inherited by fork


def auto_processes(n_communities: int, n_units: int, min_units: int = MIN_UNITS) -> int:
    """How many processes to plan ``n_communities`` communities of ``n_units`` units on.

    The same choice serves other independent pieces of work (the blocks of a large
    tessellation), with their own ``min_units``.

    Work inside a running pool of :func:`ordered_map` (or in a cluster worker, a
    daemon process) gets one. Otherwise
    ``GRIDPLAN_PROCESSES`` (an integer ≥ 1) overrides the choice. Without it: one
    process for small plans or where processes cannot be forked (Windows, macOS),
    else one per available core, up to :data:`MAX_PROCESSES` and a quarter of the
    communities.

    Examples
    --------
    >>> auto_processes(3, 100_000)
    1
    """
    if _TASK is not None or multiprocessing.current_process().daemon:
        return 1  # inside a pool of ours, or a cluster worker: no children
    wanted = os.environ.get(ENV, "").strip()
    if wanted.isdigit() and int(wanted) >= 1:
        return int(wanted)
    if wanted:
        log.warning("%s=%r is not a whole number ≥ 1; choosing the processes automatically",
                    ENV, wanted)
    if sys.platform != "linux":  # fork is safe here; macOS and Windows only spawn
        return 1
    if n_communities < MIN_COMMUNITIES or n_units < min_units:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    return max(1, min(cores, MAX_PROCESSES, n_communities // 4))


def ordered_map(task: Callable[[int], Any], n: int, processes: int,
                what: str = "communities", send: Callable[[Any], Any] | None = None,
                receive: Callable[[Any], Any] | None = None) -> Iterator[Any]:
    """``task(0)``, …, ``task(n - 1)`` in order, on ``processes`` forked processes.

    The task is not pickled: forked processes inherit it with everything it refers
    to, and only its index and its result cross between processes. ``send`` and
    ``receive`` pack a result for that crossing and unpack it (geometries as one WKB
    array, say); they run only when results cross, so one process calls neither.

    Examples
    --------
    >>> list(ordered_map(lambda i: i * i, 4, processes=1))
    [0, 1, 4, 9]
    >>> list(ordered_map(lambda i: i * i, 4, processes=2, send=str, receive=int))
    [0, 1, 4, 9]
    """
    if processes <= 1 or n < 2:
        for i in range(n):
            yield task(i)
        return
    log.info("planning %d %s on %d processes", n, what, processes)
    packed = task if send is None else (lambda i: send(task(i)))
    with _forking(packed, processes) as pool:
        results = pool.map(_run, range(n), chunksize=max(1, n // (processes * 8)))
        yield from results if receive is None else map(receive, results)


@contextmanager
def _forking(task: Callable[[int], Any], processes: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``processes`` forked processes that inherit ``task`` (run by :func:`_run`)."""
    global _TASK
    _TASK = task
    gc.collect()
    gc.freeze()  # the children's collections leave inherited objects (and their pages) alone
    try:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(processes, mp_context=ctx) as pool:
            yield pool
    finally:
        _TASK = None
        gc.unfreeze()


def _run(i: int) -> Any:
    """Run the inherited task on index ``i`` (in a pool process)."""
    assert _TASK is not None
    return _TASK(i)


def run_alongside(tasks: list[Callable[[], Any]], n_units: int) -> None:
    """Run ``tasks``: the last on a forked process while the others run here, in order.

    For the files of a plan of ``n_units`` units (the GeoPackage, the longest, beside the
    other files and the map). One process does them all where :func:`auto_processes`
    would not fork for such a plan; an error in either process reaches the caller. One
    forked process, not one per task: each holds its own copy of what it touches (a
    second one held about 50 MB more on a 22,500-building city for no clear gain).

    Examples
    --------
    >>> done = []
    >>> run_alongside([lambda: done.append("a"), lambda: done.append("b")], n_units=10)
    >>> done
    ['a', 'b']
    """
    if len(tasks) < 2 or auto_processes(MIN_COMMUNITIES, n_units) < 2:
        for task in tasks:
            task()
        return
    with _forking(lambda i: tasks[-1](), 1) as pool:
        last = pool.submit(_run, 0)
        for task in tasks[:-1]:
            task()
        last.result()
