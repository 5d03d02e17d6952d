"""Hardening: no 5xx for bad input, jobs checked before they start, bounded, and tied to
their service; compressed answers.

Runs on the SQLite store and on PostgreSQL/PostGIS (skipped where no server was started).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from apiutil import BACKENDS, KEY, WRITE, add_demo, make_client
from browser import free_port
from gridplan.api.jobs import SERVICE, STALE

from gridplan.run import demo_files


@pytest.fixture(scope="module", params=BACKENDS)
def client(request, tmp_path_factory):
    c = make_client(request.param, tmp_path_factory.mktemp(f"hard-{request.param}"))
    c.raise_server_exceptions = False  # a 500 must show as a status, not as an exception
    return c  # no lifespan: job recovery is tested on SQLite only (the PostGIS one is shared)


@pytest.fixture(scope="module")
def plan_id(client):
    return add_demo(client)


def _raw(client, path: str, body: bytes, plan_id: str | None = None):
    headers = {**WRITE, "Content-Type": "application/json"}
    if plan_id:
        headers["If-Match"] = client.get(f"/plans/{plan_id}").headers["ETag"]
    return client.post(path, content=body, headers=headers)


def _write_paths(plan_id: str) -> list[str]:
    return ["/jobs", f"/plans/{plan_id}/restore", f"/plans/{plan_id}/edits/move",
            f"/plans/{plan_id}/edits/merge", f"/plans/{plan_id}/edits/lock"]


@pytest.mark.parametrize("body", [rb'{"x\ud800":1}', rb'{"name":"a\udc00b"}',
                                  rb'{"cells":["\ud800"],"to_grid":"x"}'])
def test_a_lone_surrogate_is_400_on_every_json_write(client, plan_id, body):
    for path in _write_paths(plan_id):
        r = _raw(client, path, body, plan_id)
        assert r.status_code == 400, (path, r.text)
        detail = r.json()["detail"]
        assert "surrogate" in detail["problem"] and detail["fix"]


@pytest.mark.parametrize("body", [rb'{"cells":["a\u0000"],"to_grid":"b"}',
                                  rb'{"name":"\u0000", "demo": true}'])
def test_a_nul_character_is_400_on_every_json_write(client, plan_id, body):
    for path in _write_paths(plan_id):
        r = _raw(client, path, body, plan_id)
        assert r.status_code == 400, (path, r.text)
        assert "NUL" in r.json()["detail"]["problem"] and r.json()["detail"]["fix"]


@pytest.mark.parametrize("path", ["/collections/{p}/items/%00", "/collections/{p}.units/items/a%00",
                                  "/plans/%00", "/plans/{p}/grids?bbox=%00", "/jobs/%00",
                                  "/layers/%00", "/collections/{p}/items?limit=5&x%00=1"])
def test_a_nul_character_in_the_url_is_400(client, plan_id, path):
    r = client.get(path.format(p=plan_id))
    assert r.status_code == 400, r.text
    assert "NUL" in r.json()["detail"]["problem"]


@pytest.mark.parametrize("form,filename", [({"name": "a\x00b"}, "c.geojson"),
                                           ({"id_field": "i\x00d"}, "c.geojson")])
def test_a_nul_character_in_an_upload_form_is_400(client, form, filename):
    path = demo_files()["communities"]
    r = client.post("/layers", files={"file": (filename, path.read_bytes())},
                    data={"kind": "communities", **form}, headers=WRITE)
    assert r.status_code == 400, r.text
    assert "NUL" in r.json()["detail"]["problem"]


def test_a_surrogate_pair_is_fine(client, plan_id):
    r = _raw(client, "/jobs", rb'{"name":"\ud83d\ude00", "layers": {}, "bogus": 1}')
    assert r.status_code == 422  # read as text; refused only for the unknown field
    assert [e["field"] for e in r.json()["detail"]] == ["bogus"]


@pytest.mark.parametrize("path,body,field", [
    ("restore", b'{"version": NaN}', "version"),
    ("restore", b'{"version": Infinity}', "version"),
    ("restore", b'{"version": 1e999}', "version"),
    ("restore", b'{"version": -Infinity}', "version"),
    ("/jobs", b'{"demo": true, "params": {"tolerance": NaN}}', "params.tolerance"),
    ("/jobs", b'{"demo": true, "params": {"tolerance": 1e999}}', "params.tolerance"),
    ("edits/move", b'{"cells": ["a"], "to_grid": "b", "force": NaN}', "force"),
])
def test_non_finite_numbers_are_422_naming_the_field(client, plan_id, path, body, field):
    url = path if path.startswith("/") else f"/plans/{plan_id}/{path}"
    r = _raw(client, url, body, plan_id)
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]
    assert [e["field"] for e in errors] == [field]
    assert errors[0]["fix"] and field in errors[0]["problem"]
    json.dumps(errors, allow_nan=False)  # the echo is strict JSON


@pytest.mark.parametrize("body", [b'{"version": 1,}', b"{version: 1}", b'{"version": 1',
                                  b"\xff\xfe{}", b"[" * 5000 + b"]" * 5000])
def test_unparsable_json_is_400(client, plan_id, body):
    r = _raw(client, f"/plans/{plan_id}/restore", body, plan_id)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert (detail[0]["fix"] if isinstance(detail, list) else detail["fix"])


def test_validation_errors_echo_safe_short_input(client, plan_id):
    big = {"cells": ["a"], "to_grid": "b", "force": "x" * 100_000}
    r = _raw(client, f"/plans/{plan_id}/edits/move", json.dumps(big).encode(), plan_id)
    assert r.status_code == 422 and len(r.content) < 5000
    assert r.json()["detail"][0]["field"] == "force"


def test_the_validation_answer_is_strict_json_whatever_it_echoes():
    from gridplan.api.errors import validation_answer

    weird = [{"type": "finite_number", "loc": ("body", "a\ud800", 3), "msg": "x {0} {field}",
              "input": {"k\udc00": [float("nan"), float("inf"), 10 ** 400, b"\xff",
                                    ValueError("boom"), {"deep": {"er": {"still": [[[1]]]}}}]},
              "ctx": {"error": ValueError("no"), "pattern": "^\\d{6}$", "limit": float("inf")}},
             {"type": "missing", "loc": ("query", "limit"), "msg": "Field required"}]
    status, body = validation_answer("/plans/x", weird * 40)
    text = json.dumps(body, allow_nan=False, ensure_ascii=False).encode("utf-8")
    assert status == 422 and len(body["detail"]) == 50 and len(text) < 100_000
    assert body["detail"][1]["field"] == "limit" and body["detail"][1]["fix"] == "add limit"
    assert validation_answer("/collections/p/items", weird)[0] == 400  # OGC query: 400


# ---- compression ---------------------------------------------------------------------------
def test_geojson_pages_are_gzipped_when_asked(client, plan_id):
    url = f"/collections/{plan_id}/items?limit=50"
    r = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in r.headers["Vary"]
    assert r.headers["content-type"].startswith("application/geo+json")
    assert len(r.json()["features"]) == 50  # httpx undoes the gzip
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert plain.json()["features"] == r.json()["features"]
    assert int(r.headers["content-length"]) < len(plain.content) / 3
    small = client.get("/conformance", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers  # under 1 kB: not worth it
    grids = client.get(f"/plans/{plan_id}/grids", headers={"Accept-Encoding": "gzip"})
    assert grids.headers["Content-Encoding"] == "gzip"


# ---- jobs ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jobs_client(tmp_path_factory):
    c = make_client("sqlite", tmp_path_factory.mktemp("hard-jobs"), max_jobs=1)
    with c:
        yield c


def _jobs(client) -> int:
    return len(client.get("/jobs").json())


@pytest.mark.parametrize("body", [{}, {"name": "x"}, {"layers": {"communities": None}}])
def test_a_job_without_population_is_422_before_it_starts(jobs_client, body):
    before = _jobs(jobs_client)
    r = jobs_client.post("/jobs", json=body, headers=WRITE)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["field"] == "layers.population" and "POST /layers" in detail["fix"]
    assert "--" not in detail["fix"]  # API words, not CLI options
    assert _jobs(jobs_client) == before


def test_an_unknown_layer_is_422_naming_its_slot(jobs_client):
    r = jobs_client.post("/jobs", json={"layers": {"population": "abcdef12"}}, headers=WRITE)
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "layers.population"
    assert "abcdef12" in r.json()["detail"]["problem"]


def test_a_layer_of_another_kind_is_422(jobs_client):
    path = demo_files()["communities"]
    up = jobs_client.post("/layers", files={"file": (path.name, path.read_bytes())},
                          data={"kind": "communities", "id_field": "id"}, headers=WRITE)
    assert up.status_code == 201, up.text
    before = _jobs(jobs_client)
    r = jobs_client.post("/jobs", json={"layers": {"population": up.json()["id"]}},
                         headers=WRITE)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail["field"] == "layers.population" and "communities layer" in detail["problem"]
    assert "layers.communities" in detail["fix"] and _jobs(jobs_client) == before


def test_jobs_beyond_the_limit_are_429_with_retry_after(jobs_client):
    first = jobs_client.post("/jobs", json={"demo": True}, headers=WRITE)
    assert first.status_code == 202
    try:
        busy = jobs_client.post("/jobs", json={"demo": True}, headers=WRITE)
        assert busy.status_code == 429
        assert int(busy.headers["Retry-After"]) > 0
        assert "1 plan jobs" in busy.json()["detail"]["problem"] and busy.json()["detail"]["fix"]
    finally:
        jobs_client.post(f"/jobs/{first.json()['id']}/cancel", headers=WRITE)
    again = jobs_client.post("/jobs", json={"demo": True}, headers=WRITE)
    assert again.status_code == 202  # a cancelled job frees its place
    assert SERVICE not in again.json()["params"]
    jobs_client.post(f"/jobs/{again.json()['id']}/cancel", headers=WRITE)


def _job_row(job_id: str, status: str, service: str | None, age: float = 0) -> dict:
    from datetime import timedelta

    from gridplan.api.store.store import now

    params = {"demo": True} | ({SERVICE: service} if service else {})
    stamp = now() - timedelta(seconds=age)
    return {"id": job_id, "status": status, "stage": status, "percent": 10.0,
            "params": params, "plan_id": None, "error": None, "created": stamp,
            "updated": stamp, "author": "tests"}


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_start_up_fails_the_jobs_a_dead_service_left(tmp_path):
    import socket

    host = socket.gethostname()
    c = make_client("sqlite", tmp_path)
    store = c.app.state.store
    stale = STALE + 60
    rows = [_job_row("aaaaaa000001", "running", f"{host}:{_dead_pid()}"),  # died here
            _job_row("aaaaaa000002", "queued", None, age=stale),  # an older service's
            _job_row("aaaaaa000005", "running", "elsewhere:12", age=stale),  # silent
            _job_row("aaaaaa000003", "running", f"{host}:{os.getppid()}"),  # alive here
            _job_row("aaaaaa000007", "running", f"{host}:{os.getppid()}", age=stale),  # reused
            _job_row("aaaaaa000006", "running", "elsewhere:12"),  # touched just now
            _job_row("aaaaaa000004", "done", None, age=stale)]
    for row in rows:
        store.add_row("jobs", row)
    with make_client("sqlite", tmp_path) as restarted:
        rows = {r["id"]: r for r in restarted.get("/jobs").json()}
    for job_id in ("aaaaaa000001", "aaaaaa000002", "aaaaaa000005", "aaaaaa000007"):
        assert rows[job_id]["status"] == "failed", job_id
        assert rows[job_id]["error"]["problem"] == "the service stopped while this job ran"
        assert "start it again" in rows[job_id]["error"]["fix"]
    assert rows["aaaaaa000006"]["status"] == "running"
    assert rows["aaaaaa000003"]["status"] == "running"  # its service is alive
    assert rows["aaaaaa000004"]["status"] == "done"


def test_a_live_service_touches_its_waiting_jobs(tmp_path, monkeypatch):
    import gridplan.api.jobs as jobs_module

    monkeypatch.setattr(jobs_module, "HEARTBEAT", 0.05)
    store = make_client("sqlite", tmp_path).app.state.store
    runner = jobs_module.JobRunner(store, slots=1)
    runner.slots.acquire()  # every slot busy: the job waits in the queue
    row = runner.submit({"demo": True}, "tests")
    first = store.get_row("jobs", row["id"])["updated"]
    deadline = time.monotonic() + 10
    while store.get_row("jobs", row["id"])["updated"] == first:
        assert time.monotonic() < deadline, "the queued job's row was never touched"
        time.sleep(0.05)
    assert runner.recover() == []  # alive: left alone
    assert runner.cancel(row["id"])["status"] == "cancelled"
    runner.slots.release()


def _children(pid: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_job_processes_die_with_their_service(tmp_path):
    import httpx

    port = free_port()
    code = ("import uvicorn; from gridplan.api.app import create_app; "
            "from gridplan.api.settings import Settings; "
            f"uvicorn.run(create_app(Settings(data_dir={str(tmp_path)!r}, "
            f"api_keys='t:{KEY}')), host='127.0.0.1', port={port}, log_level='warning')")
    server = subprocess.Popen([sys.executable, "-c", code])
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(base + "/conformance", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        r = httpx.post(base + "/jobs", json={"demo": True}, headers=WRITE)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        for _ in range(300):
            kids = {p for p in _children(server.pid)
                    if b"multiprocessing" in Path(f"/proc/{p}/cmdline").read_bytes()}
            if kids and httpx.get(f"{base}/jobs/{job_id}").json()["status"] == "running":
                break
            time.sleep(0.1)
        assert kids, "the job process did not start"
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in kids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in kids), "a job process outlived its service"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    with make_client("sqlite", tmp_path) as restarted:
        row = restarted.get(f"/jobs/{job_id}").json()
    assert row["status"] == "failed" and "service stopped" in row["error"]["problem"]
