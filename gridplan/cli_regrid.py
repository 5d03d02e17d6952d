"""Command line for changing a plan: ``gridplan microgrids``, ``merge`` and ``replan``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gridplan.errors import GridplanError


def _run(verbose: int, job) -> None:
    """Set up logging and run ``job``, turning library errors into exit codes."""
    from gridplan.cli import _fail, _setup_logging

    _setup_logging(verbose)
    try:
        job()
    except GridplanError as exc:
        _fail(exc)


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
        from gridplan.export import read_plan
        from gridplan.microgrids import MicroParams, plan_microgrids, summary_text, write_microgrids

        params = MicroParams(target=target, lower=lower, upper=upper,
                             stairwell_households=stairwell_households)
        micro = plan_microgrids(read_plan(plan_dir), params, progress=_progress(quiet))
        out = Path(out_dir or plan_dir)
        write_microgrids(micro, out, with_map=with_map)
        if not quiet:
            click.echo(summary_text(micro, out))

    _run(verbose, job)
