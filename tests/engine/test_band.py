"""The band and the share in band: one definition for report.json, the API and the editor."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridplan.engine.metrics import band_status, share_in_band
from gridplan.engine.pipeline import plan
from gridplan.layers.load import load_inputs
from gridplan.practice.editing import EditRefused, PlanState
from gridplan.run import demo_options

BAND = (255.0, 345.0)


@functools.cache
def demo(balance: str):
    """The demo district planned once per balance (households or workload)."""
    return plan(**load_inputs(dict(demo_options(), balance=balance)))


def test_band_status_names_each_case():
    values = [0, 254.9, 255, 345, 345.1, 300]
    out = band_status(values, BAND, dedicated=[False] * 5 + [True])
    assert out.tolist() == ["empty", "below_band", "ok", "ok", "above_band", "dedicated"]
    # a workload-balanced grid is judged on its workload, and empty on its households
    assert band_status(250.0, BAND, households=300) == "below_band"
    assert band_status(0.0, BAND, households=0) == "empty"
    assert band_status([], BAND).tolist() == []


def test_share_in_band_leaves_out_empty_and_dedicated_grids():
    g = pd.DataFrame({"households": [300, 300, 0, 900],
                      "grid_type": ["comprehensive"] * 3 + ["dedicated"]})
    s = share_in_band(g, BAND)
    assert (s.column, s.counted, s.in_band, s.share, s.out_of_band) == (
        "households", 2, 2, 1.0, 0)
    assert share_in_band(g.iloc[:0], BAND).share == 0.0
    g["visit_equivalents"] = [250.0, 300.0, 0.0, 10.0]
    s = share_in_band(g, BAND)
    assert (s.column, s.counted, s.in_band, s.out_of_band) == ("visit_equivalents", 2, 1, 1)


@pytest.mark.parametrize("balance", ["households", "workload"])
def test_report_share_in_band_is_share_in_band(balance):
    p = demo(balance)
    s = share_in_band(p.grids, p.params.band)
    r = p.report
    assert r["balanced_on"] == s.column == (
        "visit_equivalents" if balance == "workload" else "households")
    assert r["share_in_band"] == s.share
    assert r["status"].get("below_band", 0) + r["status"].get("above_band", 0) == s.out_of_band
    # the grids' status, drawn by the engine, is band_status on the balanced column
    status = band_status(p.grids[s.column], p.params.band, households=p.grids["households"],
                         dedicated=p.grids["grid_type"].eq("dedicated"))
    assert status.tolist() == p.grids["status"].tolist()


def test_editor_tally_of_a_fresh_plan_is_the_report():
    for balance in ("households", "workload"):
        p = demo(balance)
        m = PlanState.from_plan(p).metrics()
        assert m["balanced_on"] == p.report["balanced_on"]
        assert m["share_in_band"] == round(p.report["share_in_band"], 4)
        assert m["band"] == p.report["band"]


def from_scratch(state: PlanState) -> dict:
    """The share in band of the state's grids counted afresh, as report.json counts it."""
    rows = pd.DataFrame(list(state.grids.values()))
    s = share_in_band(rows, state.band)
    return {"balanced_on": s.column, "share_in_band": round(s.share, 4),
            "grids_out_of_band": s.out_of_band, "grids": len(rows),
            "households": int(rows["households"].sum())}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(balance=st.sampled_from(["households", "workload"]),
       picks=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)),
                      min_size=1, max_size=12))
def test_incremental_tally_equals_a_count_from_scratch(balance, picks):
    p = demo(balance)
    state = PlanState.from_plan(p)
    cells = sorted(state.cell_grid)
    load = (p.units.set_index("unit_id")["visit_equivalents"] if balance == "workload"
            else p.units.set_index("unit_id")["households"])
    for a, b in picks:
        cell = cells[a % len(cells)]
        others = sorted({state.cell_grid[n] for n in state.nbrs[cell]} - {state.cell_grid[cell]})
        if not others:
            continue
        try:
            delta = state.move([cell], others[b % len(others)], force=True)
        except EditRefused:
            continue
        state.apply(delta)
        m = state.metrics()
        assert {k: m[k] for k in from_scratch(state)} == from_scratch(state)
    # every grid's balanced quantity is its units' (the units the editor moved with it)
    for code, row in state.grids.items():
        units = sorted(state.grid_units[code])
        value = row.get(state.balanced_on, row["households"])
        assert value == pytest.approx(float(np.sum(load.loc[units])) if units else 0.0,
                                      abs=0.051)
