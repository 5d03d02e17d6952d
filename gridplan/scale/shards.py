"""Intermediate results on disk: one unit shard per partition, plans per batch, markers.

Everything under the work folder is written next to its place and renamed into it when
complete, so a marker or a result is either whole or absent (what resuming relies on).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

SHARD_ROW_GROUP = 8192  # rows per row group of a unit shard: a batch reads only its groups
POSITION = "_c"  # a unit's community, as its position in the driver's communities


def save_units(path: Path, units: gpd.GeoDataFrame) -> None:
    """Write one partition's units as GeoParquet sorted by community position.

    Sorted on :data:`POSITION`, each row group holds a narrow range of communities,
    so :func:`load_units` reads only the groups of the communities it asks for.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    units.sort_values(POSITION, kind="stable").to_parquet(
        tmp, index=False, row_group_size=SHARD_ROW_GROUP)
    os.replace(tmp, path)


def load_units(paths: list[str], positions: list[int]) -> gpd.GeoDataFrame:
    """The units of the communities at ``positions`` from the partitions' shards.

    Rows come in shard order and, within a shard, in community order; the frame has
    no CRS (every layer of a run is in its metric CRS).
    """
    import pyarrow.parquet as pq

    lo, hi = min(positions), max(positions)
    tables = [pq.read_table(p, filters=[(POSITION, ">=", lo), (POSITION, "<=", hi)])
              for p in paths]
    df = pd.concat([t.to_pandas() for t in tables], ignore_index=True)
    df = df[df[POSITION].isin(positions)] if len(positions) < hi - lo + 1 else df
    geoms = shapely.from_wkb(df.pop("geometry").values)
    return gpd.GeoDataFrame(df.reset_index(drop=True), geometry=np.asarray(geoms))


def save_frames(path: Path, frames: dict[str, pd.DataFrame]) -> None:
    """Pickle frames (geometry as WKB, no CRS) to ``path``, renamed into place when complete.

    A batch's plans are private to one run of one gridplan version, so they use
    pickle: written and read several times faster than Parquet files. They carry no
    CRS: every layer of a run is in its one metric CRS, and handling a CRS object costs
    milliseconds per frame.
    """
    plain = {}
    for name, df in frames.items():
        df = pd.DataFrame(df)
        if "geometry" in df:
            df["geometry"] = shapely.to_wkb(df["geometry"].values)
        plain[name] = df
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(plain, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def load_frames(path: str | Path, crs, wkb: tuple[str, ...] = ()) -> dict[str, pd.DataFrame]:
    """Frames written by :func:`save_frames`; those with geometry as GeoDataFrames, but the
    frames named in ``wkb``, which keep their geometry as WKB."""
    with open(path, "rb") as fh:
        frames = pickle.load(fh)
    for name, df in frames.items():
        if "geometry" in df and name not in wkb:
            geoms = shapely.from_wkb(df.pop("geometry").values)
            frames[name] = gpd.GeoDataFrame(df, geometry=geoms, crs=crs)
    return frames


def _write_json(path: Path, obj, indent: int | None = None) -> None:
    """Write JSON next to ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=indent), encoding="utf-8")
    os.replace(tmp, path)
