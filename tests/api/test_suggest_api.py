"""Suggest fix: the engine re-divides an out-of-band grid with its unlocked neighbours; the
proposal changes nothing until it is applied as one edit.

Every test runs on the SQLite store and on PostgreSQL/PostGIS (skipped only where no
server could be started, see .ci/postgis.sh).
"""

from __future__ import annotations

import pytest
from apiutil import BACKENDS, WRITE, add_demo, make_client, spoiling_move

from gridplan.engine.metrics import validate_plan


@pytest.fixture(scope="module", params=BACKENDS)
def client(request, tmp_path_factory):
    c = make_client(request.param, tmp_path_factory.mktemp(f"suggest-{request.param}"),
                    suggest_seconds=2.0)
    with c:
        yield c


def _etag(client, plan_id):
    return client.get(f"/plans/{plan_id}").headers["ETag"]


def _out_of_band(client, plan_id):
    fc = client.get(f"/plans/{plan_id}/grids").json()
    return sorted(f["id"] for f in fc["features"]
                  if f["properties"]["status"] in ("below_band", "above_band"))


def _suggest(client, plan_id, grid, headers=WRITE, **extra):
    return client.post(f"/plans/{plan_id}/suggest", json={"grid": grid, **extra},
                       headers=headers)


def _first_found(client, plan_id, **extra):
    """A proposal for an out-of-band grid. The plan's own out-of-band grids may have no
    better division (the exact stage may have proved it), so a planner's forced move first
    pushes an in-band grid out of band, and that grid is asked about first."""
    version, spoiled = _spoil(client, plan_id)
    extra = {**extra, "version": version} if "version" in extra else extra
    for grid in [spoiled, *_out_of_band(client, plan_id)]:
        r = _suggest(client, plan_id, grid, **extra)
        assert r.status_code == 200, r.text
        if r.json()["found"]:
            return r.json()
    raise AssertionError("no out-of-band grid of the demo could be improved")


def _spoil(client, plan_id) -> tuple[int, str]:
    """Force one such move (as a planner may): the plan's new version, the grid spoiled."""
    _, state = client.app.state.store.state(plan_id)
    cell, to = spoiling_move(state)
    spoiled = state.cell_grid[cell]
    r = client.post(f"/plans/{plan_id}/edits/reassign", json={"moves": {cell: to}, "force": True},
                    headers={**WRITE, "If-Match": _etag(client, plan_id)})
    assert r.status_code == 200, r.text
    return r.json()["version"], spoiled


def test_suggest_apply_raises_the_grids_in_band_and_keeps_every_rule(client):
    plan_id = add_demo(client)
    store = client.app.state.store
    proposal = _first_found(client, plan_id, version=1)
    v = proposal["version"]
    metrics0 = client.get(f"/plans/{plan_id}/metrics").json()
    assert client.get(f"/plans/{plan_id}").json()["version"] == v  # nothing changed
    assert proposal["in_band_after"] > proposal["in_band_before"] or (
        proposal["deviation_after"] < proposal["deviation_before"])
    assert proposal["households_moved"] == sum(m["households"] for m in proposal["moves"])
    changed = {f["id"]: f["properties"] for f in proposal["changed"]["features"]}
    assert set(changed) <= set(proposal["grids"]) and proposal["grid"] in proposal["grids"]
    assert all(p["contiguous"] for p in changed.values())
    _, state = store.state(plan_id)
    community = state.grids[proposal["grid"]]["community_id"]
    assert {state.grids[g]["community_id"] for g in proposal["grids"]} == {community}
    assert all(not state.grids[g]["locked"] for g in proposal["grids"])

    app = proposal["apply"]
    assert app["headers"]["If-Match"] == proposal["etag"] == f'"{plan_id}:{v}"'
    r = client.post(app["path"], json=app["body"], headers={**WRITE, **app["headers"]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["version"] == v + 1 and out["summary"]["op"] == "reassign"
    gain = proposal["in_band_after"] - proposal["in_band_before"]
    assert out["summary"]["in_band_after"] - out["summary"]["in_band_before"] == gain
    assert set(proposal["after"]) == set(proposal["grids"])
    metrics1 = client.get(f"/plans/{plan_id}/metrics").json()
    assert metrics1["grids_out_of_band"] == metrics0["grids_out_of_band"] - gain
    assert metrics1["households"] == metrics0["households"]
    assert metrics1["grids_not_contiguous"] == 0
    assert all(rule["ok"] for rule in metrics1["rules"].values()), metrics1["rules"]
    validate_plan(store.plan_at(plan_id))
    diff = client.get(f"/plans/{plan_id}/diff", params={"from": v, "to": v + 1}).json()
    assert diff["households_moved"] == proposal["households_moved"]
    # one edit: one undo takes it all back
    r = client.post(f"/plans/{plan_id}/undo", headers={**WRITE, "If-Match": out["etag"]})
    assert r.status_code == 200
    assert client.get(f"/plans/{plan_id}/metrics").json()["grids_out_of_band"] == \
        metrics0["grids_out_of_band"]


def test_no_better_division_is_said_in_english_and_chinese(client):
    plan_id = add_demo(client)
    _, state = client.app.state.store.state(plan_id)
    # lock every neighbour of an out-of-band grid: nothing may change
    grid = _out_of_band(client, plan_id)[0]
    nbrs = sorted({state.cell_grid[n] for c in state.grid_cells[grid] for n in state.nbrs[c]}
                  - {grid})
    r = client.post(f"/plans/{plan_id}/edits/lock", json={"grids": nbrs},
                    headers={**WRITE, "If-Match": _etag(client, plan_id)})
    assert r.status_code == 200
    out = _suggest(client, plan_id, grid).json()
    assert out["found"] is False and out["moves"] == [] and out["apply"] is None
    assert out["reason"].startswith("no better division of these grids")
    assert out["reason_zh"].startswith("这些网格没有更好的划分")
    same = {g for g in nbrs if state.grids[g]["community_id"] == state.grids[grid][
        "community_id"]}
    assert {x["grid"] for x in out["left_out"]} == same
    assert out["in_band_after"] == out["in_band_before"]


def test_suggest_leaves_locked_grids_alone_and_checks_the_version(client):
    plan_id = add_demo(client)
    found = _first_found(client, plan_id)
    touched = sorted({m["to"] for m in found["moves"]} | {m["from"] for m in found["moves"]})
    other = next(g for g in touched if g != found["grid"])
    r = client.post(f"/plans/{plan_id}/edits/lock", json={"grids": [other]},
                    headers={**WRITE, "If-Match": _etag(client, plan_id)})
    assert r.status_code == 200
    # the old proposal is stale (412); sent against the new head, the lock refuses it
    app = found["apply"]
    assert client.post(app["path"], json=app["body"],
                       headers={**WRITE, **app["headers"]}).status_code == 412
    r = client.post(app["path"], json=app["body"],
                    headers={**WRITE, "If-Match": _etag(client, plan_id)})
    assert r.status_code == 422 and r.json()["detail"]["violations"][0]["rule"] == "locked"
    assert _suggest(client, plan_id, found["grid"], version=1).status_code == 412
    again = _suggest(client, plan_id, found["grid"]).json()
    assert other in {x["grid"] for x in again["left_out"]}
    assert other not in {m["to"] for m in again["moves"]} | {m["from"] for m in again["moves"]}
    r = _suggest(client, plan_id, other)
    assert r.status_code == 422 and "locked" in r.json()["detail"]["problem"]
    assert _suggest(client, plan_id, "nope").status_code == 422


def test_reassign_refuses_a_worse_division_unless_forced(client):
    plan_id = add_demo(client)
    _, state = client.app.state.store.state(plan_id)
    # an in-band grid gives a boundary parcel to a neighbour: the grids touched get worse
    pick = spoiling_move(state)
    moves = {pick[0]: pick[1]}
    r = client.post(f"/plans/{plan_id}/edits/reassign", json={"moves": moves},
                    headers={**WRITE, "If-Match": _etag(client, plan_id)})
    assert r.status_code == 422
    assert "band" in {v["rule"] for v in r.json()["detail"]["violations"]}
    r = client.post(f"/plans/{plan_id}/edits/reassign", json={"moves": moves, "force": True},
                    headers={**WRITE, "If-Match": _etag(client, plan_id)})
    assert r.status_code == 200 and r.json()["warnings"]
    assert client.post(f"/plans/{plan_id}/suggest", json={"grid": pick[1]}).status_code == 401


def test_suggest_on_a_drawn_area_and_its_refusals(client):
    """``grids`` (a drawn area) instead of ``grid``: a proposal for those grids, applied
    like any; grids of two communities are refused with rule nesting, and a body with
    both or neither of grid and grids with 422 naming them."""
    plan_id = add_demo(client)
    single = _first_found(client, plan_id)
    r = client.post(f"/plans/{plan_id}/suggest", json={"grids": single["grids"]},
                    headers=WRITE)
    assert r.status_code == 200, r.text
    area = r.json()
    assert area["found"] and area["grid"] is None
    assert sorted(area["grids"]) == sorted(single["grids"])
    app = area["apply"]
    r = client.post(app["path"], json=app["body"], headers={**WRITE, **app["headers"]})
    assert r.status_code == 200, r.text
    _, state = client.app.state.store.state(plan_id)
    by_comm = {}
    for g, row in sorted(state.grids.items()):
        by_comm.setdefault(row["community_id"], g)
    two = list(by_comm.values())[:2]
    r = client.post(f"/plans/{plan_id}/suggest", json={"grids": two}, headers=WRITE)
    assert r.status_code == 422 and "one community" in r.text and "nesting" in r.text
    for body in ({"grid": two[0], "grids": two}, {"version": 1}):
        r = client.post(f"/plans/{plan_id}/suggest", json=body, headers=WRITE)
        assert r.status_code == 422 and "either grid" in r.text, r.text
