"""A few Providence precincts planned from census blocks, for tests on real data."""

from __future__ import annotations

import functools

import geopandas as gpd
import pytest
from conftest import DATA

from gridplan.engine.pipeline import plan
from gridplan.layers.population import prepare_units
from gridplan.layers.prepare import prepare_communities
from gridplan.model import Plan
from gridplan.params import PlanParams


def needs_providence(test):
    """Mark a test as reading real data, skipped when the Providence files are absent."""
    skip = pytest.mark.skipif(not (DATA / "providence").is_dir(),
                              reason=f"real data folder {DATA / 'providence'} not found")
    return pytest.mark.realdata(skip(test))


@functools.cache
def blocks() -> gpd.GeoDataFrame:
    """Providence census blocks (GEOID10, TOTPOP), EPSG:4269."""
    return gpd.read_file(DATA / "providence" / "blocks.zip")


def precincts(n: int) -> gpd.GeoDataFrame:
    """The first ``n`` voting precincts, prepared as communities."""
    return prepare_communities(gpd.read_file(DATA / "providence" / "precincts.zip"),
                               id_field="NAME").iloc[:n]


def block_units(frame: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Blocks (or a changed copy of them) as units with households = residents ÷ 2.6."""
    return prepare_units(blocks() if frame is None else frame, unit_id="GEOID10",
                         population_field="TOTPOP")


def providence_plan(n: int) -> Plan:
    """The blocks of the first ``n`` precincts planned with the default parameters."""
    return plan(block_units(), precincts(n), params=PlanParams())
