"""CLI for scale: `gridplan plan --workers N | --scheduler ADDRESS`, partitioned input."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import click

from gridplan.errors import InputError
from gridplan.export.folder import read_plan
from gridplan.layers.datum import datum_for
from gridplan.layers.load import layer_options, read_layer, read_optional
from gridplan.layers.vector import GeometryLimits, InputNotes, geometry_limits
from gridplan.params import params_from
from gridplan.run import summary_text

log = logging.getLogger(__name__)

MAP_MAX_GRIDS = 20_000  # above this, map.html would be too heavy for a browser


def scale_options(f):
    """Options of ``gridplan plan`` that spread the per-community work over processes."""
    opts = [
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Plan on a local Dask cluster of N worker processes."),
        click.option("--scheduler", default=None, metavar="ADDRESS",
                     help="Plan on the Dask cluster at this scheduler address, e.g. "
                          "tcp://host:8786 (workers need gridplan installed and --work-dir "
                          "on a shared file system)."),
        click.option("--retries", default=2, show_default=True, type=click.IntRange(min=0),
                     help="Times a failed partition or community is tried again."),
        click.option("--work-dir", type=click.Path(file_okay=False), default=None,
                     help="Intermediate results and done-markers of a partitioned run "
                          "[default: OUT/parts]; a re-run skips what is done there."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def wants_partitioned(kw: dict) -> bool:
    """Whether a ``plan`` call takes the partitioned path (cluster options or a folder)."""
    population = kw.get("population")
    return bool(kw.get("workers") or kw.get("scheduler")
                or (population and Path(population).is_dir()))


def run_partitioned(**kw) -> SimpleNamespace:
    """``gridplan plan`` on partitioned input or a cluster: plan, merge, summarise."""
    from gridplan.scale import UnitOptions, dask_client, plan_partitioned

    _refuse_unsupported(kw)
    if kw.get("verbose", 0) < 2:  # Dask's own INFO lines (here and in worker processes)
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    params = params_from(kw)
    notes = InputNotes()
    reading = layer_options(kw, params)
    communities = read_layer(kw["communities"], "communities", reading, notes=notes)
    compounds = read_optional(kw.get("compounds"), "compounds", reading, notes)
    barriers = read_optional(kw.get("barriers"), "barriers", reading, notes)
    options = UnitOptions(unit_id=reading.unit_id, households=reading.households,
                          population_field=reading.population_field,
                          household_size=reading.household_size, crs=reading.crs)
    out = Path(kw["out_dir"])
    progress = not kw.get("quiet") and sys.stderr.isatty()
    with dask_client(kw.get("workers"), kw.get("scheduler")) as client:
        outcome = plan_partitioned(kw["population"], communities, out, compounds=compounds,
                                   barriers=barriers, params=params, options=options,
                                   client=client, retries=kw.get("retries", 2),
                                   work_dir=kw.get("work_dir"), progress=progress, notes=notes)
    result = SimpleNamespace(report=outcome.report)
    if kw.get("with_map", True):
        _write_map(out, outcome.report["grids"])
    if not kw.get("quiet"):
        where = kw.get("scheduler") or (f"{kw['workers']} local worker(s)" if kw.get("workers")
                                        else "this process")
        click.echo(summary_text(result, out))
        click.echo(f"  partitioned run on {where}: {outcome.resumed} communities resumed from "
                   f"{kw.get('work_dir') or out / 'parts'}")
    return result


def _refuse_unsupported(kw: dict) -> None:
    """Options that need the whole input in one process."""
    if (kw.get("workers") or kw.get("scheduler")) and geometry_limits() != GeometryLimits():
        raise InputError("the vertex limits can be changed only for a run in this process",
                         field="--max-feature-vertices",
                         fix="plan without --workers/--scheduler, or simplify the features "
                             "over the default limits")
    if kw.get("osm"):
        raise InputError("--osm reads one extract in one process", field="--osm",
                         fix="plan it without --workers/--scheduler, or convert its buildings "
                             "to --population files")
    if not kw.get("population"):
        raise InputError("no population input", field="--population",
                         fix="pass --population FILE or FOLDER of partition files")
    if not kw.get("communities"):
        raise InputError("partitioned planning needs community boundaries", field="--communities",
                         fix="pass --communities FILE (communities are derived only in one "
                             "process, without --workers/--scheduler)")
    if datum_for(kw.get("datum"), "population") != "wgs84":
        raise InputError("a population datum other than WGS84 is not supported with "
                         "partitioned input or a cluster yet", field="--datum",
                         fix="convert the partition files to WGS84 first, or plan one "
                             "--population file without --workers/--scheduler")
    for option, name in (("dedicated_path", "--dedicated"), ("previous_dir", "--previous")):
        if kw.get(option):
            raise InputError(f"{name} is not supported with partitioned input or a cluster yet",
                             field=name, fix=f"plan without --workers/--scheduler and with "
                                             f"one --population file to use {name}")
    if kw.get("special_path"):
        raise InputError("--special is used only with --balance workload, which needs every "
                         "unit at once", field="--special",
                         fix="plan without --workers/--scheduler")


def _write_map(out: Path, grids: int) -> None:
    """map.html from the merged plan, when it is small enough to view in a browser."""
    if grids > MAP_MAX_GRIDS:
        log.warning("map.html not written: %d grids is too many for a browser map; open "
                    "plan.gpkg in QGIS", grids)
        return
    from gridplan.maps.coverage import save_plan_map

    fd, tmp = tempfile.mkstemp(prefix=".map-", suffix=".html", dir=out)
    os.close(fd)
    try:
        save_plan_map(read_plan(out), Path(tmp))
        os.replace(tmp, out / "map.html")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
