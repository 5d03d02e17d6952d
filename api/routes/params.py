"""Params: the plan parameters described as JSON, for forms (the start page) and clients."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends
from gridplan.api.deps import reader

from gridplan.params import BOUNDS, param_fields

log = logging.getLogger(__name__)

router = APIRouter(tags=["jobs"])


def _kind(f) -> str:
    """The JSON type of a parameter: integer, number, string or list (of strings)."""
    if "list_sep" in f.metadata:
        return "list"
    if isinstance(f.default, bool):
        return "boolean"
    if isinstance(f.default, int):
        return "integer"
    if isinstance(f.default, float):
        return "number"
    return "string"


def describe(name: str, f) -> dict[str, Any]:
    """One :class:`~gridplan.params.PlanParams` field as JSON, from its ``param(...)`` metadata.

    Examples
    --------
    >>> from gridplan.params import param_fields
    >>> d = describe("tolerance", param_fields()["tolerance"])
    >>> d["type"], d["default"], d["bounds"], d["label_zh"]
    ('number', 0.15, {'gt': 0, 'lt': 1}, '户数允许偏差')
    """
    meta = f.metadata
    default = list(f.default) if isinstance(f.default, tuple) else f.default
    out = {"name": name, "type": _kind(f), "default": default,
           "bounds": {k: meta[k] for k in BOUNDS if k in meta},
           "choices": list(meta["choices"]) if "choices" in meta else None,
           "pattern": meta.get("pattern"), "label_zh": meta["label_zh"],
           "label_en": name.replace("_", " ").capitalize(), "help": meta["help"],
           "cli": meta["cli"]}
    if "list_sep" in meta:
        out["list_sep"] = meta["list_sep"]
    return out


@router.get("/params", summary="Plan parameters", dependencies=[Depends(reader)])
def plan_params() -> list[dict[str, Any]]:
    """Every plan parameter that ``POST /jobs`` takes in ``params``, in order: name, type
    (integer, number, string, list), default, bounds (``gt``, ``ge``, ``lt``, ``le``),
    choices, pattern, Chinese label (``label_zh``), English label, help and the flag of
    ``gridplan plan`` that sets it."""
    return [describe(name, f) for name, f in param_fields().items()]
