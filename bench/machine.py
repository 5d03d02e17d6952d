"""What the machine gives parallel work: two processes against one, and a forked child's memory.

gridplan plans communities on forked processes and writes ``plan.gpkg`` on one beside the
other files. How much that gains depends on the machine as much as on gridplan:

- **two processes against one**: the same CPU-bound work (a Python loop; numpy sorts and
  element-wise maths) done by one process, then shared by two. On a machine with two real
  cores the speed-up is close to 2; a virtual machine whose vCPUs share cores gives less.
- **a page copied on write**: a forked child that writes to memory it shares with its
  parent (every Python object it touches, every hole in the parent's heap it fills) gets a
  page fault and a copy of the page. The figure is the cost per page.
- **a page touched first**: memory a process has never used costs a fault to map and zero.

Examples
--------
::

    python -m bench.machine              # three rounds of each
    python -m bench.machine --rounds 5 --json /tmp/machine.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import time

import numpy as np

TASKS = 8  # pieces of work, shared out to the processes
PAGE = os.sysconf("SC_PAGE_SIZE")


def python_work(_: int) -> int:
    """A pure-Python loop (the interpreter's own speed)."""
    s = 0
    for i in range(3_000_000):
        s += i * i % 7
    return s


def numpy_work(_: int) -> float:
    """Sorts and element-wise maths (numpy's compiled loops; no BLAS, whose own threads
    would make two processes compete for the cores)."""
    a = np.random.default_rng(0).random(1_000_000)
    for _ in range(12):
        a = np.sort(np.sin(a * 3.7) % 1.0)
    return float(a.sum())


def seconds_on(work, processes: int) -> float:
    """Seconds for :data:`TASKS` calls of ``work`` on ``processes`` forked processes."""
    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(processes) as pool:
        pool.map(work, range(TASKS))
    return time.perf_counter() - t0


def speed_probe(rounds: int = 3) -> dict[str, float]:
    """Seconds of one :func:`python_work`, the best of ``rounds``: here alone (``one``), and
    on each of two processes at once (``two``). ``one`` is how fast the machine runs Python
    this minute; ``two`` above ``one`` means the two vCPUs now share a core (on the
    project's VM: about 0.23 s alone, and 0.23–0.35 s beside another)."""
    one = two = float("inf")
    with mp.get_context("fork").Pool(2) as pool:
        for _ in range(rounds):
            t0 = time.perf_counter()
            python_work(0)
            one = min(one, time.perf_counter() - t0)
            t0 = time.perf_counter()
            pool.map(python_work, range(2), chunksize=1)
            two = min(two, time.perf_counter() - t0)
    return {"one": round(one, 3), "two": round(two, 3)}


def cpu_counters() -> list[int] | None:
    """The machine's CPU time counters in clock ticks (``/proc/stat``), or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            return [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None


def steal_share(before: list[int] | None, after: list[int] | None) -> float | None:
    """Share of the CPU time between two :func:`cpu_counters` readings that the hypervisor
    gave to other guests (``steal``: a vCPU had work and no core), or None.

    Examples
    --------
    >>> steal_share([10, 0, 0, 80, 0, 0, 0, 10], [20, 0, 0, 160, 0, 0, 0, 20])
    0.1
    """
    if before is None or after is None or min(len(before), len(after)) < 8:
        return None
    delta = [b - a for a, b in zip(before, after, strict=False)]
    return round(delta[7] / sum(delta), 4) if sum(delta) > 0 else 0.0


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def page_costs(megabytes: int) -> dict[str, float]:
    """Microseconds per page: copied on write in a forked child, and touched first."""
    shared = np.ones(megabytes * 2**20 // 8)  # written, so its pages are the parent's
    step = PAGE // shared.itemsize
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child writes one value per page: each write copies a page
        f0, t0 = _faults(), time.perf_counter()
        shared[::step] += 1
        seconds, faults = time.perf_counter() - t0, _faults() - f0
        os.write(write, json.dumps([seconds, faults]).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    seconds, faults = json.loads(os.read(read, 200))
    os.close(read)
    os.close(write)
    fresh = np.empty_like(shared)
    f0, t0 = _faults(), time.perf_counter()
    fresh[::step] = 1
    first = time.perf_counter() - t0
    pages = len(shared) // step
    return {"copy_on_write_us": 1e6 * seconds / max(faults, 1), "copy_faults": faults,
            "first_touch_us": 1e6 * first / pages, "first_touch_faults": _faults() - f0,
            "pages": pages}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="rounds of each measurement")
    p.add_argument("--megabytes", type=int, default=512, help="memory for the page costs")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    rows: list[dict] = []
    print(f"{os.cpu_count()} CPUs; page {PAGE} B")
    for r in range(args.rounds):
        for name, work in (("python loop", python_work), ("numpy", numpy_work)):
            one, two = seconds_on(work, 1), seconds_on(work, 2)
            rows.append({"round": r, "work": name, "one_s": one, "two_s": two})
            print(f"{name:12s} 1 process {one:5.2f} s  2 processes {two:5.2f} s  "
                  f"speed-up {one / two:.2f}x", flush=True)
        costs = page_costs(args.megabytes)
        rows.append({"round": r, "work": "pages", **costs})
        print(f"{'pages':12s} copy on write {costs['copy_on_write_us']:.1f} us/page "
              f"({costs['copy_faults']} faults); first touch {costs['first_touch_us']:.1f} "
              f"us/page of {PAGE} B", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"cpus": os.cpu_count(), "page": PAGE, "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
