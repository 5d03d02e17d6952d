"""Explanations: why grids miss the band, in English and Chinese, with parameters that help."""

from __future__ import annotations

import json

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

from gridplan.demo.district import generate_demo
from gridplan.engine.explain import division_tolerance, feasible, needed_tolerance
from gridplan.engine.pipeline import plan
from gridplan.params import PlanParams

PARAMS = PlanParams()


def _plan(rows, params=PARAMS):
    u = prep_units(units_frame(rows))
    c = prep_communities(communities_frame([("A", None, shapely.box(X0, Y0, X0 + 300,
                                                                     Y0 + 200))]))
    p = plan(u, c, params=params)
    assert_plan_rules(p, u, c)
    return p


@pytest.mark.parametrize(("value", "tol"), [(300, 0.0), (345, 0.15), (346, 0.16), (183, 0.39),
                                            (380, 0.27), (250, 0.17)])
def test_needed_tolerance(value, tol):
    assert needed_tolerance(value, 300) == tol
    lo, hi = PlanParams(tolerance=max(tol, 0.01)).band
    assert lo <= value <= hi


@pytest.mark.parametrize(("total", "ok", "k", "tol"), [
    (183, False, 1, 0.39), (360, False, 1, 0.2), (600, True, 2, 0.0), (700, False, 2, 0.17),
    (1100, True, 4, 0.09)])
def test_division(total, ok, k, tol):
    assert feasible(total, PlanParams().band) is ok
    assert division_tolerance(total, 300) == (k, tol)


def test_small_community_explained_and_the_suggestion_works():
    rows = lattice(3, 1, households=61)  # 183 households
    p = _plan(rows)
    [e] = p.report["explanations"]
    assert e["out_of_band"] == 1 and e["grids"] == 1
    assert "The community has only 183 households, fewer than 255, so it is a single grid." \
        in e["text"]
    assert "社区仅有183户，少于255，只能划为一个网格。" in e["text_zh"]
    tips = {t["option"]: t["value"] for t in e["suggestions"]}
    assert tips == {"--tolerance": 0.39}
    again = _plan(rows, PlanParams(tolerance=tips["--tolerance"]))
    assert again.report["explanations"] == [] and again.report["share_in_band"] == 1.0


def test_indivisible_community_explained():
    rows = lattice(6, 1, households=60)  # 360: one grid is too big, two too small
    p = _plan(rows)
    [e] = p.report["explanations"]
    assert "Its 360 households cannot be divided into whole grids in band: 1 grid(s) would " \
           "average 360." in e["text"]
    assert "全社区360户无法均分为达标网格：1个网格平均360户。" in e["text_zh"]
    assert {"option": "--tolerance", "value": 0.2,
            "effect": "makes a division into 1 grid(s) in band possible",
            "effect_zh": "可划为1个达标网格"} in e["suggestions"]
    [reason] = p.grids["reason"]
    assert "360 households, +20% from the target 300 (band 255–345)" in reason
    assert "--tolerance 0.20 would accept this grid as drawn" in reason
    assert "360户，偏离目标300户 +20%（区间255–345）" in p.grids["reason_zh"].iloc[0]


def test_in_band_plans_have_no_explanations(small_inputs):
    units, comms = small_inputs
    p = plan(prep_units(units), prep_communities(comms))
    assert p.report["explanations"] == []
    assert (p.grids["reason"] == "").all() and (p.grids["reason_zh"] == "").all()


@pytest.fixture(scope="module")
def demo_plan():
    layers = generate_demo()
    u, c = prep_units(layers["buildings"]), prep_communities(layers["communities"])
    # the heuristic's plan: with the exact stage, C04's tower sits in grids in band
    p = plan(u, c, compounds=layers["compounds"], barriers=layers["barriers"],
             params=PlanParams(exact_seconds=0))
    assert_plan_rules(p, u, c)
    return p


def test_demo_tower_explained(demo_plan):
    """The 700-household tower B0523 in C04 星河社区: split by stairwell, and what would help."""
    found = {e["community_id"]: e for e in demo_plan.report["explanations"]}
    e = found["C04"]
    assert e["text"].startswith(f"C04 星河社区: {e['out_of_band']} of {e['grids']} grids "
                                "outside 255–345 households.")
    assert ("Building B0523 has 700 households; it is split by stairwell into 7 units of "
            "about 100 (--stairwell-households 100).") in e["text"]
    assert "B0523楼有700户，按单元拆分为7个约100户的单元（--stairwell-households 100）。" \
        in e["text_zh"]
    tips = {t["option"]: t for t in e["suggestions"]}
    # the grids out of band there are held back by 200-240-household buildings, not by
    # the tower's 100-household units: finer stairwells are not suggested (re-planning the
    # demo with --stairwell-households 50 leaves C04 with 5 grids out of band, not fewer)
    assert "--stairwell-households" not in tips
    # the tolerance suggested accepts every out-of-band grid of C04 as drawn
    lo, hi = PlanParams(tolerance=tips["--tolerance"]["value"]).band
    bad = demo_plan.grids[demo_plan.grids["grid_code"].isin(e["grid_codes"])]
    assert len(bad) == e["out_of_band"] > 0
    assert bad["households"].between(lo, hi).all()
    tower = demo_plan.units[demo_plan.units["building_id"] == "B0523"]
    holding = demo_plan.grids[demo_plan.grids["grid_code"].isin(tower["grid_code"])]
    assert holding["reason"].str.contains("stairwell sub-units of building B0523").all()
    assert holding["reason_zh"].str.contains("含B0523楼7个单元中的").all()


def test_every_out_of_band_grid_has_reasons_in_both_languages(demo_plan):
    g = demo_plan.grids
    bad = g[g["status"].isin(["below_band", "above_band"])]
    assert len(bad) > 0
    assert (bad["reason"].str.len() > 0).all() and (bad["reason_zh"].str.len() > 0).all()
    explained = {c for e in demo_plan.report["explanations"] for c in e["grid_codes"]}
    assert explained == set(bad["grid_code"])


def test_cli_summary_prints_explanations(tmp_path):
    out = tmp_path / "demo"
    r = run_cli("plan", "--communities", _demo_file("communities"), "--community-code", "code",
                "--population", _demo_file("buildings"), "--households", "households",
                "--compounds", _demo_file("compounds"), "--barriers", _demo_file("barriers"),
                "--out", out, "--no-map", "--exact-seconds", "0")  # the heuristic's plan
    assert r.exit_code == 0, r.output
    assert "why grids miss the band" in r.output
    assert "Building B0523 has 700 households" in r.output
    assert "B0523楼有700户" in r.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert {e["community_id"] for e in report["explanations"]} >= {"C04", "C07"}


def _demo_file(name: str):
    from gridplan.demo.district import DEMO_DIR

    path = DEMO_DIR / f"{name}.geojson"
    if not path.exists():
        pytest.skip("demo data not generated")
    return path


def test_tower_units_holding_a_grid_back_suggest_finer_stairwells():
    """A 700-household tower alone: 7 units of 100 make grids of 400 and 300."""
    tower = shapely.box(X0 + 100, Y0 + 60, X0 + 140, Y0 + 140)
    p = _plan([("T", 700, tower)])
    [e] = p.report["explanations"]
    assert ("Building T has 700 households; it is split by stairwell into 7 units of about "
            "100 (--stairwell-households 100).") in e["text"]
    tips = {t["option"]: t for t in e["suggestions"]}
    assert tips["--stairwell-households"]["value"] == 50
    assert tips["--stairwell-households"]["effect"] == (
        "splits the 700-household building T into 14 units of about 50, finer pieces to "
        "balance with")
    assert tips["--stairwell-households"]["effect_zh"] == "700户的T楼拆为14个约50户的单元，便于均衡"
