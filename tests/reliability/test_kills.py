"""kill -9 in the middle of work: the service killed while two planners edit over HTTP loses
no edit it answered, and a plan job's process killed is failed cleanly, storing nothing.

(Killing a writer of the store mid-stream: tests/api/test_api_io.py; killing the service while
a job runs: tests/api/test_hardening.py::test_job_processes_die_with_their_service; two
editors with one ETag: tests/api/test_api.py::test_concurrent_edits_never_lose_work.)
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from apiutil import KEY, WRITE, cached_demo_plan, make_client
from browser import free_port
from gridplan.api.store import Store

from gridplan.engine.metrics import validate_plan


def _moves(store: Store, plan_id: str) -> list[tuple[str, str]]:
    """Boundary parcels and a neighbouring grid of their community to move them to."""
    _, state = store.state(plan_id)
    out = []
    for c in sorted(state.cell_grid):
        code = state.cell_grid[c]
        others = sorted({state.cell_grid[n] for n in state.nbrs[c]} - {code})
        others = [o for o in others
                  if state.grids[o]["community_id"] == state.grids[code]["community_id"]]
        if others:
            out.append((c, others[0]))
    return out


@pytest.mark.slow
def test_killing_the_service_during_edits_loses_no_answered_edit(tmp_path):
    url = f"sqlite:///{tmp_path}/plans.sqlite"
    store = Store(url)
    plan_id = "killed"
    store.create_plan(cached_demo_plan(), name="demo", author="tests", plan_id=plan_id)
    moves = _moves(store, plan_id)
    port = free_port()
    code = ("import uvicorn; from gridplan.api.app import create_app; "
            "from gridplan.api.settings import Settings; "
            f"uvicorn.run(create_app(Settings(data_dir={str(tmp_path)!r}, "
            f"api_keys='t:{KEY}')), host='127.0.0.1', port={port}, log_level='warning')")
    server = subprocess.Popen([sys.executable, "-c", code])
    base = f"http://127.0.0.1:{port}"
    answered: list[int] = []  # versions the service acknowledged with 200
    stop = threading.Event()

    def planner(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, timeout=10) as http:
            while not stop.is_set():
                try:
                    tag = http.get(f"/plans/{plan_id}").headers["ETag"]
                    cell, to = rng.choice(moves)
                    r = http.post(f"/plans/{plan_id}/edits/move", headers={
                        **WRITE, "If-Match": tag}, json={"cells": [cell], "to_grid": to})
                except httpx.TransportError:
                    return  # the service is gone
                assert r.status_code in (200, 412, 422), r.text  # never a 5xx
                if r.status_code == 200:
                    answered.append(r.json()["version"])

    try:
        for _ in range(300):
            try:
                httpx.get(base + "/conformance", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        threads = [threading.Thread(target=planner, args=(s,)) for s in (1, 2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(answered) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(server.pid, signal.SIGKILL)  # in the middle of the stream of edits
        server.wait(10)
        stop.set()
        for t in threads:
            t.join(15)
    finally:
        stop.set()
        if server.poll() is None:
            server.kill()
            server.wait(10)
    assert len(answered) >= 6, "too few edits before the kill"
    assert len(set(answered)) == len(answered)  # two editors never got the same version
    reopened = Store(url)
    head = reopened.head(plan_id)
    assert max(answered) <= head <= max(answered) + 2  # at most the edits in flight beyond
    assert [v["version"] for v in reopened.versions(plan_id)] == list(range(1, head + 1))
    validate_plan(reopened.plan_at(plan_id))  # every unit in one grid, households conserved


@pytest.mark.slow
def test_a_job_process_killed_is_failed_and_stores_nothing(tmp_path):
    with make_client("sqlite", tmp_path) as client:
        runner, store = client.app.state.jobs, client.app.state.store
        plans = len(store.list_plans())
        r = client.post("/jobs", json={"demo": True}, headers=WRITE)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            proc = runner.procs.get(job_id)
            if proc is not None and proc.pid and client.get(
                    f"/jobs/{job_id}").json()["status"] == "running":
                break
            time.sleep(0.05)
        else:
            pytest.fail("the job did not start")
        os.kill(proc.pid, signal.SIGKILL)
        while (row := client.get(f"/jobs/{job_id}").json())["status"] == "running":
            assert time.monotonic() < deadline + 30, "the killed job was not marked"
            time.sleep(0.1)
        assert row["status"] == "failed", row
        assert "stopped unexpectedly (exit code -9)" in row["error"]["problem"]
        assert row["error"]["fix"] and row["plan_id"] is None
        assert len(store.list_plans()) == plans  # nothing stored
        again = client.post("/jobs", json={"demo": True}, headers=WRITE)
        assert again.status_code == 202  # its place was freed
        client.post(f"/jobs/{again.json()['id']}/cancel", headers=WRITE)
