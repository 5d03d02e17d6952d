"""Micro-grids (微网格): plan rules one level down, on exact fixtures, the demo and real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from conftest import (
    POINT_SLACK,
    X0,
    Y0,
    communities_frame,
    lattice,
    prep_communities,
    prep_units,
    run_cli,
    units_frame,
)
from providence import needs_providence, providence_plan

from gridplan.engine.metrics import validate_plan
from gridplan.engine.pipeline import plan
from gridplan.errors import InputError
from gridplan.export.folder import read_plan, write_plan
from gridplan.params import PlanParams
from gridplan.practice.microgrids import MicroParams, plan_microgrids


def check_micro(micro, parent) -> None:
    """Every rule of a plan, one level down, plus codes and totals tied to the parent grids."""
    validate_plan(micro.as_plan())
    m = micro.microgrids
    assert not m["micro_code"].duplicated().any()
    assert (m["micro_code"].str[:-3] == m["grid_code"]).all()
    assert m["micro_code"].str[-3:].str.fullmatch(r"\d{3}").all()
    per_grid = m.groupby("grid_code")["households"].sum()
    assert per_grid.to_dict() == parent.grids.set_index("grid_code")["households"].to_dict()
    # every unit in exactly one micro-grid, households conserved unit by unit of the building
    u = micro.units
    assert not u["unit_id"].duplicated().any() and u["micro_code"].notna().all()
    by_building = u.groupby("building_id")["households"].sum()
    want = parent.units.groupby("building_id")["households"].sum()
    assert by_building.to_dict() == want.to_dict()
    # micro-grids tile their grid and are each one polygon
    for code, grp in m.groupby("grid_code"):
        grid = parent.grids.set_index("grid_code").geometry[code]
        union = shapely.union_all(grp.geometry.values)
        assert abs(union.area - grid.area) <= 1e-4 * grid.area
        assert abs(shapely.area(grp.geometry.values).sum() - grid.area) <= 1e-4 * grid.area
    assert (m.geometry.geom_type == "Polygon").all()
    # each unit lies in its own micro-grid; status follows the band
    own = m.set_index("micro_code").geometry.reindex(u["micro_code"]).values
    pts = shapely.point_on_surface(u.geometry.values)
    assert (shapely.distance(pts, own) <= POINT_SLACK).all()
    lo, hi = micro.params.band
    hh = m["households"]
    want_status = np.where(hh == 0, "empty", np.where(hh < lo, "below_band",
                                                      np.where(hh > hi, "above_band", "ok")))
    assert list(m["status"]) == list(want_status)
    assert (m.loc[m["status"] != "ok", "reason"].str.len() > 0).all()


@pytest.fixture(scope="module")
def lattice_plan():
    units = prep_units(units_frame(lattice(6, 4, households=55)))
    comms = prep_communities(communities_frame(
        [("C1", "110101001001", shapely.box(X0, Y0, X0 + 300, Y0 + 200))]))
    return plan(units, comms, params=PlanParams())


def test_lattice_every_building_of_55_is_one_microgrid(lattice_plan):
    micro = plan_microgrids(lattice_plan)
    check_micro(micro, lattice_plan)
    assert len(lattice_plan.grids) == 4
    assert len(micro.microgrids) == 24  # 24 buildings of 55: each one micro-grid on target
    assert (micro.microgrids["households"] == 55).all()
    assert set(micro.microgrids["status"]) == {"ok"}
    assert micro.microgrids["micro_code"].str.len().eq(18).all()


def test_big_building_split_by_stairwell():
    rows = lattice(4, 2, households=40)
    rows[0] = ("tower", 200, rows[0][2])
    units = prep_units(units_frame(rows))
    comms = prep_communities(communities_frame(
        [("C1", None, shapely.box(X0, Y0, X0 + 200, Y0 + 100))]))
    p = plan(units, comms, params=PlanParams(target=480, tolerance=0.2))
    micro = plan_microgrids(p, MicroParams(stairwell_households=30))
    check_micro(micro, p)
    subs = micro.units[micro.units["building_id"] == "tower"]
    assert len(subs) == 7 and subs["households"].sum() == 200
    assert set(subs["unit_id"]) == {f"tower#{i}" for i in range(1, 8)}
    assert micro.microgrids["micro_code"].str.startswith("C1-001").all()


def test_bad_band_is_refused():
    with pytest.raises(InputError, match="must hold the target"):
        MicroParams(target=55, lower=60, upper=80)


@pytest.fixture(scope="module")
def demo_plan_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    res = run_cli("demo", "--out", out, "--quiet")
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.slow
def test_demo_microgrids_cli(demo_plan_dir: Path, tmp_path: Path):
    res = run_cli("microgrids", "--plan", demo_plan_dir, "--out", tmp_path)
    assert res.exit_code == 0, res.output
    assert "micro-grids (微网格)" in res.output
    names = {p.name for p in tmp_path.iterdir()}
    assert {"microgrids.geojson", "microgrids.gpkg", "microunits.csv",
            "microgrids_report.json", "microgrids_map.html"} <= names
    report = json.loads((tmp_path / "microgrids_report.json").read_text(encoding="utf-8"))
    parent = read_plan(demo_plan_dir)
    assert report["households"] == int(parent.grids["households"].sum())
    assert report["share_in_band"] >= 0.9
    micro = plan_microgrids(parent)
    check_micro(micro, parent)
    assert report["microgrids"] == len(micro.microgrids)


@pytest.mark.slow
def test_failed_run_leaves_earlier_outputs(demo_plan_dir: Path, tmp_path: Path, monkeypatch):
    from gridplan.practice import microgrids as mod

    micro = plan_microgrids(read_plan(demo_plan_dir))
    mod.write_microgrids(micro, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    monkeypatch.setattr(mod.json, "dump", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        mod.write_microgrids(micro, tmp_path)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert before == after
    assert not any(p.name.startswith(".gridplan-") for p in tmp_path.iterdir())


@needs_providence
def test_real_data_microgrids(tmp_path: Path):
    p = providence_plan(3)
    write_plan(p, tmp_path)
    parent = read_plan(tmp_path)
    micro = plan_microgrids(parent)
    check_micro(micro, parent)
    assert len(micro.microgrids) > len(p.grids)
    assert np.isclose(micro.microgrids["households"].sum(), p.grids["households"].sum())


def test_neighbouring_count_tried_when_buildings_are_coarse():
    # 300 households in six buildings of 50: the mean nearest 55 is five micro-grids (one of
    # 100), but six micro-grids of 50 are all in band, and are kept
    units = prep_units(units_frame(lattice(3, 2, households=50)))
    comms = prep_communities(communities_frame(
        [("C1", None, shapely.box(X0, Y0, X0 + 150, Y0 + 100))]))
    p = plan(units, comms, params=PlanParams())
    micro = plan_microgrids(p)
    check_micro(micro, p)
    assert len(micro.microgrids) == 6 and set(micro.microgrids["status"]) == {"ok"}
