"""Read and check input layers: every problem named with its file, field and fix."""

from __future__ import annotations

import codecs
import logging
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridplan.errors import InputError

log = logging.getLogger(__name__)

VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".fgb", ".shp", ".parquet")
SIMPLIFY_FIX = "simplify the polygon, e.g. in QGIS Vector ▸ Geometry Tools ▸ Simplify"
ID_COLUMNS = ("id", "unit_id", "building_id", "community_id", "osm_id", "name")


@dataclass(frozen=True)
class GeometryLimits:
    """Vertex limits every layer a user gives is held to, checked before any repair.

    ``feature_vertices`` and ``layer_vertices`` bound what is read at all;
    ``repair_vertices`` bounds the invalid (e.g. self-intersecting) polygons that are
    repaired with ``shapely.make_valid``, whose cost grows with their vertices and their
    crossings (a self-intersecting star of 1,000 vertices takes 0.1–0.5 s on a 2-core
    machine, 4,000 0.3–2.2 s, 10,000 2.3–6.6 s, 40,000 27 s; some shapes grow
    quadratically: 40,000 vertices, 131 s). The command line's defaults are generous (a
    planner's own file may take seconds to repair); the web API sets its own, tighter ones
    (``GRIDPLAN_MAX_FEATURE_VERTICES``, ``GRIDPLAN_MAX_REPAIR_VERTICES`` 4,000...).

    Examples
    --------
    >>> GeometryLimits().repair_vertices
    20000
    """

    feature_vertices: int = 1_000_000
    layer_vertices: int = 200_000_000
    repair_vertices: int = 20_000  # a repair of seconds on the command line (the API: 4,000)


_LIMITS: ContextVar[GeometryLimits | None] = ContextVar("gridplan_geometry_limits",
                                                        default=None)


def geometry_limits() -> GeometryLimits:
    """The vertex limits in force (see :func:`limited_geometry`)."""
    return _LIMITS.get() or GeometryLimits()


@contextmanager
def limited_geometry(limits: GeometryLimits) -> Iterator[GeometryLimits]:
    """Hold every layer checked inside the block to ``limits``.

    Examples
    --------
    >>> with limited_geometry(GeometryLimits(feature_vertices=10)):
    ...     geometry_limits().feature_vertices
    10
    >>> geometry_limits().feature_vertices
    1000000
    """
    token = _LIMITS.set(limits)
    try:
        yield limits
    finally:
        _LIMITS.reset(token)


@dataclass
class InputNotes:
    """What input checks repaired, dropped or noticed; written to ``report.json``."""

    repaired_geometries: dict[str, int] = field(default_factory=dict)
    dropped_empty: dict[str, int] = field(default_factory=dict)
    units_outside: list[str] = field(default_factory=list)
    households_outside: int = 0
    warnings: list[str] = field(default_factory=list)
    sources: dict[str, dict] = field(default_factory=dict)
    datum: dict[str, str] = field(default_factory=dict)

    def source(self, name: str, **facts) -> None:
        """Record how a file was read (``encoding``, ``layer``, ``coordinates``...)."""
        self.sources.setdefault(str(name), {}).update(facts)

    def warn(self, message: str) -> None:
        """Record a warning and log it."""
        log.warning(message)
        self.warnings.append(message)

    def to_dict(self) -> dict:
        """Notes as JSON-ready values (unit ids capped at 50)."""
        return {
            "repaired_geometries": self.repaired_geometries,
            "dropped_empty_geometries": self.dropped_empty,
            "units_outside_communities": len(self.units_outside),
            "units_outside_sample": self.units_outside[:50],
            "households_outside_communities": self.households_outside,
            "warnings": self.warnings,
            "sources": self.sources,
            "datum": self.datum,
        }


def read_vector(path: str | Path, *, what: str, layer: str | None = None,
                encoding: str | None = None, notes: InputNotes | None = None,
                kind: str | None = None, source: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector file (GeoJSON, GeoPackage, zipped Shapefile, FlatGeobuf, GeoParquet).

    Parameters
    ----------
    path : str or Path
        File to read; ``file.gpkg:layer`` names a layer (see :func:`split_layer`).
    what : str
        What the layer is for (``"communities"``, ``"population"``...), used in messages.
    layer : str, optional
        Layer name inside a multi-layer file such as a GeoPackage. Without it a file of
        several layers gives the one that is plainly meant (:func:`choose_layer`).
    encoding : str, optional
        Encoding of a Shapefile's attributes; without it, a DBF without ``.cpg`` whose
        text is not Latin-1 is read as UTF-8 or GB18030, whichever decodes it.
    notes : InputNotes, optional
        Receives the layer and encoding read.
    kind : str, optional
        The layer kind (``communities``...), to choose among several layers.
    source : str, optional
        How messages and notes name the file (default: its path).

    Examples
    --------
    >>> read_vector("missing.gpkg", what="communities")
    Traceback (most recent call last):
    ...
    gridplan.errors.InputError: missing.gpkg: file not found. Fix: check the path given for \
the communities layer
    """
    path, named = split_layer(path)
    layer = layer or named
    src = str(source or path)
    if not path.exists():
        raise InputError("file not found", source=src,
                         fix=f"check the path given for the {what} layer")
    notes = notes if notes is not None else InputNotes()
    try:
        if path.suffix.lower() == ".parquet":
            gdf = gpd.read_parquet(path)
        else:
            layer = choose_layer(path, kind or what, layer, src, notes)
            gdf = _read_ogr(path, layer, encoding, src, notes)
    except InputError:
        raise
    except Exception as exc:  # pyogrio raises several types; all mean "unreadable"
        raise InputError(
            f"cannot be read as a vector layer ({type(exc).__name__}: {exc})",
            source=src,
            fix="give a GeoJSON, GeoPackage, zipped Shapefile, FlatGeobuf, GeoParquet, "
                "CSV or Excel (.xlsx) file",
        ) from exc
    gdf.attrs["source"] = src
    return gdf


def split_layer(path: str | Path) -> tuple[Path, str | None]:
    """``file.gpkg:layer`` split into the file and the layer (None when not given).

    A path that exists as given is never split (so ``C:\\data.gpkg`` stays whole).

    Examples
    --------
    >>> split_layer("missing.gpkg:buildings")
    (PosixPath('missing.gpkg'), 'buildings')
    >>> split_layer("missing.gpkg")
    (PosixPath('missing.gpkg'), None)
    """
    text = str(path)
    head, sep, tail = text.rpartition(":")
    if not sep or not head or not tail or Path(text).exists() or "/" in tail or "\\" in tail:
        return Path(text), None
    if Path(head).suffix.lower() in (".gpkg", ".zip", ".xlsx", ".xlsm", ".sqlite", ".gdb",
                                     ".geojson", ".json", ".fgb", ".shp"):
        return Path(head), tail
    return Path(text), None


# names that mark the layer a kind wants in a file of several layers
LAYER_NAMES = {"communities": ("communities", "community", "社区"),
               "population": ("population", "buildings", "building", "units", "points",
                              "建筑", "人口"),
               "compounds": ("compounds", "compound", "小区"),
               "barriers": ("barriers", "roads", "道路"),
               "dedicated": ("dedicated", "sites", "dedicated_sites")}
GEOMETRIES = {"communities": "Polygon", "compounds": "Polygon", "dedicated": "Polygon",
              "barriers": "LineString"}


def choose_layer(path: Path, kind: str, layer: str | None, src: str,
                 notes: InputNotes) -> str | None:
    """The layer of ``path`` to read: ``layer`` when it exists, else the one plainly meant.

    Plainly meant: the only layer with geometries, or the only one named for ``kind``
    (``communities``, ``buildings``...), or the only one of the geometry ``kind`` needs.
    Otherwise an :class:`InputError` lists the layers.
    """
    try:
        listed = pyogrio.list_layers(path)
    except Exception:  # not a multi-layer source: read_file reports what is wrong
        return layer
    names = [str(n) for n in listed[:, 0]]
    types = {str(n): (str(t) if t is not None else None) for n, t in listed}
    described = ", ".join(f"{n} ({types[n] or 'no geometry'})" for n in names)
    if layer is not None:
        if layer not in names:
            raise InputError(f"no layer {layer!r} in the file (layers: {described})",
                             source=src, field=layer,
                             fix=f"name one of its layers: {Path(src).name}:{names[0]}")
        if len(names) > 1:
            notes.source(src, layer=layer)
        return layer
    if len(names) <= 1:
        return None
    spatial = [n for n in names if types[n]]
    wanted = [n for n in spatial if n.lower() in LAYER_NAMES.get(kind, ())]
    shape = GEOMETRIES.get(kind)
    fitting = [n for n in spatial if shape and shape in (types[n] or "")]
    for found in (spatial, wanted, fitting):
        if len(found) == 1:
            notes.source(src, layer=found[0])
            log.info("%s: read layer %r of %d", src, found[0], len(names))
            return found[0]
    raise InputError(f"the file holds {len(names)} layers ({described}) and none is plainly "
                     f"the {kind} layer", source=src, field="layer",
                     fix=f"name the layer after the file: {Path(src).name}:"
                         f"{(spatial or names)[0]} (API: layer=...)")


def _read_ogr(path: Path, layer: str | None, encoding: str | None, src: str,
              notes: InputNotes) -> gpd.GeoDataFrame:
    """Read with pyogrio; a Shapefile's attribute text decoded as given or as detected.

    Other formats (GeoJSON, GeoPackage, FlatGeobuf) hold UTF-8 by their specifications:
    ``encoding`` (meant for CSV tables and DBFs) does not apply to them.
    """
    if encoding and _is_shapefile(path):
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise InputError(f"unknown encoding {encoding!r}", source=src, field="--encoding",
                             fix="pass an encoding Python knows, e.g. utf-8, gbk, gb18030"
                             ) from exc
        gdf = gpd.read_file(path, layer=layer, encoding=encoding)
        notes.source(src, encoding=encoding)
        return gdf
    gdf = gpd.read_file(path, layer=layer)
    if not _is_shapefile(path):
        return gdf
    declared = pyogrio.read_info(path, layer=layer).get("encoding") or "ISO-8859-1"
    if declared.upper().replace("_", "-") not in ("ISO-8859-1", "LATIN1"):
        notes.source(src, encoding=declared)
        return gdf
    used = _detect_dbf(gdf)
    if used is not None:
        gdf = gpd.read_file(path, layer=layer, encoding=used)
        notes.source(src, encoding=used)
        notes.warn(f"{src}: the Shapefile has no .cpg; its attribute text decodes as {used}, "
                   f"read so (pass --encoding to say otherwise)")
    elif _has_high_bytes(gdf):
        notes.source(src, encoding="ISO-8859-1")
    return gdf


def _is_shapefile(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix == ".shp":
        return True
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as z:
                return any(n.lower().endswith(".dbf") for n in z.namelist())
        except zipfile.BadZipFile:
            return False
    return False


def _texts(gdf: gpd.GeoDataFrame) -> list[str]:
    cols = [c for c in gdf.columns if c != gdf.geometry.name
            and (gdf[c].dtype == object or pd.api.types.is_string_dtype(gdf[c].dtype))]
    return [v for c in cols for v in gdf[c].dropna() if isinstance(v, str)] + [
        str(c) for c in gdf.columns]


def _has_high_bytes(gdf: gpd.GeoDataFrame) -> bool:
    return any(any("\x80" <= ch <= "\xff" for ch in text) for text in _texts(gdf))


def _detect_dbf(gdf: gpd.GeoDataFrame) -> str | None:
    """UTF-8 or GB18030 when the Latin-1 text GDAL gave is really one of them (mojibake)."""
    texts = [t for t in _texts(gdf) if any("\x80" <= ch <= "\xff" for ch in t)]
    if not texts:
        return None
    try:
        raw = "\n".join(texts).encode("latin-1")
    except UnicodeEncodeError:
        return None
    for codec in ("utf-8", "gb18030"):
        try:
            raw.decode(codec)
        except UnicodeDecodeError:
            continue
        return codec
    return None


def source_of(gdf: gpd.GeoDataFrame, default: str) -> str:
    """The file a frame came from, or ``default``."""
    return str(gdf.attrs.get("source", default))


def check_layer(gdf: gpd.GeoDataFrame, *, what: str, notes: InputNotes,
                polygons_only: bool = False, id_field: str | None = None) -> gpd.GeoDataFrame:
    """Check CRS, axis order, emptiness, size and geometry validity; repair what can be
    repaired; put every geometry in its normal form.

    Returns the layer with invalid geometries made valid and empty ones dropped
    (both recorded in ``notes``), and every geometry normalised (:func:`normalised`), so
    that a plan never depends on where a ring starts or which way it runs. Raises
    :class:`InputError` for what cannot be repaired: no features, no CRS, swapped
    latitude/longitude, wrong geometry type, features or layers beyond the vertex limits
    (:class:`GeometryLimits`, checked before any repair; messages name features by
    ``id_field`` when given).
    """
    src = source_of(gdf, what)
    if len(gdf) == 0:
        raise InputError(f"the {what} layer is empty", source=src,
                         fix=f"give a file with at least one {what} feature")
    _check_crs(gdf, src, what)
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    if empty.all():
        raise InputError(f"every geometry of the {what} layer is empty", source=src,
                         fix="check that the file holds geometries, not only attributes")
    if empty.any():
        notes.dropped_empty[what] = int(empty.sum())
        notes.warn(f"{src}: dropped {int(empty.sum())} {what} feature(s) with empty geometry")
        gdf = gdf.loc[~empty].copy()
    limits = geometry_limits()
    counts = shapely.get_num_coordinates(gdf.geometry.values)
    _check_vertices(gdf, counts, what=what, src=src, limits=limits, id_field=id_field)
    gdf = _repair(gdf, what=what, src=src, notes=notes, counts=counts, limits=limits,
                  id_field=id_field)
    gdf = normalised(gdf)
    if polygons_only:
        kinds = set(gdf.geometry.geom_type.unique())
        if not kinds <= {"Polygon", "MultiPolygon"}:
            raise InputError(f"the {what} layer must hold polygons, found {sorted(kinds)}",
                             source=src, fix=f"give polygon boundaries for the {what}")
    return gdf


def normalised(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The layer with its geometries in normal form (``shapely.normalize``).

    Every ring starts at its lowest-left vertex and runs one way (exteriors clockwise,
    holes anticlockwise), the parts of a multi-geometry and the holes of a polygon come
    in one order, and a line runs from its lower-left end. The same shapes digitised
    from another vertex, the other way round or with parts in another order are then
    the same coordinates, and every stage after input preparation (tessellation
    samples along outlines, overlays, representative points) sees one geometry.

    Examples
    --------
    >>> import shapely
    >>> a = shapely.Polygon([(0, 0), (4, 0), (4, 3), (0, 3)])
    >>> b = shapely.Polygon([(4, 3), (4, 0), (0, 0), (0, 3)])  # another start, other way
    >>> g = normalised(gpd.GeoDataFrame(geometry=[a, b]))
    >>> g.geometry.iloc[0].wkt == g.geometry.iloc[1].wkt
    True
    """
    out = gdf.copy()
    out[out.geometry.name] = shapely.normalize(out.geometry.values)
    return out


def _check_crs(gdf: gpd.GeoDataFrame, src: str, what: str) -> None:
    """Refuse a missing CRS and latitude/longitude given in swapped order."""
    minx, miny, maxx, maxy = gdf.total_bounds
    looks_lonlat = minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90
    if gdf.crs is None:
        hint = ("the coordinates look like longitude/latitude, so pass --crs EPSG:4326"
                if looks_lonlat else "pass --crs with the EPSG code the coordinates are in")
        raise InputError(f"the {what} layer has no coordinate reference system (CRS)",
                         source=src, fix=hint)
    if gdf.crs.is_geographic:
        if (abs(miny) > 90 or abs(maxy) > 90) and abs(minx) <= 90 and abs(maxx) <= 90:
            raise InputError(
                f"latitude and longitude look swapped in the {what} layer "
                f"(y runs {miny:.4f}..{maxy:.4f}, beyond ±90)",
                source=src, fix="write x = longitude, y = latitude (GeoJSON order lon, lat)")
        if abs(minx) > 180 or abs(maxx) > 180:
            raise InputError(
                f"coordinates beyond ±180 in a geographic CRS ({gdf.crs.to_string()}); "
                "they look projected", source=src,
                fix="declare the projected CRS the coordinates are in, e.g. --crs EPSG:32650")
    elif looks_lonlat and (maxx - minx) < 5 and (maxy - miny) < 5:
        raise InputError(
            f"the {what} layer declares projected CRS {gdf.crs.to_string()} but its "
            "coordinates look like longitude/latitude degrees", source=src,
            fix="declare EPSG:4326 (e.g. --crs EPSG:4326) or reproject the file")


def feature_name(gdf: gpd.GeoDataFrame, row: int, id_field: str | None = None) -> str:
    """How messages name the ``row``-th feature: by its id when the layer has one.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> g = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[Point(0, 0), Point(1, 1)])
    >>> feature_name(g, 1), feature_name(g[["geometry"]], 1)
    ("feature id 'b'", 'feature 2 (in file order)')
    """
    for column in (id_field, *ID_COLUMNS):
        if column and column in gdf.columns:
            return f"feature {column} {gdf[column].iloc[row]!r}"
    return f"feature {row + 1} (in file order)"


def _check_vertices(gdf: gpd.GeoDataFrame, counts: np.ndarray, *, what: str, src: str,
                    limits: GeometryLimits, id_field: str | None) -> None:
    """Refuse a feature or a layer with more vertices than the limits allow."""
    if len(counts) == 0:
        return
    worst = int(np.argmax(counts))
    if counts[worst] > limits.feature_vertices:
        over = int((counts > limits.feature_vertices).sum())
        more = f" ({over} features are over it)" if over > 1 else ""
        raise InputError(f"{feature_name(gdf, worst, id_field)} of the {what} layer has "
                         f"{int(counts[worst]):,} vertices, more than the limit of "
                         f"{limits.feature_vertices:,} per feature{more}", source=src,
                         fix=SIMPLIFY_FIX)
    total = int(counts.sum())
    if total > limits.layer_vertices:
        raise InputError(f"the {what} layer has {total:,} vertices, more than the limit of "
                         f"{limits.layer_vertices:,} per layer", source=src,
                         fix=f"{SIMPLIFY_FIX}, or split the layer into smaller areas")


def _repair(gdf: gpd.GeoDataFrame, *, what: str, src: str, notes: InputNotes,
            counts: np.ndarray | None = None, limits: GeometryLimits | None = None,
            id_field: str | None = None) -> gpd.GeoDataFrame:
    """Make invalid geometries valid, keeping their polygonal (or original) dimension.

    Invalid features above ``limits.repair_vertices`` are refused, not repaired: the
    repair's time grows faster than linearly with their vertices.
    """
    invalid = ~gdf.geometry.is_valid
    if not invalid.any():
        return gdf
    limits = limits or geometry_limits()
    if counts is None:
        counts = shapely.get_num_coordinates(gdf.geometry.values)
    big = invalid.values & (counts > limits.repair_vertices)
    if big.any():
        row = int(np.flatnonzero(big)[np.argmax(counts[big])])
        raise InputError(f"{feature_name(gdf, row, id_field)} of the {what} layer is invalid "
                         f"(e.g. self-intersecting) and has {int(counts[row]):,} vertices, "
                         f"too many to repair (at most {limits.repair_vertices:,})",
                         source=src, fix=f"{SIMPLIFY_FIX}, and fix its self-intersections "
                         "(QGIS Vector ▸ Geometry Tools ▸ Fix Geometries)")
    gdf = gdf.copy()
    fixed = shapely.make_valid(gdf.geometry.values[invalid.values])
    keep_dim = [_same_dimension(orig, new)
                for orig, new in zip(gdf.geometry.values[invalid.values], fixed, strict=True)]
    gdf.loc[invalid, gdf.geometry.name] = keep_dim
    notes.repaired_geometries[what] = int(invalid.sum())
    notes.warn(f"{src}: repaired {int(invalid.sum())} invalid (e.g. self-intersecting) "
               f"{what} geometr{'y' if invalid.sum() == 1 else 'ies'} with make_valid")
    return gdf


def _same_dimension(original, repaired):
    """Keep only the parts of a repaired geometry of the original's dimension."""
    dim = shapely.get_dimensions(original)
    if shapely.get_dimensions(repaired) == dim and repaired.geom_type != "GeometryCollection":
        return repaired
    parts = [g for g in shapely.get_parts(repaired) if shapely.get_dimensions(g) == dim]
    return shapely.union_all(parts) if parts else repaired


def require_field(gdf: pd.DataFrame, name: str, *, what: str, option: str) -> None:
    """Raise a clear error when ``name`` is not a column of ``gdf``."""
    if name not in gdf.columns:
        fields = ", ".join(c for c in gdf.columns if c != "geometry")
        raise InputError(f"no field {name!r} in the {what} layer (fields: {fields})",
                         source=source_of(gdf, what), field=name,
                         fix=f"name the right field with {option}")


def check_ids(gdf: pd.DataFrame, name: str, *, what: str, option: str) -> pd.Series:
    """Return the id column as strings; refuse missing and duplicate ids."""
    require_field(gdf, name, what=what, option=option)
    ids = gdf[name]
    src = source_of(gdf, what)
    if ids.isna().any():
        raise InputError(f"{int(ids.isna().sum())} {what} feature(s) have no id", source=src,
                         field=name, fix="give every feature an id")
    ids = ids.astype(str)
    dup = ids[ids.duplicated(keep=False)].unique()
    if len(dup):
        sample = ", ".join(map(str, dup[:5]))
        raise InputError(f"duplicate ids in the {what} layer: {sample}"
                         + (f" and {len(dup) - 5} more" if len(dup) > 5 else ""),
                         source=src, field=name, fix="make every id unique")
    return ids


def check_counts(gdf: pd.DataFrame, name: str, *, what: str, option: str,
                 ids: pd.Series | None = None) -> pd.Series:
    """Return a count column as floats; refuse text, NaN and negative values."""
    require_field(gdf, name, what=what, option=option)
    src = source_of(gdf, what)
    values = pd.to_numeric(gdf[name], errors="coerce")
    label = ids if ids is not None else pd.Series(gdf.index.astype(str), index=gdf.index)
    bad_text = values.isna() & gdf[name].notna()
    for mask, problem, fix in (
        (bad_text, "values that are not numbers", "write plain numbers"),
        (values.isna(), "missing (NaN/null) counts", "fill them in, with 0 where there are none"),
        (values < 0, "negative counts", "correct them to 0 or more"),
        (~np.isfinite(values.fillna(0)), "infinite counts", "correct them"),
    ):
        if mask.any():
            sample = ", ".join(label[mask].astype(str).head(5))
            raise InputError(f"{int(mask.sum())} {problem} (ids: {sample})", source=src,
                             field=name, fix=fix)
    return values.astype(float)
