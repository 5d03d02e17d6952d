"""Reads through the read lane: answers kept per version, made once, in reader processes.

A read after an edit shows the new version, reads of an old ``?version=`` keep their
answer, ETag / If-None-Match still answer 304, gzip and identity both hold the same
GeoJSON, and a kept answer never reaches a caller the service would refuse.
"""

from __future__ import annotations

import gzip

import pytest
from apiutil import BACKENDS, KEY, WRITE, add_demo, make_client
from gridplan.api.reads import Answer, AnswerCache, etag_matches, plan_of


@pytest.fixture(scope="module", params=BACKENDS)
def client(request, tmp_path_factory):
    c = make_client(request.param, tmp_path_factory.mktemp(f"reads-{request.param}"),
                    read_processes=0)
    with c:
        yield c


def _move(client, plan_id: str) -> int:
    """One forced parcel move on the head; returns the new version."""
    _, state = client.app.state.store.state(plan_id)
    cell = next(c for c in sorted(state.cell_grid) if state.cell_units[c] and
                {state.cell_grid[n] for n in state.nbrs[c]} - {state.cell_grid[c]})
    to = sorted({state.cell_grid[n] for n in state.nbrs[cell]} - {state.cell_grid[cell]})[0]
    tag = client.get(f"/plans/{plan_id}").headers["ETag"]
    r = client.post(f"/plans/{plan_id}/edits/move", json={"cells": [cell], "to_grid": to,
                                                           "force": True},
                    headers={**WRITE, "If-Match": tag})
    assert r.status_code == 200, r.text
    return r.json()["version"]


def _households(fc: dict) -> dict[str, int]:
    return {f["id"]: f["properties"]["households"] for f in fc["features"]}


def test_read_after_edit_shows_new_version_old_version_unchanged(client):
    plan_id = add_demo(client)
    cache = client.app.state.read_lane.cache
    first = client.get(f"/plans/{plan_id}/grids")
    assert first.headers["ETag"] == f'"{plan_id}:1"'
    communities = f"/plans/{plan_id}/communities?version=1"  # a route without versions
    assert client.get(communities).headers["ETag"] == f'"{plan_id}:1"'
    hits = cache.hits
    again = client.get(f"/plans/{plan_id}/grids")
    assert cache.hits == hits + 1 and again.content == first.content
    assert _move(client, plan_id) == 2
    after = client.get(f"/plans/{plan_id}/grids")
    assert after.headers["ETag"] == f'"{plan_id}:2"'
    assert after.json()["features"] != first.json()["features"]  # two outlines moved
    fresh = client.app.state.store.grid_frame(plan_id)
    assert _households(after.json()) == dict(zip(fresh["grid_code"], fresh["households"],
                                                 strict=True))
    old = client.get(f"/plans/{plan_id}/grids?version=1")
    assert old.headers["ETag"] == f'"{plan_id}:1"' and old.json() == first.json()
    assert client.get(f"/plans/{plan_id}/metrics").json()["version"] == 2
    assert client.get(communities).headers["ETag"] == f'"{plan_id}:2"'  # the head's


def test_items_etag_304_after_edits(client):
    plan_id = add_demo(client)
    url = f"/collections/{plan_id}/items?limit=5"
    tag = client.get(url).headers["ETag"]
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
    r = client.get(url, headers={"If-None-Match": f'W/{tag}'})
    assert r.status_code == 304 and r.headers["ETag"] == tag
    _move(client, plan_id)
    r = client.get(url, headers={"If-None-Match": tag})
    assert r.status_code == 200 and r.headers["ETag"] == f'"{plan_id}:2"'
    pinned = f"/collections/{plan_id}/items?limit=5&version=1"
    assert client.get(pinned, headers={"If-None-Match": tag}).status_code == 304
    assert client.get(pinned).headers["ETag"] == tag


def test_gzip_identity_and_head_agree(client):
    plan_id = add_demo(client)
    url = f"/collections/{plan_id}.units/items?limit=50"
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in plain.headers
    assert zipped.json()["features"] == plain.json()["features"]
    head = client.head(url, headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["ETag"] == plain.headers["ETag"]


def test_errors_are_not_kept(client):
    plan_id = add_demo(client)
    assert client.get(f"/plans/{plan_id}/grids?version=2").status_code == 404
    _move(client, plan_id)
    assert client.get(f"/plans/{plan_id}/grids?version=2").status_code == 200
    assert client.get("/plans/nope/grids").status_code == 404
    assert client.get(f"/collections/{plan_id}/items?bbox=1,2").status_code == 400


def test_closed_reads_never_served_from_cache(tmp_path):
    with make_client("sqlite", tmp_path, open_reads=False, read_processes=0) as c:
        plan_id = add_demo(c)
        assert c.get(f"/plans/{plan_id}/grids", headers={"X-API-Key": KEY}).status_code == 200
        assert c.get(f"/plans/{plan_id}/grids").status_code == 401
        bad = {"X-API-Key": "wrong"}
        assert c.get(f"/plans/{plan_id}/grids", headers=bad).status_code == 401


@pytest.mark.parametrize("backend", BACKENDS)
def test_reader_process_answers_like_the_service(tmp_path, backend):
    with make_client(backend, tmp_path, read_processes=1) as c:
        assert c.app.state.read_lane.pool is not None  # started with the service
        plan_id = add_demo(c)
        local = c.app.state.store.grid_frame(plan_id)
        r = c.get(f"/plans/{plan_id}/grids", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and r.headers["ETag"] == f'"{plan_id}:1"'
        assert len(r.json()["features"]) == len(local)
        assert c.app.state.read_lane.pool is not None
        _move(c, plan_id)
        r = c.get(f"/plans/{plan_id}/grids")
        assert r.headers["ETag"] == f'"{plan_id}:2"'
        assert "server-timing" in r.headers
        assert c.get(f"/plans/{plan_id}/grids?version=9").status_code == 404
        assert c.get(f"/plans/{plan_id}/metrics").json()["version"] == 2


def test_cache_drops_least_recently_used():
    cache = AnswerCache(4000)
    for i in range(5):
        cache.put((i,), Answer(200, (), b"x" * 900))
    assert cache.get((0,)) is None and cache.get((4,)) is not None
    assert cache.size <= 4000
    cache.put(("big",), Answer(200, (), gzip.compress(b"") + b"y" * 2000))
    assert cache.get(("big",)) is None  # over a quarter of the budget: not kept


def test_helpers():
    assert plan_of("/plans/abc/grids") == "abc"
    assert plan_of("/collections/abc.units/items/way/1") == "abc"
    assert plan_of("/plans/abc") is None and plan_of("/plans/abc/edits/move") is None
    assert etag_matches('"a:1"', 'W/"a:1", "b:2"') and etag_matches('"a:1"', "*")
    assert not etag_matches('"a:1"', '"a:2"') and not etag_matches('"a:1"', None)
