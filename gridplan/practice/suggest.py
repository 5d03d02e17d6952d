"""Suggest fix: re-divide an out-of-band grid with its unlocked neighbours, as a preview.

The planner points at a grid outside the band; the engine re-plans that grid together
with the neighbouring grids of its community that are not locked (nor dedicated), on
their parcels (parcels move whole, as in every edit): the refinement of the planning
engine (:class:`gridplan.engine.refine.BalanceRefiner`) and then its exact stage
(:func:`gridplan.engine.exact.improve`, CP-SAT) with the same number of grids, every grid
contiguous, none left without households. The best division found is offered only when
it has more grids in band than today's, or as many with less deviation from the band; the
plan is never changed here.
:meth:`apply_reassignment` (``PlanState.reassign``) applies it later as one edit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix

from gridplan.engine import exact
from gridplan.engine.metrics import counts_in_band, is_dedicated
from gridplan.engine.refine import BalanceRefiner
from gridplan.practice.editing import Delta, EditRefused, PlanState

log = logging.getLogger(__name__)

MIN_GAIN = 0.5  # households (or household-equivalents) of deviation a proposal must save


@dataclass
class Proposal:
    """A suggested re-division of a grid and its unlocked neighbours (not applied).

    Attributes
    ----------
    grid : str or None
        The grid the planner asked about (None for a drawn area).
    grids : list of str
        The grids re-divided (the grid and its unlocked neighbours of one community, or
        the unlocked grids of a drawn area).
    left_out : list of dict
        Neighbouring grids not touched, each with ``grid`` and ``why`` (locked, dedicated).
    found : bool
        Whether a better division was found; ``reason``/``reason_zh`` say why not.
    moves : dict
        Parcel (``cell_id``) → the grid it moves to.
    before, after : dict
        Each grid of ``grids`` → its households (and household-equivalents, for a plan
        balanced on workload) and status, before and after (a grid emptied is left out).
    in_band_before, in_band_after : int
        Grids of ``grids`` in band before and after.
    deviation_before, deviation_after : float
        Sum over ``grids`` of how far each lies outside the band.
    households_moved, units_moved : int
        What changes grid.
    delta : Delta or None
        The edit the proposal is (its grid rows hold the new outlines).
    optimality : str
        What the exact stage proved (``proved``: no division of these parcels into as
        many contiguous grids has more in band).
    """

    grid: str | None
    grids: list[str]
    left_out: list[dict] = field(default_factory=list)
    found: bool = False
    reason: str = ""
    reason_zh: str = ""
    moves: dict[str, str] = field(default_factory=dict)
    before: dict[str, dict] = field(default_factory=dict)
    after: dict[str, dict] = field(default_factory=dict)
    in_band_before: int = 0
    in_band_after: int = 0
    deviation_before: float = 0.0
    deviation_after: float = 0.0
    households_moved: int = 0
    units_moved: int = 0
    delta: Delta | None = None
    optimality: str = "heuristic"


def group_score(state: PlanState, rows: dict[str, dict | None]) -> tuple[int, float]:
    """Grids in band and the total deviation from the band of some grid rows."""
    lo, hi = state.band
    in_band, deviation = 0, 0.0
    for row in rows.values():
        if row is None:
            continue
        status = state._status(row)
        counted, ok = counts_in_band(status)
        in_band += int(ok)
        if counted:
            value = float(row.get(state.balanced_on, row.get("households", 0)) or 0)
            deviation += max(lo - value, value - hi, 0.0)
    return in_band, round(deviation, 1)


def _better(after: tuple[int, float], before: tuple[int, float]) -> bool:
    return after[0] > before[0] or (after[0] == before[0] and after[1] < before[1] - MIN_GAIN)


def neighbours(state: PlanState, code: str) -> tuple[list[str], list[dict]]:
    """Grids of ``code``'s community touching it: those that may change, and those left out."""
    row = state._grid(code)
    touching = sorted({state.cell_grid[n] for c in state.grid_cells[code]
                       for n in state.nbrs[c]} - {code})
    take, out = [], []
    for g in touching:
        other = state.grids[g]
        if other["community_id"] != row["community_id"]:
            continue
        if other.get("locked"):
            out.append({"grid": g, "why": "locked", "why_zh": "已锁定"})
        elif is_dedicated(other):
            out.append({"grid": g, "why": "dedicated", "why_zh": "专属网格"})
        else:
            take.append(g)
    return take, out


def suggest_fix(state: PlanState, code: str, *, seconds: float = 5.0, seed: int = 0) -> Proposal:
    """Re-divide grid ``code`` and its unlocked neighbours for more grids in band.

    Parameters
    ----------
    state : PlanState
        The plan version the proposal is for (it is not changed).
    code : str
        The grid to fix (usually one outside the band).
    seconds : float
        Time the planner waits: the exact stage's deterministic budget (its searches
        together) and a wall-clock deadline for the whole suggestion, which stops the
        solver on a busy machine (the answer then depends on the machine's speed).
    seed : int
        Random seed of the exact stage (deterministic for a given seed while the
        deadline is not reached).

    Returns
    -------
    Proposal
        ``found`` with the moves and their effect, or the reason (en, zh) why not.

    Examples
    --------
    >>> p = suggest_fix(state, "110101001001001")                   # doctest: +SKIP
    >>> p.found, p.in_band_before, p.in_band_after                   # doctest: +SKIP
    (True, 1, 3)
    """
    deadline = time.perf_counter() + seconds
    row = state._grid(code)
    if row.get("locked"):
        raise EditRefused(f"grid {code} is locked", "unlock it first to have a fix suggested",
                          [{"rule": "locked", "grids": [code]}])
    if is_dedicated(row):
        raise EditRefused(f"grid {code} is a dedicated grid, which is not balanced",
                          "ask for a fix of a comprehensive grid")
    take, left_out = neighbours(state, code)
    group = [code, *take]
    prop = Proposal(grid=code, grids=group, left_out=left_out)
    if not take:
        _score_before(state, prop)
        prop.reason = (f"no better division of these grids: grid {code} has no unlocked "
                       "neighbour in its community to share households with")
        prop.reason_zh = f"这些网格没有更好的划分：网格{code}在本社区内没有未锁定的相邻网格可调整"
        return prop
    what = (f"re-planning grid {code} with its {len(take)} unlocked neighbour(s)",
            f"将网格{code}与其{len(take)}个未锁定的相邻网格重新划分")
    return _propose(state, prop, what, seconds, seed, deadline)


def suggest_area(state: PlanState, codes: list[str], *, seconds: float = 5.0, seed: int = 0
                 ) -> Proposal:
    """Re-divide the grids of an area the planner drew for more grids in band.

    The grids must lie in one community; locked and dedicated ones are left out (listed
    in ``left_out``). Otherwise as :func:`suggest_fix`.

    Examples
    --------
    >>> p = suggest_area(state, ["110101001001001", "110101001001002"])  # doctest: +SKIP
    >>> p.grid, p.found                                                   # doctest: +SKIP
    (None, True)
    """
    deadline = time.perf_counter() + seconds
    codes = sorted(set(codes))
    rows = {c: state._grid(c) for c in codes}
    communities = sorted({str(r["community_id"]) for r in rows.values()})
    if len(communities) > 1:
        raise EditRefused(f"the area's grids lie in {len(communities)} communities "
                          f"({', '.join(communities)}); grids never cross a community",
                          "draw the area within one community",
                          [{"rule": "nesting", "grids": codes}])
    take = [c for c in codes if not rows[c].get("locked") and not is_dedicated(rows[c])]
    left_out = [{"grid": c, "why": "locked", "why_zh": "已锁定"} if rows[c].get("locked")
                else {"grid": c, "why": "dedicated", "why_zh": "专属网格"}
                for c in codes if c not in take]
    prop = Proposal(grid=None, grids=take, left_out=left_out)
    if len(take) < 2:
        _score_before(state, prop)
        prop.reason = (f"no better division: the area holds {len(take)} grid(s) that may "
                       "change; draw it across at least two unlocked grids")
        prop.reason_zh = (f"没有更好的划分：所画区域内只有{len(take)}个可调整的网格，"
                          "请至少圈入两个未锁定的网格")
        return prop
    what = (f"re-planning the {len(take)} grids of the drawn area",
            f"将所画区域内的{len(take)}个网格重新划分")
    return _propose(state, prop, what, seconds, seed, deadline)


def _score_before(state: PlanState, prop: Proposal) -> tuple[int, float]:
    """Fill ``prop``'s figures before the change; its score (in band, deviation)."""
    before_rows = {g: state.grids[g] for g in prop.grids}
    score0 = group_score(state, before_rows)
    prop.in_band_before, prop.deviation_before = score0
    prop.before = {g: _figures(state, r) for g, r in before_rows.items()}
    return score0


def _propose(state: PlanState, prop: Proposal, what: tuple[str, str], seconds: float,
             seed: int, deadline: float) -> Proposal:
    """The refinement and exact stage on ``prop.grids``' parcels; the best division found
    (``what`` says, in English and Chinese, what was re-planned, for the reason why not)."""
    group = prop.grids
    score0 = _score_before(state, prop)
    cells = sorted(c for g in group for c in state.grid_cells[g])
    labels0 = np.array([group.index(state.cell_grid[c]) for c in cells], dtype=np.int64)
    idx = {c: i for i, c in enumerate(cells)}
    weights = np.array([sum(state.unit_load[u] for u in state.cell_units[c]
                            if state.unit_grid[u] == state.cell_grid[c]) for c in cells], float)
    pairs = np.array(sorted({(idx[c], idx[n]) for c in cells for n in state.nbrs[c]
                             if n in idx and idx[c] < idx[n]}), dtype=np.int64).reshape(-1, 2)
    block = np.array([state.cell_block[c] for c in cells])
    kind = np.where(block[pairs[:, 0]] != block[pairs[:, 1]], 2, 0) if len(pairs) else \
        np.zeros(0, dtype=np.int64)
    xy = shapely.get_coordinates(shapely.point_on_surface(
        np.asarray([state.cell_geom[c] for c in cells], dtype=object)))
    n = len(cells)
    graph = coo_matrix((np.ones(2 * len(pairs)), (np.r_[pairs[:, 0], pairs[:, 1]],
                                                   np.r_[pairs[:, 1], pairs[:, 0]])),
                       shape=(n, n)).tocsr()
    lo, hi = state.band
    refined = BalanceRefiner(graph, weights, xy, state.band, zone=block).run(labels0.copy())
    solved, proof = exact.improve(weights, pairs, kind, refined, state.band, (lo + hi) / 2,
                                  seconds=seconds / (1 + exact.BALANCE_WHOLE), seed=seed,
                                  deadline=deadline)
    prop.optimality = proof.optimality
    best = None
    for labels in (refined, solved):
        labels = _follow(labels, labels0, weights, len(group))
        moves = {c: group[lab] for c, lab, was in zip(cells, labels, labels0, strict=True)
                 if lab != was}
        if not moves:
            continue
        delta = _reassign_delta(state, moves)
        if any(r is not None and not r["contiguous"] and state.grids[g].get("contiguous", True)
               for g, r in delta.grids.items()):
            continue
        if any(r is None or (r["households"] == 0 < state.grids[g].get("households", 0))
               for g, r in delta.grids.items()):
            continue  # a re-division keeps its grids: none removed or left without households
        score = group_score(state, _after(state, group, delta))
        if _better(score, score0) and (best is None or _better(score, best[0]) or (
                score == best[0] and delta.summary["households"] < best[1].summary["households"])):
            best = (score, delta)
    if best is None:
        proved = (" (the exact solver proved that no division of their parcels into "
                  f"{len(group)} contiguous grids has more in band)"
                  if proof.optimality == "proved" else "")
        prop.reason = (f"no better division of these grids: {what[0]} finds no division with "
                       f"more grids in band or less deviation from {lo:.0f}–{hi:.0f}{proved}")
        prop.reason_zh = (f"这些网格没有更好的划分：{what[1]}，"
                          f"无法让更多网格进入{lo:.0f}–{hi:.0f}户的区间或减少偏差"
                          + ("（精确求解已证明）" if proof.optimality == "proved" else ""))
        return prop
    (prop.in_band_after, prop.deviation_after), delta = best
    prop.found, prop.delta = True, delta
    prop.moves = dict(delta.cell_grid)
    prop.after = {g: _figures(state, r) for g, r in _after(state, group, delta).items()
                  if r is not None}
    prop.households_moved = delta.summary["households"]
    prop.units_moved = delta.summary["units"]
    log.info("suggested fix of grids %s: %d parcels move, in band %d → %d", ", ".join(group),
             len(prop.moves), prop.in_band_before, prop.in_band_after)
    return prop


def _after(state: PlanState, group: list[str], delta: Delta) -> dict[str, dict | None]:
    """The rows of every grid of ``group`` once ``delta`` is applied (changed or not)."""
    return {g: delta.grids[g] if g in delta.grids else state.grids[g] for g in group}


def _figures(state: PlanState, row: dict) -> dict:
    key = state.balanced_on
    out = {"households": int(row.get("households", 0)), "status": state._status(row)}
    if key != "households":
        out[key] = row.get(key)
    return out


def _follow(labels: np.ndarray, old: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """``labels`` renumbered so each new grid keeps the old grid it shares most households
    (and parcels) with: the fewest households change grid.

    Examples
    --------
    >>> _follow(np.array([1, 1, 0]), np.array([0, 0, 1]), np.ones(3), 2).tolist()
    [0, 0, 1]
    """
    overlap = np.zeros((k, k))
    np.add.at(overlap, (labels, old), weights + 1e-3)
    rows, cols = linear_sum_assignment(-overlap)
    mapping = np.arange(k)
    mapping[rows] = cols
    return mapping[labels]


def _reassign_delta(state: PlanState, moves: dict[str, str]) -> Delta:
    """The edit moving each parcel of ``moves`` (with the units its grid holds) to its grid;
    rules are judged by the caller."""
    sources = {state.cell_grid[c] for c in moves}
    ug = {u: g for c, g in moves.items() for u in state.cell_units[c]
          if state.unit_grid[u] == state.cell_grid[c]}
    affected = sources | set(moves.values())
    delta = state._delta(dict(moves), ug, affected, force=True)
    delta.warnings = [w for w in delta.warnings if "is removed" in w]
    delta.summary = {"op": "reassign", "cells": sorted(moves), "grids": sorted(affected),
                     "units": len(ug), "households": int(sum(state.unit_hh[u] for u in ug))}
    return delta


def reassign(state: PlanState, moves: dict[str, str], *, force: bool = False) -> Delta:
    """Move several parcels, each to its own grid, as one edit (e.g. an accepted proposal).

    Every parcel must stay in its community and no grid touched may be locked (always
    refused); the grids touched must not end with fewer in band, or as many with more
    deviation, nor fall into pieces, unless ``force``.
    """
    if not moves:
        raise EditRefused("there is nothing to move", "give parcels and the grids they go to")
    cells = state._cells(list(moves))
    for c in cells:
        state._grid(moves[c])
        state._same_community([c], state.grids[moves[c]]["community_id"], moves[c])
    moves = {c: g for c, g in moves.items() if state.cell_grid[c] != g}
    if not moves:
        raise EditRefused("every parcel is in its grid already", "ask for a new suggestion")
    state._unlocked({state.cell_grid[c] for c in moves} | set(moves.values()))
    delta = _reassign_delta(state, moves)
    before = group_score(state, {g: state.grids[g] for g in delta.grids})
    after = group_score(state, delta.grids)
    soft = [{"rule": "contiguity", "grid": g, "message": f"grid {g} would fall into separate "
             "pieces"} for g, r in sorted(delta.grids.items())
            if r is not None and not r["contiguous"] and state.grids[g].get("contiguous", True)]
    if _better(before, after):
        soft.append({"rule": "band", "grids": sorted(delta.grids),
                     "message": f"the grids touched would have {after[0]} in band (deviation "
                                f"{after[1]:g}) instead of {before[0]} (deviation {before[1]:g})"})
    if soft and not force:
        raise EditRefused("the edit breaks " + "; ".join(v["message"] for v in soft),
                          "ask for a new suggestion, or send it again with \"force\": true to "
                          "accept it with warnings", soft)
    delta.warnings += [v["message"] for v in soft]
    delta.summary.update(in_band_before=before[0], in_band_after=after[0],
                         deviation_before=before[1], deviation_after=after[1])
    return delta


def snapshot(state: PlanState) -> PlanState:
    """A copy of ``state`` that later edits of the original leave alone (assignments and
    grid rows copied; geometries and the parcel graph shared, as edits never change them)."""
    import copy

    view = copy.copy(state)
    view.cell_grid, view.unit_grid = dict(state.cell_grid), dict(state.unit_grid)
    view.grids = {c: dict(r) for c, r in state.grids.items()}
    view.grid_cells = {g: set(c) for g, c in state.grid_cells.items()}
    view.grid_units = {g: set(u) for g, u in state.grid_units.items()}
    view._tally = dict(state._tally)
    return view
