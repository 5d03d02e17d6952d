"""Input loading: the one place where gridplan reads a layer a user names.

Every front-end reads its inputs through this module, so a file is checked the
same way wherever it is given: ``gridplan plan`` and the web API's plan jobs
(:func:`load_inputs`), partitioned runs, ``gridplan replan``, ``gridplan staff``
and the web API's layer uploads (:func:`read_layer`).

Kinds of layer and the :class:`LayerOptions` fields each one uses:

============  ============================================  ===================================
kind          options                                       returns
============  ============================================  ===================================
communities   id_field, code_field, scheme                  ``prepare_communities`` frame
population    unit_id, households,                          ``prepare_units`` frame (checked)
              population_field, household_size,
              buildings (with a GeoTIFF)
compounds                                                   ``prepare_compounds`` frame
barriers                                                    ``prepare_barriers`` frame
dedicated                                                   ``prepare_sites`` frame
osm           dwelling_area, barrier_highways,              the buildings as units (see
              dedicated_tags                                :func:`read_osm_layers`)
special       unit_ids, workload, encoding                  ``read_special`` table
workers       community_ids, encoding                       ``read_workers`` table
============  ============================================  ===================================

Every vector kind also reads ``crs``, ``layer``, ``encoding``, ``datum``, ``x_field`` and
``y_field``: a file is a vector file (GeoJSON, GeoPackage, Shapefile...), or a CSV or
Excel table of points (:mod:`gridplan.layers.tables`); ``file.gpkg:layer`` (or
``table.xlsx:sheet``) names the layer of a multi-layer file; a layer in GCJ-02 or BD-09
(``datum``) is converted to WGS84 as it is read (:mod:`gridplan.layers.datum`).

A population layer may also be a GeoTIFF of residents per cell (WorldPop, GHS-POP;
recognised by ``.tif``/``.tiff`` or its first bytes): its cells, or the ``buildings``
footprints that share their residents, become units (:mod:`gridplan.layers.raster`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyproj

from gridplan.errors import InputError
from gridplan.export.folder import read_plan
from gridplan.layers.datum import datum_for, to_wgs84
from gridplan.layers.osm import read_osm, study_area
from gridplan.layers.population import prepare_units
from gridplan.layers.prepare import prepare_barriers, prepare_communities, prepare_compounds
from gridplan.layers.raster import is_raster, raster_units
from gridplan.layers.sites import prepare_sites
from gridplan.layers.special import read_special
from gridplan.layers.tables import (
    CSV_SUFFIXES,
    is_table,
    points_from_table,
    read_csv,
    read_excel,
)
from gridplan.layers.vector import (
    InputNotes,
    check_layer,
    read_vector,
    source_of,
    split_layer,
)
from gridplan.layers.workers import read_workers
from gridplan.params import DEFAULT_BARRIER_HIGHWAYS, PlanParams, WorkloadParams, params_from

log = logging.getLogger(__name__)

VECTOR_KINDS = ("communities", "population", "compounds", "barriers", "dedicated")
TABLE_KINDS = ("special", "workers")
KINDS = (*VECTOR_KINDS, "osm", *TABLE_KINDS)


@dataclass(frozen=True)
class LayerOptions:
    """How to read a layer; each kind uses its own fields and ignores the others.

    Attributes
    ----------
    crs : str, optional
        Vector kinds: the CRS of a file that declares none (e.g. ``"EPSG:4326"``); for
        a table of points, the CRS of its coordinates (default EPSG:4326).
    layer : str, optional
        Vector kinds: the layer to read in a multi-layer file (GeoPackage), or the sheet
        of an Excel workbook; ``path:layer`` says the same.
    encoding : str, optional
        Text encoding of CSV tables and Shapefile attributes (e.g. ``"gbk"``); by
        default UTF-8 (with or without BOM), else GB18030.
    datum : str
        Vector kinds: ``wgs84`` (default), ``gcj02`` (Amap, Tencent) or ``bd09``
        (Baidu), converted to WGS84 on read; one datum for every layer, or
        ``kind=datum`` pairs (``"population=gcj02"``; layers not named are WGS84).
    x_field, y_field : str, optional
        Tables of points: the longitude/x and latitude/y columns (default: found by
        name, e.g. lon/lng/经度 and lat/纬度).
    id_field, code_field, scheme : str
        Communities: id field, 12-digit division code field, grid code scheme.
    unit_id, households, population_field, household_size
        Population: unit id field; households field, or residents field divided by
        ``household_size`` (see :func:`gridplan.layers.population.prepare_units`).
    buildings : str, optional
        Population rasters: a vector file of building footprints that receive the
        residents of the cells they cover (``building:levels``/``levels`` weigh them).
    dwelling_area, barrier_highways, dedicated_tags
        OSM extracts: m² per dwelling, highway values read as barriers, tags of
        dedicated sites (none by default).
    unit_ids : sequence of str, optional
        Special populations: the plan's building ids; ``None`` accepts the file's own.
    community_ids : sequence of str, optional
        Workers: the plan's community ids; ``None`` accepts the file's own.
    workload : WorkloadParams, optional
        Special populations: the categories and their rates (defaults when ``None``).

    Examples
    --------
    >>> LayerOptions(crs="EPSG:4326", households="hh").unit_id
    'unit_id'
    """

    crs: str | None = None
    layer: str | None = None
    encoding: str | None = None
    datum: str = "wgs84"
    x_field: str | None = None
    y_field: str | None = None
    id_field: str = "id"
    code_field: str | None = None
    scheme: str = "nbs12+3"
    unit_id: str = "unit_id"
    households: str | None = None
    population_field: str | None = None
    household_size: float = 2.6
    buildings: str | None = None
    dwelling_area: float = 90.0
    barrier_highways: Sequence[str] = DEFAULT_BARRIER_HIGHWAYS
    dedicated_tags: Sequence[str] = ()
    unit_ids: Any = None
    community_ids: Any = None
    workload: WorkloadParams | None = None


# LayerOptions field → the ``plan`` option that sets it (a CLI ``kw`` or a job's parameters)
PLAN_OPTIONS = {"crs": "crs", "id_field": "community_id", "code_field": "community_code",
                "unit_id": "unit_id", "households": "households_field",
                "population_field": "population_field", "household_size": "household_size",
                "dwelling_area": "dwelling_area", "encoding": "encoding", "datum": "datum",
                "x_field": "x_field", "y_field": "y_field",
                "buildings": "buildings"}


def layer_options(kw: dict, params: PlanParams | None = None) -> LayerOptions:
    """The reading options that the ``plan`` options (CLI ``kw`` or a job's) name.

    Examples
    --------
    >>> opts = layer_options({"community_id": "code", "households_field": "hh"})
    >>> opts.id_field, opts.households, opts.scheme
    ('code', 'hh', 'nbs12+3')
    """
    params = params or params_from(kw)
    given = {field: kw[option] for field, option in PLAN_OPTIONS.items()
             if kw.get(option) is not None}
    return LayerOptions(**given, scheme=params.code_scheme,
                        barrier_highways=params.barrier_highways,
                        dedicated_tags=params.dedicated_tags)


def read_frame(path: str | Path, what: str, *, crs: str | None = None,
               layer: str | None = None, source: str | None = None,
               options: LayerOptions | None = None, notes: InputNotes | None = None,
               kind: str | None = None) -> gpd.GeoDataFrame:
    """A vector file or a table of points as read, in WGS84 when its datum is GCJ-02 or
    BD-09, given ``crs`` when it declares none (no checks yet).

    ``source`` is how messages name the file (default: its path); ``options`` gives the
    encoding, datum and coordinate columns (:class:`LayerOptions`); ``notes`` receives
    how the file was read.

    Examples
    --------
    >>> read_frame("missing.gpkg", "communities")
    Traceback (most recent call last):
    ...
    gridplan.errors.InputError: missing.gpkg: file not found. Fix: check the path given for \
the communities layer
    """
    options = options or LayerOptions()
    crs = checked_crs(crs or options.crs)
    layer = layer or options.layer
    notes = notes if notes is not None else InputNotes()
    datum = datum_for(options.datum, kind or what, source=str(source or path),
                      kinds=VECTOR_KINDS)
    file, named = split_layer(path)
    if is_table(file):
        gdf = _read_table(file, what, options, notes, source=source, crs=crs,
                          layer=layer or named)
    else:
        gdf = read_vector(path, what=what, layer=layer, encoding=options.encoding,
                          notes=notes, kind=kind, source=source)
    if source is not None:
        gdf.attrs["source"] = source
    if gdf.crs is None and crs:
        gdf = gdf.set_crs(crs)
    return _to_wgs84(gdf, datum, kind or what, notes)


def checked_crs(crs: str | None) -> str | None:
    """``crs`` (a CRS given for layers that declare none) if pyproj knows it.

    Examples
    --------
    >>> checked_crs("EPSG:4326")
    'EPSG:4326'
    >>> checked_crs("EPSG:999999")
    Traceback (most recent call last):
    ...
    gridplan.errors.InputError: field --crs: unknown CRS 'EPSG:999999'. Fix: give a CRS \
pyproj knows, e.g. EPSG:4326 (longitude/latitude) or EPSG:32650 (UTM zone 50N)
    """
    if not crs:
        return crs
    try:
        pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise InputError(f"unknown CRS {crs!r}", field="--crs",
                         fix="give a CRS pyproj knows, e.g. EPSG:4326 (longitude/latitude) "
                             "or EPSG:32650 (UTM zone 50N)") from None
    return crs


def _read_table(path: Path, what: str, options: LayerOptions, notes: InputNotes, *,
                source: str | None, crs: str | None, layer: str | None) -> gpd.GeoDataFrame:
    """A CSV or Excel table of points read as a point layer."""
    src = str(source or path)
    if path.suffix.lower() in CSV_SUFFIXES:
        df, used = read_csv(path, what=what, encoding=options.encoding, source=src)
        notes.source(src, encoding=used)
    else:
        df, sheet = read_excel(path, what=what, sheet=layer, source=src)
        notes.source(src, sheet=sheet)
    gdf = points_from_table(df, what=what, x_field=options.x_field, y_field=options.y_field,
                            crs=crs, source=src)
    notes.source(src, coordinates=gdf.crs.to_string())
    return gdf


def _to_wgs84(gdf: gpd.GeoDataFrame, datum: str, kind: str,
              notes: InputNotes) -> gpd.GeoDataFrame:
    """A layer in GCJ-02 or BD-09 moved to WGS84 (EPSG:4326); WGS84 layers as they are."""
    notes.datum[kind] = datum
    if datum == "wgs84" or gdf.crs is None or len(gdf) == 0:
        return gdf
    out = gdf.to_crs(4326) if not gdf.crs.equals("EPSG:4326") else gdf.copy()
    out[out.geometry.name] = to_wgs84(out.geometry.values, datum)
    log.info("%s: converted from %s to WGS84", source_of(gdf, kind), datum)
    return out


def read_layer(path: str | Path, kind: str, options: LayerOptions | None = None, *,
               notes: InputNotes | None = None, source: str | None = None):
    """Read one layer of ``kind`` and check and prepare it as the planner uses it.

    Parameters
    ----------
    path : str or Path
        The file.
    kind : str
        One of :data:`KINDS` (see the module's table for what each returns).
    options : LayerOptions, optional
        Fields, CRS, ids to check against (defaults: :class:`LayerOptions`).
    notes : InputNotes, optional
        Receives what the checks repaired or dropped.
    source : str, optional
        How messages name the file (default: its path).

    Returns
    -------
    GeoDataFrame or DataFrame
        The prepared layer.

    Raises
    ------
    InputError
        Bad data (no CRS, swapped lat/lon, empty layer, missing fields, NaN or
        negative counts, duplicate ids...), naming the file, the field and the fix.

    Examples
    --------
    >>> units = read_layer("buildings.gpkg", "population",
    ...                    LayerOptions(households="households"))  # doctest: +SKIP
    >>> read_layer("x.gpkg", "roads")
    Traceback (most recent call last):
    ...
    gridplan.errors.InputError: x.gpkg: unknown layer kind 'roads'. Fix: read one of \
communities, population, compounds, barriers, dedicated, osm, special, workers
    """
    if kind not in _READERS:
        raise InputError(f"unknown layer kind {kind!r}", source=str(source or path),
                         fix=f"read one of {', '.join(KINDS)}")
    notes = notes if notes is not None else InputNotes()
    return _READERS[kind](path, options or LayerOptions(), notes, source)


def prepare_population(gdf: gpd.GeoDataFrame, options: LayerOptions,
                       notes: InputNotes) -> gpd.GeoDataFrame:
    """A population layer checked (CRS, emptiness, geometry) and normalised to units."""
    gdf = check_layer(gdf, what="population", notes=notes, id_field=options.unit_id)
    return prepare_units(gdf, unit_id=options.unit_id, households=options.households,
                         population_field=options.population_field,
                         household_size=options.household_size)


def read_osm_layers(path: str | Path, options: LayerOptions | None = None, *,
                    source: str | None = None):
    """An OSM extract's layers (:class:`gridplan.layers.osm.OSMLayers`) as read.

    ``source`` is how the layers name the file (default: its path).
    """
    options = options or LayerOptions()
    layers = read_osm(path, barrier_highways=options.barrier_highways,
                      dwelling_area=options.dwelling_area,
                      dedicated_tags=options.dedicated_tags)
    if source is not None:
        layers.source = source
    return layers


def osm_units(layers) -> gpd.GeoDataFrame:
    """The buildings of an OSM extract as units (households estimated from their size)."""
    units = prepare_units(layers.buildings, unit_id="unit_id", households="households")
    units.attrs["source"] = layers.source
    return units


def file_ids(path: str | Path, column: str, encoding: str | None = None) -> pd.Series:
    """The ids a table names in ``column`` (none when it has no such column or no file)."""
    try:
        ids = read_csv(path, what="table", encoding=encoding, dtype=str)[0].get(column)
    except InputError:  # the table's reader names the missing file or the encoding
        ids = None
    return ids if ids is not None else pd.Series([], dtype=str)


def _vector(kind: str) -> Callable:
    """The reader of a vector kind: read the file, then check and prepare it."""
    def read(path, options: LayerOptions, notes: InputNotes, source: str | None):
        if kind == "population" and is_raster(split_layer(path)[0]):
            return _raster_population(path, options, notes, source)
        if kind == "population" and options.buildings:
            raise InputError("--buildings shares a population raster's residents, but the "
                             "population layer is not a raster", source=str(source or path),
                             field="--buildings",
                             fix="give --population a GeoTIFF of residents per cell, or drop "
                                 "--buildings")
        gdf = read_frame(path, WHAT.get(kind, kind), source=source, options=options,
                         notes=notes, kind=kind)
        return _PREPARE[kind](gdf, options, notes)
    return read


def _raster_population(path, options: LayerOptions, notes: InputNotes,
                       source: str | None) -> gpd.GeoDataFrame:
    """A GeoTIFF of residents per cell as units (cells, or the buildings given)."""
    src = str(source or path)
    buildings = None
    if options.buildings:
        buildings = read_frame(options.buildings, "buildings", options=options, notes=notes,
                               kind="population")
        buildings = check_layer(buildings, what="buildings", notes=notes)
    units = raster_units(split_layer(path)[0], buildings, source=src, crs=options.crs,
                         id_field=options.unit_id)
    out = prepare_units(units, unit_id="unit_id", population_field="population",
                        household_size=options.household_size)
    out = check_layer(out, what="population", notes=notes)  # as every population layer read
    facts = {k: units.attrs[k] for k in ("cells", "cells_kept", "buildings_with_residents",
                                          "buildings_without_residents") if k in units.attrs}
    notes.source(src, raster=True, residents_read=round(units.attrs["residents_read"], 3),
                 households_made=int(out["households"].sum()),
                 household_size=options.household_size, **facts)
    return out


def _communities(gdf, options: LayerOptions, notes: InputNotes) -> gpd.GeoDataFrame:
    return prepare_communities(gdf, id_field=options.id_field, code_field=options.code_field,
                               scheme=options.scheme, notes=notes)


def _some(kind: str, prepare: Callable, geometry: str) -> Callable:
    """Preparing an optional context layer; a file that yields no feature is refused."""
    def prepared(gdf, options: LayerOptions, notes: InputNotes) -> gpd.GeoDataFrame:
        out = prepare(gdf, notes)
        if out is None or len(out) == 0:
            raise InputError(f"no usable {kind} geometries", source=source_of(gdf, kind),
                             fix=f"give the {kind} as {geometry}")
        return out
    return prepared


def _osm(path, options: LayerOptions, notes: InputNotes, source: str | None):
    return osm_units(read_osm_layers(path, options, source=source))


def _special(path, options: LayerOptions, notes: InputNotes, source: str | None):
    ids = (file_ids(path, "unit_id", options.encoding) if options.unit_ids is None
           else options.unit_ids)
    return read_special(path, pd.Series(list(ids), dtype=str),
                        options.workload or WorkloadParams(), encoding=options.encoding,
                        notes=notes, source=source)


def _workers(path, options: LayerOptions, notes: InputNotes, source: str | None):
    ids = (file_ids(path, "community_id", options.encoding) if options.community_ids is None
           else options.community_ids)
    return read_workers(path, pd.Series(list(ids), dtype=str), encoding=options.encoding,
                        notes=notes, source=source)


WHAT = {"dedicated": "dedicated sites"}  # how messages name a kind, where it differs
_PREPARE = {"communities": _communities, "population": prepare_population,
            "compounds": _some("compounds", prepare_compounds, "polygons"),
            "barriers": _some("barriers", prepare_barriers, "lines"),
            "dedicated": _some("dedicated sites", prepare_sites, "polygons")}
_READERS = {**{kind: _vector(kind) for kind in VECTOR_KINDS},
            "osm": _osm, "special": _special, "workers": _workers}


def read_optional(path: str | Path | None, kind: str, options: LayerOptions,
                  notes: InputNotes):
    """:func:`read_layer` for an optional input: ``None`` when no file is named."""
    return None if not path else read_layer(path, kind, options, notes=notes)


def load_inputs(kw: dict) -> dict:
    """Read every input the ``plan`` options name; returns arguments for :func:`plan`.

    Every population layer is checked here (:func:`gridplan.layers.vector.check_layer`),
    so the arguments say ``units_checked=True`` and :func:`plan` does not check it again.

    Examples
    --------
    >>> load_inputs({"communities": "c.gpkg"})
    Traceback (most recent call last):
    ...
    gridplan.errors.InputError: field --population: no population layer. Fix: pass \
--population FILE (buildings, points or blocks) or --osm FILE
    """
    params = params_from(kw)
    options = layer_options(kw, params)
    notes = InputNotes()
    if not kw.get("population") and not kw.get("osm"):
        raise InputError("no population layer", field="--population",
                         fix="pass --population FILE (buildings, points or blocks) or --osm FILE")
    osm = read_osm_layers(kw["osm"], options) if kw.get("osm") else None
    communities = read_optional(kw.get("communities"), "communities", options, notes)
    units = (read_layer(kw["population"], "population", options, notes=notes)
             if kw.get("population") else check_layer(osm_units(osm), what="population",
                                                       notes=notes))
    compounds = read_optional(kw.get("compounds"), "compounds", options, notes)
    barriers = read_optional(kw.get("barriers"), "barriers", options, notes)
    dedicated = read_optional(kw.get("dedicated_path"), "dedicated", options, notes)
    if osm is not None:
        compounds = compounds if compounds is not None else osm.compounds
        barriers = barriers if barriers is not None else osm.barriers
        if dedicated is None and len(osm.dedicated):
            dedicated = osm.dedicated
    special = (read_layer(kw["special_path"], "special",
                          replace(options, unit_ids=units["building_id"]), notes=notes)
               if kw.get("special_path") else None)
    return {"units": units, "units_checked": True, "communities": communities,
            "compounds": compounds, "barriers": barriers, "params": params, "notes": notes,
            "special": special, "dedicated": dedicated,
            "previous": _previous(kw.get("previous_dir")), "study_area": _study_area(osm)}


def _previous(plan_dir: str | None):
    """The plan in force (``--previous``), or None."""
    if not plan_dir:
        return None

    return read_plan(plan_dir)


def _study_area(osm):
    if osm is None:
        return None

    return study_area(osm)
