"""What every command shares: logging, the error exit, and the writers a job is given."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import click

from gridplan.errors import GridplanError
from gridplan.params import ParamError, param_fields


def setup_logging(verbose: int) -> None:
    """Log warnings, or info with ``-v``, or debug with ``-vv``."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def fail(exc: GridplanError) -> None:
    """Print ``exc`` (a parameter named by its flag) and exit with its code."""
    if isinstance(exc, ParamError) and exc.field in param_fields():
        exc = exc.spelled(param_fields()[exc.field].metadata["cli"])
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


def run_job(verbose: int, job: Callable[[], object]) -> None:
    """Set up logging and run ``job``, turning library errors into exit codes."""
    setup_logging(verbose)
    try:
        job()
    except GridplanError as exc:
        fail(exc)


def front_end(with_map: bool, quiet: bool) -> dict:
    """What the CLI gives a job: the coverage-map writer and the summary printer."""
    out: dict = {"echo": None if quiet else click.echo}
    if with_map:
        from gridplan.maps.coverage import save_plan_map  # folium only when a map is written

        out["map_writer"] = save_plan_map
    return out
