"""Uploads: a saved upload read as a layer through gridplan's one input loader."""

from __future__ import annotations

import contextlib
import logging
import shutil
from dataclasses import dataclass, field, fields
from typing import Any

from gridplan.api.uploads.common import SavedUpload, UploadError

from gridplan.errors import InputError
from gridplan.layers.load import (
    TABLE_KINDS,
    LayerOptions,
    osm_units,
    read_layer,
    read_osm_layers,
)
from gridplan.layers.vector import InputNotes

log = logging.getLogger(__name__)


# a CSV or Excel table of points (lon/lat columns) is read as a point layer by the loader
VECTOR_FORMATS = ("geojson", "gpkg", "shapefile", "csv", "xlsx")
KINDS = {"communities": VECTOR_FORMATS, "population": (*VECTOR_FORMATS, "tif"),
         "compounds": VECTOR_FORMATS, "barriers": VECTOR_FORMATS, "dedicated": VECTOR_FORMATS,
         "osm": ("osm",), "workers": ("csv",), "special": ("csv",)}


@dataclass
class UploadedLayer:
    """A checked upload read as a layer.

    Attributes
    ----------
    kind : str
        What the layer is for (a key of :data:`KINDS`).
    data : GeoDataFrame or DataFrame
        The layer, normalised as the planner uses it (``prepare_communities``,
        ``prepare_units``, ``read_workers``...). For ``osm``: the buildings as units.
    summary : dict
        Features, geometry types, CRS, EPSG:4326 bounding box, fields (JSON-ready).
    notes : dict
        What the checks repaired or dropped (``InputNotes.to_dict()``).
    osm : OSMLayers, optional
        For ``osm``: buildings, compounds and barriers as read.
    """

    kind: str
    data: Any
    summary: dict
    notes: dict = field(default_factory=dict)
    osm: Any = None


def read_upload(saved: SavedUpload, kind: str, **options: Any) -> UploadedLayer:
    """Read a saved upload through the one input loader, checked as the command line checks.

    Parameters
    ----------
    saved : SavedUpload
        From :func:`save_upload`; only ``saved.path`` (server-side) is opened.
    kind : str
        ``communities``, ``population``, ``compounds``, ``barriers``, ``dedicated``
        (vector files), ``osm`` (OSM PBF or XML), ``workers`` or ``special`` (CSV).
    **options
        ``crs`` (for layers declaring none, or of a CSV's x/y columns), ``layer``
        (GeoPackage layer; a file of several layers gives the one plainly meant),
        ``datum`` (``wgs84``, ``gcj02``, ``bd09``: converted to WGS84), ``x_field``,
        ``y_field`` (a CSV's coordinate columns) for vector kinds; ``encoding`` (CSV
        text and Shapefile attributes; default UTF-8, else GB18030); communities:
        ``id_field`` ("id"), ``code_field``, ``scheme`` ("nbs12+3"); population:
        ``unit_id`` ("unit_id"), ``households``,
        ``population_field``, ``household_size`` (2.6); osm: ``dwelling_area`` (90),
        ``barrier_highways``; workers: ``community_ids`` (ids of the plan's
        communities; unchecked when omitted); special: ``unit_ids`` (building ids
        of the plan; unchecked when omitted).

    Returns
    -------
    UploadedLayer
        The layer, a summary for display, and the notes of what was repaired.

    Raises
    ------
    UploadError
        415 when the format does not suit ``kind``; 400 for an unknown ``kind``.
    InputError
        Bad data (no CRS, swapped lat/lon, empty layer, missing fields, NaN or
        negative counts, duplicate ids...), naming the client's file, never the
        server path. The API answers 422 (see :func:`error_status`).

    Examples
    --------
    >>> layer = read_upload(saved, "communities", id_field="id")   # doctest: +SKIP
    >>> layer.summary["features"], layer.summary["crs"]             # doctest: +SKIP
    (6, 'EPSG:4326')
    """
    if kind not in KINDS:
        raise UploadError(400, f"unknown layer kind {kind!r}", source=saved.original_name,
                          fix=f"use one of {', '.join(KINDS)}")
    if saved.fmt not in KINDS[kind]:
        raise UploadError(415, f"a {kind} layer cannot be read from {saved.fmt}",
                          source=saved.original_name,
                          fix=f"upload the {kind} as {' or '.join(KINDS[kind])}")
    try:
        return _read(saved, kind, options)
    except InputError as exc:
        raise _renamed(exc, saved) from exc
    except (UploadError, MemoryError):
        raise
    except Exception as exc:  # any other reader failure is still a file the user must fix
        log.warning("reading upload %s as %s failed", saved.upload_id, kind, exc_info=True)
        raise _renamed(InputError(f"cannot be read as a {kind} layer "
                                  f"({type(exc).__name__}: {exc})",
                                  fix=f"upload a valid {' or '.join(KINDS[kind])} file"),
                       saved) from exc


def _renamed(exc: InputError, saved: SavedUpload) -> InputError:
    """The same error naming the client's file instead of the server path."""
    def hide(text: str | None) -> str | None:
        if text is None:
            return None
        for path in (saved.path, saved.folder):
            text = text.replace(str(path), saved.original_name)
        return text

    def form(text: str | None) -> str | None:
        """Command-line options spelled as the upload's form fields (``datum=gcj02``)."""
        if text is None:
            return None
        for flag, name in FORM_FIELDS.items():
            text = text.replace(f"{flag} ", f"{name}=").replace(flag, name)
        return text

    source = saved.original_name if exc.source is None else hide(exc.source)
    return InputError(hide(exc.problem), source=source, field=form(exc.field),
                      fix=form(hide(exc.fix)))


# the loader's messages name command-line options; an upload sets these form fields
FORM_FIELDS = {"--datum": "datum", "--encoding": "encoding", "--x-field": "x_field",
               "--y-field": "y_field"}


def layer_options(options: dict) -> LayerOptions:
    """The loader's options from an upload's (``params``: the special populations' rates).

    Options that no kind reads are ignored.

    Examples
    --------
    >>> layer_options({"id_field": "code", "colour": "red"}).id_field
    'code'
    """
    known = {f.name for f in fields(LayerOptions)}
    given = {k: v for k, v in options.items() if k in known}
    if options.get("params") is not None:
        given["workload"] = options["params"]
    return LayerOptions(**given)


def _read(saved: SavedUpload, kind: str, options: dict) -> UploadedLayer:
    """Read through the one input loader, as the command line reads a file, and summarise."""
    opts = layer_options(options)
    if kind == "osm":
        return _read_osm(saved, opts)
    if kind in TABLE_KINDS:
        df = read_layer(saved.path, kind, opts, source=saved.original_name)
        ids = opts.community_ids if kind == "workers" else opts.unit_ids
        return UploadedLayer(kind, df, {"rows": len(df), "fields": [str(c) for c in df.columns],
                                        "ids_checked": ids is not None})
    notes = InputNotes()
    out = read_layer(saved.path, kind, opts, notes=notes, source=saved.original_name)
    summary = summarize_layer(out)
    if kind == "population":
        summary["households"] = int(out["households"].sum())
    return UploadedLayer(kind, out, summary, notes.to_dict())


def _read_osm(saved: SavedUpload, opts: LayerOptions) -> UploadedLayer:
    layers = read_osm_layers(saved.path, opts, source=saved.original_name)
    units = osm_units(layers)
    summary = summarize_layer(units)
    summary.update(households=int(units["households"].sum()),
                   compounds=len(layers.compounds), barriers=len(layers.barriers),
                   osm_bounds=list(layers.bounds) if layers.bounds else None)
    return UploadedLayer("osm", units, summary, osm=layers)


def summarize_layer(gdf) -> dict:
    """Features, geometry types, CRS, EPSG:4326 bounding box and fields of a layer.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> g = gpd.GeoDataFrame({"id": ["a"]}, geometry=[Point(116.3, 39.9)], crs=4326)
    >>> summarize_layer(g)["bbox_4326"]
    [116.3, 39.9, 116.3, 39.9]
    """
    bbox = None
    if len(gdf) and gdf.crs is not None:
        bbox = [round(float(v), 7) for v in gdf.geometry.to_crs(4326).total_bounds]
    return {"features": len(gdf),
            "geometry_types": sorted(gdf.geometry.geom_type.dropna().unique().tolist()),
            "crs": gdf.crs.to_string() if gdf.crs is not None else None,
            "bbox_4326": bbox,
            "fields": [str(c) for c in gdf.columns if c != gdf.geometry.name]}


def error_status(exc: BaseException) -> tuple[int, dict] | None:
    """HTTP status and JSON body for an upload or input error (None for anything else).

    Examples
    --------
    >>> error_status(InputError("negative counts", field="households", fix="use 0 or more"))
    (422, {'status': 422, 'problem': 'negative counts', 'source': None, \
'field': 'households', 'fix': 'use 0 or more', 'message': \
'field households: negative counts. Fix: use 0 or more'})
    """
    if isinstance(exc, UploadError):
        return exc.status, {**exc.to_dict(), "field": None, "message": str(exc)}
    if isinstance(exc, InputError):
        return 422, {"status": 422, "problem": exc.problem, "source": exc.source,
                     "field": exc.field, "fix": exc.fix, "message": str(exc)}
    return None


def discard(saved: SavedUpload) -> None:
    """Delete an upload's folder."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(saved.folder)
