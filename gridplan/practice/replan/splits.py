"""Splits: an overgrown grid split on its own, or a community's unlocked grids re-planned.

The parts take the old codes they share most households with; the others take the next free
serial of their community.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy.optimize import linear_sum_assignment

from gridplan.codes import grid_code
from gridplan.engine import region
from gridplan.engine.grids import grid_polygons
from gridplan.engine.pipeline import StageTimer
from gridplan.practice.replan.carry import Context, State
from gridplan.practice.replan.moves import unit_graph, with_fillers


def _next_code(state: State, ctx: Context, cid: str) -> str:
    state.used[cid] = state.used.get(cid, 0) + 1
    comm = ctx.communities.set_index("community_id").loc[cid]
    code = comm["code"] if isinstance(comm["code"], str) and comm["code"] else None
    return grid_code(code, cid, state.used[cid], scheme=ctx.params.code_scheme,
                     object_class=ctx.params.object_class)


def split_grid(state: State, ctx: Context, code: str) -> None:
    """Re-plan one overgrown grid on its own polygon; its biggest old part keeps the code."""
    sub = state.units[state.units["grid_code"] == code]
    result = region.plan_region(state.polys[code], sub, ctx.barrier_lines, ctx.params,
                                StageTimer(), target=ctx.params.target, band=ctx.params.band)
    if len(result.polygons) < 2:
        return
    _apply_parts(state, ctx, state.community[code], sub.index, result, [code])


def split_new(state: State, ctx: Context, code: str) -> None:
    """Split an overgrown grid into its old units (keeping the code) and its new units."""
    u = state.units
    index = u.index[u["grid_code"] == code]
    sub = u.loc[index]
    new = sub["old_grid"].isna().to_numpy()
    if new.all() or not new.any():
        return
    graph = unit_graph(state.polys[code], sub, ctx)
    lab = with_fillers(graph, new.astype(int))
    polys, labels, _ = grid_polygons(graph.cells, graph.cell_unit, lab, graph.xy,
                                  graph.households, 2)
    if any(p.geom_type != "Polygon" for p in polys):
        return
    fresh = _next_code(state, ctx, state.community[code])
    state.new.add(fresh)
    state.community[fresh] = state.community[code]
    u.loc[index, "grid_code"] = np.where(labels[:graph.n_units] == 1, fresh, code)
    for c, p in zip((code, fresh), polys, strict=True):
        state.polys[c] = p
        state.reshaped.add(c)
    lo, hi = ctx.params.band
    h = state.sums()[fresh]
    if h > hi and h >= 2 * lo:
        split_grid(state, ctx, fresh)


def replan_part(state: State, ctx: Context, cid: str) -> None:
    """Re-plan the unlocked grids of community ``cid`` together, old codes matched by households."""
    codes = [c for c in state.codes_of(cid) if c not in state.locked]
    if not codes:
        return
    area = shapely.union_all([state.polys[c] for c in codes])
    sub = state.units[state.units["grid_code"].isin(codes)]
    result = region.plan_region(area, sub, ctx.barrier_lines, ctx.params, StageTimer(),
                                target=ctx.params.target, band=ctx.params.band)
    _apply_parts(state, ctx, cid, sub.index, result, codes)


def _apply_parts(state: State, ctx: Context, cid: str, index, result, codes: list[str]) -> None:
    """Give the parts of ``result`` the old ``codes`` they share most households with."""
    u = state.units
    k = len(result.polygons)
    old = u.loc[index, "old_grid"].fillna(u.loc[index, "grid_code"]).to_numpy()
    overlap = np.zeros((k, len(codes)))
    hh = u.loc[index, "households"].to_numpy(float)
    for j, c in enumerate(codes):
        np.add.at(overlap[:, j], result.labels[old == c], hh[old == c])
    rows, cols = linear_sum_assignment(-overlap)
    name = {int(r): codes[c] for r, c in zip(rows, cols, strict=True)}
    for part in range(k):
        if part not in name:
            name[part] = _next_code(state, ctx, cid)
            state.new.add(name[part])
    for c in codes:
        if c not in name.values():
            del state.polys[c], state.community[c]
    labels = np.array([name[int(p)] for p in result.labels], dtype=object)
    u.loc[index, "grid_code"] = labels
    for part in range(k):
        state.polys[name[part]] = result.polygons[part]
        state.community[name[part]] = cid
        state.reshaped.add(name[part])
