"""CLI options shared by several commands, and the plan parameters' options."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import click

from gridplan.params import param_fields

POPULATION_FIELDS = [
    click.option("--unit-id", default="unit_id", show_default=True, help="Unit id field."),
    click.option("--households", "households_field", default=None,
                 help="Field with households per unit."),
    click.option("--population-field", default=None,
                 help="Field with residents per unit (households = residents ÷ household "
                      "size)."),
    click.option("--household-size", default=2.6, show_default=True,
                 help="Residents per household, with --population-field."),
]


ENCODING = click.option(
    "--encoding", default=None,
    help="Text encoding of CSV tables and Shapefile attributes, e.g. gbk [default: UTF-8 "
         "with or without BOM, else GB18030].")

INPUT_READING = [
    ENCODING,
    click.option("--datum", default="wgs84", show_default=True,
                 help="Datum of lon/lat inputs, converted to WGS84 on read: wgs84 (GPS, OSM, "
                      "天地图), gcj02 (高德 Amap, 腾讯 Tencent), bd09 (百度 Baidu)."),
    click.option("--x-field", default=None,
                 help="Longitude/x column of a CSV or Excel table of points [default: lon, "
                      "lng, longitude, x or 经度]."),
    click.option("--y-field", default=None,
                 help="Latitude/y column of a CSV or Excel table of points [default: lat, "
                      "latitude, y or 纬度]."),
]


def input_reading(f):
    """The options on how input files are read (encoding, datum, coordinate columns)."""
    for option in reversed(INPUT_READING):
        f = option(f)
    return f


def population_fields(f):
    """The options naming a population layer's fields (shared by plan and replan)."""
    for option in reversed(POPULATION_FIELDS):
        f = option(f)
    return f


def param_option(name: str) -> Callable:
    """The click option of the :class:`~gridplan.params.PlanParams` field ``name``.

    Flag, default, help and choices come from the field's metadata; a list-valued
    field is one separated string (``--dedicated-tags amenity=school,shop=mall``),
    which :func:`gridplan.params.params_from` splits.

    Examples
    --------
    >>> opt = param_option("tessellation")(lambda **kw: None).__click_params__[0]
    >>> opt.opts, opt.default, list(opt.type.choices)
    (['--tessellation'], 'auto', ['auto', 'footprint', 'centroid'])
    """
    f = param_fields()[name]
    meta = f.metadata
    default = f.default
    if "list_sep" in meta:
        default = meta["list_sep"].join(default)
    extra = {"type": click.Choice(list(meta["choices"]))} if "choices" in meta else {}
    return click.option(meta["cli"], name, default=default, show_default=True,
                        help=meta["help"], **extra)


def param_options(names: Iterable[str]) -> list[Callable]:
    """The click options of the parameters ``names``, in that order."""
    return [param_option(n) for n in names]
