"""Minimal-change re-planning: locked grids unchanged, codes stable, moves within the budget."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import (
    X0,
    Y0,
    assert_plan_rules,
    communities_frame,
    lattice,
    prep_communities,
    prep_units,
    run_cli,
    units_frame,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from providence import block_units, blocks, needs_providence, precincts, providence_plan

from gridplan.engine.metrics import validate_plan
from gridplan.engine.pipeline import plan
from gridplan.errors import InputError
from gridplan.params import PlanParams
from gridplan.practice.replan import replan
from gridplan.practice.replan.moves import BudgetRefiner

CODE = "110101001001"


def _raw_old() -> gpd.GeoDataFrame:
    return units_frame(lattice(6, 4))  # 24 buildings × 50 = 1200 households


def _community():
    # 400 × 200 m: the lattice fills the west 300 m, the east 100 m is open land
    return prep_communities(communities_frame([("C1", CODE, shapely.box(X0, Y0, X0 + 400,
                                                                       Y0 + 200))]))


@pytest.fixture(scope="module")
def old():
    return plan(prep_units(_raw_old()), _community(), params=PlanParams())


def _with_new(raw: gpd.GeoDataFrame, n: int = 8, households: int = 50) -> gpd.GeoDataFrame:
    """``raw`` plus ``n`` new buildings on the open land east of the lattice."""
    rows = [(f"new{i}", households, shapely.box(X0 + 310 + (i % 2) * 45, Y0 + 5 + (i // 2) * 48,
                                               X0 + 345 + (i % 2) * 45, Y0 + 40 + (i // 2) * 48))
            for i in range(n)]
    return pd.concat([raw, units_frame(rows)], ignore_index=True)


def _in_grid(old, raw: gpd.GeoDataFrame, n: int = 6, households: int = 50) -> gpd.GeoDataFrame:
    """``raw`` plus ``n`` new 10 m buildings on open land inside the old plan's largest grid."""
    grid = old.grids.geometry.values[old.grids["area_m2"].argmax()]
    spots = [shapely.box(x, y, x + 10, y + 10) for x in range(int(X0) + 305, int(X0) + 400, 15)
             for y in range(int(Y0) + 2, int(Y0) + 200, 15)]
    inside = [b for b in spots if grid.buffer(-2).contains(b)][:n]
    assert len(inside) == n
    rows = [(f"new{i}", households, b) for i, b in enumerate(inside)]
    return pd.concat([raw, units_frame(rows)], ignore_index=True)


def _grid_wkb(p) -> dict[str, bytes]:
    return dict(zip(p.grids["grid_code"], shapely.to_wkb(p.grids.geometry.values), strict=True))


def _members(p) -> dict[str, set[str]]:
    return {c: set(g) for c, g in p.units.groupby("grid_code")["unit_id"]}


def check_guarantees(res, raw_new, budget=None) -> None:
    """Rules of every plan, plus: moved ≤ budget, locked and kept grids exactly as before."""
    new, old_ = res.plan, res.old
    if res.summary["replan"]["grids_retired"]:
        validate_plan(new)  # codes keep their gaps, so the consecutive-serial check is moot
    else:
        assert_plan_rules(new, raw_new, _community())
    moved = res.summary["replan"]["households_moved"]
    if budget is not None:
        assert moved <= budget
    changes = res.changes
    assert int(changes.loc[changes["change"] == "moved", "households"].sum()) == moved
    before, after = _grid_wkb(old_), _grid_wkb(new)
    old_members, new_members = _members(old_), _members(new)
    for code in res.summary["locked"]:
        assert after[code] == before[code], f"locked grid {code} moved"
        old_ids = old_members[code]
        assert new_members[code] & old_ids == old_ids - set(changes["unit_id"])
    kept = new.grids.loc[new.grids["change"] == "kept", "grid_code"]
    for code in kept:
        assert after[code] == before[code], f"kept grid {code} changed boundary"
    # every old code still in use keeps its community; new codes continue the serials
    new_codes = set(new.grids["grid_code"]) - set(old_.grids["grid_code"])
    top = max(int(c[-3:]) for c in old_.grids["grid_code"])
    assert sorted(int(c[-3:]) for c in new_codes) == list(range(top + 1,
                                                                top + 1 + len(new_codes)))


def test_unchanged_population_changes_nothing(old):
    res = replan(old, prep_units(_raw_old()))
    check_guarantees(res, _raw_old(), budget=0)
    assert res.summary["replan"]["households_moved"] == 0
    assert res.summary["replan"]["grids_changed"] == 0
    assert len(res.changes) == 0
    assert _grid_wkb(res.plan) == _grid_wkb(old)
    assert res.summary["fresh"]["households_moved"] == 0


def test_new_compound_gets_new_grid_without_moving_anyone(old):
    raw = _in_grid(old, _raw_old())
    res = replan(old, prep_units(raw), max_moved=0)
    check_guarantees(res, raw, budget=0)
    r = res.summary["replan"]
    assert r["households_moved"] == 0 and r["grids_new"] >= 1
    assert set(res.changes["change"]) == {"new"}
    assert res.changes["households"].sum() == 300
    assert (res.plan.grids["status"] == "ok").all()
    assert sorted(c[-3:] for c in res.plan.grids["grid_code"]) == ["001", "002", "003", "004",
                                                                   "005"]
    assert len(res.plan.grids[res.plan.grids["change"] == "kept"]) == 3


def test_locked_grid_never_changes(old):
    raw = _with_new(_raw_old())
    east = old.grids.loc[old.grids.geometry.centroid.x.idxmax(), "grid_code"]
    res = replan(old, prep_units(raw), lock=[east])
    check_guarantees(res, raw)
    assert res.summary["locked"] == [east]
    row = res.plan.grids.set_index("grid_code").loc[east]
    assert row["change"] == "locked" and bool(row["locked"])


def test_demolition_repaired_within_budget(old):
    raw = _raw_old()
    gone = set(old.units.loc[old.units["grid_code"] == old.grids["grid_code"].iloc[0],
                             "unit_id"][:2])
    raw = raw[~raw["unit_id"].isin(gone)].reset_index(drop=True)  # 300 → 200: below band
    res = replan(old, prep_units(raw), max_moved=100)
    check_guarantees(res, raw, budget=100)
    assert set(res.changes.loc[res.changes["change"] == "removed", "unit_id"]) == gone


def test_emptied_grid_is_retired_and_nobody_moves(old):
    raw = _raw_old()
    first = old.grids["grid_code"].iloc[0]
    gone = set(old.units.loc[old.units["grid_code"] == first, "unit_id"])
    raw = raw[~raw["unit_id"].isin(gone)].reset_index(drop=True)
    res = replan(old, prep_units(raw), max_moved=0)
    check_guarantees(res, raw, budget=0)
    assert first not in set(res.plan.grids["grid_code"])
    assert res.summary["replan"]["grids_retired"] == 1
    heir = res.plan.grids[res.plan.grids["change"] == "reshaped"]
    assert len(heir) == 1 and heir.geometry.iloc[0].geom_type == "Polygon"
    assert res.plan.grids.geometry.area.sum() == pytest.approx(400 * 200)


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(min_value=0, max_value=400), n_new=st.integers(min_value=1, max_value=8),
       size=st.sampled_from([30, 50, 80]))
def test_moves_never_exceed_budget(old, budget, n_new, size):
    raw = _with_new(_raw_old(), n=n_new, households=size)
    res = replan(old, prep_units(raw), max_moved=budget, compare=False)
    check_guarantees(res, raw, budget=budget)


def test_budget_refiner_respects_budget():
    from scipy.sparse import csr_matrix

    g = csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]))
    w = np.array([100.0, 100.0, 10.0])  # grids: {0, 1} = 200 (over), {2} = 10 (under)
    args = dict(home=np.array([0, 0, -1]), cost=np.array([100.0, 100.0, 0.0]))
    stuck = BudgetRefiner(g, w, np.zeros((3, 2)), (90, 110), budget=99, **args)
    assert stuck.run(np.array([0, 0, 1])).tolist() == [0, 0, 1]
    free = BudgetRefiner(g, w, np.zeros((3, 2)), (90, 110), budget=100, **args)
    assert free.run(np.array([0, 0, 1])).tolist() == [0, 1, 1]
    assert free.moved == 100


def test_unknown_lock_code_is_refused(old):
    with pytest.raises(InputError, match="--lock names grid"):
        replan(old, prep_units(_raw_old()), lock=["999"])


# --- command line on the demo ------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from gridplan.demo.changes import write_changes

    root = tmp_path_factory.mktemp("replan")
    res = run_cli("demo", "--out", root / "demo", "--quiet")
    assert res.exit_code == 0, res.output
    files = write_changes(root / "demo", root / "changes")
    return root, files


@pytest.mark.slow
def test_demo_new_compound_cli(demo_run):
    root, files = demo_run
    out = root / "replan"
    res = run_cli("replan", "--plan", root / "demo", "--population", files["buildings_new"],
                  "--households", "households", "--compounds", files["compounds_new"],
                  "--barriers", Path("data/boundaries/barriers.geojson").resolve(),
                  "--max-moved", 200, "--out", out)
    assert res.exit_code == 0, res.output
    assert "planning from scratch instead" in res.output
    names = {p.name for p in out.iterdir()}
    assert {"grids.geojson", "units.csv", "plan.gpkg", "report.json", "changes.csv",
            "diff_map.html"} <= names
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    r, f = report["replan"]["replan"], report["replan"]["fresh"]
    assert r["households_moved"] <= 200
    assert r["households_moved"] <= f["households_moved"]
    assert r["grids_changed"] <= f["grids_changed"]
    changes = pd.read_csv(out / "changes.csv", dtype=str)
    assert list(changes.columns) == ["unit_id", "building_id", "community_id", "old_grid",
                                     "new_grid", "households", "change"]
    assert set(changes.loc[changes["change"] == "new", "unit_id"]) == {"N001", "N002", "N003",
                                                                       "N004"}
    html = (out / "diff_map.html").read_text(encoding="utf-8")
    assert "新增网格" in html and "new grid" in html


@pytest.mark.slow
def test_demo_cli_bad_lock_exits_2(demo_run, tmp_path):
    root, files = demo_run
    res = run_cli("replan", "--plan", root / "demo", "--population", files["buildings_new"],
                  "--households", "households", "--lock", "123", "--out", tmp_path / "x")
    assert res.exit_code == 2
    assert "--lock" in res.stderr and not (tmp_path / "x").exists()


@needs_providence
def test_real_data_replan():
    old = providence_plan(3)
    grown = blocks().copy()
    first = old.units.loc[old.units["grid_code"] == old.grids["grid_code"].iloc[0], "unit_id"]
    more = grown["GEOID10"].isin(first.str.split("#").str[0])
    grown.loc[more, "TOTPOP"] = grown.loc[more, "TOTPOP"] * 2  # one grid's blocks double
    new_units = block_units(grown)
    res = replan(old, new_units, max_moved=300)
    assert res.summary["replan"]["households_moved"] <= 300
    assert_plan_rules(res.plan, new_units, precincts(3))


@pytest.mark.slow
def test_locks_persist_and_replan_chains(demo_run, tmp_path):
    from gridplan.export.folder import read_plan

    root, files = demo_run
    locked = read_plan(root / "demo").grids["grid_code"].iloc[3]
    args = ["--population", files["buildings_new"], "--households", "households", "--quiet",
            "--no-map", "--no-compare"]
    res = run_cli("replan", "--plan", root / "demo", *args, "--lock", locked,
                  "--out", tmp_path / "a")
    assert res.exit_code == 0, res.output
    first = read_plan(tmp_path / "a")
    assert first.grids.loc[first.grids["locked"].astype(bool), "grid_code"].tolist() == [locked]
    # re-planning the re-plan with the same population changes nothing; the lock is kept
    res = run_cli("replan", "--plan", tmp_path / "a", *args, "--out", tmp_path / "b")
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "b" / "report.json").read_text(encoding="utf-8"))
    assert report["replan"]["locked"] == [locked]
    assert report["replan"]["replan"]["households_moved"] == 0
    assert report["replan"]["replan"]["grids_changed"] == 0


def test_population_with_other_ids_is_flagged(old):
    raw = _raw_old().assign(unit_id=lambda d: "x" + d["unit_id"])
    res = replan(old, prep_units(raw), compare=False)
    assert res.summary["replan"]["households_moved"] == 0
    assert any("found by id" in n for n in res.summary["notes"])


@pytest.mark.parametrize("budget", [600, None])
def test_households_moved_counted_as_budgeted(old, budget):
    """Grown buildings move with their new counts: the report and the budget count alike."""
    raw = _raw_old()
    first = set(old.units.loc[old.units["grid_code"] == old.grids["grid_code"].iloc[0],
                              "unit_id"])
    raw.loc[raw["unit_id"].isin(first), "households"] = 60  # 50 → 60 each
    res = replan(old, prep_units(_with_new(raw, n=4, households=40)), max_moved=budget,
                 compare=False)
    moved = res.changes.loc[res.changes["change"] == "moved", "households"].sum()
    assert moved > 0
    assert res.summary["replan"]["households_moved"] == moved <= (budget or np.inf)
