"""End to end on real data (../shared/data) through the command line: rules and output files.

OSM extracts plan with derived communities; Providence plans census blocks (population
only, EPSG:4269 polygons) in voting precincts.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from conftest import (
    DATA,
    REALDATA_FIGURES,
    assert_output_files,
    assert_plan_rules,
    load_plan_dir,
    run_cli,
)

from gridplan.layers.osm import read_osm
from gridplan.layers.prepare import prepare_communities
from gridplan.model import Plan

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"real data folder {DATA} not found"),
]


@dataclass
class Dataset:
    name: str
    args: Callable[[], list[object]]
    units: Callable[[], gpd.GeoDataFrame]  # unit_id, households, geometry as planned from
    communities: Callable[[], gpd.GeoDataFrame | None]  # prepared, or None when derived


@functools.cache
def _osm_buildings(name: str) -> gpd.GeoDataFrame:
    return read_osm(DATA / f"{name}.osm.bz2").buildings[["unit_id", "households", "geometry"]]


def _osm(name: str, tessellation: str = "auto") -> Dataset:
    path = DATA / f"{name}.osm.bz2"
    label = name if tessellation == "auto" else f"{name} ({tessellation})"
    # no dedicated grids here: these extracts are mostly campuses, which would become
    # dedicated grids and leave little to balance (test_dedicated.py plans them with)
    return Dataset(label, lambda: ["--osm", path, "--tessellation", tessellation,
                                   "--dedicated-tags", ""],
                   lambda: _osm_buildings(name), lambda: None)


def _providence_units() -> gpd.GeoDataFrame:
    blocks = gpd.read_file(DATA / "providence" / "blocks.zip")
    assert blocks.crs.to_epsg() == 4269
    return gpd.GeoDataFrame({"unit_id": blocks["GEOID10"].astype(str),
                             "households": np.rint(blocks["TOTPOP"] / 2.6).astype(np.int64)},
                            geometry=blocks.geometry, crs=blocks.crs)


def _providence_communities() -> gpd.GeoDataFrame:
    return prepare_communities(gpd.read_file(DATA / "providence" / "precincts.zip"),
                               id_field="NAME")


def _providence(tessellation: str) -> Dataset:
    def args() -> list[object]:
        return ["--communities", DATA / "providence" / "precincts.zip", "--community-id", "NAME",
                "--population", DATA / "providence" / "blocks.zip", "--unit-id", "GEOID10",
                "--population-field", "TOTPOP", "--tessellation", tessellation]

    label = "providence" if tessellation == "auto" else f"providence ({tessellation})"
    return Dataset(label, args, _providence_units,
                   _providence_communities)


PLANNED = {
    "beijing_wudaokou": _osm("beijing_wudaokou"),
    "beijing_bnu": _osm("beijing_bnu"),  # had sliver holes that collapsed in GeoJSON
    "shanghai_shu": _osm("shanghai_shu"),
    "helsinki": _osm("helsinki"),  # crashed GEOS ('No cell found for input coordinate')
    # centroid cells: 0-household units were left in a fragment handed to another grid
    "helsinki-centroid": _osm("helsinki", "centroid"),
    "providence": _providence("auto"),  # crashed GEOS like helsinki
}


@dataclass
class Run:
    out: Path
    plan: Plan
    wall: float


class Runs:
    """Each dataset planned once through the CLI, shared by the tests of this module."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.done: dict[str, Run] = {}

    def get(self, key: str, ds: Dataset) -> Run:
        if key not in self.done:
            self.done[key] = _run(ds, self.root / key)
        return self.done[key]


def _run(ds: Dataset, out: Path) -> Run:
    t0 = time.perf_counter()
    result = run_cli("plan", *ds.args(), "--out", out, "--quiet", "--no-map")
    wall = time.perf_counter() - t0
    assert result.exit_code == 0, (result.output, result.exception)
    p = load_plan_dir(out)
    r = p.report
    REALDATA_FIGURES.append({"dataset": ds.name, "grids": r["grids"],
                             "households": r["households"],
                             "share_in_band": r["share_in_band"],
                             "contiguous_share": r["contiguous_share"],
                             "runtime_seconds": r["runtime_seconds"], "wall_seconds": wall})
    return Run(out, p, wall)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return Runs(tmp_path_factory.mktemp("realdata"))


def _check_rules(ds: Dataset, p: Plan) -> None:
    comms = ds.communities()
    if comms is not None:
        # communities as given (sliver overlaps trimmed): same ids, nearly the same area
        got = p.communities.set_index("community_id")
        want = comms.set_index("community_id").to_crs(p.crs)
        assert set(got.index) == set(want.index)
        ratio = got.geometry.area / want.geometry.area.reindex(got.index)
        assert ((ratio > 0.99) & (ratio <= 1.0 + 1e-6)).all()
    assert_plan_rules(p, ds.units())  # against the communities the plan used
    r = p.report
    assert len(p.grids) > 0 and r["households"] > 0
    assert r["contiguous_share"] >= (1.0 if comms is None else 0.9)
    assert r["share_in_band"] >= 0.5, r["share_in_band"]


@pytest.mark.parametrize("key", list(PLANNED))
def test_real_plan_rules(runs: Runs, key: str):
    _check_rules(PLANNED[key], runs.get(key, PLANNED[key]).plan)


@pytest.mark.parametrize("key", list(PLANNED))
def test_real_output_files(runs: Runs, key: str):
    run = runs.get(key, PLANNED[key])
    assert_output_files(run.out, run.plan)


def test_providence_units_outside_precincts_reported(tmp_path):
    """Precincts cover part of the city: blocks outside are counted and left out."""
    out = tmp_path / "out"
    args = _providence("auto").args()
    result = run_cli("plan", *args, "--out", out, "--quiet", "--no-map", "--target", "600",
                     "--tolerance", "0.25")
    assert result.exit_code == 0, (result.output, result.exception)
    p = load_plan_dir(out)
    units = _providence_units()
    assert_plan_rules(p, units)
    inp = p.report["input"]
    assert inp["units_outside_communities"] > 0
    assert inp["households_outside_communities"] + p.report["households"] == int(
        units["households"].sum())
