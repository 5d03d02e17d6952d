"""Suggest fix and lock holders on the editable state of the demo plan (no web service)."""

from __future__ import annotations

import pytest
from editing_util import spoiling_move

from gridplan.engine.pipeline import plan
from gridplan.layers.load import load_inputs
from gridplan.practice.editing import EditRefused, LockHeld, PlanState, grid_attrs
from gridplan.practice.suggest import reassign, snapshot, suggest_area, suggest_fix
from gridplan.run import demo_options


@pytest.fixture(scope="module")
def demo():
    return plan(**load_inputs(demo_options()))


def _out_of_band(state: PlanState) -> list[str]:
    return sorted(g for g, r in state.grids.items()
                  if state._status(r) in ("below_band", "above_band"))


def _spoiled(demo) -> tuple[PlanState, str]:
    """The demo's state after a planner's forced move took a parcel from an in-band grid
    (the engine's own out-of-band grids may all be proved best), and that grid."""
    state = PlanState.from_plan(demo)
    cell, to = spoiling_move(state)
    grid = state.cell_grid[cell]
    state.apply(reassign(state, {cell: to}, force=True))
    return state, grid


def test_every_offered_fix_raises_the_grids_in_band_and_keeps_the_rules(demo):
    state, spoiled = _spoiled(demo)
    offered = 0
    for code in [spoiled, *(g for g in _out_of_band(state) if g != spoiled)]:
        before = dict(state.metrics())
        prop = suggest_fix(state, code, seconds=1.0)
        assert state.metrics() == before  # a proposal changes nothing
        if not prop.found:
            assert prop.reason.startswith("no better division of these grids")
            assert prop.reason_zh.startswith("这些网格没有更好的划分")
            continue
        offered += 1
        trial = _applies_cleanly(state, prop)
        gain = prop.in_band_after - prop.in_band_before
        assert trial.metrics()["grids_out_of_band"] == before["grids_out_of_band"] - gain
    assert offered >= 1


def test_locked_neighbours_are_left_out(demo):
    state, spoiled = _spoiled(demo)
    code = next(c for c in [spoiled, *_out_of_band(state)]
                if suggest_fix(state, c, seconds=1.0).found)
    prop = suggest_fix(state, code, seconds=1.0)
    other = next(g for g in prop.grids if g != code)
    state.apply(state.lock([other], by="ana"))
    again = suggest_fix(state, code, seconds=1.0)
    assert {"grid": other, "why": "locked", "why_zh": "已锁定"} in again.left_out
    assert other not in again.grids
    assert all(state.cell_grid[c] != other and g != other for c, g in again.moves.items())


def test_a_lock_records_its_holder_and_only_they_or_an_admin_lift_it(demo):
    state = PlanState.from_plan(demo)
    code = sorted(state.grids)[0]
    delta = state.lock([code], by="ana")
    assert delta.grids[code]["locked_by"] == "ana" and delta.summary["by"] == "ana"
    state.apply(delta)
    assert grid_attrs(state.grids[code])["locked_by"] == "ana"
    with pytest.raises(LockHeld, match="locked by ana"):
        state.lock([code], False, by="bo", admin=False)
    lifted = state.lock([code], False, by="boss", admin=True)
    assert lifted.grids[code]["locked"] is False and "locked_by" not in lifted.grids[code]
    assert "locked_by" not in grid_attrs(lifted.grids[code])
    assert state.lock([code], False, by="ana", admin=False).grids[code]["locked"] is False


def _applies_cleanly(state: PlanState, prop) -> PlanState:
    """Applying ``prop`` gains what it says, conserves households, keeps every grid (same
    codes) in one piece in its community; the plan as applied (``state`` is unchanged)."""
    before = dict(state.metrics())
    trial = snapshot(state)
    delta = reassign(trial, prop.moves)
    gain = prop.in_band_after - prop.in_band_before
    assert delta.summary["in_band_after"] - delta.summary["in_band_before"] == gain
    trial.apply(delta)
    assert gain > 0 or prop.deviation_after < prop.deviation_before
    assert trial.metrics()["households"] == before["households"]
    for g in prop.grids:
        cells = trial.grid_cells[g]
        assert cells and trial._connected(cells)
        assert {trial.cell_comm[c] for c in cells} == {trial.grids[g]["community_id"]}
    assert set(trial.grids) == set(state.grids)
    return trial


def test_a_drawn_area_is_re_divided_like_a_grid_and_its_neighbours(demo):
    """The grids of a drawn area (here: those a fix of the spoiled grid re-divides) get a
    proposal of their own, as good, and it applies as it says."""
    state, spoiled = _spoiled(demo)
    single = suggest_fix(state, spoiled, seconds=1.0)
    assert single.found
    area = suggest_area(state, list(reversed(single.grids)), seconds=1.0)
    assert area.found and area.grid is None and sorted(area.grids) == sorted(single.grids)
    assert area.in_band_after >= single.in_band_after
    _applies_cleanly(state, area)


def test_a_drawn_area_stays_in_one_community_and_needs_two_free_grids(demo):
    state = PlanState.from_plan(demo)
    by_comm: dict = {}
    for g, r in sorted(state.grids.items()):
        by_comm.setdefault(r["community_id"], []).append(g)
    (c1, g1), (c2, g2) = list(by_comm.items())[:2]
    with pytest.raises(EditRefused, match="2 communities") as refused:
        suggest_area(state, [g1[0], g2[0]], seconds=0.5)
    assert refused.value.violations[0]["rule"] == "nesting"
    a, b = g1[0], g1[1]
    state.apply(state.lock([b], by="ana"))
    prop = suggest_area(state, [a, b], seconds=0.5)
    assert not prop.found and prop.grids == [a]
    assert {"grid": b, "why": "locked", "why_zh": "已锁定"} in prop.left_out
    assert "at least two" in prop.reason and "至少圈入两个" in prop.reason_zh
