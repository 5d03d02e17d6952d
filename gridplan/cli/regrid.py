"""Command line for changing a plan: ``gridplan microgrids``, ``merge`` and ``replan``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gridplan.cli.common import run_job
from gridplan.cli.options import geometry_limit_options, input_reading, population_fields
from gridplan.errors import InputError
from gridplan.export.folder import read_plan, write_plan
from gridplan.layers.load import LayerOptions, load_inputs, read_layer, read_optional
from gridplan.layers.vector import InputNotes

# the engine and gridplan.practice (scipy.optimize, numba) are imported by the commands that
# run them, so that every other command (``staff``, ``map``) starts without them


def _progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


@click.command("microgrids")
@click.option("--plan", "plan_dir", required=True, type=click.Path(file_okay=False),
              help="Folder of a plan (the --out of `gridplan plan`).")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Output folder [default: the plan folder].")
@click.option("--target", default=55, show_default=True,
              help="Households per micro-grid (微网格) aimed at.")
@click.option("--min", "lower", default=30, show_default=True,
              help="Fewest households of an in-band micro-grid.")
@click.option("--max", "upper", default=80, show_default=True,
              help="Most households of an in-band micro-grid; buildings above it are split "
                   "by stairwell (单元).")
@click.option("--stairwell-households", default=30, show_default=True,
              help="Households per stairwell sub-unit when one building exceeds --max.")
@click.option("--map/--no-map", "with_map", default=True, show_default=True,
              help="Also write microgrids_map.html.")
@click.option("-v", "--verbose", count=True, help="More log output (-v, -vv).")
@click.option("--quiet", is_flag=True, help="No progress bars or summary.")
def microgrids_cmd(plan_dir: str, out_dir: str | None, target: int, lower: int, upper: int,
                   stairwell_households: int, with_map: bool, verbose: int,
                   quiet: bool) -> None:
    """Split every grid of a plan into micro-grids of 30–80 households for liaisons (联户长).

    \b
    Example:
      gridplan microgrids --plan out/demo              # writes microgrids.* into out/demo
    """
    def job() -> None:
        from gridplan.practice import microgrids

        params = microgrids.MicroParams(target=target, lower=lower, upper=upper,
                             stairwell_households=stairwell_households)
        micro = microgrids.plan_microgrids(read_plan(plan_dir), params, progress=_progress(quiet))
        out = Path(out_dir or plan_dir)
        maps = {}
        if with_map:
            from gridplan.maps.coverage import save_plan_map

            maps["microgrids_map.html"] = lambda path: save_plan_map(micro.as_plan(), path)
        microgrids.write_microgrids(micro, out, extra=maps)
        if not quiet:
            click.echo(microgrids.summary_text(micro, out))

    run_job(verbose, job)


@click.command("replan")
@click.option("--plan", "plan_dir", required=True, type=click.Path(file_okay=False),
              help="Folder of the plan in force (the --out of `gridplan plan`).")
@click.option("--population", required=True, type=click.Path(dir_okay=False),
              help="The new buildings, points or blocks with households (same ids as before "
                   "for units that stayed).")
@population_fields
@click.option("--lock", default="", help="Comma-separated grid codes never to change (a true "
              "'locked' column in the plan's grids locks them too).")
@click.option("--max-moved", type=click.IntRange(min=0), default=None,
              help="Most existing households that may change grid [default: no limit; the "
                   "fewest needed are moved either way].")
@click.option("--compounds", type=click.Path(dir_okay=False),
              help="Compound (小区) polygons, kept whole where grids are redrawn.")
@click.option("--barriers", type=click.Path(dir_okay=False),
              help="Roads, railways, rivers followed where grids are redrawn.")
@click.option("--crs", default=None, help="CRS for input files that declare none.")
@input_reading
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Output folder [default: <plan>/replan].")
@click.option("--compare/--no-compare", default=True, show_default=True,
              help="Also plan from scratch and report what that would move.")
@click.option("--map/--no-map", "with_map", default=True, show_default=True,
              help="Also write diff_map.html.")
@click.option("-v", "--verbose", count=True, help="More log output (-v, -vv).")
@click.option("--quiet", is_flag=True, help="No summary.")
@geometry_limit_options
def replan_cmd(plan_dir: str, population: str, unit_id: str, households_field: str | None,
               population_field: str | None, household_size: float, lock: str,
               max_moved: int | None, compounds: str | None, barriers: str | None,
               crs: str | None, encoding: str | None, datum: str, x_field: str | None,
               y_field: str | None, out_dir: str | None, compare: bool, with_map: bool,
               verbose: int, quiet: bool) -> None:
    """Re-plan after households change, moving as few households as possible.

    Grids still in band keep their codes and boundaries, locked grids never change,
    new grids take the next free serial. Writes the new plan, changes.csv (unit, old
    grid, new grid, households) and diff_map.html, and compares with a fresh plan.

    \b
    Example:
      gridplan replan --plan out/demo --population new.gpkg --households households \\
                      --lock 990101001001003 --max-moved 300 --out out/replan
    """
    def job() -> None:
        from gridplan.practice import replan as replanning

        old = read_plan(plan_dir)
        notes = InputNotes()
        options = LayerOptions(crs=crs, unit_id=unit_id, households=households_field,
                               population_field=population_field,
                               household_size=household_size, encoding=encoding,
                               datum=datum, x_field=x_field, y_field=y_field)
        units = read_layer(population, "population", options, notes=notes)
        result = replanning.replan(old, units, lock=lock.split(","), max_moved=max_moved,
                        compounds=read_optional(compounds, "compounds", options, notes),
                        barriers=read_optional(barriers, "barriers", options, notes),
                        compare=compare, notes=notes)
        out = Path(out_dir) if out_dir else Path(plan_dir) / "replan"
        maps = {}
        if with_map:
            from gridplan.maps.diff import save_diff_map

            maps["diff_map.html"] = lambda path: save_diff_map(result.plan, result.old,
                                                               result.changes, path)
        replanning.write_replan(result, out, maps=maps)
        if not quiet:
            click.echo(replanning.summary_text(result, out))

    run_job(verbose, job)


@click.command("merge")
@click.option("--layers", "layers", multiple=True, type=click.Path(dir_okay=False),
              help="Department grid layers (any CRS): --layers a.gpkg b.gpkg ...")
@click.argument("more_layers", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--names", default=None,
              help="Comma-separated department names, one per layer [default: file names].")
@click.option("--id-field", default=None,
              help="Field holding each department grid's id [default: the first of grid_code, "
                   "grid_id, code, id, name].")
@click.option("--plan", "plan_dir", default=None, type=click.Path(file_okay=False),
              help="Plan whose grids become the unified grids.")
@click.option("--population", type=click.Path(dir_okay=False),
              help="Without --plan: units to plan the unified grids from.")
@click.option("--households", "households_field", default="households", show_default=True,
              help="With --population: field with households per unit.")
@click.option("--unit-id", default="unit_id", show_default=True,
              help="With --population: unit id field.")
@click.option("--communities", type=click.Path(dir_okay=False),
              help="With --population: community polygons (derived when absent).")
@click.option("--community-id", default="id", show_default=True, help="Community id field.")
@click.option("--community-code", default=None, help="Field with the 12-digit division code.")
@click.option("--crs", default=None, help="CRS for input files that declare none.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Output folder [default: the plan folder; required without --plan].")
@click.option("-v", "--verbose", count=True, help="More log output (-v, -vv).")
@click.option("--quiet", is_flag=True, help="No summary.")
@geometry_limit_options
def merge_cmd(layers: tuple[str, ...], more_layers: tuple[str, ...], names: str | None,
              id_field: str | None, plan_dir: str | None, out_dir: str | None, verbose: int,
              quiet: bool, **inputs) -> None:
    """Merge departments' grid layers into one (多网合一): overlaps, gaps, conflicts, crosswalk.

    Each department's grids are overlaid on the communities and units of a plan:
    per community, households and area covered twice (overlaps) or not at all (gaps)
    and department grids crossing community boundaries (conflicts). The plan's grids
    are the unified layer; crosswalk.csv maps every old grid to new grids with the
    share of its households, so each department can re-map its records.

    \b
    Examples:
      gridplan merge --layers zongzhi.gpkg chengguan.gpkg minzheng.gpkg --plan out/demo
      gridplan merge --layers a.gpkg b.gpkg --population buildings.gpkg --out out/merged
    """
    def job() -> None:
        from gridplan.practice import merge as departments

        paths = [*layers, *more_layers]
        labels = [n.strip() for n in names.split(",")] if names else [None] * len(paths)
        if len(labels) != len(paths):
            raise InputError(f"{len(labels)} names for {len(paths)} layers", field="--names",
                             fix="give one name per layer, separated by commas")
        depts = dict(departments.read_department(p, id_field=id_field, name=n)
                     for p, n in zip(paths, labels, strict=True))
        if len(depts) != len(paths):
            raise InputError("two layers have the same department name", field="--names",
                             fix="give distinct --names")
        plan_, out = _merge_plan(plan_dir, out_dir, inputs)
        result = departments.merge_departments(plan_, depts)
        departments.write_merge(result, out)
        if not quiet:
            click.echo(departments.summary_text(result, out))

    run_job(verbose, job)


def _merge_plan(plan_dir: str | None, out_dir: str | None, inputs: dict):
    """The plan to merge onto: read from --plan, or made (and written) from --population."""
    if plan_dir:
        return read_plan(plan_dir), Path(out_dir or plan_dir)
    if not inputs.get("population") or not out_dir:
        raise InputError("no plan to merge onto", field="--plan",
                         fix="pass --plan DIR, or --population FILE with --out DIR")
    from gridplan.engine.pipeline import plan

    plan_ = plan(**load_inputs(dict(inputs, population_field=None)))  # default parameters
    write_plan(plan_, out_dir)
    return plan_, Path(out_dir)
