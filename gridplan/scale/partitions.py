"""The population input in pieces, and stage 1: prepare one partition.

A partition is a file of a folder or a row group of a GeoParquet file; preparing it places
its units in communities and writes them as one GeoParquet shard sorted by community
(:mod:`.shards`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridplan.engine.units import split_large_buildings, tag_by_polygons
from gridplan.errors import InputError
from gridplan.layers.load import read_frame
from gridplan.layers.population import prepare_units
from gridplan.layers.vector import VECTOR_SUFFIXES, InputNotes, check_layer
from gridplan.params import PlanParams
from gridplan.scale.cluster import peak_mb, reset_peak
from gridplan.scale.shards import POSITION, _write_json, save_units


@dataclass(frozen=True)
class Partition:
    """One piece of the population input: a file, or one row group of a GeoParquet file."""

    path: str
    row_group: int | None = None

    @property
    def name(self) -> str:
        """Readable name, used in messages."""
        return self.path if self.row_group is None else f"{self.path}[row group {self.row_group}]"


@dataclass
class UnitOptions:
    """How to read units from a population partition (the ``plan`` options)."""

    unit_id: str = "unit_id"
    households: str | None = None
    population_field: str | None = None
    household_size: float = 2.6
    crs: str | None = None


def partitions_of(path: str | Path) -> list[Partition]:
    """The partitions of a population input: files of a folder, or row groups of GeoParquet.

    A folder gives one partition per vector file in it (sorted by name); a GeoParquet
    file with several row groups gives one partition per row group; any other file is
    one partition.

    Examples
    --------
    >>> partitions_of("missing/")
    Traceback (most recent call last):
    ...
    gridplan.errors.InputError: missing: not found. Fix: give a population file or a folder \
of partition files
    """
    p = Path(path)
    if not p.exists():
        raise InputError("not found", source=str(p),
                         fix="give a population file or a folder of partition files")
    if p.is_dir():
        files = sorted(f for f in p.iterdir()
                       if f.is_file() and f.suffix.lower() in VECTOR_SUFFIXES)
        if not files:
            raise InputError("the folder holds no vector files", source=str(p),
                             fix=f"put partition files ({', '.join(VECTOR_SUFFIXES)}) in it")
        return [q for f in files for q in partitions_of(f)]
    if p.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        groups = pq.ParquetFile(p).metadata.num_row_groups
        if groups > 1:
            return [Partition(str(p), i) for i in range(groups)]
    return [Partition(str(p))]


def read_partition(part: Partition) -> gpd.GeoDataFrame:
    """Read one partition (a row group is decoded from its WKB geometry column)."""
    if part.row_group is None:
        return read_frame(part.path, "population")
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(part.path)
    geo = json.loads(pf.schema_arrow.metadata[b"geo"])
    column = geo["primary_column"]
    meta = geo["columns"][column]
    if meta.get("encoding", "WKB").upper() != "WKB":
        raise InputError(f"geometry encoding {meta['encoding']} is not read by row group",
                         source=part.path, fix="write the GeoParquet file with WKB geometry")
    df = pf.read_row_group(part.row_group).to_pandas()
    gdf = gpd.GeoDataFrame(df.drop(columns=column), crs=meta.get("crs", "OGC:CRS84"),
                           geometry=shapely.from_wkb(df[column].values))
    gdf.attrs["source"] = part.name
    return gdf


def prepare_partition(index: int, part: Partition, options: UnitOptions,
                      communities: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame | None,
                      params: PlanParams, work: Path) -> dict:
    """Read one partition, place its units in communities and write its shard.

    The shard ``WORK/units/p<index>.parquet`` holds the partition's units sorted by
    community (their position in ``communities``). Returns a small summary (units per
    community, input notes, geometry kinds), also written to
    ``WORK/prepared/p<index>.json`` as the partition's done-marker.
    """
    reset_peak()
    c0 = time.process_time()
    notes = InputNotes()
    raw = read_partition(part)
    if raw.crs is None and options.crs:
        raw = raw.set_crs(options.crs)
    units = prepare_units(raw, unit_id=options.unit_id, households=options.households,
                          population_field=options.population_field,
                          household_size=options.household_size)
    units = check_layer(units, what="population", notes=notes).to_crs(communities.crs)
    units["community_id"] = tag_by_polygons(units, communities, "community_id", "community_id")
    outside = units["community_id"].isna()
    if outside.any():
        notes.units_outside = units.loc[outside, "unit_id"].astype(str).tolist()
        notes.households_outside = int(units.loc[outside, "households"].sum())
        units = units.loc[~outside].copy()
    whole = int((units["households"] <= params.band[1]).sum())  # split ones go last
    units = split_large_buildings(units, params.band[1], params.stairwell_households,
                                  communities)
    units["compound_id"] = tag_by_polygons(units, compounds, "compound_id", "compound_id")
    units["_sub"] = np.arange(len(units)) >= whole
    units["_part"] = index
    units["_pos"] = np.arange(len(units))
    position = pd.Series(np.arange(len(communities)), index=communities["community_id"])
    units[POSITION] = units["community_id"].map(position).to_numpy()
    save_units(work / "units" / f"p{index:06d}.parquet", units)
    summary = {"partition": part.name, "units": len(units),
               "counts": {str(k): int(v) for k, v in
                          units.groupby("community_id", sort=False).size().items()},
               "kinds": sorted(set(units.geometry.geom_type.unique())),
               "notes": notes.to_dict(), "outside": notes.units_outside[:50],
               "n_outside": len(notes.units_outside),
               "households_outside": notes.households_outside, "peak_mb": peak_mb(),
               "cpu_seconds": round(time.process_time() - c0, 3)}
    _write_json(work / "prepared" / f"p{index:06d}.json", summary)
    return summary
