"""Command line: ``gridplan plan``, ``gridplan demo``."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from gridplan.cli.common import fail, front_end, setup_logging
from gridplan.cli.map import map_cmd
from gridplan.cli.options import (
    ENCODING,
    geometry_limit_options,
    input_reading,
    param_option,
    param_options,
    population_fields,
)
from gridplan.cli.regrid import merge_cmd, microgrids_cmd, replan_cmd
from gridplan.cli.scale import run_partitioned, scale_options, wants_partitioned
from gridplan.cli.users import users_cmd
from gridplan.errors import GridplanError, InputError
from gridplan.params import param_fields
from gridplan.run import run_demo, run_plan, run_staff

# parameters offered beside the inputs they apply to (derived communities, OSM roads), on
# ``plan`` only: the demo has its communities and no OSM extract
BESIDE_INPUTS = ("community_households", "community_tolerance", "barrier_highways")

log = logging.getLogger("gridplan")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gridplan")
def main() -> None:
    """gridplan: plan community grids (网格) of about 300 households from data.

    \b
    Examples:
      gridplan demo                                  # the bundled demo district
      gridplan plan --osm area.osm.bz2 --out out/    # from an OpenStreetMap extract
      gridplan plan --communities c.gpkg --population b.gpkg --households hh --out out/
      gridplan plan --communities c.gpkg --population worldpop.tif --out out/
    """


def plan_options(f):
    """Options shared by ``plan`` and ``demo``: the plan parameters (from their metadata)."""
    names = [n for n in param_fields() if n not in BESIDE_INPUTS]
    opts = [
        *param_options(names),
        click.option("--special", "special_path", type=click.Path(dir_okay=False),
                     help="special.csv (unit_id, category, count) for --balance workload."),
        click.option("-v", "--verbose", count=True, help="More log output (-v, -vv)."),
        click.option("--quiet", is_flag=True, help="No progress bars or summary."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


@main.command("plan")
@click.option("--communities", type=click.Path(dir_okay=False),
              help="Community (社区) polygons: GeoJSON, GeoPackage, zipped Shapefile, "
                   "FlatGeobuf; FILE:LAYER reads one layer of a GeoPackage. Without it, "
                   "communities are derived from roads and rivers.")
@click.option("--community-id", default="id", show_default=True, help="Community id field.")
@click.option("--community-code", default=None,
              help="Field holding the 12-digit division code (统计用区划代码).")
@param_option("community_households")
@param_option("community_tolerance")
@click.option("--population", type=click.Path(),
              help="Buildings, points or census blocks with households or population: a "
                   "vector file (FILE:LAYER for one layer of a GeoPackage) or a CSV/.xlsx "
                   "table of points (lon/lat columns); a folder of files is planned "
                   "partition by partition; or a GeoTIFF of residents per cell (WorldPop, "
                   "GHS-POP) whose cells with residents become units.")
@click.option("--buildings", type=click.Path(dir_okay=False),
              help="With a --population GeoTIFF: building footprints that share each cell's "
                   "residents by footprint area (× building:levels/levels if given); cells "
                   "without buildings stay units.")
@population_fields
@click.option("--osm", type=click.Path(dir_okay=False),
              help="OpenStreetMap extract (.osm.pbf, .osm, .osm.bz2): buildings, compounds, "
                   "roads, rivers.")
@click.option("--compounds", type=click.Path(dir_okay=False),
              help="Residential compound (小区) polygons kept whole where they fit.")
@click.option("--barriers", type=click.Path(dir_okay=False),
              help="Roads, railways, rivers (lines) that grids follow.")
@param_option("barrier_highways")
@click.option("--dwelling-area", default=90.0, show_default=True,
              help="m² per dwelling when estimating households from OSM footprints.")
@click.option("--dedicated", "dedicated_path", type=click.Path(dir_okay=False),
              help="Polygons of schools, hospitals, markets, parks... that each get a "
                   "dedicated grid (专属网格); optional fields site_id, kind, name.")
@click.option("--previous", "previous_dir", type=click.Path(file_okay=False),
              help="Folder of an earlier plan: grids keep the serials of the earlier grids "
                   "they overlap most; new grids get the next free serials.")
@click.option("--crs", default=None,
              help="CRS for input files that declare none, e.g. EPSG:4326 (tables of "
                   "points: the CRS of their x/y columns, default EPSG:4326).")
@input_reading
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder.")
@click.option("--map/--no-map", "with_map", default=True, show_default=True,
              help="Also write map.html.")
@plan_options
@scale_options
@geometry_limit_options
def plan_cmd(**kw) -> None:
    """Plan grids for every community and write grids, units, GeoPackage and report."""
    setup_logging(kw["verbose"])

    try:
        if wants_partitioned(kw):
            run_partitioned(**kw)
        else:
            run_plan(**kw, **front_end(kw.pop("with_map"), kw["quiet"]))
    except GridplanError as exc:
        fail(exc)


@main.command("demo")
@click.option("--out", "out_dir", default="out/demo", show_default=True,
              type=click.Path(file_okay=False), help="Output folder.")
@click.option("--data", "data_dir", default=None, type=click.Path(file_okay=False),
              help="Demo data folder (default: the bundled data/boundaries).")
@plan_options
def demo_cmd(out_dir: str, data_dir: str | None, **kw) -> None:
    """Plan the bundled demo district end to end and write the outputs and a map."""
    setup_logging(kw["verbose"])

    try:
        run_demo(out_dir=Path(out_dir), data_dir=data_dir, **kw, **front_end(True, kw["quiet"]))
    except GridplanError as exc:
        fail(exc)


@main.command("staff")
@click.option("--plan", "plan_dir", required=True, type=click.Path(file_okay=False),
              help="Folder of a plan (the --out of `gridplan plan`).")
@click.option("--workers", "workers_path", required=True, type=click.Path(dir_okay=False),
              help="workers.csv: worker_id, name, community_id, optional lon, lat, "
                   "capacity_hours (per month, default 160).")
@click.option("--special", "special_path", type=click.Path(dir_okay=False),
              help="special.csv: unit_id, category, count (elderly_alone, high_risk_elderly, "
                   "disabled, dibao, floating, correction, other).")
@click.option("--osm", "osm_path", type=click.Path(dir_okay=False),
              help="OSM extract whose street network measures walking tours.")
@click.option("--workers-per-10k", "per_10k", default=18.0, show_default=True,
              help="Staffing norm: workers per 10,000 residents.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (may be the plan folder).")
@click.option("--map/--no-map", "with_map", default=True, show_default=True,
              help="Also write map.html with workloads and workers.")
@ENCODING
@click.option("-v", "--verbose", count=True, help="More log output (-v, -vv).")
@click.option("--quiet", is_flag=True, help="No summary.")
def staff_cmd(verbose: int, quiet: bool, with_map: bool, **kw) -> None:
    """Workloads, staffing norm and worker assignment (min-cost flow) for a plan."""
    setup_logging(verbose)

    try:
        run_staff(**kw, **front_end(with_map, quiet))
    except GridplanError as exc:
        fail(exc)


# top-level modules of the [api] extra (and what they bring): missing → install gridplan[api]
API_MODULES = {"fastapi", "starlette", "uvicorn", "multipart", "python_multipart", "pydantic",
               "pydantic_settings", "sqlalchemy", "geoalchemy2", "alembic", "psycopg"}


def _without_api(exc: ModuleNotFoundError) -> InputError:
    """The error for ``serve`` without the web stack; any other missing module is re-raised."""
    if (exc.name or "").split(".")[0] not in API_MODULES:
        raise exc
    return InputError(f"the web service needs the [api] extra (module {exc.name} is not "
                      "installed)", fix='install gridplan[api]: pip install "gridplan[api]" '
                      '(from a checkout: pip install -e ".[api]")')


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="Folder for the SQLite store, layers and the generated API key "
                   "[default: GRIDPLAN_DATA_DIR or ./gridplan-data].")
@click.option("--demo/--no-demo", default=True, show_default=True,
              help="Store the bundled demo district as plan 'demo' at start.")
@click.option("--plan", "plan_dirs", multiple=True, type=click.Path(file_okay=False,
                                                                    exists=True),
              help="A folder written by `gridplan plan` to store for browsing and editing "
                   "(its id is the folder name; a stored plan is never replaced). Repeatable.")
@click.option("-v", "--verbose", count=True, help="More log output (-v, -vv).")
def serve_cmd(host: str, port: int, data_dir: str | None, demo: bool,
              plan_dirs: tuple[str, ...], verbose: int) -> None:
    """Run the web service (API, OGC API Features, editor). PostgreSQL/PostGIS: set
    GRIDPLAN_DATABASE_URL=postgresql+psycopg://user:pass@host/db."""
    try:
        import uvicorn

        from gridplan.api.app import create_app
        from gridplan.api.demo import ensure_demo
        from gridplan.api.imports import store_plan_dir
        from gridplan.api.settings import Settings
    except ModuleNotFoundError as exc:
        fail(_without_api(exc))

    setup_logging(max(verbose, 1))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    try:
        app = create_app(settings)
        if demo:
            ensure_demo(app.state.store)
        for folder in plan_dirs:
            info = store_plan_dir(app.state.store, folder)
            click.echo(f"plan {info['id']}: http://{host}:{port}/plans/{info['id']}/editor")
    except GridplanError as exc:
        fail(exc)
    click.echo(f"gridplan service: http://{host}:{port}/docs  (plans: /plans, QGIS: "
               f"http://{host}:{port}/)")
    uvicorn.run(app, host=host, port=port, log_level="info" if verbose else "warning")



main.add_command(microgrids_cmd)
main.add_command(merge_cmd)
main.add_command(replan_cmd)
main.add_command(map_cmd)
main.add_command(users_cmd)

if __name__ == "__main__":
    main()
