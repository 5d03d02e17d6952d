"""Planning communities on several processes gives the plan of one process."""

from __future__ import annotations

import importlib
import sys

import pandas as pd
import pytest
import shapely
from pandas.testing import assert_frame_equal

from gridplan.engine import processes
from gridplan.engine.pipeline import _geometries_as_wkb, _geometries_from_wkb, plan
from gridplan.layers.population import prepare_units
from gridplan.layers.prepare import prepare_communities
from gridplan.params import PlanParams

synthetic = importlib.import_module("bench.synthetic")  # the repository root is on pythonpath


@pytest.mark.skipif(sys.platform != "linux", reason="forked processes: Linux only")
def test_two_processes_plan_as_one() -> None:
    units, communities = synthetic.synthetic_city(2000, seed=5)
    args = (prepare_units(units, unit_id="unit_id", households="households"),
            prepare_communities(communities, id_field="id"))
    one = plan(*args, params=PlanParams(tessellation="centroid"), processes=1)
    two = plan(*args, params=PlanParams(tessellation="centroid"), processes=2)
    assert len(one.communities) >= 4
    assert_frame_equal(one.units[["unit_id", "grid_code"]], two.units[["unit_id", "grid_code"]])
    assert one.grids.geometry.geom_equals_exact(two.grids.geometry, tolerance=0).all()
    for name in ("grids", "cells"):  # geometries come back from the processes as WKB
        a, b = getattr(one, name), getattr(two, name)
        assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
        assert (shapely.to_wkb(a.geometry.values) == shapely.to_wkb(b.geometry.values)).all()
    assert_frame_equal(one.cell_edges, two.cell_edges)
    assert one.report["explanations"] == two.report["explanations"]
    assert two.report["stage_seconds_are"].endswith("2 processes)")
    assert "stage_seconds_are" not in one.report


def test_geometries_cross_as_wkb_and_come_back_the_same() -> None:
    grids = pd.DataFrame({"grid_code": ["a", "b"], "geometry": [shapely.box(0, 0, 1, 1),
                                                                shapely.Point(0.1, 1e-9)]},
                         index=[5, 7])
    grids.attrs["explanation"] = {"why": 1}
    units = pd.DataFrame({"unit_id": ["u"]})
    empty = pd.DataFrame({"geometry": pd.Series([], dtype=object)})
    packed = _geometries_as_wkb(((grids, units, empty), {"grids": 1.0}))
    assert isinstance(packed[0][0]["geometry"].iloc[0], bytes)
    back, seconds = _geometries_from_wkb(packed)
    assert seconds == {"grids": 1.0}
    assert_frame_equal(back[0].drop(columns="geometry"), grids.drop(columns="geometry"))
    assert back[0]["geometry"].dtype == object and back[0].attrs == grids.attrs
    assert list(shapely.equals_exact(back[0]["geometry"], grids["geometry"], tolerance=0)) == [
        True, True]
    assert back[1] is units and back[2] is empty


def test_small_plans_stay_in_one_process(monkeypatch) -> None:
    monkeypatch.delenv(processes.ENV, raising=False)
    assert processes.auto_processes(processes.MIN_COMMUNITIES - 1, 10**6) == 1
    assert processes.auto_processes(100, processes.MIN_UNITS - 1) == 1


def test_environment_sets_the_number(monkeypatch) -> None:
    monkeypatch.setenv(processes.ENV, "3")
    assert processes.auto_processes(1, 1) == 3


def test_an_error_in_a_process_reaches_the_caller() -> None:
    def task(i: int) -> int:
        if i == 3:
            raise ValueError("community 3 failed")
        return i

    with pytest.raises(ValueError, match="community 3"):
        list(processes.ordered_map(task, 6, processes=2))


@pytest.mark.skipif(sys.platform != "linux", reason="forked processes: Linux only")
def test_work_inside_a_pool_stays_in_its_process(monkeypatch) -> None:
    """A task that would start a pool of its own (a community's large tessellation) runs
    in its pool process, even with GRIDPLAN_PROCESSES set: the pool's own task must
    survive for its next index."""
    monkeypatch.setenv(processes.ENV, "2")

    def task(i: int) -> tuple[int, int]:
        inner = processes.auto_processes(100, 10**6)
        return inner, sum(processes.ordered_map(lambda j: j, 3, inner))

    assert list(processes.ordered_map(task, 6, processes=2)) == [(1, 3)] * 6
    assert processes.auto_processes(100, 10**6) == 2


@pytest.mark.skipif(sys.platform != "linux", reason="forked processes: Linux only")
def test_run_alongside_runs_every_task_and_passes_errors_on(monkeypatch, tmp_path) -> None:
    """The plan's files are written side by side: the last task (plan.gpkg) on a forked
    process, the others here; what they write is there afterwards, and an error
    reaches us."""
    import os

    monkeypatch.setenv(processes.ENV, "2")
    here = os.getpid()

    def write(name: str):
        return lambda: (tmp_path / name).write_text(str(os.getpid()))

    processes.run_alongside([write("a"), write("b"), write("c")], n_units=10**6)
    pids = {name: int((tmp_path / name).read_text()) for name in "abc"}
    assert pids["a"] == pids["b"] == here and pids["c"] != here

    def fail():
        raise ValueError("map.html failed")

    with pytest.raises(ValueError, match="map.html"):
        processes.run_alongside([write("d"), fail], n_units=10**6)
    monkeypatch.setenv(processes.ENV, "1")
    processes.run_alongside([write("e"), write("f")], n_units=10**6)
    assert int((tmp_path / "f").read_text()) == here
