"""CLI options shared by several commands, and the plan parameters' options."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import fields

import click

from gridplan.layers.vector import GeometryLimits, limited_geometry
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


# GeometryLimits field → (flag, help); the service sets the same limits as
# GRIDPLAN_MAX_FEATURE_VERTICES, GRIDPLAN_MAX_LAYER_VERTICES, GRIDPLAN_MAX_REPAIR_VERTICES
GEOMETRY_LIMITS = {
    "feature_vertices": ("--max-feature-vertices",
                         "Most vertices of one feature of an input layer; a layer with a "
                         "larger feature is refused (exit 2) naming it."),
    "layer_vertices": ("--max-layer-vertices", "Most vertices of one input layer."),
    "repair_vertices": ("--max-repair-vertices",
                        "Most vertices of an invalid (e.g. self-intersecting) polygon that is "
                        "repaired; a larger one is refused (its repair takes from seconds to "
                        "hours)."),
}


def geometry_limit_options(f):
    """The vertex limits (:class:`~gridplan.layers.vector.GeometryLimits`) as options
    ``--max-feature-vertices``, ``--max-layer-vertices`` and ``--max-repair-vertices``;
    the command runs with its layers held to them.

    Examples
    --------
    >>> cmd = click.command()(geometry_limit_options(lambda: None))
    >>> [(o.opts[0], o.default) for o in cmd.params]  # doctest: +NORMALIZE_WHITESPACE
    [('--max-feature-vertices', 1000000), ('--max-layer-vertices', 200000000),
     ('--max-repair-vertices', 20000)]
    """
    defaults = GeometryLimits()

    @functools.wraps(f)
    def limited(*args, **kw):
        limits = GeometryLimits(**{name: kw.pop("max_" + name) for name in GEOMETRY_LIMITS})
        with limited_geometry(limits):
            return f(*args, **kw)

    for field in reversed(fields(GeometryLimits)):
        flag, text = GEOMETRY_LIMITS[field.name]
        limited = click.option(flag, "max_" + field.name, type=click.IntRange(min=4),
                               default=getattr(defaults, field.name), show_default=True,
                               help=text)(limited)
    return limited
