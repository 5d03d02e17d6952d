"""Stage 2: plan one community from its shards, as the in-process plan would."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd

from gridplan.engine.community import plan_community
from gridplan.engine.metrics import validate_plan
from gridplan.engine.pipeline import StageTimer, _assemble
from gridplan.errors import InputError
from gridplan.params import PlanParams
from gridplan.scale.cluster import peak_mb, reset_peak
from gridplan.scale.shards import _write_json, load_frames, safe_name, save_frames

ORDER = ["_sub", "_part", "_pos"]  # sort key that restores the in-process unit order


def plan_one(community: SimpleNamespace, shards: list[str], barriers: np.ndarray | None,
             params: PlanParams, work: Path) -> dict:
    """Plan one community from its shards, check the rules, write ``WORK/plans/<id>.pkl``.

    Everything is in the run's metric CRS, which the frames here leave unset (the
    merge sets it once per batch).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    reset_peak()
    units = _community_units(shards)
    dup = units["unit_id"][units["unit_id"].duplicated()]
    if len(dup):
        raise InputError(f"unit ids appear twice in community {community.community_id}: "
                         f"{', '.join(map(str, dup.head(5)))}", field="--unit-id",
                         fix="give every unit its own id across all partitions")
    timer = StageTimer()
    g, ug, cells, edges = plan_community(community, units, barriers, params, timer)
    comm = gpd.GeoDataFrame({"community_id": [community.community_id],
                             "code": [community.code]}, geometry=[community.geometry])
    for extra in ("name", "name_en"):
        if hasattr(community, extra):
            comm[extra] = [getattr(community, extra)]
    result = _assemble([g], [ug], units, comm, params, None)
    result.cells = gpd.GeoDataFrame(cells, geometry="geometry")
    result.cell_edges = edges
    validate_plan(result)
    name = work / "plans" / safe_name(community.community_id)
    save_frames(name.with_suffix(".pkl"),
                {"grids": result.grids, "units": result.units, "community": result.communities,
                 "cells": result.cells, "cell_edges": result.cell_edges})
    done = {"community_id": community.community_id, "grids": len(result.grids),
            "units": len(result.units), "stage_seconds": timer.seconds,
            "seconds": round(time.perf_counter() - t0, 3), "peak_mb": peak_mb(),
            "cpu_seconds": round(time.process_time() - c0, 3),
            "explanation": g.attrs.get("explanation"), "optimality": g.attrs.get("optimality")}
    _write_json(name.with_suffix(".json"), done)  # the done-marker, after the results
    return done


def _community_units(shards: list[str]) -> gpd.GeoDataFrame:
    """A community's units from its shards, in the order the in-process plan uses."""
    if not shards:
        cols = {"unit_id": [], "building_id": [], "households": np.zeros(0, np.int64),
                "population": np.zeros(0), "community_id": [], "compound_id": []}
        return gpd.GeoDataFrame(cols, geometry=[])
    units = pd.concat([load_frames(s, None)["units"] for s in shards], ignore_index=True)
    units = units.sort_values(ORDER, kind="stable").drop(columns=ORDER)
    return gpd.GeoDataFrame(units.reset_index(drop=True), geometry="geometry")
