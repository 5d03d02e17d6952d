"""Stage 2: plan a batch of communities from the partitions' shards, as in-process plan would."""

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
from gridplan.scale.cluster import peak_mb, reset_peak, with_retries
from gridplan.scale.shards import POSITION, _write_json, load_units, save_frames

ORDER = [POSITION, "_sub", "_part", "_pos"]  # sort key that restores the in-process order
LAYERS = ("grids", "units", "community", "cells", "cell_edges")


def plan_batch(name: str, communities: list[SimpleNamespace], positions: list[int],
               shards: list[str], barriers: list, params: PlanParams, work: Path,
               retries: int = 0) -> dict:
    """Plan a batch of communities, check the rules on it, write ``WORK/plans/<name>.pkl``.

    A community that fails (after ``retries`` more tries, none for bad input) is
    named in the result's ``failed`` and left out; the others are kept. The marker
    ``<name>.json``, written after the results, gives each planned community's
    summary and its rows in each layer of the batch file. Everything is in the run's
    metric CRS, which the frames here leave unset (the merge sets it).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    reset_peak()
    units = load_units(shards, positions).sort_values(ORDER, kind="stable")
    by_comm = dict(tuple(units.drop(columns=ORDER).groupby("community_id", sort=False)))
    planned, summaries, failed = [], {}, {}
    for comm, near in zip(communities, barriers, strict=True):
        sub = by_comm[comm.community_id] if comm.community_id in by_comm else _no_units()
        try:
            out, seconds = with_retries(_plan_one, (comm, sub, near, params), retries,
                                        f"community {comm.community_id}", final=(InputError,))
        except Exception as exc:  # one community's failure is reported, not fatal
            failed[str(comm.community_id)] = f"{type(exc).__name__}: {exc}"
            continue
        planned.append((comm, sub, out))
        summaries[str(comm.community_id)] = {
            "community_id": comm.community_id, "units": len(sub), "stage_seconds": seconds,
            "explanation": out[0].attrs.get("explanation"),
            "optimality": out[0].attrs.get("optimality")}
    frames = _checked_frames(planned, params)
    save_frames(work / "plans" / f"{name}.pkl", frames)
    _add_rows(summaries, planned)
    marker = {"file": name, "communities": summaries, "failed": failed,
              "seconds": round(time.perf_counter() - t0, 3), "peak_mb": peak_mb(),
              "cpu_seconds": round(time.process_time() - c0, 3)}
    _write_json(work / "plans" / f"{name}.json", marker)  # the done-marker, after the results
    return marker


def _plan_one(comm: SimpleNamespace, units: gpd.GeoDataFrame, barriers, params: PlanParams):
    """Plan one community; its four frames and stage seconds."""
    dup = units["unit_id"][units["unit_id"].duplicated()]
    if len(dup):
        raise InputError(f"unit ids appear twice in community {comm.community_id}: "
                         f"{', '.join(map(str, dup.head(5)))}", field="--unit-id",
                         fix="give every unit its own id across all partitions")
    timer = StageTimer()
    out = plan_community(comm, units.reset_index(drop=True), barriers, params, timer)
    return out, timer.seconds


def _checked_frames(planned: list, params: PlanParams) -> dict[str, pd.DataFrame]:
    """The batch's five layers, joined as the in-process plan joins them and checked."""
    if not planned:
        return {}
    comm = gpd.GeoDataFrame(
        {"community_id": [c.community_id for c, _, _ in planned],
         "code": [c.code for c, _, _ in planned],
         **{k: [getattr(c, k) for c, _, _ in planned]
            for k in ("name", "name_en") if hasattr(planned[0][0], k)}},
        geometry=[c.geometry for c, _, _ in planned])
    units = pd.concat([u for _, u, _ in planned], ignore_index=True)
    result = _assemble([o[0] for _, _, o in planned], [o[1] for _, _, o in planned],
                       gpd.GeoDataFrame(units, geometry="geometry"), comm, params, None)
    result.cells = gpd.GeoDataFrame(pd.concat([o[2] for _, _, o in planned],
                                              ignore_index=True), geometry="geometry")
    result.cell_edges = pd.concat([o[3] for _, _, o in planned], ignore_index=True)
    validate_plan(result)
    return {"grids": result.grids, "units": result.units, "community": result.communities,
            "cells": result.cells, "cell_edges": result.cell_edges}


def _add_rows(summaries: dict[str, dict], planned: list) -> None:
    """Each community's rows ``[start, stop)`` in each layer of the batch file.

    The layers join the communities' pieces in order (one row per community in
    ``community``), so the ranges follow from the pieces' lengths.
    """
    start = dict.fromkeys(LAYERS, 0)
    for comm, units, (grids, _, cells, edges) in planned:
        s = summaries[str(comm.community_id)]
        sizes = dict(zip(LAYERS, (len(grids), len(units), 1, len(cells), len(edges)),
                         strict=True))
        s["rows"] = {k: [start[k], start[k] + n] for k, n in sizes.items()}
        s["grids"] = len(grids)
        start = {k: start[k] + n for k, n in sizes.items()}


def _no_units() -> gpd.GeoDataFrame:
    cols = {"unit_id": [], "building_id": [], "households": np.zeros(0, np.int64),
            "population": np.zeros(0), "community_id": [], "compound_id": []}
    return gpd.GeoDataFrame(cols, geometry=[])
