"""Distributed: plan partitioned inputs community by community, in-process or on a Dask cluster.

Three stages, each a map over independent pieces of work, so that no process ever
holds the whole province:

1. **prepare** (one task per input partition): read the partition, normalise its
   units, reproject them, place them in communities, split oversized buildings into
   stairwells, tag compounds, and write each community's units as a shard
   ``WORK/units/<community>/p<partition>.pkl``.
2. **plan** (one task per community): read the community's shards, call
   :func:`gridplan.engine.community.plan_community` (the same function the in-process
   :func:`gridplan.engine.pipeline.plan` calls), check the rules and write
   ``WORK/plans/<community>.pkl`` (grids, units, community, parcels), then its
   done-marker ``<community>.json``, each renamed into place when complete.
3. **merge** (the driver): append the communities' results in batches to
   ``grids.geojson``, ``units.csv`` and ``plan.gpkg`` in a temporary folder, write
   ``report.json`` and move the files into the output folder.

Each finished partition and community leaves a marker, so a re-run with the same
inputs and parameters skips them (resume). A task that fails is retried
(``retries``); communities that still fail are named in a :class:`PartialPlanError`,
and the others stay written for the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from tqdm.auto import tqdm

from gridplan.engine.community import NearbyLines, plan_community
from gridplan.engine.metrics import optimality_report, summarize, validate_plan
from gridplan.engine.pipeline import StageTimer, _assemble
from gridplan.engine.units import split_large_buildings, tag_by_polygons
from gridplan.errors import GridplanError, InputError
from gridplan.export.folder import (
    GRID_FIELDS,
    OPTIONAL_GRID_FIELDS,
    UNIT_FIELDS,
    _geometry_type,
    _write_parcels,
    write_geojson,
)
from gridplan.layers.prepare import check_overlaps
from gridplan.layers.vector import VECTOR_SUFFIXES, InputNotes, check_layer, read_vector
from gridplan.params import PlanParams

log = logging.getLogger(__name__)

ORDER = ["_sub", "_part", "_pos"]  # sort key that restores the in-process unit order
MERGE_BATCH = 200  # communities read at once while merging
CONNECT_TIMEOUT = "20s"  # waiting for a Dask scheduler


class PartialPlanError(GridplanError):
    """Some partitions or communities failed; the others are saved for a re-run.

    The exit code is 2 (bad input) when every failure was an :class:`InputError`.
    """

    def __init__(self, failed: dict[str, str], what: str, n_ok: int, work: Path) -> None:
        self.failed = failed
        if all(v.startswith(f"{InputError.__name__}:") for v in failed.values()):
            self.exit_code = InputError.exit_code
        super().__init__(_failure_text(failed, what, n_ok, work))


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


@dataclass
class Outcome:
    """What a partitioned run did: its report, and what failed."""

    report: dict = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    resumed: int = 0


# ---------------------------------------------------------------------------
# inputs


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
        return read_vector(part.path, what="population")
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


def peak_mb() -> float:
    """Peak resident memory of this process, in MB: since :func:`reset_peak` where Linux
    allows it (``VmHWM``), else since the process started (``ru_maxrss``)."""
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def reset_peak() -> None:
    """In a Dask worker process, restart the peak-memory count (Linux), so that each
    task reports its own peak; elsewhere do nothing (the caller may be measuring)."""
    if "distributed" not in sys.modules:  # not imported: this is no Dask worker
        return
    try:
        sys.modules["distributed"].get_worker()
    except ValueError:
        return
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


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


# ---------------------------------------------------------------------------
# stage 1: prepare one partition


def prepare_partition(index: int, part: Partition, options: UnitOptions,
                      communities: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame | None,
                      params: PlanParams, work: Path) -> dict:
    """Read one partition, place its units in communities and write one shard per community.

    Returns a small summary (units per community, input notes, geometry kinds), also
    written to ``WORK/prepared/p<index>.json`` as the partition's done-marker.
    """
    from gridplan.layers.population import prepare_units

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
    for cid, grp in units.groupby("community_id", sort=False):
        save_frames(work / "units" / safe_name(cid) / f"p{index:06d}.pkl", {"units": grp})
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


def _write_json(path: Path, obj, indent: int | None = None) -> None:
    """Write JSON next to ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=indent), encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------
# stage 2: plan one community


def plan_one(community: SimpleNamespace, shards: list[str], barriers: np.ndarray | None,
             params: PlanParams, work: Path) -> dict:
    """Plan one community from its shards, check the rules, write ``WORK/plans/<id>.pkl``.

    Everything is in the run's metric CRS, which the frames here leave unset (the
    merge sets it once per batch).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    reset_peak()
    units = _community_units(shards)
    dup = units["unit_id"][units["unit_id"].duplicated()]
    if len(dup):
        raise InputError(f"unit ids appear twice in community {community.community_id}: "
                         f"{', '.join(map(str, dup.head(5)))}", field="--unit-id",
                         fix="give every unit its own id across all partitions")
    timer = StageTimer()
    g, ug, cells, edges = plan_community(community, units, barriers, params, timer)
    comm = gpd.GeoDataFrame({"community_id": [community.community_id],
                             "code": [community.code]}, geometry=[community.geometry])
    for extra in ("name", "name_en"):
        if hasattr(community, extra):
            comm[extra] = [getattr(community, extra)]
    result = _assemble([g], [ug], units, comm, params, None)
    result.cells = gpd.GeoDataFrame(cells, geometry="geometry")
    result.cell_edges = edges
    validate_plan(result)
    name = work / "plans" / safe_name(community.community_id)
    save_frames(name.with_suffix(".pkl"),
                {"grids": result.grids, "units": result.units, "community": result.communities,
                 "cells": result.cells, "cell_edges": result.cell_edges})
    done = {"community_id": community.community_id, "grids": len(result.grids),
            "units": len(result.units), "stage_seconds": timer.seconds,
            "seconds": round(time.perf_counter() - t0, 3), "peak_mb": peak_mb(),
            "cpu_seconds": round(time.process_time() - c0, 3),
            "explanation": g.attrs.get("explanation"), "optimality": g.attrs.get("optimality")}
    _write_json(name.with_suffix(".json"), done)  # the done-marker, after the results
    return done


def _community_units(shards: list[str]) -> gpd.GeoDataFrame:
    """A community's units from its shards, in the order the in-process plan uses."""
    if not shards:
        cols = {"unit_id": [], "building_id": [], "households": np.zeros(0, np.int64),
                "population": np.zeros(0), "community_id": [], "compound_id": []}
        return gpd.GeoDataFrame(cols, geometry=[])
    units = pd.concat([load_frames(s, None)["units"] for s in shards], ignore_index=True)
    units = units.sort_values(ORDER, kind="stable").drop(columns=ORDER)
    return gpd.GeoDataFrame(units.reset_index(drop=True), geometry="geometry")


# ---------------------------------------------------------------------------
# running tasks in-process or on a cluster


def run_tasks(fn: Callable, jobs: dict[str, tuple], client=None, *, retries: int = 2,
              desc: str = "", progress: bool = False) -> tuple[dict, dict[str, str]]:
    """Call ``fn(*args)`` for every job; results and errors by job key.

    With a Dask ``client`` the jobs run on its workers (``retries`` passed to Dask);
    without one they run here, each retried up to ``retries`` times. A job that still
    fails is reported by key with its error; the others go on.

    Examples
    --------
    >>> run_tasks(lambda x: 1 // x, {"a": (1,), "b": (0,)}, retries=0)
    ({'a': 1}, {'b': 'ZeroDivisionError: integer division or modulo by zero'})
    """
    results: dict = {}
    errors: dict[str, str] = {}
    bar = tqdm(total=len(jobs), desc=desc, unit="task", disable=not progress)
    if client is None:
        for key, args in jobs.items():
            for attempt in range(retries + 1):
                try:
                    results[key] = fn(*args)
                    break
                except Exception as exc:  # any failure of one job is reported, not fatal
                    log.warning("%s %s failed (attempt %d): %s", desc, key, attempt + 1, exc)
                    errors[key] = f"{type(exc).__name__}: {exc}"
            if key in results:
                errors.pop(key, None)
            bar.update()
    else:
        from distributed import as_completed

        futures = {client.submit(fn, *args, retries=retries, pure=False,
                                 key=f"{desc}-{key}-{os.urandom(4).hex()}"): key
                   for key, args in jobs.items()}
        for fut in as_completed(futures):
            key = futures[fut]
            if fut.status == "error":
                exc = fut.exception()
                errors[key] = f"{type(exc).__name__}: {exc}"
                log.warning("%s %s failed after %d retries: %s", desc, key, retries, exc)
            else:
                results[key] = fut.result()
            fut.release()
            bar.update()
    bar.close()
    return results, errors


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None):
    """A Dask client on a scheduler address, on a local cluster of ``workers``, or ``None``.

    The local cluster has one single-threaded process per worker (the planning code
    holds the GIL); both are closed when the block ends.
    """
    if not workers and not scheduler:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise InputError("Dask is not installed", field="--workers/--scheduler",
                         fix='pip install "gridplan[scale]"') from exc
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({exc})",
                             field="--scheduler",
                             fix="start one (dask scheduler) or check the address") from exc
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def warm_up() -> float:
    """Plan a small made-up community so that the compiled kernels are loaded; seconds taken.

    Each worker process compiles (or loads from the on-disk cache) the numba kernels
    on first use; doing it once per worker before the real tasks keeps that cost out
    of the first communities' timings.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 400, size=(60, 2))
    units = gpd.GeoDataFrame({"unit_id": [f"w{i}" for i in range(60)],
                              "building_id": [f"w{i}" for i in range(60)],
                              "households": np.full(60, 20), "population": np.full(60, 52.0),
                              "compound_id": [None] * 60},
                             geometry=gpd.points_from_xy(*xy.T), crs=32650)
    comm = SimpleNamespace(community_id="W", code=None, geometry=shapely.box(0, 0, 400, 400))
    plan_community(comm, units, None, PlanParams(), StageTimer())
    return round(time.perf_counter() - t0, 3)


# ---------------------------------------------------------------------------
# the driver


def plan_partitioned(population: str | Path, communities: gpd.GeoDataFrame,
                     out_dir: str | Path, *, compounds: gpd.GeoDataFrame | None = None,
                     barriers: gpd.GeoDataFrame | None = None, params: PlanParams | None = None,
                     options: UnitOptions | None = None, client=None, retries: int = 2,
                     work_dir: str | Path | None = None, progress: bool = False,
                     notes: InputNotes | None = None) -> Outcome:
    """Plan every community of a partitioned population input and write the merged plan.

    Parameters
    ----------
    population : str or Path
        A folder of partition files, or one file (GeoParquet row groups are partitions).
    communities : GeoDataFrame
        From :func:`gridplan.layers.prepare.prepare_communities`.
    out_dir : str or Path
        Where ``grids.geojson``, ``units.csv``, ``plan.gpkg`` and ``report.json`` go.
    compounds, barriers : GeoDataFrame, optional
        Prepared compounds and barriers (:mod:`gridplan.layers.prepare`).
    params : PlanParams
        Plan parameters; ``balance="workload"`` is not supported here.
    options : UnitOptions
        How to read units from the partitions.
    client : distributed.Client, optional
        Run the tasks on this Dask cluster; ``None`` runs them in this process.
    retries : int
        Times a failed task is tried again.
    work_dir : str or Path, optional
        Intermediate results and done-markers (default ``out_dir/parts``); on a
        cluster, a folder every worker can read and write.
    progress : bool
        Progress bars over partitions and communities.
    notes : InputNotes, optional
        Notes from reading the other layers.

    Returns
    -------
    Outcome
        The report; raises :class:`PartialPlanError` when something failed.

    Examples
    --------
    >>> from bench.synthetic import synthetic_city                   # doctest: +SKIP
    >>> units, comm = synthetic_city(2000)                             # doctest: +SKIP
    >>> units.to_parquet("units.parquet", row_group_size=500)          # doctest: +SKIP
    >>> from gridplan.layers.prepare import prepare_communities                # doctest: +SKIP
    >>> plan_partitioned("units.parquet", prepare_communities(comm), "out",
    ...                  options=UnitOptions(households="households"))  # doctest: +SKIP
    """
    params = params or PlanParams()
    options = options or UnitOptions()
    notes = notes or InputNotes()
    if params.balance != "households":
        raise InputError("--balance workload needs every unit's visits at once",
                         field="--balance", fix="plan without --workers/--scheduler")
    t_start = time.perf_counter()
    parts = partitions_of(population)
    out = Path(out_dir)
    work = Path(work_dir) if work_dir else out / "parts"
    crs = communities.crs if communities.crs.is_projected else communities.estimate_utm_crs()
    communities = check_overlaps(communities.to_crs(crs), notes)
    compounds = None if compounds is None else compounds.to_crs(crs)
    barriers = None if barriers is None else barriers.to_crs(crs)
    _start_work(work, parts, params, options, communities, compounds, barriers)
    outcome = Outcome()
    if client is not None:
        seconds = client.run(warm_up)
        log.info("kernels ready on %d workers (%s s)", len(seconds),
                 ", ".join(f"{v:.1f}" for v in seconds.values()))
    timer = StageTimer()
    with timer.stage("prepare"):
        prepared = _prepare_all(parts, options, communities, compounds, params, work, client,
                                retries, progress)
    counts = _shards_by_community(prepared)
    with timer.stage("plan"):
        done, failed = _plan_all(communities, counts, barriers, params, work, client,
                                 retries, progress, outcome)
    if failed:
        raise PartialPlanError(failed, "community", len(done), work)
    notes = _merge_notes(notes, prepared)
    with timer.stage("merge"):
        report = merge_plans(communities, done, params, crs, notes, work, out,
                             _unit_kind(prepared), time.perf_counter() - t_start)
    report["partitioned"].update(
        partitions=len(parts), resumed=outcome.resumed, wall_seconds=timer.seconds,
        prepare_peak_mb_max=max((s["peak_mb"] for s in prepared), default=0.0),
        worker_cpu_seconds={
            "prepare": round(sum(s.get("cpu_seconds", 0.0) for s in prepared), 3),
            "plan": round(sum(d.get("cpu_seconds", 0.0) for d in done.values()), 3)},
        largest_community_units=max((d["units"] for d in done.values()), default=0),
        workers=0 if client is None else len(client.scheduler_info()["workers"]))
    report["runtime_seconds"] = round(time.perf_counter() - t_start, 3)
    _write_json(out / "report.json", report, indent=2)  # now with the merge's time
    outcome.report = report
    return outcome


def _start_work(work: Path, parts: list[Partition], params: PlanParams, options: UnitOptions,
                *layers: gpd.GeoDataFrame | None) -> None:
    """Create the work folder; clear it when inputs or parameters changed since last run."""
    stamp = {"params": params.to_dict(), "options": vars(options),
             "partitions": [[p.path, p.row_group, *_stat(p.path)] for p in parts],
             "layers": [_digest(layer) for layer in layers]}
    run_file = work / "run.json"
    if run_file.exists() and json.loads(run_file.read_text()) != json.loads(json.dumps(stamp)):
        log.warning("inputs or parameters changed since the last run in %s; starting afresh",
                    work)
        shutil.rmtree(work)
    _write_json(run_file, stamp)


def _digest(layer: gpd.GeoDataFrame | None) -> str | None:
    """A hash of a layer's attributes and geometries (to notice a changed input)."""
    if layer is None:
        return None
    h = hashlib.sha1(pd.util.hash_pandas_object(layer.drop(columns="geometry"),
                                                index=False).values.tobytes())
    for wkb in shapely.to_wkb(layer.geometry.values):
        h.update(wkb)
    return h.hexdigest()


def _stat(path: str) -> list:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def _prepare_all(parts, options, communities, compounds, params, work, client, retries,
                 progress) -> list[dict]:
    """Stage 1 over every partition not prepared yet; summaries in partition order."""
    summaries: dict[int, dict] = {}
    jobs = {}
    for i, part in enumerate(parts):
        marker = work / "prepared" / f"p{i:06d}.json"
        if marker.exists():
            summaries[i] = json.loads(marker.read_text())
        else:
            jobs[str(i)] = (i, part, options)
    if jobs:
        comm_small = communities[["community_id", "geometry"]]
        shared = (comm_small, compounds)
        if client is not None:
            shared = tuple(client.scatter(x, broadcast=True) if x is not None else None
                           for x in shared)
        jobs = {k: (*v, *shared, params, work) for k, v in jobs.items()}
        results, errors = run_tasks(prepare_partition, jobs, client, retries=retries,
                                    desc="reading partitions", progress=progress)
        if errors:
            named = {parts[int(k)].name: v for k, v in errors.items()}
            raise PartialPlanError(named, "partition", len(results), work)
        summaries.update({int(k): v for k, v in results.items()})
    return [summaries[i] for i in range(len(parts))]


def _shards_by_community(prepared: list[dict]) -> dict[str, list[int]]:
    """Partition indices holding units of each community (in partition order)."""
    out: dict[str, list[int]] = {}
    for i, summary in enumerate(prepared):
        for cid in summary["counts"]:
            out.setdefault(cid, []).append(i)
    return out


def _plan_all(communities, counts, barriers, params, work, client, retries, progress,
              outcome: Outcome) -> tuple[dict[str, dict], dict[str, str]]:
    """Stage 2 over every community not planned yet."""
    near = NearbyLines(barriers)
    done: dict[str, dict] = {}
    jobs = {}
    extra = [c for c in ("name", "name_en") if c in communities.columns]
    for row in communities.itertuples(index=False):
        cid = str(row.community_id)
        marker = work / "plans" / f"{safe_name(cid)}.json"
        if marker.exists():
            done[cid] = json.loads(marker.read_text())
            continue
        comm = SimpleNamespace(community_id=row.community_id, code=row.code,
                               geometry=row.geometry, **{c: getattr(row, c) for c in extra})
        shards = [str(work / "units" / safe_name(cid) / f"p{i:06d}.pkl")
                  for i in counts.get(cid, [])]
        jobs[cid] = (comm, shards, near.around(row.geometry), params, work)
    outcome.resumed = len(done)
    if done:
        log.info("resuming: %d of %d communities already planned", len(done), len(communities))
    results, errors = run_tasks(plan_one, jobs, client, retries=retries,
                                desc="planning communities", progress=progress)
    done.update(results)
    return done, errors


def _failure_text(failed: dict[str, str], what: str, n_ok: int, work: Path) -> str:
    """What failed, and what to do: ``what`` is ``"partition"`` or ``"community"``.

    Examples
    --------
    >>> print(_failure_text({"C01": "RuntimeError: disk full"}, "community", 6, Path("w")))
    1 community failed after retries:
      C01: RuntimeError: disk full
    6 others finished and are kept in w; fix the cause and run the same command again to do \
only what is left
    """
    plural = {"community": "communities", "partition": "partitions"}
    lines = [f"{len(failed)} {what if len(failed) == 1 else plural[what]} failed after retries:"]
    lines += [f"  {k}: {v}" for k, v in list(failed.items())[:20]]
    if len(failed) > 20:
        lines.append(f"  ... and {len(failed) - 20} more")
    lines.append(f"{n_ok} others finished and are kept in {work}; fix the cause and run the "
                 "same command again to do only what is left")
    return "\n".join(lines)


def _merge_notes(notes: InputNotes, prepared: list[dict]) -> InputNotes:
    """Add the partitions' input notes to the driver's."""
    for s in prepared:
        n = s["notes"]
        for key, attr in (("repaired_geometries", "repaired_geometries"),
                          ("dropped_empty_geometries", "dropped_empty")):
            for what, count in n[key].items():
                getattr(notes, attr)[what] = getattr(notes, attr).get(what, 0) + count
        notes.warnings.extend(n["warnings"])
        notes.units_outside.extend(s["outside"])
        notes.households_outside += s["households_outside"]
    total = sum(s["n_outside"] for s in prepared)
    if total:
        notes.warn(f"{total} unit(s) with {notes.households_outside} households lie outside "
                   "every community and are left out of the plan")
    return notes


def _unit_kind(prepared: list[dict]) -> str:
    """GeoPackage geometry type of the units layer, from every partition's kinds."""
    kinds = sorted({k for s in prepared for k in s["kinds"]})
    sample = gpd.GeoSeries([shapely.from_wkt(f"{k.upper()} EMPTY") for k in kinds])
    return _geometry_type(gpd.GeoDataFrame(geometry=sample))


# ---------------------------------------------------------------------------
# stage 3: merge


def merge_plans(communities: gpd.GeoDataFrame, done: dict[str, dict], params: PlanParams, crs,
                notes: InputNotes, work: Path, out_dir: Path, unit_kind: str,
                runtime: float) -> dict:
    """Append the communities' plans, batch by batch, into the output files; the report.

    Files are written in a temporary folder inside ``out_dir`` and moved into place
    once all are complete, like :func:`gridplan.export.folder.write_plan`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".gridplan-", dir=out_dir))
    ids = [str(c) for c in communities["community_id"]]
    attrs, comm_rows = [], []
    try:
        for start in range(0, len(ids), MERGE_BATCH):
            batch = _read_batch([work / "plans" / f"{safe_name(c)}.pkl"
                                 for c in ids[start:start + MERGE_BATCH]], crs)
            grids, units = batch["grids"], batch["units"]
            comm_rows.append(batch["community"])
            _append_layers(grids, units, tmp, first=start == 0, unit_kind=unit_kind)
            _write_parcels(SimpleNamespace(cells=batch["cells"], cell_edges=batch["cell_edges"]),
                           tmp / "plan.gpkg")
            attrs.append(_grid_attributes(grids))
        _close_features(tmp / "grids.geojson")
        comm = pd.concat(comm_rows, ignore_index=True)
        comm["code"] = comm["code"].astype(object).where(comm["code"].notna(), "")
        pyogrio.write_dataframe(comm, tmp / "plan.gpkg", layer="communities", driver="GPKG",
                                append=True, promote_to_multi=True)
        report = _report(pd.concat(attrs, ignore_index=True), comm, done, params, crs, notes,
                         runtime)
        report["explanations"] = [done[c]["explanation"] for c in ids
                                  if done[c].get("explanation")]
        report["optimality"] = optimality_report(
            [done[c]["optimality"] for c in ids if done[c].get("optimality")],
            sum(done[c]["stage_seconds"].get("exact", 0.0) for c in ids))
        (tmp / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2),
                                         encoding="utf-8")
        for name in ("grids.geojson", "units.csv", "plan.gpkg", "report.json"):
            os.replace(tmp / name, out_dir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def _read_batch(paths: list[Path], crs) -> dict[str, pd.DataFrame]:
    """The communities' results of one batch, each layer concatenated."""
    parts = [load_frames(p, crs) for p in paths]
    out = {}
    for name in parts[0]:
        frame = pd.concat([p[name] for p in parts], ignore_index=True)
        out[name] = (gpd.GeoDataFrame(frame, geometry="geometry", crs=crs)
                     if "geometry" in frame else frame)
    return out


def _append_layers(grids: gpd.GeoDataFrame, units: gpd.GeoDataFrame, folder: Path, *,
                   first: bool, unit_kind: str) -> None:
    """Append one batch to grids.geojson, units.csv and the grids/units GeoPackage layers."""
    extra = [c for c in OPTIONAL_GRID_FIELDS if c in grids.columns]
    g = grids[[*GRID_FIELDS, *extra, "geometry"]]
    write_geojson(g, folder / ".batch.geojson")
    _splice_features(folder / ".batch.geojson", folder / "grids.geojson", first=first)
    units[UNIT_FIELDS].to_csv(folder / "units.csv", index=False, encoding="utf-8",
                              mode="w" if first else "a", header=first)
    gpkg = folder / "plan.gpkg"
    pyogrio.write_dataframe(g, gpkg, layer="grids", driver="GPKG", append=not first)
    u = units[["unit_id", "building_id", "grid_code", "cell_id", "community_id", "households",
               "population", "geometry"]]
    pyogrio.write_dataframe(u, gpkg, layer="units", driver="GPKG", append=True,
                            geometry_type=unit_kind, promote_to_multi=unit_kind == "MultiPolygon")


def _splice_features(batch: Path, target: Path, *, first: bool) -> None:
    """Append the features of a GeoJSON file GDAL wrote to ``target``, left open.

    GDAL appending to a GeoJSON file rereads the whole file each time (quadratic: 40
    batches of 1000 grids took 51 s), so each batch is written on its own and its
    feature lines are copied; :func:`_close_features` ends the collection. The result
    is byte for byte what one GDAL write of all the grids gives.
    """
    text = batch.read_text(encoding="utf-8")
    head, mark, rest = text.partition('"features": [\n')
    body, end, _ = rest.rpartition("\n]\n}")
    if not mark or not end:
        raise RuntimeError(f"unexpected GeoJSON layout from GDAL in {batch}")
    with open(target, "w" if first else "a", encoding="utf-8") as fh:
        fh.write(head + mark if first else ",\n")
        fh.write(body)
    batch.unlink()


def _close_features(target: Path) -> None:
    with open(target, "a", encoding="utf-8") as fh:
        fh.write("\n]\n}\n")


def _grid_attributes(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Grid attributes with a placeholder geometry of the same type (for the report)."""
    empty = {t: shapely.from_wkt(f"{t.upper()} EMPTY") for t in grids.geom_type.unique()}
    return gpd.GeoDataFrame(grids.drop(columns="geometry"),
                            geometry=[empty[t] for t in grids.geom_type], crs=grids.crs)


def _report(grids: gpd.GeoDataFrame, comm: gpd.GeoDataFrame, done: dict[str, dict],
            params: PlanParams, crs, notes: InputNotes, runtime: float) -> dict:
    """``report.json`` of the merged plan: the in-process report, plus how it was run."""
    dup = grids["grid_code"][grids["grid_code"].duplicated()]
    if len(dup):
        from gridplan.errors import PlanInvariantError

        raise PlanInvariantError(f"duplicate grid codes: {', '.join(dup.head(5))}")
    stages: dict[str, float] = {}
    for d in done.values():
        for k, v in d["stage_seconds"].items():
            stages[k] = round(stages.get(k, 0.0) + v, 3)
    # summarize() reads only the grids' attributes and geometry types and the layer sizes
    light = SimpleNamespace(grids=grids, units=range(sum(d["units"] for d in done.values())),
                            communities=comm, params=params, crs=crs)
    report = summarize(light, notes, stages, runtime)
    report["partitioned"] = {
        "community_seconds_max": max((d["seconds"] for d in done.values()), default=0.0),
        "plan_peak_mb_max": max((d["peak_mb"] for d in done.values()), default=0.0),
        "stage_seconds_are": "summed over communities (busy time across workers)",
    }
    return report
