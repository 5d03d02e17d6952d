"""Readers against one editor: edits/s of a planner while N clients read the same plan.

Plans a synthetic city (bench/synthetic.py), stores it in a fresh data folder (SQLite by
default, PostGIS with ``--database-url``), then starts the real service as a user does
(``python -m gridplan serve``, uvicorn) and, for each reader count N:

- one editor moves one boundary parcel into a neighbouring grid and back, in a loop, each
  ``POST /plans/{id}/edits/move`` with ``If-Match`` (the ETag of the previous answer);
- N readers fetch, in turn, what the browser editor and QGIS fetch: the plan, its grids,
  its parcels at the current version, its metrics, pages of 1,000 grids and units
  through OGC API Features (gzip accepted, bodies not decoded).

Prints edits/s, edit latency (p50/p95), reads/s and read latency with ``uptime``.

Run: ``python -m bench.readers_bench --units 20000 --readers 0,8 --seconds 30``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.api_bench import plan_city

log = logging.getLogger("bench.readers")

KEY = "k"


def uptime() -> str:
    """The machine's load averages, as ``uptime`` prints them."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def pct(values: list[float]) -> str:
    """Median and 95th percentile in ms."""
    if not values:
        return "p50 – / p95 –"
    a = np.asarray(values)
    return f"p50 {np.median(a):6.1f} ms / p95 {np.percentile(a, 95):6.1f} ms"


def move_pairs(state, rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    """``n`` (parcel, neighbouring grid, own grid) triples: the parcel goes there and back."""
    cells = sorted(state.cell_grid)
    out = []
    while len(out) < n:
        c = rng.choice(cells)
        own = state.cell_grid[c]
        others = sorted({state.cell_grid[x] for x in state.nbrs[c]} - {own})
        if others and state.cell_units[c]:
            out.append((c, rng.choice(others), own))
    return out


def store_city(data_dir: Path, units: int, seed: int, database_url: str | None):
    """Plan and store the city; returns (plan id, move pairs, grid count)."""
    from gridplan.api.settings import Settings
    from gridplan.api.store import Store

    t0 = time.perf_counter()
    result = plan_city(units, seed)
    print(f"plan: {len(result.units):,} units → {len(result.grids):,} grids in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    settings = Settings(data_dir=data_dir, database_url=database_url, api_keys="bench:" + KEY)
    store = Store(settings.store_url)
    info = store.create_plan(result, name="readers", author="bench")
    _, state = store.state(info["id"])
    pairs = move_pairs(state, random.Random(seed), 200)
    store.engine.dispose()
    return info["id"], pairs, len(result.grids), len(result.units)


def start_server(data_dir: Path, port: int, database_url: str | None) -> subprocess.Popen:
    """``gridplan serve`` in a child process, answered once it lists plans."""
    import httpx

    env = dict(os.environ, GRIDPLAN_API_KEYS="bench:" + KEY)
    if database_url:
        env["GRIDPLAN_DATABASE_URL"] = database_url
    proc = subprocess.Popen([sys.executable, "-m", "gridplan", "serve", "--no-demo",
                             "--data-dir", str(data_dir), "--port", str(port)], env=env)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/plans", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"gridplan serve ended with {proc.returncode}")
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("gridplan serve did not answer in 120 s")


class Run:
    """One editor and N readers for a fixed time, sharing the plan's current version."""

    def __init__(self, base: str, pid: str, pairs, n_grids: int, n_units: int) -> None:
        self.base, self.pid, self.pairs = base, pid, pairs
        self.n_grids, self.n_units = n_grids, n_units
        self.version = 1
        self.stop = threading.Event()
        self.edits: list[float] = []
        self.refused = 0
        self.reads: dict[str, list[float]] = {}
        self.read_bytes = 0
        self.errors = 0
        self.lock = threading.Lock()

    def editor(self) -> None:
        import httpx

        with httpx.Client(base_url=self.base, timeout=120) as c:
            tag = c.get(f"/plans/{self.pid}").headers["ETag"]
            i = 0
            while not self.stop.is_set():
                cell, there, home = self.pairs[(i // 2) % len(self.pairs)]
                to = there if i % 2 == 0 else home
                t0 = time.perf_counter()
                r = c.post(f"/plans/{self.pid}/edits/move",
                           json={"cells": [cell], "to_grid": to, "force": True},
                           headers={"X-API-Key": KEY, "If-Match": tag})
                ms = (time.perf_counter() - t0) * 1000
                tag = r.headers.get("ETag", tag)
                if r.status_code == 200:
                    self.edits.append(ms)
                    self.version = r.json()["version"]
                else:
                    self.refused += 1
                    log.warning("edit answered %s: %s", r.status_code, r.text[:200])
                i += 1

    def urls(self, k: int) -> str:
        """The k-th read: the editor's loads and QGIS pages, in turn."""
        p = self.pid
        page = (k * 1000) % max(self.n_grids - 1000, 1)
        upage = (k * 1000) % max(self.n_units - 1000, 1)
        return [f"/plans/{p}", f"/plans/{p}/grids", f"/plans/{p}/cells?version={self.version}",
                f"/plans/{p}/metrics", f"/collections/{p}/items?limit=1000&offset={page}",
                f"/collections/{p}.units/items?limit=1000&offset={upage}"][k % 6]

    def reader(self, n: int) -> None:
        import httpx

        k = n
        with httpx.Client(base_url=self.base, timeout=300,
                          headers={"Accept-Encoding": "gzip"}) as c:
            while not self.stop.is_set():
                url = self.urls(k)
                kind = url.split("?")[0].replace(self.pid, "{id}")
                t0 = time.perf_counter()
                with c.stream("GET", url) as r:
                    size = sum(len(b) for b in r.iter_raw())
                ms = (time.perf_counter() - t0) * 1000
                with self.lock:
                    if r.status_code == 200:
                        self.reads.setdefault(kind, []).append(ms)
                        self.read_bytes += size
                    else:
                        self.errors += 1
                k += 1

    def warm(self) -> None:
        """Two uncounted edits (there and back), so the editable state is loaded."""
        import httpx

        with httpx.Client(base_url=self.base, timeout=300) as c:
            tag = c.get(f"/plans/{self.pid}").headers["ETag"]
            cell, there, home = self.pairs[-1]
            for to in (there, home):
                r = c.post(f"/plans/{self.pid}/edits/move",
                           json={"cells": [cell], "to_grid": to, "force": True},
                           headers={"X-API-Key": KEY, "If-Match": tag})
                tag = r.headers["ETag"]
                self.version = r.json()["version"]

    def go(self, readers: int, seconds: float) -> dict:
        self.warm()
        threads = [threading.Thread(target=self.reader, args=(n,)) for n in range(readers)]
        threads.append(threading.Thread(target=self.editor))
        for t in threads:
            t.start()
        time.sleep(seconds)
        load = uptime()
        self.stop.set()
        for t in threads:
            t.join()
        every = [ms for v in self.reads.values() for ms in v]
        return {"readers": readers, "seconds": seconds, "edits": len(self.edits),
                "edits_per_s": len(self.edits) / seconds, "edit_p50": _q(self.edits, 50),
                "edit_p95": _q(self.edits, 95), "refused": self.refused,
                "reads": len(every), "reads_per_s": len(every) / seconds,
                "read_mb_per_s": self.read_bytes / seconds / 1e6, "read_errors": self.errors,
                "by_kind": {k: {"n": len(v), "p50": _q(v, 50), "p95": _q(v, 95)}
                            for k, v in sorted(self.reads.items())},
                "uptime": load}


def _q(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def report(r: dict) -> None:
    """One run's figures."""
    print(f"\nreaders {r['readers']}: {r['edits_per_s']:.1f} edits/s "
          f"(edit p50 {r['edit_p50']} ms, p95 {r['edit_p95']} ms, {r['edits']} edits, "
          f"{r['refused']} refused); {r['reads_per_s']:.1f} reads/s "
          f"({r['read_mb_per_s']:.1f} MB/s on the wire, {r['read_errors']} errors)")
    for kind, s in r["by_kind"].items():
        print(f"    {kind:38s} n={s['n']:5d}  p50 {s['p50']} ms  p95 {s['p95']} ms")
    print(f"    uptime: {r['uptime']}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--units", type=int, default=20_000, help="units in the synthetic city")
    p.add_argument("--readers", default="0,8", help="comma-separated reader counts")
    p.add_argument("--seconds", type=float, default=30, help="length of each run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--database-url", default=None, help="PostGIS URL (default: SQLite)")
    p.add_argument("--json", default=None, help="write the figures to this file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        pid, pairs, n_grids, n_units = store_city(data, args.units, args.seed,
                                                  args.database_url)
        print(f"before the runs: {uptime()}", flush=True)
        for n in (int(x) for x in args.readers.split(",")):
            server = start_server(data, args.port, args.database_url)
            try:
                run = Run(f"http://127.0.0.1:{args.port}", pid, pairs, n_grids, n_units)
                results.append(run.go(n, args.seconds))
                report(results[-1])
            finally:
                server.terminate()
                server.wait(30)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
