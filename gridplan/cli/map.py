"""Command line: ``gridplan map``, the coverage map of a plan folder as one offline HTML file."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from gridplan.cli.common import fail, setup_logging
from gridplan.errors import GridplanError, InputError
from gridplan.export.folder import read_plan
from gridplan.layers.osm import read_osm
from gridplan.layers.vector import read_vector
from gridplan.workforce.workload import walking_network

log = logging.getLogger(__name__)


def parse_bands(text: str) -> tuple[float, ...]:
    """``"500,1000,1500"`` → ``(500.0, 1000.0, 1500.0)``, or an :class:`InputError`.

    Examples
    --------
    >>> parse_bands("500, 1000")
    (500.0, 1000.0)
    """
    try:
        bands = tuple(sorted(float(v) for v in text.split(",") if v.strip()))
    except ValueError:
        bands = ()
    if not bands or bands[0] <= 0:
        raise InputError(f"bad walking bands {text!r}", field="--bands",
                         fix="give positive metres separated by commas, e.g. 500,1000,1500")
    return bands


@click.command("map")
@click.option("--plan", "plan_dir", required=True, type=click.Path(file_okay=False),
              help="Folder of a plan (the --out of `gridplan plan`).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="HTML file to write (replaced only once complete).")
@click.option("--lang", default="zh", show_default=True, type=click.Choice(["zh", "en"]),
              help="Label language (Chinese pages name layers in English too).")
@click.option("--tiles", default="osm", show_default=True,
              help="Base map: osm, none (no internet needed), amap (Gaode, GCJ-02) or a tile "
                   "URL such as http://intranet/tiles/{z}/{x}/{y}.png.")
@click.option("--gcj02", is_flag=True,
              help="Shift overlays to GCJ-02 for a GCJ-02 base map given by URL "
                   "(implied by --tiles amap).")
@click.option("--centres", type=click.Path(dir_okay=False),
              help="Service centre points (with community_id, or placed by location). "
                   "Without it each community's most central unit stands in.")
@click.option("--barriers", type=click.Path(dir_okay=False),
              help="Roads, railways, rivers (lines) to draw (default: those of --osm).")
@click.option("--osm", "osm_path", type=click.Path(dir_okay=False),
              help="OSM extract: walking bands follow its street network "
                   "(else straight line × 1.3).")
@click.option("--bands", default="500,1000,1500", show_default=True,
              help="Walking-distance bands from the service points, metres.")
@click.option("--simplify", "simplify_m", default=1.0, show_default=True,
              help="Simplify drawn polygons to this many metres (0: every vertex).")
@click.option("--units/--no-units", "units", default=None,
              help="Draw the buildings/units layer (default: only up to 20,000 units; the "
                   "legend says when it is left out).")
@click.option("-v", "--verbose", count=True, help="More log output (-v, -vv).")
def map_cmd(plan_dir: str, out_path: str, lang: str, tiles: str, gcj02: bool,
            centres: str | None, barriers: str | None, osm_path: str | None, bands: str,
            simplify_m: float, units: bool | None, verbose: int) -> None:
    """Write a plan's coverage map (网格覆盖图): one HTML file that opens offline.

    \b
    Examples:
      gridplan map --plan out/ --out map.html
      gridplan map --plan out/ --out map.html --lang en --tiles none
      gridplan map --plan out/ --out map.html --tiles amap --osm area.osm.bz2
    """
    setup_logging(verbose)
    try:
        path = write_map(plan_dir, out_path, lang=lang, tiles=tiles, gcj02=gcj02,
                         centres=centres, barriers=barriers, osm_path=osm_path,
                         bands=parse_bands(bands), simplify_m=simplify_m, units=units)
    except GridplanError as exc:
        fail(exc)
    click.echo(f"wrote {path} ({path.stat().st_size / 1024:.0f} kB)")


def write_map(plan_dir, out_path, *, lang: str = "zh", tiles: str = "osm", gcj02: bool = False,
              centres=None, barriers=None, osm_path=None, bands=(500.0, 1000.0, 1500.0),
              simplify_m: float = 1.0, units: bool | None = None) -> Path:
    """Read a plan folder and the optional layers, and write its coverage map.

    Examples
    --------
    >>> write_map("out/demo", "/tmp/map.html", tiles="none")  # doctest: +SKIP
    PosixPath('/tmp/map.html')
    """
    from gridplan.maps.coverage import MapOptions, save_plan_map, tile_layer

    tile_layer(tiles)  # refuse a bad --tiles before any work
    if simplify_m < 0:
        raise InputError("negative simplification", field="--simplify", fix="give 0 or more")
    out = Path(out_path)
    if not out.parent.exists():
        raise InputError("the output folder does not exist", source=str(out.parent),
                         fix="create it or choose another --out")
    plan = read_plan(plan_dir)
    street = osm_barriers = None
    if osm_path:

        street = walking_network(osm_path, plan.crs)
        if not barriers:
            osm_barriers = read_osm(osm_path, barrier_highways=plan.params.barrier_highways
                                    ).barriers
    opts = MapOptions(tiles=tiles, gcj02=gcj02, bands_m=tuple(bands), simplify_m=simplify_m,
                      centres=read_vector(centres, what="service centres") if centres else None,
                      barriers=(read_vector(barriers, what="barriers") if barriers
                                else osm_barriers),
                      street=street, units=units)
    return save_plan_map(plan, out, lang=lang, options=opts)
