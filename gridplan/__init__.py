"""gridplan: plan community governance grids (网格) of about 300 households from data.

The pipeline runs layers → units → adjacency graph → partition → refine → grids →
metrics → export; :func:`gridplan.plan` is its orchestrator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gridplan.errors import GridplanError, InputError, PlanInvariantError
from gridplan.model import Plan
from gridplan.params import PlanParams

__version__ = "0.1.0"  # the one place: pyproject.toml reads it (dynamic version)
__all__ = ["GridplanError", "InputError", "Plan", "PlanInvariantError", "PlanParams", "plan",
           "__version__"]

if TYPE_CHECKING:
    from gridplan.engine.pipeline import plan


def __getattr__(name: str) -> Any:
    """``gridplan.plan`` on first use: the engine (numba, scipy) is not every command's.

    ``gridplan staff`` and the other commands that read a plan folder start without it.
    """
    if name == "plan":
        from gridplan.engine.pipeline import plan

        return plan
    raise AttributeError(f"module 'gridplan' has no attribute {name!r}")
