"""Hardening: no 5xx for bad input, jobs checked before they start, bounded, and tied to
their service; compressed answers.

Runs on the SQLite store and on PostgreSQL/PostGIS (skipped where no server was started).
"""

from __future__ import annotations

import json

import pytest
from apiutil import BACKENDS, WRITE, add_demo, make_client


@pytest.fixture(scope="module", params=BACKENDS)
def client(request, tmp_path_factory):
    c = make_client(request.param, tmp_path_factory.mktemp(f"hard-{request.param}"))
    c.raise_server_exceptions = False  # a 500 must show as a status, not as an exception
    with c:
        yield c


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
