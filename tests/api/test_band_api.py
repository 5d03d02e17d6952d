"""GET /plans/{id}/metrics and the editor count the band as report.json does (both backends)."""

from __future__ import annotations

import functools
import uuid

import pytest
from apiutil import BACKENDS, WRITE, add_demo, make_client
from gridplan.api.store import Store

from gridplan.engine.metrics import share_in_band
from gridplan.engine.pipeline import plan
from gridplan.layers.load import load_inputs
from gridplan.run import demo_options

KEYS = ("balanced_on", "share_in_band", "grids_out_of_band", "band", "grids", "households")


@functools.cache
def workload_demo():
    """The demo district balanced on workload (``gridplan demo --balance workload``)."""
    return plan(**load_inputs(dict(demo_options(), balance="workload")))


@pytest.fixture(scope="module", params=BACKENDS)
def client(request, tmp_path_factory):
    c = make_client(request.param, tmp_path_factory.mktemp(f"band-{request.param}"))
    with c:
        yield c


@pytest.fixture
def plan_id(client):
    plan_id = "w" + uuid.uuid4().hex[:10]
    client.app.state.store.create_plan(workload_demo(), name="workload demo", author="tests",
                                       plan_id=plan_id)
    return plan_id


def _metrics(client, plan_id) -> dict:
    m = client.get(f"/plans/{plan_id}/metrics").json()
    return {k: m[k] for k in KEYS}


def _from_scratch(client, plan_id) -> dict:
    """The head version's metrics from an editor state loaded afresh from the store."""
    m = Store(client.app.state.store.url).state(plan_id)[1].metrics()  # no cached state
    return {k: m[k] for k in KEYS}


def _report_figures(report: dict) -> dict:
    status = report["status"]
    return {"balanced_on": report["balanced_on"],
            "share_in_band": round(report["share_in_band"], 4),
            "grids_out_of_band": status.get("below_band", 0) + status.get("above_band", 0),
            "band": report["band"], "grids": report["grids"],
            "households": report["households"]}


def _move(client, plan_id) -> dict:
    """Move a boundary parcel into the neighbouring grid (forced past the band rules)."""
    _, state = client.app.state.store.state(plan_id)
    for code in sorted(state.grids):
        for c in sorted(state.grid_cells[code]):
            others = {state.cell_grid[n] for n in state.nbrs[c]} - {code}
            if others and len(state.grid_cells[code]) > 1 and any(
                    state.unit_hh[u] for u in state.cell_units[c]):
                etag = client.get(f"/plans/{plan_id}").headers["ETag"]
                r = client.post(f"/plans/{plan_id}/edits/move", headers={**WRITE, "If-Match": etag},
                                json={"cells": [c], "to_grid": sorted(others)[0], "force": True})
                assert r.status_code == 200, r.text
                return r.json()
    raise AssertionError("no boundary parcel")


def test_workload_plan_metrics_are_the_report_before_and_after_an_edit(client, plan_id):
    report = client.get(f"/plans/{plan_id}").json()["report"]
    assert report["balanced_on"] == "visit_equivalents"
    want = _report_figures(report)
    assert _metrics(client, plan_id) == want
    assert _from_scratch(client, plan_id) == want

    edit = _move(client, plan_id)
    tally = {k: edit["metrics"][k] for k in KEYS}  # the editor's running tally
    assert _metrics(client, plan_id) == tally
    assert _from_scratch(client, plan_id) == tally
    p = client.app.state.store.plan_at(plan_id)
    s = share_in_band(p.grids, p.params.band)
    assert (s.column, round(s.share, 4), s.out_of_band) == (
        tally["balanced_on"], tally["share_in_band"], tally["grids_out_of_band"])
    # the edited grids' workload is their units' workload
    per_grid = p.units.groupby("grid_code")["visit_equivalents"].sum()
    for code in edit["summary"]["from_grids"] + [edit["summary"]["to_grid"]]:
        row = p.grids.set_index("grid_code").loc[code]
        assert row["visit_equivalents"] == pytest.approx(per_grid.get(code, 0.0), abs=0.051)

    etag = client.get(f"/plans/{plan_id}").headers["ETag"]
    undone = client.post(f"/plans/{plan_id}/undo", headers={**WRITE, "If-Match": etag}).json()
    assert {k: undone["metrics"][k] for k in KEYS} == want
    assert _metrics(client, plan_id) == want


def test_households_plans_keep_no_workload_columns(client):
    plan_id = add_demo(client)
    m = client.get(f"/plans/{plan_id}/metrics").json()
    assert m["balanced_on"] == "households"
    grids = client.get(f"/plans/{plan_id}/grids").json()["features"]
    units = client.get(f"/plans/{plan_id}/units?limit=5").json()["features"]
    assert "visit_equivalents" not in grids[0]["properties"]
    assert "visit_equivalents" not in units[0]["properties"]


def test_a_store_made_before_units_kept_workload_is_upgraded(tmp_path):
    from gridplan.api.store.migrate import upgrade
    from sqlalchemy import create_engine, inspect

    url = f"sqlite:///{tmp_path}/old.sqlite"
    engine = create_engine(url)
    upgrade(engine, "0001")
    assert "visit_equivalents" not in {c["name"] for c in inspect(engine).get_columns("units")}
    store = Store(url)
    assert "visit_equivalents" in {c["name"] for c in inspect(store.engine).get_columns("units")}
    store.create_plan(workload_demo(), name="w", author="tests", plan_id="w")
    assert store.state("w")[1].metrics()["share_in_band"] == round(
        workload_demo().report["share_in_band"], 4)


def test_edited_grids_carry_their_workload(client, plan_id):
    edit = _move(client, plan_id)
    changed = {f["id"]: f["properties"] for f in edit["changed"]["features"]}
    grids = {f["id"]: f["properties"]
             for f in client.get(f"/plans/{plan_id}/grids").json()["features"]}
    for code, props in changed.items():
        assert props["visit_equivalents"] == grids[code]["visit_equivalents"]
