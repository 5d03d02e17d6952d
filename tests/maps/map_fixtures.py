"""Fixtures of the map tests: the demo plan, planned once per module and checked by the rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_plan_rules

from gridplan.export.folder import read_plan
from gridplan.layers.population import prepare_units
from gridplan.layers.prepare import prepare_communities
from gridplan.layers.vector import read_vector

DEMO = Path(__file__).resolve().parents[2] / "data" / "boundaries"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    from gridplan.maps.coverage import save_plan_map

    from gridplan.run import run_demo

    out = tmp_path_factory.mktemp("demo")
    run_demo(out_dir=out, map_writer=save_plan_map, quiet=True, target=300, tolerance=0.15, seed=0,
             stairwell_households=100, code_scheme="nbs12+3", tessellation="auto",
             balance="households", verbose=0)
    return out


@pytest.fixture(scope="module")
def demo(demo_dir):
    plan = read_plan(demo_dir)
    units = prepare_units(read_vector(DEMO / "buildings.geojson", what="population"),
                          unit_id="unit_id", households="households")
    comms = prepare_communities(read_vector(DEMO / "communities.geojson", what="communities"),
                                id_field="id", code_field="code")
    assert_plan_rules(plan, units, comms)
    return plan
