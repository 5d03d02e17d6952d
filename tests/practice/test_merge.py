"""Merging departments' grids (多网合一): exact overlaps, gaps, conflicts and crosswalk."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import (
    METRIC_CRS,
    X0,
    Y0,
    communities_frame,
    lattice,
    prep_communities,
    prep_units,
    run_cli,
    units_frame,
)
from providence import blocks, needs_providence, precincts, providence_plan

from gridplan.engine.pipeline import plan
from gridplan.errors import InputError
from gridplan.params import PlanParams
from gridplan.practice.merge import department_layer, merge_departments


@pytest.fixture(scope="module")
def two_communities():
    """C1 (x 0–300 m) and C2 (x 300–600 m), each 6 × 4 buildings of 50 households."""
    units = prep_units(units_frame(lattice(6, 4) + lattice(6, 4, x0=X0 + 300, prefix="v")))
    comms = prep_communities(communities_frame([
        ("C1", None, shapely.box(X0, Y0, X0 + 300, Y0 + 200)),
        ("C2", None, shapely.box(X0 + 300, Y0, X0 + 600, Y0 + 200))]))
    return plan(units, comms, params=PlanParams())


def _layer(rows, crs=METRIC_CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"grid_id": [r[0] for r in rows]},
                            geometry=[shapely.box(X0 + a, Y0, X0 + b, Y0 + 200)
                                      for _, a, b in rows], crs=crs)


def check_crosswalk(res, p) -> None:
    """Shares of each old grid add up to one; households attributed unit by unit."""
    w = res.crosswalk
    with_hh = w[w["households"] > 0]
    sums = with_hh.groupby(["department", "old_grid"])["share_of_old_households"].sum()
    assert np.allclose(sums, 1.0, atol=2e-3)
    assert set(w["new_grid"]) <= set(p.grids["grid_code"])
    assert len(res.unified) == len(p.grids)


def test_exact_overlap_gap_and_conflict(two_communities):
    p = two_communities
    # A: D1 x 0–150, D2 x 100–250 (overlap on column 2), C1 column 5 (x 250–300) uncovered,
    #    D3 covers C2 exactly; B: one grid x 200–400 crossing the C1/C2 boundary
    a = department_layer(_layer([("D1", 0, 150), ("D2", 100, 250), ("D3", 300, 600)]),
                         name="A")
    b = department_layer(_layer([("B1", 200, 400)]).to_crs(4326), name="B")
    res = merge_departments(p, {"A": a, "B": b})
    check_crosswalk(res, p)
    rows = res.communities.set_index(["department", "community_id"])
    c1 = rows.loc[("A", "C1")]
    assert c1["overlap_households"] == 200 and c1["gap_households"] == 200
    assert c1["overlap_area_m2"] == pytest.approx(10_000, abs=1)
    assert c1["gap_area_m2"] == pytest.approx(10_000, abs=1)
    assert c1["conflict_grids"] == ""
    c2 = rows.loc[("A", "C2")]
    assert c2["overlap_households"] == 0 and c2["gap_households"] == 0
    # B1 crosses the boundary: 400 households on each side; the rest of both communities is a gap
    conf = res.conflicts[res.conflicts["department"] == "B"].set_index("community_id")
    assert conf["households"].to_dict() == {"C1": 400, "C2": 400}
    assert rows.loc[("B", "C1"), "conflict_grids"] == "B1"
    assert rows.loc[("B", "C1"), "gap_households"] == 800
    # crosswalk households: D1 holds columns 0–2 (600), D2 columns 2–4 (600)
    w = res.crosswalk[res.crosswalk["department"] == "A"]
    assert w.groupby("old_grid")["households"].sum().to_dict() == {"D1": 600, "D2": 600,
                                                                   "D3": 1200}
    assert res.report["departments"]["A"]["overlap_households"] == 200
    issues = res.issues.set_index(["department", "community_id", "issue"])
    assert issues.loc[("A", "C1", "overlap"), "area_m2"] == pytest.approx(10_000, abs=1)
    assert issues.loc[("A", "C1", "gap"), "area_m2"] == pytest.approx(10_000, abs=1)


def test_department_layer_checks():
    with pytest.raises(InputError, match="no grid id field"):
        department_layer(_layer([("D1", 0, 100)]).rename(columns={"grid_id": "x"}), name="A")
    with pytest.raises(InputError, match="duplicate ids"):
        department_layer(_layer([("D1", 0, 100), ("D1", 100, 200)]), name="A")
    with pytest.raises(InputError, match="no coordinate reference system"):
        department_layer(_layer([("D1", 0, 100)]).set_crs(None, allow_override=True), name="A")
    lines = gpd.GeoDataFrame({"grid_id": ["L"]}, geometry=[shapely.LineString([(X0, Y0),
                                                                                (X0 + 1, Y0)])],
                             crs=METRIC_CRS)
    with pytest.raises(InputError, match="must hold polygons"):
        department_layer(lines, name="A")


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    from gridplan.demo.changes import write_changes

    root = tmp_path_factory.mktemp("merge")
    res = run_cli("demo", "--out", root / "demo", "--quiet")
    assert res.exit_code == 0, res.output
    return root, write_changes(root / "demo", root / "changes")


@pytest.mark.slow
def test_demo_merge_cli(demo_dir):
    root, files = demo_dir
    out = root / "merged"
    res = run_cli("merge", "--layers", files["governance"], files["urban"], files["civil"],
                  "--names", "综治,城管,民政", "--plan", root / "demo", "--out", out)
    assert res.exit_code == 0, res.output
    assert "多网合一" in res.output
    assert {p.name for p in out.iterdir()} >= {"unified_grids.geojson", "unified.gpkg",
                                               "crosswalk.csv", "merge_report.csv",
                                               "merge_report.json"}
    report = json.loads((out / "merge_report.json").read_text(encoding="utf-8"))
    walk = pd.read_csv(out / "crosswalk.csv", dtype={"old_grid": str, "new_grid": str})
    assert list(walk.columns) == ["department", "old_grid", "new_grid", "households",
                                  "share_of_old_households", "area_share_of_old"]
    # the regular urban grid tiles the district: every household crosswalked exactly once
    assert walk.loc[walk["department"] == "城管", "households"].sum() == report["households"]
    civil = report["departments"]["民政"]
    assert civil["gap_area_m2"] > 0 and civil["grids_crossing_communities"] == 0
    assert report["departments"]["综治"]["overlap_households"] > 0
    unified = gpd.read_file(out / "unified.gpkg", layer="unified_grids")
    assert {"综治_grids", "城管_grids", "民政_grids"} <= set(unified.columns)


@pytest.mark.slow
def test_merge_without_plan_makes_one(demo_dir, tmp_path):
    root, files = demo_dir
    res = run_cli("merge", "--layers", files["urban"], "--population",
                  "data/boundaries/buildings.geojson", "--communities",
                  "data/boundaries/communities.geojson", "--community-code", "code",
                  "--out", tmp_path, "--quiet")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "plan.gpkg").exists() and (tmp_path / "crosswalk.csv").exists()


@pytest.mark.slow
def test_merge_bad_input_exits_2(demo_dir, tmp_path):
    root, files = demo_dir
    res = run_cli("merge", "--layers", files["urban"], "--out", tmp_path / "x")
    assert res.exit_code == 2 and "--plan" in res.stderr
    res = run_cli("merge", "--layers", files["urban"], files["civil"], "--names", "a",
                  "--plan", root / "demo", "--out", tmp_path / "y")
    assert res.exit_code == 2 and "--names" in res.stderr
    assert not (tmp_path / "y").exists()


@needs_providence
def test_real_data_tracts_onto_precinct_grids():
    comms = precincts(4)
    p = providence_plan(4)
    # census tracts (blocks dissolved by tract) as a department's grids: real, misaligned shapes
    tracts = blocks().assign(tract=blocks()["GEOID10"].str[:11]).dissolve("tract").reset_index()
    tracts = tracts[tracts.intersects(shapely.union_all(comms.to_crs(tracts.crs)
                                                        .geometry.values))]
    layer = department_layer(tracts[["tract", "geometry"]], name="tracts", id_field="tract")
    res = merge_departments(p, {"tracts": layer})
    check_crosswalk(res, p)
    # tracts do not follow the plan's grids: most are spread over several of them
    spread = res.crosswalk[res.crosswalk["households"] > 0].groupby("old_grid").size()
    assert (spread > 1).any()
    # tracts are made of whole blocks: every household lies in exactly one tract
    assert res.communities["overlap_households"].sum() == 0
    assert res.communities["gap_households"].sum() == 0
    assert res.crosswalk["households"].sum() == int(p.units["households"].sum())


@pytest.mark.slow
def test_merge_of_a_layer_elsewhere_exits_2(demo_dir, tmp_path):
    root, files = demo_dir
    far = gpd.read_file(files["urban"])
    far["geometry"] = far.geometry.translate(xoff=2.0)  # two degrees east: another district
    far.to_file(tmp_path / "far.geojson")
    res = run_cli("merge", "--layers", tmp_path / "far.geojson", "--plan", root / "demo",
                  "--out", tmp_path / "x")
    assert res.exit_code == 2, res.output
    assert "does not overlap the plan's communities" in res.stderr and "CRS" in res.stderr
    assert not (tmp_path / "x").exists()
