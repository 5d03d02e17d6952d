"""Edits: a planner moves parcels, merges, splits and locks grids, assigns workers, undoes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Depends, Path, Response
from gridplan.api import geojson
from gridplan.api.deps import Identity, editor_identity, get_store, if_match, writer
from gridplan.api.errors import HTTPProblem
from gridplan.api.history import redo, restore, undo
from gridplan.api.store import Store, VersionConflict, etag
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gridplan.practice.editing import Delta, PlanState, grid_attrs

router = APIRouter(prefix="/plans/{plan_id}", tags=["edits"])

Ids = Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=20000)]
Code = Annotated[str, Field(max_length=60, description="A grid_code of this plan")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Move(Strict):
    """Parcels (cells) or units to move into ``to_grid``; a parcel moves whole."""

    cells: Ids | None = None
    units: Ids | None = None
    to_grid: Code
    force: bool = Field(False, description="Accept band/contiguity breaks as warnings")

    @model_validator(mode="after")
    def _one(self):
        if not self.cells and not self.units:
            raise ValueError("give cells or units to move")
        return self


class Merge(Strict):
    """Merge ``grids[1]`` into ``grids[0]`` (which keeps its code)."""

    grids: Annotated[list[Code], Field(min_length=2, max_length=2)]
    force: bool = False


class Split(Strict):
    """Split a grid by a drawn GeoJSON LineString or Polygon (lon/lat), or in two halves."""

    grid: Code
    line: dict[str, Any] | None = Field(None, description="GeoJSON LineString geometry")
    polygon: dict[str, Any] | None = Field(None, description="GeoJSON Polygon geometry")
    force: bool = False


class Lock(Strict):
    """Lock grids against edits, or unlock them."""

    grids: Annotated[list[Code], Field(min_length=1, max_length=20000)]
    locked: bool = True


class Workers(Strict):
    """Community workers (网格员) looking after a grid."""

    grid: Code
    workers: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=100)]


class Restore(Strict):
    """A version to make current again (as a new version)."""

    version: int = Field(ge=1)


PlanId = Annotated[str, Path(max_length=64)]


def edit_response(store: Store, plan_id: str, version: int, delta: Delta,
                  response: Response) -> dict:
    """The new version, its ETag, changed grids as GeoJSON, metrics and warnings."""
    live = [r for r in delta.grids.values() if r is not None]
    g4326 = store.to_lonlat(plan_id, [r["geometry"] for r in live])
    props = [grid_attrs(r) for r in live]
    tag = etag(plan_id, version)
    response.headers["ETag"] = tag
    _, state = store.state(plan_id, version)
    return {"version": version, "etag": tag,
            "changed": geojson.rows_dict(props, g4326, "grid_code"),
            "deleted": [c for c, r in delta.grids.items() if r is None],
            "summary": delta.summary, "warnings": delta.warnings,
            "metrics": state.metrics()}


def _edit(store: Store, plan_id: str, head: int, author: str, response: Response,
          make: Callable[[PlanState], Delta]) -> dict:
    """Compute an edit on the head version and commit it, one edit of a plan at a time."""
    with store.edit_lock(plan_id):
        version, state = store.state(plan_id, head)
        if version != head:
            raise VersionConflict(plan_id, version)
        delta = make(state)
        version = store.commit(plan_id, head, delta, author=author, op=delta.summary["op"])
    return edit_response(store, plan_id, version, delta, response)


def _metric(store: Store, plan_id: str, geometry: dict | None, kind: str):
    """A drawn GeoJSON geometry (lon/lat) in the plan's metric CRS."""
    if geometry is None:
        return None
    try:
        geom = shapely.from_geojson(json.dumps(geometry))
    except (shapely.errors.GEOSException, ValueError, TypeError):
        raise HTTPProblem(422, f"the {kind} is not valid GeoJSON",
                          f"send a GeoJSON {kind} geometry in longitude/latitude") from None
    want = "LineString" if kind == "line" else "Polygon"
    if geom.geom_type not in (want, "Multi" + want) or geom.is_empty:
        raise HTTPProblem(422, f"the {kind} is a {geom.geom_type}, not a {want}",
                          f"draw a {want}")
    x0, y0, x1, y1 = geom.bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise HTTPProblem(422, f"the {kind} is not in longitude/latitude",
                          "send coordinates as [longitude, latitude] (EPSG:4326)")
    return store.to_metric(plan_id, [geom])[0]



def _lock_guard(store: Store, plan_id: str, who: Identity) -> Callable[[Delta], None]:
    """A check that an undo, redo or restore lifts no lock another user holds (admins may)."""
    def check(delta: Delta) -> None:
        store.state(plan_id)[1].check_unlocks(delta.grids, who.name, admin=who.role == "admin")

    return check


@router.post("/edits/move", summary="Move parcels or units to a grid")
def move(plan_id: PlanId, body: Move, response: Response, author: str = Depends(writer),
         head: int = Depends(if_match), store: Store = Depends(get_store)) -> dict:
    """Move parcels (``cells``) or the parcels of ``units`` into ``to_grid``.

    Refused (422, with the rule and grids) when grids would fall apart or leave the
    band, unless ``force`` is true; never allowed across a community boundary or for a
    locked grid.
    """
    def make(state: PlanState) -> Delta:
        if body.cells:
            return state.move(body.cells, body.to_grid, force=body.force)
        return state.move_units(body.units, body.to_grid, force=body.force)

    return _edit(store, plan_id, head, author, response, make)


@router.post("/edits/merge", summary="Merge two grids")
def merge(plan_id: PlanId, body: Merge, response: Response, author: str = Depends(writer),
          head: int = Depends(if_match), store: Store = Depends(get_store)) -> dict:
    """Merge the second grid into the first, which keeps its code."""
    return _edit(store, plan_id, head, author, response,
                 lambda state: state.merge(body.grids[0], body.grids[1], force=body.force))


@router.post("/edits/split", summary="Split a grid")
def split(plan_id: PlanId, body: Split, response: Response, author: str = Depends(writer),
          head: int = Depends(if_match), store: Store = Depends(get_store)) -> dict:
    """Split a grid along a drawn line, around a drawn polygon, or in two balanced halves."""
    line = _metric(store, plan_id, body.line, "line")
    polygon = _metric(store, plan_id, body.polygon, "polygon")
    return _edit(store, plan_id, head, author, response,
                 lambda state: state.split(body.grid, line=line, polygon=polygon,
                                           force=body.force))


@router.post("/edits/lock", summary="Lock or unlock grids")
def lock(plan_id: PlanId, body: Lock, response: Response,
         who: Identity = Depends(editor_identity), head: int = Depends(if_match),
         store: Store = Depends(get_store)) -> dict:
    """Locked grids refuse every edit until unlocked. A lock records who took it
    (``locked_by``); only they or an admin may unlock it (403 otherwise)."""
    return _edit(store, plan_id, head, who.name, response,
                 lambda state: state.lock(body.grids, body.locked, by=who.name,
                                          admin=who.role == "admin"))


@router.post("/edits/workers", summary="Assign workers to a grid")
def workers(plan_id: PlanId, body: Workers, response: Response, author: str = Depends(writer),
            head: int = Depends(if_match), store: Store = Depends(get_store)) -> dict:
    """Set the community workers (网格员) of a grid."""
    return _edit(store, plan_id, head, author, response,
                 lambda state: state.set_workers(body.grid, body.workers))


@router.post("/undo", summary="Undo the last edit")
def undo_edit(plan_id: PlanId, response: Response, who: Identity = Depends(editor_identity),
              head: int = Depends(if_match), store: Store = Depends(get_store)) -> dict:
    """Undo the latest edit not yet undone; recorded as a new version."""
    with store.edit_lock(plan_id):
        version, delta = undo(store, plan_id, head, who.name, _lock_guard(store, plan_id, who))
    return edit_response(store, plan_id, version, delta, response)


@router.post("/redo", summary="Redo the last undone edit")
def redo_edit(plan_id: PlanId, response: Response, who: Identity = Depends(editor_identity),
              head: int = Depends(if_match), store: Store = Depends(get_store)) -> dict:
    """Redo the edit undone last; recorded as a new version."""
    with store.edit_lock(plan_id):
        version, delta = redo(store, plan_id, head, who.name, _lock_guard(store, plan_id, who))
    return edit_response(store, plan_id, version, delta, response)


@router.post("/restore", summary="Restore an earlier version")
def restore_version(plan_id: PlanId, body: Restore, response: Response,
                    who: Identity = Depends(editor_identity), head: int = Depends(if_match),
                    store: Store = Depends(get_store)) -> dict:
    """Make an earlier version current again; recorded as a new version (nothing is lost)."""
    store.check_version(plan_id, body.version)
    with store.edit_lock(plan_id):
        version, delta = restore(store, plan_id, head, body.version, who.name,
                                 _lock_guard(store, plan_id, who))
    return edit_response(store, plan_id, version, delta, response)
