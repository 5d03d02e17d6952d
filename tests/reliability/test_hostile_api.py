"""Hostile requests to the web service (the table in ``hostile_api.py``): every one is
answered with a 4xx (never a 5xx) within 10 s, and nothing stored is lost — the plan's head
version, its history and its grids are unchanged, and a refused upload or job leaves no row
and no file behind.

Runs on SQLite, and on PostgreSQL/PostGIS where a server was started (``.ci/postgis.sh``).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import time

import pytest
import shapely
from apiutil import BACKENDS, WRITE, add_demo, make_client
from hostile_api import CASES, Case, Ctx
from openapi_check import undeclared

SECONDS = 10  # no request may take longer (a hang is a failure)


@pytest.fixture(scope="module", params=BACKENDS)
def client(request, tmp_path_factory):
    c = make_client(request.param, tmp_path_factory.mktemp(f"hostile-{request.param}"),
                    max_upload_mb=5, max_unpacked_mb=2, max_feature_vertices=10_000,
                    read_seconds=SECONDS - 2, max_jobs=2)
    c.raise_server_exceptions = False  # a 500 must show as a status, not as an exception
    with c:
        yield c


@pytest.fixture(scope="module")
def ctx(client) -> Ctx:
    """The demo plan stored, one grid locked (so the plan is at version 2)."""
    plan = add_demo(client)
    _, state = client.app.state.store.state(plan)
    grid = neighbour = cell = None
    for code in sorted(state.grids):
        for c in sorted(state.grid_cells[code]):
            others = sorted({state.cell_grid[n] for n in state.nbrs[c]} - {code})
            if others and any(state.unit_grid[u] == code for u in state.cell_units[c]):
                grid, neighbour, cell = code, others[0], c
                break
        if grid:
            break
    community = state.grids[grid]["community_id"]
    other = next(c for c in sorted(state.grids) if state.grids[c]["community_id"] != community)
    locked = next(c for c in sorted(state.grids) if c not in (grid, neighbour, other)
                  and state.grids[c]["community_id"] == community)
    tag = client.get(f"/plans/{plan}").headers["ETag"]
    r = client.post(f"/plans/{plan}/edits/lock", json={"grids": [locked]},
                    headers={**WRITE, "If-Match": tag})
    assert r.status_code == 200, r.text
    unit = next(u for u in sorted(state.cell_units[cell]) if state.unit_grid[u] == grid)
    return Ctx(plan=plan, etag=r.headers["ETag"], stale=tag, grid=grid, neighbour=neighbour,
               other_community=other, locked=locked, cell=cell,
               locked_cell=sorted(state.grid_cells[locked])[0], unit=unit)


def stored(client, plan: str) -> tuple:
    """What must survive a refused request: head, history, grids, layers, jobs, files."""
    store = client.app.state.store
    grids = store.grid_frame(plan).sort_values("grid_code")
    digest = hashlib.sha256()
    for code, hh, geom in zip(grids["grid_code"], grids["households"], grids.geometry,
                              strict=True):
        digest.update(f"{code}:{hh}:".encode() + shapely.to_wkb(geom))
    layers_dir = client.app.state.settings.data_dir / "layers"
    files = sorted(p.name for p in layers_dir.iterdir()) if layers_dir.exists() else []
    return (store.head(plan), len(store.versions(plan)), digest.hexdigest(),
            len(store.list_rows("layers")), len(store.list_rows("jobs")), files)


def send(client, case: Case, ctx: Ctx):
    """Send ``case``'s request; fail if it takes over ``SECONDS``."""
    method, url, kwargs = case.build(ctx)
    with case.around(client.app), concurrent.futures.ThreadPoolExecutor(1) as pool:
        t0 = time.monotonic()
        future = pool.submit(client.request, method, url, **kwargs)
        try:
            response = future.result(timeout=SECONDS)
        except concurrent.futures.TimeoutError:
            pytest.fail(f"{case.id}: no answer within {SECONDS} s")
    return response, time.monotonic() - t0


def test_the_table_has_at_least_60_distinct_cases():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 60, len(CASES)
    assert {c.area for c in CASES} == {"json", "params", "headers", "uploads", "jobs", "edits"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_request(client, ctx, case):
    before = stored(client, ctx.plan)
    response, seconds = send(client, case, ctx)
    assert response.status_code < 500, (case.id, response.status_code, response.text[:500])
    assert response.status_code in case.expect, (case.id, response.status_code,
                                                 response.text[:500])
    assert seconds < SECONDS
    if response.status_code >= 400:
        detail = response.json()["detail"]
        first = detail[0] if isinstance(detail, list) else detail
        assert first["problem"] and first["fix"], (case.id, detail)
        # the status is one the OpenAPI description lists, the body has its declared shape
        method, url, _ = case.build(ctx)
        assert not undeclared(client.app.openapi(), method, url, response.status_code,
                              response.json()), case.id
    after = stored(client, ctx.plan)
    if response.status_code == 201:  # an accepted upload: one layer more, nothing else
        assert after[:3] == before[:3] and after[3] == before[3] + 1
    else:
        assert after == before, case.id
