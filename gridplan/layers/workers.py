"""Workers: the workers.csv roster (worker, community, home, capacity) read and checked."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridplan.errors import InputError
from gridplan.layers.tables import read_csv

DEFAULT_CAPACITY = 160.0  # hours per month of a full-time worker


def read_workers(path, communities: pd.Series, *, encoding: str | None = None,
                 notes=None, source: str | None = None) -> pd.DataFrame:
    """Read ``workers.csv`` (worker_id, name, community_id, [lon, lat], [capacity_hours]).

    The text is decoded as ``encoding``, else as UTF-8 or GB18030 (Chinese Excel's CSV);
    the encoding used is recorded in ``notes`` when given.
    """
    df, used = read_csv(path, what="workers", encoding=encoding, source=source,
                        dtype={"worker_id": str, "community_id": str, "name": str},
                        path_option="--workers")
    if notes is not None:
        notes.source(str(source or path), encoding=used)
    missing = {"worker_id", "community_id"} - set(df.columns)
    if missing:
        raise InputError(f"missing column(s) {', '.join(sorted(missing))}", source=str(path),
                         fix="give columns worker_id,name,community_id[,lon,lat,capacity_hours]")
    dup = df["worker_id"][df["worker_id"].duplicated()].unique()
    if len(dup):
        raise InputError(f"duplicate worker ids: {', '.join(dup[:5])}", source=str(path),
                         field="worker_id", fix="give every worker a unique id")
    unknown = df.loc[~df["community_id"].isin(set(communities)), "community_id"].unique()
    if len(unknown):
        raise InputError(f"unknown community ids: {', '.join(map(str, unknown[:5]))}",
                         source=str(path), field="community_id",
                         fix="use the community ids of the plan")
    if "capacity_hours" in df.columns:
        cap = pd.to_numeric(df["capacity_hours"], errors="coerce")
        if (cap < 0).any() or (cap.isna() & df["capacity_hours"].notna()).any() or (
                np.isinf(cap).any()):
            raise InputError("negative, infinite or non-numeric capacities", source=str(path),
                             field="capacity_hours", fix="give hours per month, 0 or more")
        df["capacity_hours"] = cap.fillna(DEFAULT_CAPACITY)
    else:
        df["capacity_hours"] = DEFAULT_CAPACITY
    if "name" not in df.columns:
        df["name"] = df["worker_id"]
    return df
