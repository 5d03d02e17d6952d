"""What a re-plan changed: the changes table, and the same figures for planning from scratch."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from gridplan.engine.pipeline import plan
from gridplan.model import Plan
from gridplan.practice.replan.carry import Context, State

CHANGE_FIELDS = ["unit_id", "building_id", "community_id", "old_grid", "new_grid", "households",
                 "change"]


def change_list(units: pd.DataFrame, old_units: pd.DataFrame) -> pd.DataFrame:
    """Units that changed grid, are new, or are gone: ``unit_id, old_grid, new_grid, ...``.

    Examples
    --------
    >>> new = pd.DataFrame({"unit_id": ["a", "b"], "building_id": ["a", "b"],
    ...                     "community_id": ["C1", "C1"], "old_grid": ["G1", None],
    ...                     "grid_code": ["G2", "G1"], "households": [10, 5]})
    >>> old = pd.DataFrame({"unit_id": ["a", "c"], "building_id": ["a", "c"],
    ...                     "community_id": ["C1", "C1"], "grid_code": ["G1", "G1"],
    ...                     "households": [10, 7]})
    >>> change_list(new, old)["change"].tolist()
    ['moved', 'new', 'removed']
    """
    u = pd.DataFrame({"unit_id": units["unit_id"].astype(str).values,
                      "building_id": units["building_id"].astype(str).values,
                      "community_id": units["community_id"].astype(str).values,
                      "old_grid": units["old_grid"].values, "new_grid": units["grid_code"].values,
                      "households": units["households"].astype(np.int64).values})
    u["change"] = np.where(u["old_grid"].isna(), "new",
                           np.where(u["old_grid"] != u["new_grid"], "moved", "same"))
    gone_ids = set(old_units["unit_id"].astype(str)) - set(u["unit_id"])
    gone_buildings = set(u["building_id"])
    o = old_units[old_units["unit_id"].astype(str).isin(gone_ids)
                  & ~old_units["building_id"].astype(str).isin(gone_buildings)]
    gone = pd.DataFrame({"unit_id": o["unit_id"].astype(str).values,
                         "building_id": o["building_id"].astype(str).values,
                         "community_id": o["community_id"].astype(str).values,
                         "old_grid": o["grid_code"].values, "new_grid": None,
                         "households": o["households"].astype(np.int64).values,
                         "change": "removed"})
    out = pd.concat([u[u["change"] != "same"], gone], ignore_index=True)
    return out[CHANGE_FIELDS]


def change_figures(old: Plan, new_grid: pd.Series, new_plan: Plan, state: State | None) -> dict:
    """Households moved and grids changed by a plan against the old one.

    A unit in both plans that changed grid moves its households as the new population
    counts them, the count ``--max-moved`` budgets.
    """
    old_grid = old.units.assign(unit_id=old.units["unit_id"].astype(str)).set_index(
        "unit_id")["grid_code"]
    hh = new_plan.units.assign(unit_id=new_plan.units["unit_id"].astype(str)).set_index(
        "unit_id")["households"]
    both = old_grid.index.intersection(new_grid.index)
    moved = both[(old_grid[both] != new_grid[both]).to_numpy()]
    members_old = old_grid[both].groupby(old_grid[both]).groups
    members_new = new_grid[both].groupby(new_grid[both]).groups
    codes = set(old.grids["grid_code"]) | set(new_plan.grids["grid_code"])
    changed = {c for c in codes if set(members_old.get(c, [])) != set(members_new.get(c, []))}
    changed |= set(old.grids["grid_code"]) ^ set(new_plan.grids["grid_code"])
    lo, hi = new_plan.params.band
    with_hh = new_plan.grids[new_plan.grids["households"] > 0]
    out = {"households_moved": int(hh[moved].sum()), "units_moved": int(len(moved)),
           "grids_changed": len(changed), "grids": int(len(new_plan.grids)),
           "grids_in_band": int(with_hh["households"].between(lo, hi).sum()),
           "grids_out_of_band": int((~with_hh["households"].between(lo, hi)).sum())}
    if state is not None:
        out["grids_new"] = len(state.new)
        out["grids_redrawn"] = len((state.reshaped & set(state.polys)) - state.new)
        out["grids_retired"] = len(set(old.grids["grid_code"]) - set(state.polys))
        out["grids_kept"] = int(sum(1 for c in state.polys
                                    if c not in state.reshaped and c not in state.new))
    return out


def fresh_figures(old: Plan, ctx: Context) -> dict:
    """Plan the new population from scratch; match its grids to old ones; count the change."""
    fresh = plan(ctx.raw, ctx.communities, compounds=ctx.compounds, barriers=ctx.barriers,
                 params=old.params)
    renamed = match_codes(old, fresh)
    new_grid = fresh.units.assign(unit_id=fresh.units["unit_id"].astype(str)).set_index(
        "unit_id")["grid_code"].map(renamed)
    relabelled = Plan(grids=fresh.grids.assign(grid_code=fresh.grids["grid_code"].map(renamed)),
                      units=fresh.units, communities=fresh.communities, params=fresh.params)
    return change_figures(old, new_grid, relabelled, None)


def match_codes(old: Plan, fresh: Plan) -> dict[str, str]:
    """Fresh grid code → the old code it shares most households with (one-to-one per community).

    Unmatched fresh grids keep a code marked ``new:``.
    """
    ou = old.units.assign(unit_id=old.units["unit_id"].astype(str)).set_index("unit_id")
    fu = fresh.units.assign(unit_id=fresh.units["unit_id"].astype(str)).set_index("unit_id")
    both = ou.index.intersection(fu.index)
    pairs = pd.DataFrame({"old": ou.loc[both, "grid_code"].values,
                          "new": fu.loc[both, "grid_code"].values,
                          "h": ou.loc[both, "households"].values})
    out = {c: f"new:{c}" for c in fresh.grids["grid_code"]}
    table = pairs.pivot_table(index="new", columns="old", values="h", aggfunc="sum",
                              fill_value=0)
    if table.size:
        rows, cols = linear_sum_assignment(-table.to_numpy(float))
        for r, c in zip(rows, cols, strict=True):
            if table.iat[r, c] > 0:
                out[table.index[r]] = table.columns[c]
    return out
