"""Versions: a plan's history (who, when, what) and the difference between two versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from gridplan.api.deps import get_store, reader
from gridplan.api.history import diff, stacks
from gridplan.api.store import Store

router = APIRouter(prefix="/plans/{plan_id}", tags=["versions"], dependencies=[Depends(reader)])


@router.get("/versions", summary="Version history")
def versions(plan_id: str, store: Store = Depends(get_store)) -> dict:
    """Every version, oldest first, and which edits undo and redo would act on next."""
    history = store.versions(plan_id)
    undo_stack, redo_stack = stacks(history)
    for v in history:
        v["created"] = str(v["created"])
    return {"versions": history, "can_undo": undo_stack[-1:] or None,
            "can_redo": redo_stack[-1:] or None}


@router.get("/diff", summary="Difference between two versions")
def version_diff(plan_id: str, from_: Annotated[int, Query(alias="from", ge=1)],
                 to: Annotated[int, Query(ge=1)], store: Store = Depends(get_store)) -> dict:
    """Grids changed, units moved (with households) and households moved from one version to
    another."""
    store.check_version(plan_id, from_)
    store.check_version(plan_id, to)
    return diff(store, plan_id, from_, to)
