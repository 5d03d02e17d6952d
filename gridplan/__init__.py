"""gridplan: plan community governance grids (网格) of about 300 households from data.

The pipeline runs layers → units → adjacency graph → partition → refine → grids →
metrics → export; :func:`gridplan.plan` is its orchestrator.
"""

from gridplan.engine.pipeline import plan
from gridplan.errors import GridplanError, InputError, PlanInvariantError
from gridplan.model import Plan
from gridplan.params import PlanParams

__version__ = "0.1.0"  # the one place: pyproject.toml reads it (dynamic version)
__all__ = ["GridplanError", "InputError", "Plan", "PlanInvariantError", "PlanParams", "plan",
           "__version__"]
