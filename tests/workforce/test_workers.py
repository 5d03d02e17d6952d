"""Workers: workload model, staffing norm, assignment, `gridplan staff`."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from gridplan.cli.main import main
from gridplan.engine.visits import unit_visits
from gridplan.errors import InputError
from gridplan.params import WorkloadParams
from gridplan.workforce.staffing import UNASSIGNED, assign_workers, inequality, read_workers
from gridplan.workforce.workload import StreetNetwork, hours, required_workers, tour_length

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "boundaries"
SHARED = ROOT.parent / "shared" / "data"


def _loads(rows):
    return pd.DataFrame(rows, columns=["grid_code", "community_id", "households",
                                       "workload_hours"])


def _workers(rows):
    return pd.DataFrame(rows, columns=["worker_id", "name", "community_id", "capacity_hours"])


# --- workload model ------------------------------------------------------------------------

def test_visits_households_and_special_spread_over_stairwells():
    units = pd.DataFrame({"unit_id": ["a", "t#1", "t#2"], "building_id": ["a", "t", "t"],
                          "households": [12, 100, 50]})
    special = pd.DataFrame({"unit_id": ["a", "t"], "category": ["high_risk_elderly", "dibao"],
                            "count": [1, 3]})
    visits, cases = unit_visits(units, special, WorkloadParams())
    # a: 12 × 2/12 + 4.3; t: 3 dibao visits split 100:50
    assert visits == pytest.approx([2 + 4.3, 100 / 6 + 2, 50 / 6 + 1])
    assert cases == pytest.approx([1, 2, 1])


def test_unknown_category_names_the_fix():
    with pytest.raises(InputError, match="unknown special-population category 'ghosts'"):
        WorkloadParams().rate("ghosts")


def test_tour_straight_line_square():
    pts = np.array([[0.0, 100.0], [100.0, 100.0], [100.0, 0.0]])
    length, on_net = tour_length(pts, np.array([0.0, 0.0]), detour=1.3)
    assert length == pytest.approx(400 * 1.3)
    assert on_net is False


def test_tour_on_street_network_and_fallback():
    g = nx.MultiDiGraph()
    for n, (x, y) in enumerate([(0, 0), (100, 0), (100, 100), (0, 100)]):
        g.add_node(n, x=x, y=y)
    for a, b in [(0, 1), (1, 2), (2, 3)]:  # an open square: no edge 3–0
        g.add_edge(a, b, length=100.0, highway="residential")
    net = StreetNetwork(g)
    length, on_net = tour_length(np.array([[0.0, 100.0]]), np.array([0.0, 0.0]), street=net)
    assert on_net is True
    assert length == pytest.approx(600.0)  # 0→1→2→3 and back
    far, on_net = tour_length(np.array([[5000.0, 5000.0]]), np.array([0.0, 0.0]), street=net)
    assert on_net is False and net.unreached  # fell back to straight line, and said so


def _grid_network(side: int = 6, step: float = 100.0) -> StreetNetwork:
    """A street grid of ``side`` × ``side`` nodes ``step`` metres apart."""
    g = nx.MultiDiGraph()
    for i in range(side * side):
        g.add_node(i, x=(i % side) * step, y=(i // side) * step)
    for i in range(side * side):
        if i % side < side - 1:
            g.add_edge(i, i + 1, length=step)
        if i // side < side - 1:
            g.add_edge(i, i + side, length=step)
    return StreetNetwork(g)


@pytest.mark.parametrize("street", [False, True])
def test_tours_on_two_processes_are_those_of_one(monkeypatch, street):
    """Chunks of tours on forked processes: the same lengths in grid order, and the street
    network's unreached points gathered in the same order as in one process."""
    from gridplan.engine import processes
    from gridplan.workforce import staffing

    rng = np.random.default_rng(3)
    stops = [rng.uniform(0, 500, (n, 2)) for n in rng.integers(0, 25, 70)]
    stops[5] = np.vstack([stops[5], [[9000.0, 9000.0]]])  # off the network: straight lines
    stops[40] = np.array([[8000.0, 100.0]])
    starts = [rng.uniform(0, 500, 2) for _ in stops]
    monkeypatch.setattr(staffing, "MIN_STOPS", 1)
    found = {}
    for n in ("1", "2"):
        monkeypatch.setenv(processes.ENV, n)
        net = _grid_network() if street else None
        found[n] = (staffing._tours(stops, starts, net, 1.3), net.unreached if net else [])
    assert found["2"] == found["1"]
    tours, unreached = found["1"]
    assert len(tours) == len(stops)
    assert unreached == ([(9000.0, 9000.0), (8000.0, 100.0)] if street else [])
    assert [on for _, on in tours].count(False) == (2 if street else len(stops))


def test_hours_and_norm():
    p = WorkloadParams(minutes_per_visit=30, tours_per_month=4, walking_speed_kmh=4.5)
    assert hours(10, 4500, p) == pytest.approx(5 + 4)
    assert required_workers(10000, 3) == 18
    assert required_workers(100, 3) == 3


# --- assignment ------------------------------------------------------------------------------

def test_flow_assigns_nearest_and_spreads_grids_evenly():
    loads = _loads([("G1", "A", 300, 40), ("G2", "A", 300, 40), ("G3", "A", 300, 40),
                    ("G4", "A", 300, 40)])
    workers = _workers([("w1", "一", "A", 160), ("w2", "二", "A", 160)])
    xy = {"G1": np.array([0.0, 0]), "G2": np.array([10.0, 0]), "G3": np.array([1000.0, 0]),
          "G4": np.array([1010.0, 0])}
    homes = {"w1": np.array([0.0, 0]), "w2": np.array([1000.0, 0])}
    a = assign_workers(loads, workers, xy, homes)
    got = dict(zip(a.grids["grid_code"], a.grids["worker_id"], strict=True))
    assert got == {"G1": "w1", "G2": "w1", "G3": "w2", "G4": "w2"}
    assert a.missing == {}
    assert a.workers.set_index("worker_id")["hours"].tolist() == [80, 80]


def test_flow_respects_capacity_and_reports_missing_workers():
    loads = _loads([("G1", "A", 300, 100), ("G2", "A", 300, 100), ("G3", "A", 300, 100),
                    ("H1", "B", 300, 100)])
    workers = _workers([("w1", "一", "A", 160), ("w2", "二", "A", 160), ("v1", "三", "B", 0)])
    xy = {g: np.array([0.0, 0]) for g in loads["grid_code"]}
    homes = {w: np.array([0.0, 0]) for w in workers["worker_id"]}
    a = assign_workers(loads, workers, xy, homes)
    per = a.grids.groupby("worker_id").size().to_dict()
    assert per.get("w1", 0) == 1 and per.get("w2", 0) == 1  # 160 h holds one 100-h grid
    assert a.missing == {"A": 1, "B": 1}
    assert (a.grids["worker_id"] == UNASSIGNED).sum() == 2


def test_inequality():
    assert inequality([10, 10, 10])["cv"] == 0
    assert inequality([5, 10])["max_min"] == 2


# --- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("text,match", [
    ("worker_id,name,community_id\nw1,a,C01\nw1,b,C01\n", "duplicate worker ids: w1"),
    ("worker_id,name,community_id\nw1,a,NOPE\n", "unknown community ids: NOPE"),
    ("worker_id,name,community_id,capacity_hours\nw1,a,C01,-5\n", "negative"),
    ("worker,community\nw1,C01\n", "missing column"),
])
def test_bad_workers(tmp_path, text, match):
    f = tmp_path / "w.csv"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=match):
        read_workers(f, pd.Series(["C01"]))


# --- end to end ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_plan(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    r = CliRunner().invoke(main, ["plan", "--communities", str(DEMO / "communities.geojson"),
                                  "--community-code", "code", "--population",
                                  str(DEMO / "buildings.geojson"), "--households", "households",
                                  "--compounds", str(DEMO / "compounds.geojson"), "--barriers",
                                  str(DEMO / "barriers.geojson"), "--out", str(out), "--quiet",
                                  "--no-map"])
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.slow
def test_staff_on_demo(demo_plan, tmp_path):
    r = CliRunner().invoke(main, ["staff", "--plan", str(demo_plan), "--workers",
                                  str(DEMO / "workers.csv"), "--special",
                                  str(DEMO / "special.csv"), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    staffing = pd.read_csv(tmp_path / "staffing.csv")
    assert rep["staffing"]["shortfall"] == 4  # C04 is staffed below the norm on purpose
    assert staffing.set_index("community_id").loc["C04", "balance"] == -4
    workers = pd.read_csv(tmp_path / "workers.csv")
    grids = json.loads((tmp_path / "grids.geojson").read_text(encoding="utf-8"))["features"]
    assert all(f["properties"]["workload_hours"] > 0 for f in grids
               if f["properties"]["households"] > 0)
    held = {f["properties"]["workers"] for f in grids}
    assert held <= set(workers["worker_id"]) | {UNASSIGNED}
    assert workers["grids"].sum() == len(grids) - sum(
        f["properties"]["workers"] == UNASSIGNED for f in grids)
    assert "worker_hours" in rep["load"] and "shortfall" in r.output


def test_staff_copies_what_it_does_not_change(demo_plan, tmp_path):
    """Units, communities, parcels, units.csv and grids.xlsx come from the plan's folder;
    only the grids are written anew, with the staffing columns."""
    from gridplan.export.folder import read_plan

    r = CliRunner().invoke(main, ["staff", "--plan", str(demo_plan), "--workers",
                                  str(DEMO / "workers.csv"), "--out", str(tmp_path),
                                  "--quiet", "--no-map"])
    assert r.exit_code == 0, r.output
    before, after = read_plan(demo_plan), read_plan(tmp_path)
    for name in ("units", "communities", "cells", "cell_edges"):
        pd.testing.assert_frame_equal(pd.DataFrame(getattr(after, name)),
                                      pd.DataFrame(getattr(before, name)))
    assert {"workload_hours", "workers"} <= set(after.grids.columns)
    pd.testing.assert_frame_equal(pd.DataFrame(after.grids[before.grids.columns]),
                                  pd.DataFrame(before.grids))
    for name in ("units.csv", "grids.xlsx"):
        assert (tmp_path / name).read_bytes() == (demo_plan / name).read_bytes()


def test_staff_rejects_unknown_special_unit(demo_plan, tmp_path):
    bad = tmp_path / "s.csv"
    bad.write_text("unit_id,category,count\nNOPE,dibao,1\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["staff", "--plan", str(demo_plan), "--workers",
                                  str(DEMO / "workers.csv"), "--special", str(bad), "--out",
                                  str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "not in the plan: NOPE" in r.output and "Fix:" in r.output


@pytest.mark.slow
def test_balance_workload_evens_hours(tmp_path):
    outs = {}
    for balance in ("households", "workload"):
        out = tmp_path / balance
        r = CliRunner().invoke(main, ["demo", "--out", str(out), "--balance", balance,
                                      "--quiet"])
        assert r.exit_code == 0, r.output
        outs[balance] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert outs["workload"]["balanced_on"] == "visit_equivalents"
    assert (outs["workload"]["load"]["grid_hours"]["cv"]
            < outs["households"]["load"]["grid_hours"]["cv"])


@pytest.mark.realdata
def test_staff_wudaokou_street_network(tmp_path):
    osm = SHARED / "beijing_wudaokou.osm.bz2"
    if not osm.exists():
        pytest.skip(f"{osm} is absent (real data lives in ../shared/data)")
    plan_dir = tmp_path / "plan"
    # without dedicated grids: the campus grids (2,400-3,400 households) exceed any one
    # worker's monthly capacity and would stay unassigned
    r = CliRunner().invoke(main, ["plan", "--osm", str(osm), "--out", str(plan_dir), "--quiet",
                                  "--no-map", "--dedicated-tags", ""])
    assert r.exit_code == 0, r.output
    comm = pd.read_csv(plan_dir / "units.csv")["community_id"].unique()
    workers = tmp_path / "w.csv"
    workers.write_text("worker_id,name,community_id\n" + "".join(
        f"{c}-{i},n,{c}\n" for c in comm for i in range(12)), encoding="utf-8")
    r = CliRunner().invoke(main, ["staff", "--plan", str(plan_dir), "--workers", str(workers),
                                  "--osm", str(osm), "--out", str(tmp_path / "s"), "--quiet"])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "s" / "report.json").read_text(encoding="utf-8"))
    assert rep["load"]["tours_on_street_network"] > rep["load"]["tours_straight_line"]
    assert rep["staffing"]["grids_without_worker"] == 0


@pytest.mark.slow
def test_dedicated_grids_stay_out_of_the_load_spread(tmp_path):
    """Campuses, schools and hospitals (专属网格, 0 households) do not skew the grid-hour CV."""
    out = tmp_path / "demo"
    r = CliRunner().invoke(main, ["demo", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    rep = json.loads((out / "report.json").read_text(encoding="utf-8"))
    grids = json.loads((out / "grids.geojson").read_text(encoding="utf-8"))["features"]
    dedicated = [f for f in grids if f["properties"].get("grid_type") == "dedicated"]
    assert dedicated and all(f["properties"]["households"] == 0 for f in dedicated)
    hours = [f["properties"]["workload_hours"] for f in grids
             if f["properties"].get("grid_type") != "dedicated"]
    assert rep["load"]["grid_hours"]["max_min"] == pytest.approx(max(hours) / min(hours),
                                                                 rel=1e-2)


def test_staff_starts_without_the_engine():
    """`gridplan staff` reads a plan folder: the CLI starts without the engine,
    gridplan.practice or scipy.optimize (imported on use), and ``gridplan.plan`` is still
    there."""
    import subprocess
    import sys

    code = ("import sys, gridplan, gridplan.cli.main\n"
            "heavy = [m for m in ('gridplan.engine.pipeline', 'gridplan.practice.replan',"
            " 'scipy.sparse.csgraph', 'scipy.optimize') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "from gridplan import plan\n"
            "from gridplan.engine.pipeline import plan as engine_plan\n"
            "assert plan is engine_plan and gridplan.plan is engine_plan\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
