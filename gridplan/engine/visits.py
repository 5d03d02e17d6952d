"""Visits: monthly visits each unit asks of its worker (households and special populations)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from gridplan.params import WorkloadParams

log = logging.getLogger(__name__)


def unit_visits(units: pd.DataFrame, special: pd.DataFrame | None,
                params: WorkloadParams) -> tuple[np.ndarray, np.ndarray]:
    """Visits per month and special cases per unit (aligned with ``units`` rows).

    Special counts given for a building are spread over its stairwell sub-units in
    proportion to their households.
    """
    visits = units["households"].to_numpy(float) * params.rate("household")
    cases = np.zeros(len(units))
    if special is None or len(special) == 0:
        return visits, cases
    per_building = (special.assign(v=special["count"] * special["category"].map(params.rates))
                    .groupby("unit_id")[["v", "count"]].sum())
    key = units["building_id"].astype(str)
    hh = units["households"].to_numpy(float)
    building_hh = pd.Series(hh).groupby(key.values).transform("sum").to_numpy()
    share = np.where(building_hh > 0, hh / np.maximum(building_hh, 1e-9),
                     1.0 / key.map(key.value_counts()).to_numpy())
    visits += key.map(per_building["v"]).fillna(0).to_numpy() * share
    cases += key.map(per_building["count"]).fillna(0).to_numpy() * share
    return visits, cases
