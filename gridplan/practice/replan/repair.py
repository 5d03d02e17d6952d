"""Repair of a community the change left out of band: the best candidate within the budget.

Candidates, from the least to the most disruptive (:data:`REPAIRS`): nothing; boundary moves
(:mod:`.moves`); overgrown grids split (:mod:`.splits`) then boundary moves; the community's
unlocked grids re-planned together.
"""

from __future__ import annotations

import numpy as np
import shapely

from gridplan.practice.replan.carry import Context, State
from gridplan.practice.replan.moves import refine
from gridplan.practice.replan.splits import replan_part, split_grid, split_new


def _out_of_band(state: State, ctx: Context, cid: str) -> list[str]:
    """Unlocked grids of ``cid`` out of band whose households changed (new grids included).

    A grid left out of band by the old plan and untouched by the change stays as it was.
    """
    lo, hi = ctx.params.band
    sums = state.sums()
    return [c for c in state.codes_of(cid) if c not in state.locked
            and not lo <= sums[c] <= hi and sums[c] > 0 and sums[c] != state.before.get(c)]


def repair_community(state: State, ctx: Context, cid: str, budget: float,
                     messages: list[str]) -> None:
    """Try the local repairs, keep the one leaving fewest grids out of band, then fewest moved.

    Candidates, from the least to the most disruptive: nothing; boundary moves alone; overgrown
    grids split off their new units (old units stay) then boundary moves; overgrown
    grids re-planned on their own then boundary moves; the community's unlocked grids
    re-planned together. Candidates over the budget are dropped; among the rest the one
    with fewest grids out of band wins, then fewest households outside the band, then
    fewest households moved.
    """
    _absorb_emptied(state, cid)
    bad = _out_of_band(state, ctx, cid)
    if not bad:
        return
    trials = {name: _attempt(state, ctx, cid, budget, name) for name in REPAIRS}
    fits = {n: t for n, t in trials.items() if t.moved() <= budget}
    score = {n: _score(t, ctx, cid) for n, t in fits.items()}
    best = min(score, key=lambda n: (score[n], REPAIRS.index(n)))
    _adopt(state, trials[best])
    still = _out_of_band(state, ctx, cid)
    whole = trials["community"]
    if best == "community":
        messages.append(f"community {cid}: boundary moves and splits could not bring grids "
                        f"{', '.join(bad)} into band; its unlocked grids were re-planned"
                        + (f" ({', '.join(still)} still out of band)" if still else ""))
    elif still and len(_out_of_band(whole, ctx, cid)) < len(still):
        messages.append(f"community {cid}: grids {', '.join(still)} stay out of band; re-planning "
                        f"its unlocked grids would fix more but move {whole.moved()} households "
                        f"in all, over the budget of {budget:g}: raise --max-moved or unlock "
                        "grids")
    elif still:
        messages.append(f"community {cid}: grids {', '.join(still)} stay out of band: neither "
                        "boundary moves, splits nor re-planning its unlocked grids do better "
                        "(whole buildings, compounds or locked grids leave no better split)")


REPAIRS = ("none", "moves", "split_new", "split", "community")


def _score(state: State, ctx: Context, cid: str) -> tuple[int, float, int, int]:
    """Grids out of band, households outside the band, households moved, new grids."""
    lo, hi = ctx.params.band
    bad = _out_of_band(state, ctx, cid)
    sums = state.sums()
    outside = sum(max(lo - sums[c], 0) + max(sums[c] - hi, 0) for c in bad)
    return len(bad), round(float(outside)), state.moved(), len(state.new)


def _absorb_emptied(state: State, cid: str) -> None:
    """Retire unlocked grids the change left without households; a neighbour takes the area.

    The neighbour sharing the longest boundary takes it, so no household changes grid.
    """
    sums = state.sums()
    for code in [c for c in state.codes_of(cid) if sums[c] == 0 and state.before.get(c, 0) > 0
                 and c not in state.locked]:
        others = [c for c in state.codes_of(cid) if c != code and c not in state.locked]
        shared = [state.polys[code].boundary.intersection(state.polys[c].boundary).length
                  for c in others]
        if not others or max(shared) <= 0:
            continue
        heir = others[int(np.argmax(shared))]
        merged = shapely.union(state.polys[heir], state.polys[code])
        if merged.geom_type != "Polygon":
            continue
        state.polys[heir] = merged
        state.reshaped.add(heir)
        state.units.loc[state.units["grid_code"] == code, "grid_code"] = heir  # units without hh
        del state.polys[code], state.community[code]


def _attempt(state: State, ctx: Context, cid: str, budget: float, how: str) -> State:
    """A copy of ``state`` with community ``cid`` repaired one way (see :data:`REPAIRS`)."""
    trial = state.copy()
    if how == "none":
        return trial
    if how == "community":
        replan_part(trial, ctx, cid)
        return trial
    lo, hi = ctx.params.band
    if how != "moves":
        for code in _out_of_band(trial, ctx, cid):
            h = trial.sums()[code]
            if h > hi and h >= 2 * lo:
                (split_new if how == "split_new" else split_grid)(trial, ctx, code)
    bad = _out_of_band(trial, ctx, cid)
    if bad:
        refine(trial, ctx, cid, bad, budget)
    return trial


def _adopt(state: State, trial: State) -> None:
    state.__dict__.update(trial.__dict__)
