"""The re-planned plan: grid rows in community and code order, with change, status and reason."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridplan.engine.adjacency import block_polygons
from gridplan.engine.grids import polsby_popper
from gridplan.engine.metrics import summarize, validate_plan
from gridplan.layers.vector import InputNotes
from gridplan.model import Plan
from gridplan.practice.replan.carry import Context, State, dedicated_codes


def assemble_plan(state: State, ctx: Context, old: Plan, notes: InputNotes,
                  runtime: float) -> Plan:
    """The re-planned plan: grid rows in community and code order, units, report."""
    u = state.units
    lo, hi = ctx.params.band
    old_rows = old.grids.set_index("grid_code")
    codes = sorted(state.polys, key=lambda c: (str(state.community[c]), c))
    g = u.groupby("grid_code")
    polys = np.array([state.polys[c] for c in codes], dtype=object)
    rows = gpd.GeoDataFrame({
        "grid_code": codes,
        "community_id": [state.community[c] for c in codes],
        "households": g["households"].sum().reindex(codes, fill_value=0).astype(np.int64).values,
        "population": np.round(g["population"].sum().reindex(codes, fill_value=0).values, 1),
        "units": g.size().reindex(codes, fill_value=0).astype(np.int64).values,
        "area_m2": np.round(shapely.area(polys), 1),
        "polsby_popper": np.round(polsby_popper(polys), 4),
        "barrier_crossings": _crossings(state, ctx, codes, old_rows),
    }, geometry=polys, crs=old.crs)
    hh = rows["households"]
    rows["status"] = np.where(hh == 0, "empty", np.where(hh < lo, "below_band",
                                                         np.where(hh > hi, "above_band", "ok")))
    ded = dedicated_codes(old)
    rows["status"] = np.where(rows["grid_code"].isin(ded), "dedicated", rows["status"])
    for column in ("grid_type", "site_kind", "site_name"):
        old_col = old_rows[column] if column in old_rows.columns else pd.Series(dtype=object)
        rows[column] = [old_col.get(c, "") if c in ded else
                        ("comprehensive" if column == "grid_type" else "") for c in codes]
    rows["change"] = ["kept" if c in ded else _change_kind(state, c) for c in codes]
    rows["locked"] = [c in state.locked and c not in ded for c in codes]
    rows["reason"] = [_reason(state, old_rows, c, s, lo, hi)
                      for c, s in zip(codes, rows["status"], strict=True)]
    rows["reason_zh"] = [_reason_zh(state, old_rows, c, s, lo, hi)
                         for c, s in zip(codes, rows["status"], strict=True)]
    units = u[["unit_id", "building_id", "grid_code", "community_id", "households",
               "population", "geometry"]].reset_index(drop=True)
    comm = old.communities.copy()
    comm["households"] = comm["community_id"].astype(str).map(
        units.groupby("community_id")["households"].sum()).fillna(0).astype(np.int64)
    comm["grids"] = comm["community_id"].astype(str).map(
        rows.groupby("community_id").size()).fillna(0).astype(np.int64)
    plan_ = Plan(grids=rows, units=gpd.GeoDataFrame(units, geometry="geometry", crs=old.crs),
                 communities=comm, params=old.params)
    validate_plan(plan_)
    plan_.report = summarize(plan_, notes, {}, runtime)
    return plan_


def _change_kind(state: State, code: str) -> str:
    if code in state.locked:
        return "locked"
    if code in state.new:
        return "new"
    return "reshaped" if code in state.reshaped else "kept"


def _reason(state: State, old_rows: pd.DataFrame, code: str, status: str, lo: float,
            hi: float) -> str:
    if status == "dedicated":
        return str(old_rows["reason"].get(code, ""))
    if code in state.locked:
        return "locked (锁定): kept as it was" + (f"; {status} after the change"
                                                 if status != "ok" else "")
    if status == "ok":
        return ""
    if status == "empty":
        return "no households left here after the change"
    before = old_rows["households"].get(code)
    was = f" (had {int(before)} before)" if before is not None else ""
    return (f"still outside {lo:.0f}–{hi:.0f} after re-planning{was}: whole buildings, locked "
            "neighbours or the --max-moved budget leave no better split")


def _reason_zh(state: State, old_rows: pd.DataFrame, code: str, status: str, lo: float,
               hi: float) -> str:
    """:func:`_reason` in Chinese."""
    if status == "dedicated":
        return str(old_rows["reason_zh"].get(code, "")) if "reason_zh" in old_rows else ""
    if code in state.locked:
        return "锁定：保持原样" + ("" if status == "ok" else "；变更后不在区间内")
    if status == "ok":
        return ""
    if status == "empty":
        return "变更后此处已无住户"
    before = old_rows["households"].get(code)
    was = f"（原有{int(before)}户）" if before is not None else ""
    return (f"重新规划后仍不在{lo:.0f}–{hi:.0f}户区间内{was}：整栋楼、锁定的相邻网格或 "
            "--max-moved 上限使其无法更好划分")


def _crossings(state: State, ctx: Context, codes: list[str], old_rows) -> np.ndarray:
    """Barrier blocks spanned minus one: recomputed for redrawn grids when barriers are given."""
    out = []
    blocks: dict = {}
    for c in codes:
        if c not in state.reshaped and c in old_rows.index:
            out.append(int(old_rows.at[c, "barrier_crossings"]))
            continue
        if ctx.barrier_lines is None:
            out.append(0)
            continue
        cid = state.community[c]
        if cid not in blocks:
            geom = ctx.communities.set_index("community_id").geometry[cid]
            blocks[cid] = shapely.STRtree(block_polygons(geom, ctx.barrier_lines))
        pts = shapely.point_on_surface(state.units.geometry[state.units["grid_code"] == c].values)
        out.append(max(len(set(blocks[cid].nearest(pts).tolist())) - 1, 0) if len(pts) else 0)
    return np.asarray(out, dtype=np.int64)
