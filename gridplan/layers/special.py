"""Special populations: the special.csv table (unit, category, count) read and checked."""

from __future__ import annotations

import logging

import pandas as pd

from gridplan.errors import InputError
from gridplan.layers.tables import read_csv
from gridplan.params import WorkloadParams

log = logging.getLogger(__name__)


def read_special(path, unit_ids: pd.Series, params: WorkloadParams, *,
                 encoding: str | None = None, notes=None,
                 source: str | None = None) -> pd.DataFrame:
    """Read ``special.csv`` (unit_id, category, count) and check it against the plan.

    The text is decoded as ``encoding``, else as UTF-8 or GB18030 (recorded in ``notes``,
    an :class:`~gridplan.layers.vector.InputNotes`, when given).
    """
    df, used = read_csv(path, what="special populations", encoding=encoding, source=source,
                        dtype={"unit_id": str, "category": str}, path_option="--special")
    if notes is not None:
        notes.source(str(source or path), encoding=used)
    missing = {"unit_id", "category", "count"} - set(df.columns)
    if missing:
        raise InputError(f"missing column(s) {', '.join(sorted(missing))}", source=str(path),
                         fix="give columns unit_id,category,count")
    counts = pd.to_numeric(df["count"], errors="coerce")
    bad = counts.isna() | (counts < 0)
    if bad.any():
        raise InputError(f"{int(bad.sum())} count(s) missing, not numbers or negative "
                         f"(rows {', '.join(map(str, (df.index[bad] + 2)[:5]))})",
                         source=str(path), field="count", fix="write counts of 0 or more")
    known = set(unit_ids.astype(str))
    unknown = df.loc[~df["unit_id"].isin(known), "unit_id"].unique()
    if len(unknown):
        raise InputError(f"{len(unknown)} unit id(s) not in the plan: "
                         f"{', '.join(unknown[:5])}", source=str(path), field="unit_id",
                         fix="use the unit ids of units.csv (buildings split by stairwell: "
                             "the building id)")
    for cat in df["category"].unique():
        params.rate(cat)
    return df.assign(count=counts)
