"""Re-plan: rebalance a plan after households change, moving as few households as possible.

Units present before keep their grid; new units join the grid whose polygon holds
them. Only grids then out of band are repaired, in three steps of growing reach:
a grid big enough for two is split on its own; boundary atoms move between
neighbouring unlocked grids within the ``max_moved`` budget; a community still out
of band is re-planned (its unlocked part only) if that fits the budget, and named
otherwise. Grids no step touched keep their code and their polygon; locked grids
never change; new grids take the next free serial of their community.

The parts, in the order a re-plan uses them: :mod:`.carry` (the inputs, the grid each unit
keeps, locked grids), :mod:`.repair` (which repair each community gets), :mod:`.splits` and
:mod:`.moves` (the repairs), :mod:`.assemble` (the new plan), :mod:`.compare` (the changes
table, planning from scratch) and :mod:`.write` (the output folder, the summary).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from gridplan.errors import InputError
from gridplan.layers.vector import InputNotes
from gridplan.model import Plan
from gridplan.practice.replan.assemble import assemble_plan
from gridplan.practice.replan.carry import Context, dedicated_codes, initial_state, locked_codes
from gridplan.practice.replan.compare import change_figures, change_list, fresh_figures
from gridplan.practice.replan.repair import repair_community
from gridplan.practice.replan.write import summary_text, write_replan

log = logging.getLogger(__name__)


@dataclass
class ReplanResult:
    """The re-planned plan, the change list and the figures against a fresh plan."""

    plan: Plan
    old: Plan
    changes: pd.DataFrame
    summary: dict
    notes: list[str] = field(default_factory=list)


def replan(old: Plan, population: gpd.GeoDataFrame, *, lock=(), max_moved: int | None = None,
           compounds: gpd.GeoDataFrame | None = None, barriers: gpd.GeoDataFrame | None = None,
           compare: bool = True, notes: InputNotes | None = None) -> ReplanResult:
    """Re-plan ``old`` for a new population, changing as little as the band requires.

    Parameters
    ----------
    old : Plan
        The plan in force (e.g. from :func:`gridplan.export.folder.read_plan`).
    population : GeoDataFrame
        The new units, from :func:`gridplan.layers.population.prepare_units`; a unit keeps its grid
        when its ``unit_id`` (or, for a stairwell sub-unit, its building) was planned.
    lock : sequence of str
        Grid codes never to change (besides a true ``locked`` column in the plan).
    max_moved : int, optional
        Most existing households that may change grid (no limit when ``None``).
    compounds, barriers : GeoDataFrame, optional
        Compounds kept whole and roads/rivers followed where grids are redrawn.
    compare : bool
        Also plan from scratch and report what that would move.
    notes : InputNotes, optional
        What reading the inputs repaired or dropped, continued in the new plan's report.

    Examples
    --------
    >>> res = replan(read_plan("out/demo"), prepare_units(new), max_moved=300)  # doctest: +SKIP
    >>> res.summary["replan"]["households_moved"] <= 300                        # doctest: +SKIP
    True
    """
    t0 = time.perf_counter()
    if max_moved is not None and max_moved < 0:
        raise InputError("--max-moved must be 0 or more", field="--max-moved",
                         fix="pass a household count such as 300")
    notes = notes if notes is not None else InputNotes()
    ctx = Context.make(old, population, compounds, barriers, notes)
    state = initial_state(old, ctx, locked_codes(old, lock) | dedicated_codes(old))
    budget = float("inf") if max_moved is None else float(max_moved)
    messages: list[str] = []
    known = int(state.units["old_grid"].notna().sum())
    if known < 0.5 * len(old.units):
        messages.append(f"only {known} of the {len(old.units)} planned units were found by id in "
                        "the new population; the others count as new, not moved: check --unit-id")
    if old.params.balance == "workload":
        messages.append("the plan was balanced on workload; the re-plan balances households")
    for cid in old.communities["community_id"]:
        repair_community(state, ctx, str(cid), budget, messages)
    new_plan = assemble_plan(state, ctx, old, notes, time.perf_counter() - t0)
    changes = change_list(state.units, old.units)
    summary = {"replan": change_figures(old, state.units.set_index("unit_id")["grid_code"],
                                         new_plan, state)}
    if compare:
        summary["fresh"] = fresh_figures(old, ctx)
    summary.update(max_moved=max_moved, locked=sorted(state.locked - dedicated_codes(old)),
                   notes=messages)
    new_plan.report["replan"] = summary
    for m in messages:
        log.info(m)
    return ReplanResult(new_plan, old, changes, summary, messages)


__all__ = ["ReplanResult", "replan", "summary_text", "write_replan"]
