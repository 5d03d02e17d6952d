"""The driver: :func:`plan_partitioned` runs the three stages, resuming what is done."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import shapely

from gridplan.engine.community import NearbyLines
from gridplan.engine.pipeline import StageTimer
from gridplan.errors import GridplanError, InputError
from gridplan.export.folder import _geometry_type
from gridplan.layers.prepare import check_overlaps
from gridplan.layers.vector import InputNotes
from gridplan.params import PlanParams
from gridplan.scale.cluster import run_tasks, warm_up
from gridplan.scale.merge import PlanMerge
from gridplan.scale.partitions import Partition, UnitOptions, partitions_of, prepare_partition
from gridplan.scale.plans import plan_batch
from gridplan.scale.shards import _write_json

log = logging.getLogger(__name__)

BATCH_UNITS = 20_000  # most units planned by one task (a batch of whole communities)
MIN_BATCH_UNITS = 2_000  # fewest, unless the communities left are fewer
BATCHES_PER_WORKER = 4  # batches per worker at least, so that the workers finish together
WORK_LAYOUT = 2  # the work folder's files (2: a shard per partition, plans per batch)


class PartialPlanError(GridplanError):
    """Some partitions or communities failed; the others are saved for a re-run.

    The exit code is 2 (bad input) when every failure was an :class:`InputError`.
    """

    def __init__(self, failed: dict[str, str], what: str, n_ok: int, work: Path) -> None:
        self.failed = failed
        if all(v.startswith(f"{InputError.__name__}:") for v in failed.values()):
            self.exit_code = InputError.exit_code
        super().__init__(_failure_text(failed, what, n_ok, work))


@dataclass
class Outcome:
    """What a partitioned run did: its report, and what failed."""

    report: dict = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    resumed: int = 0


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
    ids = [str(c) for c in communities["community_id"]]
    with PlanMerge(ids, crs, work, out, _unit_kind(prepared)) as merge:
        with timer.stage("plan"):
            failed, batches = _plan_all(ids, communities, prepared, barriers, params, work,
                                        client, retries, progress, outcome, merge.add)
        if failed:
            raise PartialPlanError(failed, "community", len(merge.done), work)
        notes = _merge_notes(notes, prepared)
        with timer.stage("merge"):
            report = merge.finish(params, notes, time.perf_counter() - t_start)
    report["partitioned"].update(
        partitions=len(parts), resumed=outcome.resumed, wall_seconds=timer.seconds,
        prepare_peak_mb_max=max((s["peak_mb"] for s in prepared), default=0.0),
        worker_cpu_seconds={
            "prepare": round(sum(s.get("cpu_seconds", 0.0) for s in prepared), 3),
            "plan": round(sum(b["cpu_seconds"] for b in batches), 3)},
        batches=len(batches),
        batch_seconds_max=max((b["seconds"] for b in batches), default=0.0),
        plan_peak_mb_max=max((b["peak_mb"] for b in batches), default=0.0),
        largest_community_units=max((d["units"] for d in merge.done.values()), default=0),
        merge_seconds=round(merge.seconds, 3),
        workers=0 if client is None else len(client.scheduler_info()["workers"]))
    report["runtime_seconds"] = round(time.perf_counter() - t_start, 3)
    _write_json(out / "report.json", report, indent=2)  # now with the merge's time
    outcome.report = report
    return outcome


def _start_work(work: Path, parts: list[Partition], params: PlanParams, options: UnitOptions,
                *layers: gpd.GeoDataFrame | None) -> None:
    """Create the work folder; clear it when inputs, parameters or the folder's layout
    (an earlier gridplan's) changed since the last run."""
    stamp = {"layout": WORK_LAYOUT, "params": params.to_dict(), "options": vars(options),
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


def _by_community(prepared: list[dict]) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Partition indices holding units of each community (in partition order), and its
    units over all partitions."""
    shards: dict[str, list[int]] = {}
    units: dict[str, int] = {}
    for i, summary in enumerate(prepared):
        for cid, n in summary["counts"].items():
            shards.setdefault(cid, []).append(i)
            units[cid] = units.get(cid, 0) + n
    return shards, units


def _plan_all(ids: list[str], communities, prepared, barriers, params, work, client, retries,
              progress, outcome: Outcome, on_done: Callable[[dict[str, dict]], None],
              ) -> tuple[dict[str, str], list[dict]]:
    """Stage 2 over every community (``ids``, as strings) not planned yet, in batches; the
    failed communities and this run's batches' markers.

    ``on_done`` gets the communities planned before (resumed), then each batch's as it
    finishes: it keeps them (:class:`PlanMerge`), this function does not.
    """
    done = _planned(work)
    on_done(done)
    outcome.resumed = len(done)
    if done:
        log.info("resuming: %d of %d communities already planned", len(done), len(communities))
    shards, units = _by_community(prepared)
    todo = [i for i, cid in enumerate(ids) if cid not in done]
    workers = 1 if client is None else max(len(client.scheduler_info()["workers"]), 1)
    near = NearbyLines(barriers)
    extra = [c for c in ("name", "name_en") if c in communities.columns]
    jobs = {}
    for positions in _batches(todo, [units.get(cid, 0) for cid in ids], workers):
        rows = communities.iloc[positions]
        comms = [SimpleNamespace(community_id=r.community_id, code=r.code, geometry=r.geometry,
                                 **{c: getattr(r, c) for c in extra})
                 for r in rows.itertuples(index=False)]
        key = hashlib.sha1(chr(0).join(ids[i] for i in positions).encode()).hexdigest()[:8]
        name = f"b{positions[0]:06d}-{key}"
        paths = [str(work / "units" / f"p{i:06d}.parquet")
                 for i in sorted({j for p in positions for j in shards.get(ids[p], [])})]
        jobs[name] = (name, comms, positions, paths, [near.around(c.geometry) for c in comms],
                      params, work, retries)

    def finished(name: str, marker: dict) -> None:
        on_done({cid: {**d, "file": name} for cid, d in marker["communities"].items()})

    results, errors = run_tasks(plan_batch, jobs, client, retries=retries,
                                desc="planning communities", progress=progress,
                                on_result=finished, unit="community",
                                sizes={name: len(job[1]) for name, job in jobs.items()})
    failed: dict[str, str] = {}
    for marker in results.values():
        failed.update(marker["failed"])
    for name, error in errors.items():
        failed.update({str(c.community_id): error for c in jobs[name][1]})
    return failed, list(results.values())


def _planned(work: Path) -> dict[str, dict]:
    """Communities planned by earlier runs, from the batches' markers."""
    done: dict[str, dict] = {}
    for path in sorted((work / "plans").glob("*.json")):
        marker = json.loads(path.read_text(encoding="utf-8"))
        done.update({cid: {**d, "file": marker["file"]}
                     for cid, d in marker["communities"].items()})
    return done


def _batches(todo: list[int], units: list[int], workers: int) -> list[list[int]]:
    """The communities at positions ``todo``, in order, cut into batches of at most
    :data:`BATCH_UNITS` units (``units`` by position), fewer when that gives every worker
    several batches.

    Examples
    --------
    >>> _batches([0, 1, 2, 3], [1500, 400, 1500, 10], 1)
    [[0, 1], [2, 3]]
    >>> _batches([1, 3], [1500, 400, 1500, 10], 1)
    [[1, 3]]
    """
    total = sum(units[i] for i in todo)
    limit = min(BATCH_UNITS, max(MIN_BATCH_UNITS, total // (BATCHES_PER_WORKER * workers)))
    out: list[list[int]] = []
    size = 0
    for i in todo:
        if not out or (size and size + units[i] > limit):
            out.append([])
            size = 0
        out[-1].append(i)
        size += units[i]
    return out


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
