"""Demo: the bundled demo district as a stored plan, for a first look at the service."""

from __future__ import annotations

import logging

from gridplan.api.store import NotFound, Store

from gridplan.engine.pipeline import plan
from gridplan.layers.load import load_inputs
from gridplan.run import demo_options

log = logging.getLogger(__name__)

DEMO_ID = "demo"


def demo_plan():
    """Plan the bundled demo district (about one second)."""
    return plan(**load_inputs(demo_options()))


def ensure_demo(store: Store, plan_id: str = DEMO_ID) -> dict:
    """Store the demo plan as ``plan_id`` unless it is there already; returns its info.

    Examples
    --------
    >>> ensure_demo(Store("sqlite:////tmp/gp.sqlite"))["id"]          # doctest: +SKIP
    'demo'
    """
    try:
        return store.plan_info(plan_id)
    except NotFound:
        pass
    info = store.create_plan(demo_plan(), name="示例城区 demo district", author="gridplan",
                             plan_id=plan_id)
    log.info("stored the demo plan as %s", plan_id)
    return info
