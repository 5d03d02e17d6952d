"""Web API latency: unit moves and GeoJSON pages on a plan of about 10,000 grids.

Plans a synthetic city (bench/synthetic.py), stores it (SQLite by default, PostGIS with
``--database-url``), then times, through the FastAPI app in-process:

- moves of one boundary parcel to a neighbouring grid (``POST /plans/{id}/edits/move``
  with ``If-Match``), server-side time from the ``Server-Timing`` header and wall time;
- pages of 1,000 grids as GeoJSON (``GET /collections/{id}/items?limit=1000&offset=…``).

Run: ``python -m bench.api_bench --units 120000 --moves 300 --pages 30``
"""

from __future__ import annotations

import argparse
import logging
import random
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("bench.api")


def server_ms(response) -> float:
    """Milliseconds the app spent, from its Server-Timing header."""
    return float(response.headers["server-timing"].split("dur=")[1])


def stats(values: list[float]) -> str:
    """Median and 95th percentile."""
    a = np.asarray(values)
    return f"median {np.median(a):7.1f} ms   p95 {np.percentile(a, 95):7.1f} ms   (n={len(a)})"


def plan_city(n_units: int, seed: int):
    """Plan the synthetic city of ``n_units`` units."""
    from bench.synthetic import synthetic_city
    from gridplan.engine.pipeline import plan
    from gridplan.layers.population import prepare_units
    from gridplan.layers.prepare import prepare_communities
    from gridplan.params import PlanParams

    raw_units, raw_comm = synthetic_city(n_units, seed)
    units = prepare_units(raw_units, unit_id="unit_id", households="households")
    communities = prepare_communities(raw_comm, id_field="id")
    return plan(units, communities, params=PlanParams(seed=seed, tessellation="centroid"))


def boundary_moves(state, rng: random.Random, n: int) -> list[tuple[str, str]]:
    """``n`` (parcel, neighbouring grid) pairs spread over the plan."""
    cells = list(state.cell_grid)
    out = []
    while len(out) < n:
        c = rng.choice(cells)
        others = sorted({state.cell_grid[x] for x in state.nbrs[c]} - {state.cell_grid[c]})
        if others and state.cell_units[c]:
            out.append((c, rng.choice(others)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--units", type=int, default=120_000, help="units in the synthetic city")
    p.add_argument("--moves", type=int, default=300, help="unit moves to time")
    p.add_argument("--pages", type=int, default=30, help="GeoJSON pages of 1,000 to time")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--database-url", default=None, help="PostGIS URL (default: SQLite)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from fastapi.testclient import TestClient
    from gridplan.api.app import create_app
    from gridplan.api.settings import Settings

    t0 = time.perf_counter()
    result = plan_city(args.units, args.seed)
    print(f"plan: {len(result.units):,} units → {len(result.grids):,} grids in "
          f"{time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=args.database_url,
                            api_keys="bench:k")
        client = TestClient(create_app(settings))
        store = client.app.state.store
        t0 = time.perf_counter()
        info = store.create_plan(result, name="bench", author="bench")
        print(f"store ({store.engine.dialect.name}): {time.perf_counter() - t0:.1f} s")
        pid, tag = info["id"], info["etag"]
        t0 = time.perf_counter()
        _, state = store.state(pid)
        print(f"load editable state: {time.perf_counter() - t0:.1f} s")
        moves = boundary_moves(state, random.Random(args.seed), args.moves)
        server, wall, refused = [], [], 0
        for cell, grid in moves:
            t0 = time.perf_counter()
            r = client.post(f"/plans/{pid}/edits/move", json={"cells": [cell], "to_grid": grid,
                                                               "force": True},
                            headers={"X-API-Key": "k", "If-Match": tag})
            wall.append((time.perf_counter() - t0) * 1000)
            server.append(server_ms(r))
            if r.status_code == 200:
                tag = r.headers["ETag"]
            else:
                refused += 1
        print(f"unit move, server: {stats(server)}")
        print(f"unit move, wall:   {stats(wall)}   refused {refused} (locked/unknown)")
        n_grids = len(result.grids)
        server, wall, sizes = [], [], []
        for i in range(args.pages):
            offset = (i * 1000) % max(n_grids - 1000, 1)
            t0 = time.perf_counter()
            r = client.get(f"/collections/{pid}/items?limit=1000&offset={offset}")
            wall.append((time.perf_counter() - t0) * 1000)
            server.append(server_ms(r))
            sizes.append(len(r.content) / 1e6)
        print(f"GeoJSON page of 1,000 grids, server: {stats(server)}   "
              f"{np.mean(sizes):.1f} MB each")
        print(f"GeoJSON page of 1,000 grids, wall:   {stats(wall)}")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
