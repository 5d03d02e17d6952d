"""Imports: plan folders written by ``gridplan plan`` stored as plans of the service."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from gridplan.api.store import NotFound, Store

from gridplan.errors import InputError
from gridplan.export.folder import read_plan

log = logging.getLogger(__name__)


def plan_id_for(folder: Path) -> str:
    """A plan id from a folder name (letters, digits, ``-`` and ``_``; at most 64).

    Examples
    --------
    >>> plan_id_for(Path("out/星河 plan 2026"))
    'plan-2026'
    """
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", folder.resolve().name).strip("-")[:64]
    return slug or "plan"


def store_plan_dir(store: Store, folder: str | Path, author: str = "import") -> dict:
    """Store the plan in ``folder`` unless a plan with its id exists; returns its info.

    An existing plan is never replaced: the import is skipped and said so.
    """
    folder = Path(folder)
    plan_id = plan_id_for(folder)
    try:
        info = store.plan_info(plan_id)
        log.warning("plan %s is stored already; %s was not imported again", plan_id, folder)
        return info
    except NotFound:
        pass
    plan = read_plan(folder)
    if plan.cells is None:
        raise InputError("the plan has no parcels (plan.gpkg lacks 'cells' and 'cell_edges'), "
                         "so it cannot be edited", source=str(folder),
                         fix="plan it again with this version of gridplan")
    info = store.create_plan(plan, name=folder.resolve().name, author=author, plan_id=plan_id)
    log.info("stored %s as plan %s", folder, plan_id)
    return info
