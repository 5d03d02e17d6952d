"""Users and roles: sign-in, viewer/editor/admin on writes, lock holders, authors, the CLI.

Every API test runs on the SQLite store and on PostgreSQL/PostGIS (skipped only where no
server could be started, see .ci/postgis.sh).
"""

from __future__ import annotations

import uuid

import pytest
from apiutil import BACKENDS, WRITE, add_demo, make_client
from click.testing import CliRunner
from gridplan.api.store import schema as s
from sqlalchemy import update

from gridplan.cli.main import main

PASSWORD = "a long secret"


@pytest.fixture(scope="module", params=BACKENDS)
def client(request, tmp_path_factory):
    c = make_client(request.param, tmp_path_factory.mktemp(f"users-{request.param}"))
    with c:
        yield c


@pytest.fixture
def people(client):
    """A viewer, two editors and an admin, signed in: name → Authorization headers."""
    users = client.app.state.users
    tag = uuid.uuid4().hex[:6]
    out = {}
    for who, role in (("viewer", "viewer"), ("ed", "editor"), ("ed2", "editor"),
                      ("boss", "admin")):
        name = f"{who}-{tag}"
        users.add(name, role, PASSWORD)
        r = client.post("/auth/login", json={"name": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        assert r.json()["role"] == role and r.json()["token_type"] == "bearer"
        out[who] = {"name": name, "h": {"Authorization": f"Bearer {r.json()['token']}"}}
    return out


def _etag(client, plan_id):
    return client.get(f"/plans/{plan_id}").headers["ETag"]


def _post(client, plan_id, path, body, headers):
    return client.post(f"/plans/{plan_id}/{path}", json=body,
                       headers={**headers, "If-Match": _etag(client, plan_id)})


def _boundary_move(client, plan_id):
    _, state = client.app.state.store.state(plan_id)
    for code in sorted(state.grids):
        for c in sorted(state.grid_cells[code]):
            others = {state.cell_grid[n] for n in state.nbrs[c]} - {code}
            if others and state.cell_units[c]:
                return {"cells": [c], "to_grid": sorted(others)[0], "force": True}
    raise AssertionError("no boundary parcel")


def test_sign_in_me_and_sign_out(client, people):
    ed = people["ed"]
    assert client.get("/auth/me", headers=ed["h"]).json() == {
        "name": ed["name"], "role": "editor", "via": "session"}
    assert client.get("/auth/me", headers=WRITE).json()["via"] == "key"
    token = ed["h"]["Authorization"][7:]
    assert client.get("/auth/me", headers={"X-API-Key": token}).json()["name"] == ed["name"]
    assert client.get("/auth/me").json()["name"] is None
    bad = client.post("/auth/login", json={"name": ed["name"], "password": "wrong password"})
    assert bad.status_code == 401 and "password is wrong" in bad.json()["detail"]["problem"]
    nobody = client.post("/auth/login", json={"name": "nobody-" + ed["name"],
                                              "password": PASSWORD})
    assert nobody.status_code == 401
    assert client.post("/auth/logout", headers=ed["h"]).status_code == 204
    assert client.get("/auth/me", headers=ed["h"]).status_code == 401
    assert client.post("/auth/logout", headers=ed["h"]).status_code == 401


def test_tokens_are_stored_hashed_and_expire(client, people):
    store = client.app.state.store
    token = people["ed"]["h"]["Authorization"][7:]
    with store.engine.connect() as conn:
        stored = [r[0] for r in conn.execute(s.sessions.select().with_only_columns(
            s.sessions.c.token_hash))]
    assert token not in stored and len(stored[0]) == 64
    with store.engine.begin() as conn:
        conn.execute(update(s.sessions).where(s.sessions.c.user_name == people["ed"]["name"])
                     .values(expires=s.sessions.c.created))
    r = client.get("/auth/me", headers=people["ed"]["h"])
    assert r.status_code == 401 and "expired" in r.json()["detail"]["problem"]


def test_viewer_reads_but_every_write_is_403(client, people):
    plan_id = add_demo(client)
    h = people["viewer"]["h"]
    assert client.get(f"/plans/{plan_id}/grids", headers=h).status_code == 200
    for path, body in (("edits/move", _boundary_move(client, plan_id)),
                       ("edits/lock", {"grids": [_boundary_move(client, plan_id)["to_grid"]]}),
                       ("undo", None)):
        r = _post(client, plan_id, path, body, h)
        assert r.status_code == 403, (path, r.text)
        detail = r.json()["detail"]
        assert "viewer role" in detail["problem"] and detail["needs"] == "editor"
        assert "admin" in detail["fix"]
    assert client.post("/jobs", json={"demo": True}, headers=h).status_code == 403
    assert client.get("/users", headers=h).status_code == 403
    assert client.get(f"/plans/{plan_id}").json()["version"] == 1


def test_editor_edits_and_history_names_the_author(client, people):
    plan_id = add_demo(client)
    assert client.get(f"/plans/{plan_id}").json()["owner"] == "tests"
    r = _post(client, plan_id, "edits/move", _boundary_move(client, plan_id), people["ed"]["h"])
    assert r.status_code == 200, r.text
    r = _post(client, plan_id, "edits/move", _boundary_move(client, plan_id), WRITE)
    assert r.status_code == 200, r.text
    authors = [v["author"] for v in client.get(f"/plans/{plan_id}/versions").json()["versions"]]
    assert authors == ["tests", people["ed"]["name"], "tester"]
    assert client.get("/users", headers=people["ed"]["h"]).status_code == 403


def test_locks_record_the_holder_and_only_they_or_an_admin_unlock(client, people):
    plan_id = add_demo(client)
    grid = sorted(client.app.state.store.state(plan_id)[1].grids)[0]
    ed, ed2, boss = people["ed"], people["ed2"], people["boss"]

    def holder():
        fc = client.get(f"/plans/{plan_id}/grids").json()
        props = next(f["properties"] for f in fc["features"] if f["id"] == grid)
        return props["locked"], props.get("locked_by")

    assert _post(client, plan_id, "edits/lock", {"grids": [grid]}, ed["h"]).status_code == 200
    assert holder() == (True, ed["name"])
    r = _post(client, plan_id, "edits/lock", {"grids": [grid], "locked": False}, ed2["h"])
    assert r.status_code == 403
    assert ed["name"] in r.json()["detail"]["problem"] and r.json()["detail"]["grids"] == [grid]
    assert holder() == (True, ed["name"])
    r = _post(client, plan_id, "edits/lock", {"grids": [grid], "locked": False}, boss["h"])
    assert r.status_code == 200 and holder() == (False, None)
    # the holder lifts their own lock; an API key (admin by default) lifts anyone's
    _post(client, plan_id, "edits/lock", {"grids": [grid]}, ed2["h"])
    assert _post(client, plan_id, "edits/lock", {"grids": [grid], "locked": False},
                 ed2["h"]).status_code == 200
    _post(client, plan_id, "edits/lock", {"grids": [grid]}, ed["h"])
    assert _post(client, plan_id, "edits/lock", {"grids": [grid], "locked": False},
                 WRITE).status_code == 200
    versions = client.get(f"/plans/{plan_id}/versions").json()["versions"]
    assert versions[1]["summary"]["by"] == ed["name"]
    # nor does undo, redo or restore lift someone else's lock
    assert _post(client, plan_id, "edits/lock", {"grids": [grid]}, ed["h"]).status_code == 200
    for path, body in (("undo", None), ("restore", {"version": 1})):
        r = _post(client, plan_id, path, body, ed2["h"])
        assert r.status_code == 403 and r.json()["detail"]["grids"] == [grid], r.text
    assert _post(client, plan_id, "undo", None, ed["h"]).status_code == 200
    assert holder() == (False, None)
    assert _post(client, plan_id, "redo", None, ed2["h"]).status_code == 200  # locks again
    assert holder() == (True, ed["name"])


def test_admins_manage_users(client, people):
    h = people["boss"]["h"]
    name = "new-" + uuid.uuid4().hex[:6]
    r = client.post("/users", json={"name": name, "role": "viewer", "password": PASSWORD},
                    headers=h)
    assert r.status_code == 201 and r.json()["role"] == "viewer"
    assert "password" not in r.json()
    again = client.post("/users", json={"name": name, "password": PASSWORD}, headers=h)
    assert again.status_code == 409
    short = client.post("/users", json={"name": name + "x", "password": "short"}, headers=h)
    assert short.status_code == 422 and short.json()["detail"]["field"] == "password"
    assert name in [u["name"] for u in client.get("/users", headers=h).json()]
    r = client.put(f"/users/{name}/role", json={"role": "editor"}, headers=h)
    assert r.json()["role"] == "editor"
    assert client.delete(f"/users/{name}", headers=h).status_code == 204
    assert client.delete(f"/users/{name}", headers=h).status_code == 404
    assert client.post("/users", json={"name": name, "password": PASSWORD},
                       headers=people["ed"]["h"]).status_code == 403


def test_api_keys_can_be_editors(tmp_path):
    with make_client("sqlite", tmp_path, api_key_role="editor") as c:
        assert c.get("/auth/me", headers=WRITE).json()["role"] == "editor"
        assert c.get("/users", headers=WRITE).status_code == 403


def test_cli_adds_lists_and_removes_users(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDPLAN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GRIDPLAN_DATABASE_URL", raising=False)
    monkeypatch.setenv("GRIDPLAN_API_KEYS", "robot:k1")
    run = CliRunner().invoke
    r = run(main, ["users", "add", "ana", "--role", "admin", "--password-stdin"],
            input=PASSWORD + "\n")
    assert r.exit_code == 0 and "ana added with role admin" in r.output
    r = run(main, ["users", "add", "bo"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert r.exit_code == 0, r.output
    assert run(main, ["users", "add", "ana", "--password-stdin"],
               input=PASSWORD + "\n").exit_code == 1
    assert run(main, ["users", "add", "robot", "--password-stdin"],
               input=PASSWORD + "\n").exit_code == 2  # the name of an API key
    assert run(main, ["users", "add", "cy", "--password-stdin"], input="short\n").exit_code == 2
    listed = run(main, ["users", "list"]).output.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [["ana", "admin"], ["bo", "editor"]]
    assert run(main, ["users", "role", "bo", "viewer"]).exit_code == 0
    assert run(main, ["users", "remove", "bo"]).exit_code == 0
    assert run(main, ["users", "remove", "bo"]).exit_code == 1
    with make_client("sqlite", tmp_path) as c:  # the service signs in the CLI's user
        r = c.post("/auth/login", json={"name": "ana", "password": PASSWORD})
        assert r.status_code == 200 and r.json()["role"] == "admin"


def test_a_plan_made_by_a_users_job_is_owned_by_them(client, people):
    import time

    ed = people["ed"]
    r = client.post("/jobs", json={"demo": True, "name": "mine"}, headers=ed["h"])
    assert r.status_code == 202, r.text
    for _ in range(240):
        row = client.get(f"/jobs/{r.json()['id']}").json()
        if row["status"] not in ("queued", "running"):
            break
        time.sleep(0.25)
    assert row["status"] == "done", row
    plan = client.get(f"/plans/{row['plan_id']}").json()
    assert plan["owner"] == plan["author"] == ed["name"]
    assert ed["name"] in {p["owner"] for p in client.get("/plans").json()}
