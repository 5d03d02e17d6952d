"""Web API: reads, edits with optimistic concurrency, history, OGC API Features, jobs, limits.

Every test runs on the SQLite store and on PostgreSQL/PostGIS (skipped only where no
server could be started, see .ci/postgis.sh).
"""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest
import shapely
from apiutil import BACKENDS, WRITE, add_demo, make_client

from gridplan.engine.metrics import validate_plan


@pytest.fixture(scope="module", params=BACKENDS)
def client(request, tmp_path_factory):
    c = make_client(request.param, tmp_path_factory.mktemp(f"api-{request.param}"))
    with c:
        yield c


@pytest.fixture
def plan_id(client):
    return add_demo(client)


def _etag(client, plan_id):
    return client.get(f"/plans/{plan_id}").headers["ETag"]


def _post(client, plan_id, path, body=None, etag=None, headers=WRITE):
    h = dict(headers)
    h["If-Match"] = etag or _etag(client, plan_id)
    return client.post(f"/plans/{plan_id}/{path}", json=body, headers=h)


def _boundary_cell(client, plan_id):
    """A parcel of one grid next to another grid of its community (a planner's typical move)."""
    store = client.app.state.store
    _, state = store.state(plan_id)
    for code in sorted(state.grids):
        for c in sorted(state.grid_cells[code]):
            others = {state.cell_grid[n] for n in state.nbrs[c]} - {code}
            units = [u for u in state.cell_units[c] if state.unit_grid[u] == code]
            if others and units:
                return c, code, sorted(others)[0]
    raise AssertionError("no boundary parcel")


def test_plan_read_with_etag_and_rfc7946_grids(client, plan_id):
    r = client.get(f"/plans/{plan_id}")
    assert r.status_code == 200
    assert r.headers["ETag"] == f'"{plan_id}:1"'
    assert r.json()["version"] == 1
    fc = client.get(f"/plans/{plan_id}/grids").json()
    plan = client.app.state.store.plan_at(plan_id)
    assert len(fc["features"]) == len(plan.grids) == 68  # 60 + 8 dedicated grids
    assert sum(f["properties"]["households"] for f in fc["features"]) == 17761
    ring = fc["features"][0]["geometry"]["coordinates"][0]
    assert shapely.LinearRing(ring).is_ccw  # RFC 7946: exterior rings counter-clockwise
    lon, lat = np.asarray(ring).T
    assert (lon > 100).all() and (lat < 60).all()  # longitude first


def test_edit_needs_key_and_current_version(client, plan_id):
    cell, _, to = _boundary_cell(client, plan_id)
    body = {"cells": [cell], "to_grid": to, "force": True}
    assert client.post(f"/plans/{plan_id}/edits/move", json=body).status_code == 401
    bad = {"X-API-Key": "nope", "If-Match": _etag(client, plan_id)}
    assert client.post(f"/plans/{plan_id}/edits/move", json=body, headers=bad).status_code == 401
    r = client.post(f"/plans/{plan_id}/edits/move", json=body, headers=WRITE)
    assert r.status_code == 428 and r.json()["detail"]["etag"] == f'"{plan_id}:1"'
    r = _post(client, plan_id, "edits/move", body, etag=f'"{plan_id}:7"')
    assert r.status_code == 412
    r = _post(client, plan_id, "edits/move", body)
    assert r.status_code == 200, r.json()
    assert r.json()["version"] == 2 and r.headers["ETag"] == f'"{plan_id}:2"'
    bearer = {"Authorization": "Bearer test-key"}
    r = _post(client, plan_id, "edits/lock", {"grids": [to]}, headers=bearer)
    assert r.status_code == 200
    assert client.get(f"/plans/{plan_id}/versions").json()["versions"][-1]["author"] == "tester"


def test_move_answers_changed_grids_and_keeps_rules(client, plan_id):
    cell, src, dst = _boundary_cell(client, plan_id)
    store = client.app.state.store
    before = store.grid_frame(plan_id).set_index("grid_code")["households"]
    r = _post(client, plan_id, "edits/move", {"cells": [cell], "to_grid": dst, "force": True})
    assert r.status_code == 200, r.json()
    out = r.json()
    changed = {f["id"]: f["properties"] for f in out["changed"]["features"]}
    assert set(changed) == {src, dst}
    moved = out["summary"]["households"]
    assert changed[src]["households"] == before[src] - moved
    assert changed[dst]["households"] == before[dst] + moved
    assert out["metrics"]["households"] == 17761
    after = store.plan_at(plan_id)
    validate_plan(after)  # every unit in one grid, codes unique, households conserved, tiling
    assert after.units.set_index("cell_id").loc[[cell], "grid_code"].eq(dst).all()


def test_refused_edits_name_the_rule(client, plan_id):
    store = client.app.state.store
    _, state = store.state(plan_id)
    codes = sorted(state.grids)
    a = codes[0]
    other_comm = next(c for c in codes if state.grids[c]["community_id"] !=
                      state.grids[a]["community_id"])
    cell = sorted(state.grid_cells[a])[0]
    r = _post(client, plan_id, "edits/move", {"cells": [cell], "to_grid": other_comm,
                                              "force": True})
    assert r.status_code == 422
    assert r.json()["detail"]["violations"][0]["rule"] == "nesting"
    far = [c for c in codes if state.grids[c]["community_id"] == state.grids[a]["community_id"]
           and not (set().union(*(state.nbrs[x] for x in state.grid_cells[a]))
                    & state.grid_cells[c])]
    far_cell = sorted(state.grid_cells[far[0]])[0]
    r = _post(client, plan_id, "edits/move", {"cells": [far_cell], "to_grid": a})
    assert r.status_code == 422
    rules = {v["rule"] for v in r.json()["detail"]["violations"]}
    assert "contiguity" in rules
    r = _post(client, plan_id, "edits/move", {"cells": [far_cell], "to_grid": a, "force": True})
    assert r.status_code == 200 and any("pieces" in w for w in r.json()["warnings"])
    r = _post(client, plan_id, "edits/lock", {"grids": [a]})
    assert r.status_code == 200
    r = _post(client, plan_id, "edits/merge", {"grids": [a, codes[1]], "force": True})
    assert r.status_code == 422 and r.json()["detail"]["violations"][0]["rule"] == "locked"
    r = _post(client, plan_id, "edits/move", {"cells": ["nope"], "to_grid": a})
    assert r.status_code == 422 and "unknown parcel" in r.json()["detail"]["problem"]
    r = _post(client, plan_id, "edits/move", {"cells": [cell], "to_grid": "XYZ"})
    assert r.status_code == 422 and "no grid" in r.json()["detail"]["problem"]


def test_merge_split_workers(client, plan_id):
    store = client.app.state.store
    cell, a, b = _boundary_cell(client, plan_id)
    hh = store.grid_frame(plan_id).set_index("grid_code")["households"]
    r = _post(client, plan_id, "edits/merge", {"grids": [a, b], "force": True})
    assert r.status_code == 200, r.json()
    assert r.json()["deleted"] == [b]
    merged = r.json()["changed"]["features"][0]["properties"]
    assert merged["households"] == hh[a] + hh[b] and merged["contiguous"]
    r = _post(client, plan_id, "edits/split", {"grid": a, "force": True})
    assert r.status_code == 200, r.json()
    halves = {f["id"]: f["properties"] for f in r.json()["changed"]["features"]}
    assert len(halves) == 2 and sum(h["households"] for h in halves.values()) == merged[
        "households"]
    assert all(h["contiguous"] for h in halves.values())
    new = r.json()["summary"]["new_grid"]
    geom = store.grid_frame(plan_id).set_index("grid_code").geometry[a]
    x0, y0, x1, y1 = geom.bounds
    line = {"type": "LineString", "coordinates": [[(x0 + x1) / 2, y0 - 0.001],
                                                  [(x0 + x1) / 2, y1 + 0.001]]}
    r = _post(client, plan_id, "edits/split", {"grid": a, "line": line, "force": True})
    assert r.status_code in (200, 422), r.json()
    swapped = {"type": "LineString", "coordinates": [[y0, x0], [y1, x1]]}
    r = _post(client, plan_id, "edits/split", {"grid": a, "line": swapped})
    assert r.status_code == 422 and "longitude" in r.json()["detail"]["fix"]
    r = _post(client, plan_id, "edits/workers", {"grid": new, "workers": ["W001", "W002"]})
    assert r.status_code == 200
    grids = {f["id"]: f["properties"] for f in client.get(f"/plans/{plan_id}/grids").json()[
        "features"]}
    assert grids[new]["workers"] == ["W001", "W002"]
    validate_plan(store.plan_at(plan_id))


def test_undo_redo_restore_and_diff(client, plan_id):
    store = client.app.state.store
    cell, src, dst = _boundary_cell(client, plan_id)
    v1 = store.grid_frame(plan_id, 1).set_index("grid_code")
    _post(client, plan_id, "edits/move", {"cells": [cell], "to_grid": dst, "force": True})
    _post(client, plan_id, "edits/merge", {"grids": [dst, src], "force": True})
    assert client.get(f"/plans/{plan_id}/diff?from=1&to=3").json()["grids_removed"] == [src]
    r = _post(client, plan_id, "undo")
    assert r.status_code == 200 and r.json()["summary"]["undoes"] == 3
    r = _post(client, plan_id, "undo")
    assert r.json()["summary"]["undoes"] == 2
    d = client.get(f"/plans/{plan_id}/diff?from=1&to=5").json()
    assert d["units_moved"] == [] and d["grids_changed"] == [] and d["households_moved"] == 0
    now = store.grid_frame(plan_id).set_index("grid_code")
    assert now["households"].to_dict() == v1["households"].to_dict()
    assert now.geometry.geom_equals_exact(v1.geometry.reindex(now.index), 1e-7).all()
    assert _post(client, plan_id, "undo").status_code == 409  # nothing left to undo
    r = _post(client, plan_id, "redo")
    assert r.json()["summary"]["redoes"] == 2
    d = client.get(f"/plans/{plan_id}/diff?from=1&to=6").json()
    assert d["households_moved"] == r.json()["summary"].get("households", d["households_moved"])
    assert {m["from"] for m in d["units_moved"]} == {src} and {m["to"] for m in
                                                               d["units_moved"]} == {dst}
    r = _post(client, plan_id, "restore", {"version": 3})
    assert r.status_code == 200
    assert src not in {f["id"] for f in client.get(f"/plans/{plan_id}/grids").json()["features"]}
    r = _post(client, plan_id, "restore", {"version": 1})
    hist = client.get(f"/plans/{plan_id}/versions").json()["versions"]
    assert [v["op"] for v in hist] == ["plan", "move", "merge", "undo", "undo", "redo",
                                       "restore", "restore"]
    assert store.grid_frame(plan_id, 2).set_index("grid_code").loc[dst, "households"] > \
        v1.loc[dst, "households"]  # old versions stay readable
    validate_plan(store.plan_at(plan_id))
    assert client.get(f"/plans/{plan_id}/diff?from=1&to=8").json()["units_moved"] == []


def test_concurrent_edits_never_lose_work(client, plan_id):
    cell, _, dst = _boundary_cell(client, plan_id)
    tag = _etag(client, plan_id)
    results = []

    def edit(body):
        results.append(_post(client, plan_id, "edits/lock" if "grids" in body else
                             "edits/move", body, etag=tag).status_code)

    bodies = [{"cells": [cell], "to_grid": dst, "force": True}, {"grids": [dst]}] * 3
    threads = [threading.Thread(target=edit, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 412, 412, 412, 412, 412]
    assert client.get(f"/plans/{plan_id}").json()["version"] == 2


def test_ogc_api_features(client, plan_id):
    assert "conformsTo" in client.get("/conformance").json()
    assert any(link["rel"] == "data" for link in client.get("/").json()["links"])
    ids = {c["id"] for c in client.get("/collections").json()["collections"]}
    assert {plan_id, f"{plan_id}.units", f"{plan_id}.communities"} <= ids
    page = client.get(f"/collections/{plan_id}/items?limit=25&offset=0").json()
    assert page["numberMatched"] == 68 and page["numberReturned"] == 25
    nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
    assert "offset=25" in nxt
    last = client.get(f"/collections/{plan_id}/items?limit=25&offset=50").json()
    assert last["numberReturned"] == 18 and not any(
        link["rel"] == "next" for link in last["links"])
    code = page["features"][0]["id"]
    x0, y0, x1, y1 = shapely.geometry.shape(page["features"][0]["geometry"]).bounds
    inside = client.get(f"/collections/{plan_id}/items?bbox={x0},{y0},{x1},{y1}").json()
    assert code in {f["id"] for f in inside["features"]} and inside["numberMatched"] < 68
    one = client.get(f"/collections/{plan_id}/items/{code}")
    assert one.status_code == 200 and one.json()["properties"]["grid_code"] == code
    units = client.get(f"/collections/{plan_id}.units/items?limit=5").json()
    assert units["numberMatched"] == 1009 and units["features"][0]["properties"]["grid_code"]
    assert client.get(f"/collections/{plan_id}.nope/items").status_code == 404
    assert client.get(f"/collections/{plan_id}/items?bbox=1,2,3").status_code == 400
    assert client.get(f"/collections/{plan_id}/items?bbox=40,116,41,117").status_code == 400


def test_metrics_and_staffing(client, plan_id):
    m = client.get(f"/plans/{plan_id}/metrics").json()
    assert m["grids"] == 68 and all(r["ok"] for r in m["rules"].values())
    plan = client.app.state.store.plan_at(plan_id)
    assert m["share_in_band"] == round(plan.report["share_in_band"], 4)  # dedicated left out
    s = client.get(f"/plans/{plan_id}/staffing").json()
    assert s["required"] >= 68 and len(s["grids_without_worker"]) == 68


def test_bad_requests_are_4xx(client, plan_id):
    assert client.get("/plans/nope").status_code == 404
    assert client.get(f"/plans/{plan_id}/grids?version=99").status_code == 404
    assert client.get(f"/plans/{plan_id}/grids?version=0").status_code == 422
    deep = "[" * 100000 + "]" * 100000
    r = client.post(f"/plans/{plan_id}/edits/move", content=deep,
                    headers={**WRITE, "If-Match": _etag(client, plan_id),
                             "Content-Type": "application/json"})
    assert r.status_code in (400, 413, 422)
    big = '{"cells": [' + ",".join(['"x"'] * 600000) + '], "to_grid": "a"}'
    r = client.post(f"/plans/{plan_id}/edits/move", content=big,
                    headers={**WRITE, "If-Match": _etag(client, plan_id),
                             "Content-Type": "application/json"})
    assert r.status_code == 413
    r = _post(client, plan_id, "edits/move", {"cells": ["a"], "to_grid": "b", "extra": 1})
    assert r.status_code == 422
    r = _post(client, plan_id, "edits/split", {"grid": "x", "line": {"type": "Nope"}})
    assert r.status_code == 422


@pytest.mark.slow
def test_plan_job_with_progress_and_cancel(client):
    r = client.post("/jobs", json={"demo": True, "name": "示例"}, headers=WRITE)
    assert r.status_code == 202 and r.headers["Location"] == f"/jobs/{r.json()['id']}"
    job = r.json()["id"]
    seen = set()
    for _ in range(240):
        row = client.get(f"/jobs/{job}").json()
        seen.add(row["stage"])
        if row["status"] not in ("queued", "running"):
            break
        time.sleep(0.25)
    assert row["status"] == "done", row
    assert client.get(f"/plans/{row['plan_id']}").json()["name"] == "示例"
    r = client.post("/jobs", json={"demo": True, "params": {"population": "/etc/passwd"}},
                    headers=WRITE)
    assert r.status_code == 422  # paths only as uploaded layers
    r = client.post("/jobs", json={"demo": True, "params": {"tolerance": 2}}, headers=WRITE)
    assert r.status_code == 422
    r = client.post("/jobs", json={"layers": {"population": "abcdef"}}, headers=WRITE)
    assert r.status_code == 422 and r.json()["detail"]["field"] == "layers.population"
    r = client.post("/jobs", json={"demo": True}, headers=WRITE)
    stopped = client.post(f"/jobs/{r.json()['id']}/cancel", headers=WRITE).json()
    assert stopped["status"] in ("cancelled", "done")


def test_dedicated_grids_keep_their_type_through_edits_and_exports(client):
    from gridplan.api.demo import demo_plan

    store = client.app.state.store
    plan = demo_plan()  # the demo with its dedicated sites (schools, colleges, hospital)
    plan_id = "d" + uuid.uuid4().hex[:10]
    store.create_plan(plan, name="demo", author="tests", plan_id=plan_id)
    grids = {f["id"]: f["properties"] for f in client.get(f"/plans/{plan_id}/grids").json()[
        "features"]}
    dedicated = [c for c, p in grids.items() if p["grid_type"] == "dedicated"]
    assert len(dedicated) == int((plan.grids["grid_type"] == "dedicated").sum()) > 0
    assert all(grids[c]["status"] == "dedicated" and grids[c]["site_name"] is not None
               for c in dedicated)
    r = _post(client, plan_id, "edits/lock", {"grids": dedicated[:1]})
    assert r.status_code == 200
    props = r.json()["changed"]["features"][0]["properties"]
    assert props["grid_type"] == "dedicated" and props["locked"]
