"""Suggest fix: the engine re-divides an out-of-band grid with its unlocked neighbours.

``POST /plans/{id}/suggest`` answers a proposal (never changing the plan);
``POST /plans/{id}/edits/reassign`` applies it, or any set of parcel moves to several
grids, as one edit with ``If-Match``.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from gridplan.api import geojson
from gridplan.api.deps import get_settings, get_store, if_match, writer
from gridplan.api.errors import HTTPProblem
from gridplan.api.routes.edits import PlanId, Strict, _edit
from gridplan.api.settings import Settings
from gridplan.api.store import Store, etag
from pydantic import Field, model_validator
from starlette.concurrency import run_in_threadpool

from gridplan.practice.editing import grid_attrs
from gridplan.practice.suggest import reassign, snapshot, suggest_area, suggest_fix

log = logging.getLogger(__name__)

router = APIRouter(prefix="/plans/{plan_id}", tags=["suggest"])

Code = Annotated[str, Field(max_length=60, description="A grid_code of this plan")]
CellId = Annotated[str, Field(max_length=200)]


class Suggest(Strict):
    """The grid to fix (or the grids of a drawn area), and the version the planner sees."""

    grid: Code | None = Field(None, description="The grid to fix, re-divided with its "
                              "unlocked neighbours of its community")
    grids: list[Code] | None = Field(None, min_length=2, max_length=200, description=(
        "Instead of grid: the grids of an area the planner drew (one community), "
        "re-divided together"))
    version: int | None = Field(None, ge=1, description="The version shown; a proposal is "
                                "made only for the plan's current version (412 otherwise)")

    @model_validator(mode="after")
    def one_target(self) -> Suggest:
        if (self.grid is None) == (self.grids is None):
            raise ValueError("give either grid (one grid and its neighbours) or grids "
                             "(the grids of a drawn area), not both or neither")
        return self


class Reassign(Strict):
    """Parcels (``cell_id``) and the grid each moves to, applied as one edit."""

    moves: Annotated[dict[CellId, Code], Field(min_length=1, max_length=20000,
                                               description="cell_id → grid_code")]
    force: bool = Field(False, description="Accept a result with fewer grids in band or "
                        "a grid in pieces, with warnings")


@router.post("/suggest", summary="Suggest a fix for a grid (preview, nothing changes)")
async def suggest(plan_id: PlanId, body: Suggest, _author: str = Depends(writer),
                  store: Store = Depends(get_store),
                  settings: Settings = Depends(get_settings)) -> dict:
    """Re-plan ``grid`` with its unlocked, non-dedicated neighbours of the same community
    (or the unlocked grids of a drawn area, ``grids``, all in one community: 422 with rule
    ``nesting`` otherwise) — the engine's refinement and exact stage, same number of grids,
    each contiguous, parcels whole — and answer the best division found, without changing
    the plan.

    ``found`` is false, with ``reason`` and ``reason_zh``, when no division has more grids
    in band or less deviation from the band. Otherwise the answer holds the moves, grids in
    band before/after, households moved, the changed grids as GeoJSON and ``apply``: the
    request that applies it (``POST .../edits/reassign`` with ``If-Match: etag``).
    """
    with store.edit_lock(plan_id):
        head, state = store.state(plan_id)
        view = snapshot(state)
    if body.version is not None and body.version != head:
        current = etag(plan_id, head)
        raise HTTPProblem(412, f"the plan changed: it is at version {head} now",
                          "reload the plan and ask again for version " + str(head),
                          headers={"ETag": current}, etag=current)
    if body.grid is not None:
        prop = await run_in_threadpool(suggest_fix, view, body.grid,
                                       seconds=settings.suggest_seconds)
    else:
        prop = await run_in_threadpool(suggest_area, view, body.grids,
                                       seconds=settings.suggest_seconds)
    tag = etag(plan_id, head)
    out = {"found": prop.found, "grid": prop.grid, "version": head, "etag": tag,
           "grids": prop.grids, "left_out": prop.left_out,
           "in_band_before": prop.in_band_before, "in_band_after": prop.in_band_after,
           "deviation_before": prop.deviation_before,
           "deviation_after": prop.deviation_after, "households_moved": prop.households_moved,
           "units_moved": prop.units_moved, "before": prop.before, "after": prop.after,
           "optimality": prop.optimality}
    if not prop.found:
        out.update(reason=prop.reason, reason_zh=prop.reason_zh, moves=[], changed=None,
                   apply=None, in_band_after=prop.in_band_before,
                   deviation_after=prop.deviation_before)
        return out
    live = [r for r in prop.delta.grids.values() if r is not None]
    g4326 = store.to_lonlat(plan_id, [r["geometry"] for r in live])
    out["moves"] = [{"cell_id": c, "from": view.cell_grid[c], "to": g,
                     "households": int(sum(view.unit_hh[u] for u in view.cell_units[c]
                                           if view.unit_grid[u] == view.cell_grid[c]))}
                    for c, g in sorted(prop.moves.items())]
    out["changed"] = geojson.rows_dict([grid_attrs(r) for r in live], g4326, "grid_code")
    out["deleted"] = [c for c, r in prop.delta.grids.items() if r is None]
    out["apply"] = {"method": "POST", "path": f"/plans/{plan_id}/edits/reassign",
                    "headers": {"If-Match": tag}, "body": {"moves": prop.moves}}
    return out


@router.post("/edits/reassign", summary="Move parcels to several grids as one edit")
def reassign_edit(plan_id: PlanId, body: Reassign, response: Response,
                  author: str = Depends(writer), head: int = Depends(if_match),
                  store: Store = Depends(get_store)) -> dict:
    """Apply a suggested fix (its ``apply.body``), or any parcel → grid moves, as one edit.

    Parcels stay in their community and locked grids never change (422); the grids touched
    must end with at least as many in band and no more deviation, each in one piece,
    unless ``force``. Answered like every edit (new version, ETag, changed grids, metrics).
    """
    return _edit(store, plan_id, head, author, response,
                 lambda state: reassign(state, body.moves, force=body.force))
