"""Intermediate results on disk: per-community shards and plans, and their done-markers.

Everything under the work folder is written next to its place and renamed into it when
complete, so a marker or a result is either whole or absent (what resuming relies on).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely


def safe_name(community_id: str) -> str:
    """A folder name for a community id (ids with other characters get a hash suffix).

    Examples
    --------
    >>> safe_name("C0001"), safe_name("东城/01")
    ('C0001', '___01-06fd40f6')
    """
    text = re.sub(r"[^A-Za-z0-9_.-]", "_", str(community_id))
    if text == str(community_id):
        return text
    return f"{text}-{hashlib.sha1(str(community_id).encode()).hexdigest()[:8]}"


def save_frames(path: Path, frames: dict[str, pd.DataFrame]) -> None:
    """Pickle frames (geometry as WKB, no CRS) to ``path``, renamed into place when complete.

    Intermediate files are private to one run of one gridplan version, so they use
    pickle: one file per community, written and read several times faster than
    Parquet files. They carry no CRS: every layer of a run is in its one metric CRS,
    and handling a CRS object costs milliseconds per frame, as much as the I/O.
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


def load_frames(path: str | Path, crs) -> dict[str, pd.DataFrame]:
    """Frames written by :func:`save_frames`; those with geometry as GeoDataFrames."""
    with open(path, "rb") as fh:
        frames = pickle.load(fh)
    for name, df in frames.items():
        if "geometry" in df:
            geoms = shapely.from_wkb(df.pop("geometry").values)
            frames[name] = gpd.GeoDataFrame(df, geometry=geoms, crs=crs)
    return frames


def _write_json(path: Path, obj, indent: int | None = None) -> None:
    """Write JSON next to ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=indent), encoding="utf-8")
    os.replace(tmp, path)
