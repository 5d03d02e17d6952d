"""Formats: export a plan as GeoJSON, GeoPackage, zipped Shapefile, CSV, GeoParquet or
FlatGeobuf.

=========  ==========================  =============================================
format     file                        content and CRS
=========  ==========================  =============================================
geojson    .geojson (.zip if several)  RFC 7946: EPSG:4326, counter-clockwise rings
gpkg       .gpkg                       one layer per plan layer, the plan's metric CRS
shp        .zip                        one shapefile per layer (UTF-8, .cpg), metric CRS,
                                       field names shortened to 10 characters as listed
                                       in ``fields.csv`` and ``README.txt``
csv        .csv (.zip if several)      attributes without geometry, plus ``lon``/``lat``
                                       (EPSG:4326) of a point inside each feature;
                                       UTF-8 with BOM so Excel shows Chinese correctly
parquet    .parquet (.zip if several)  GeoParquet 1.x, the plan's metric CRS
fgb        .fgb (.zip if several)      FlatGeobuf with a spatial index, the plan's
                                       metric CRS (QGIS streams it over HTTP too)
=========  ==========================  =============================================

Metric CRS everywhere except GeoJSON (which RFC 7946 fixes to EPSG:4326) and the
CSV points (for spreadsheets and web maps): areas and lengths stay exact, and
QGIS reprojects on the fly from the ``.prj`` / GeoPackage / GeoParquet CRS.
Polygon geometry is left out of CSV because polygon WKT overflows spreadsheet
cells (Excel: 32,767 characters); use another format for the shapes.

Files are written to a temporary name beside ``dest`` and moved into place
only when complete, so an existing export is never left half-written.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from gridplan.errors import InputError
from gridplan.export.folder import plan_layers, write_geojson, write_gpkg

log = logging.getLogger(__name__)

LAYERS = ("grids", "units", "communities")


@dataclass(frozen=True)
class Format:
    """One export format: file extension and media type (single file or zip)."""

    name: str
    extension: str
    media_type: str
    label: str
    multi_layer: bool  # one file holds several layers (else several layers → a zip)


FORMATS: dict[str, Format] = {
    "geojson": Format("geojson", ".geojson", "application/geo+json", "GeoJSON (RFC 7946)",
                      False),
    "gpkg": Format("gpkg", ".gpkg", "application/geopackage+sqlite3", "GeoPackage", True),
    "shp": Format("shp", ".zip", "application/zip", "zipped Shapefile", True),
    "csv": Format("csv", ".csv", "text/csv; charset=utf-8", "CSV (no geometry)", False),
    "parquet": Format("parquet", ".parquet", "application/vnd.apache.parquet", "GeoParquet",
                      False),
    "fgb": Format("fgb", ".fgb", "application/flatgeobuf", "FlatGeobuf", False),
}
ZIP_MEDIA_TYPE = "application/zip"

# Shapefile (dBASE) field names are at most 10 characters; one mapping for every layer.
SHAPEFILE_FIELDS = {
    "community_id": "comm_id",
    "polsby_popper": "polsbypopr",
    "barrier_crossings": "barrier_x",
    "visit_equivalents": "visit_eq",
    "special_cases": "special",
    "workload_hours": "work_hours",
    "building_id": "bldg_id",
}
FIELD_NOTES = {
    "grid_code": "grid code (网格编码)", "community_id": "community id (社区)",
    "households": "households (户数)", "population": "residents (人口)",
    "units": "buildings or units in the grid", "area_m2": "area in square metres",
    "polsby_popper": "compactness 4πA/P² (1 = circle)",
    "barrier_crossings": "roads/rivers crossed inside the grid",
    "status": "ok / below_band / above_band / empty / dedicated",
    "reason": "why a grid is off band", "reason_zh": "why a grid is off band (中文)",
    "grid_type": "comprehensive (全科网格) or dedicated (专属网格)",
    "site_kind": "kind of a dedicated grid's site (school, hospital...)",
    "site_name": "name of a dedicated grid's site",
    "visit_equivalents": "monthly visits", "special_cases": "special-population cases",
    "tour_m": "walking tour in metres", "workload_hours": "monthly hours",
    "workers": "workers assigned", "unit_id": "unit id", "building_id": "building id",
    "cell_id": "parcel id", "code": "12-digit community code", "name": "name (名称)",
    "name_en": "English name", "grids": "grids in the community",
}


def output_type(fmt: str, layers: Sequence[str] = LAYERS) -> tuple[str, str]:
    """File extension and media type of an export (a zip for several single-layer files).

    Examples
    --------
    >>> output_type("geojson", ["grids"])
    ('.geojson', 'application/geo+json')
    >>> output_type("csv")
    ('.zip', 'application/zip')
    """
    spec = _format(fmt)
    if spec.multi_layer or len(_layers(layers)) == 1:
        return spec.extension, spec.media_type
    return ".zip", ZIP_MEDIA_TYPE


def export_plan(plan, fmt: str, dest: str | Path, layers: Sequence[str] = LAYERS) -> Path:
    """Write ``layers`` of ``plan`` in format ``fmt`` to ``dest``, all or nothing.

    Parameters
    ----------
    plan : Plan
        The plan (grids, units, communities in a metric CRS).
    fmt : str
        A key of :data:`FORMATS`: ``geojson``, ``gpkg``, ``shp``, ``csv``, ``parquet``,
        ``fgb``.
    dest : str or Path
        Output file, or an existing folder (the file is then ``plan<ext>`` in it,
        with the extension from :func:`output_type`).
    layers : sequence of str
        Any of ``grids``, ``units``, ``communities``, in the order wanted.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InputError
        Unknown format or layer (listing the valid ones).

    Examples
    --------
    >>> export_plan(plan, "shp", Path("out"))              # doctest: +SKIP
    PosixPath('out/plan.zip')
    >>> export_plan(plan, "kml", Path("out"))              # doctest: +SKIP
    Traceback (most recent call last):
    ...
    gridplan.errors.InputError: unknown export format 'kml'. Fix: use one of geojson, ...
    """
    spec, names = _format(fmt), _layers(layers)
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / f"plan{output_type(fmt, names)[0]}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    all_layers = plan_layers(plan)
    chosen = {name: all_layers[name] for name in names}
    tmp = dest.with_name(f".{dest.stem}.{uuid.uuid4().hex[:12]}.part{dest.suffix}")
    try:
        _WRITERS[spec.name](chosen, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("exported %s as %s to %s", ", ".join(names), spec.label, dest)
    return dest


def _format(fmt: str) -> Format:
    key = (fmt or "").lower().lstrip(".")
    key = {"shapefile": "shp", "geopackage": "gpkg", "geoparquet": "parquet",
           "json": "geojson", "flatgeobuf": "fgb"}.get(key, key)
    if key not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}", field="format",
                         fix=f"use one of {', '.join(FORMATS)}")
    return FORMATS[key]


def _layers(layers: Sequence[str]) -> list[str]:
    names = [layers] if isinstance(layers, str) else list(layers)
    bad = [n for n in names if n not in LAYERS]
    if bad or not names or len(set(names)) != len(names):
        raise InputError(f"unknown, repeated or no layers: {', '.join(map(str, bad)) or names}",
                         field="layers", fix=f"choose among {', '.join(LAYERS)}")
    return names


# --- writers --------------------------------------------------------------------------------

def _single_or_zip(layers: dict[str, gpd.GeoDataFrame], path: Path, ext: str, write,
                   readme: str) -> None:
    """One file when one layer, else a zip of ``<layer><ext>`` files and a README."""
    if len(layers) == 1:
        write(next(iter(layers.values())), path)
        return
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, gdf in layers.items():
            member = Path(tmp) / f"{name}{ext}"
            write(gdf, member)
            zf.write(member, member.name)
        zf.writestr("README.txt", readme)


def _write_geojson(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    _single_or_zip(layers, path, ".geojson", write_geojson, _readme(
        layers, "GeoJSON FeatureCollections (RFC 7946): EPSG:4326 longitude/latitude, "
                "counter-clockwise outer rings, UTF-8."))


def _write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    write_gpkg(layers, path)


def _write_parquet(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    crs = next(iter(layers.values())).crs
    _single_or_zip(layers, path, ".parquet", lambda g, p: g.to_parquet(p, index=False),
                   _readme(layers, f"GeoParquet files in the plan's metric CRS "
                                   f"({crs.to_string() if crs else 'none'}); read with "
                                   "geopandas.read_parquet, QGIS 3.34+ or DuckDB."))


def write_fgb(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """One layer as FlatGeobuf (spatial index on); polygons promoted to multi when mixed,
    points and polygons together as geometry type Unknown."""
    kinds = set(gdf.geometry.geom_type.unique())
    options: dict = {}
    if kinds == {"Polygon", "MultiPolygon"}:
        options = {"promote_to_multi": True}
    elif len(kinds) > 1:
        options = {"geometry_type": "Unknown"}
    pyogrio.write_dataframe(gdf, path, driver="FlatGeobuf", **options)


def _write_fgb(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    crs = next(iter(layers.values())).crs
    _single_or_zip(layers, path, ".fgb", write_fgb,
                   _readme(layers, f"FlatGeobuf files in the plan's metric CRS "
                                   f"({crs.to_string() if crs else 'none'}), with a spatial "
                                   "index; open in QGIS or read with geopandas/pyogrio."))


def csv_table(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """Attributes of a layer without geometry, plus ``lon``/``lat`` of a point inside it.

    Examples
    --------
    >>> g = gpd.GeoDataFrame({"id": ["a"]}, geometry=[shapely.box(0, 0, 2, 2)], crs=4326)
    >>> csv_table(g).to_dict("records")
    [{'id': 'a', 'lon': 1.0, 'lat': 1.0}]
    """
    points = gpd.GeoSeries(shapely.point_on_surface(gdf.geometry.values), crs=gdf.crs)
    points = points.to_crs(4326)
    table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    table["lon"] = points.x.round(7).values
    table["lat"] = points.y.round(7).values
    return table


def _write_csv(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    def write(gdf, target):
        csv_table(gdf).to_csv(target, index=False, encoding="utf-8-sig")

    _single_or_zip(layers, path, ".csv", write, _readme(
        layers, "CSV tables, UTF-8 with BOM (opens in Excel with Chinese intact), no "
                "geometry; lon/lat are a point inside each feature in EPSG:4326."))


def _write_shapefile(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    mapping = []
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, gdf in layers.items():
            renamed, fields = shapefile_columns(gdf)
            mapping += [(name, long, short) for long, short in fields.items()]
            for stem, part in _by_geometry(name, renamed):
                pyogrio.write_dataframe(part, Path(tmp) / f"{stem}.shp", driver="ESRI Shapefile",
                                        encoding="UTF-8", promote_to_multi=True)
                for file in sorted(Path(tmp).glob(f"{stem}.*")):
                    zf.write(file, file.name)
        zf.writestr("fields.csv", _fields_csv(mapping))
        zf.writestr("README.txt", _readme(layers, _SHAPEFILE_NOTE, mapping))


_SHAPEFILE_NOTE = (
    "ESRI Shapefiles in the plan's metric CRS (.prj), text in UTF-8 (.cpg). Field names "
    "are limited to 10 characters: fields.csv and the table below map each shapefile "
    "field to the full name used in GeoPackage/GeoJSON/CSV. Text longer than 254 bytes is "
    "cut (dBASE limit). A layer mixing points and polygons is split into "
    "<layer>_points and <layer>_polygons.")


def shapefile_columns(gdf: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """Rename columns to unique shapefile field names of at most 10 characters.

    Known names use :data:`SHAPEFILE_FIELDS`; others are cut to 10 characters and
    numbered when two would clash.

    Examples
    --------
    >>> g = gpd.GeoDataFrame({"community_id": ["a"], "abcdefghijk1": [1],
    ...                       "abcdefghijk2": [2]}, geometry=[shapely.Point(0, 0)])
    >>> shapefile_columns(g)[1]
    {'community_id': 'comm_id', 'abcdefghijk1': 'abcdefghij', 'abcdefghijk2': 'abcdefgh_2'}
    """
    fields: dict[str, str] = {}
    used: set[str] = set()
    for col in gdf.columns:
        if col == gdf.geometry.name:
            continue
        short = SHAPEFILE_FIELDS.get(col, col)[:10]
        n = 1
        while short.lower() in used:
            n += 1
            short = f"{SHAPEFILE_FIELDS.get(col, col)[:10 - len(str(n)) - 1]}_{n}"
        used.add(short.lower())
        fields[col] = short
    return gdf.rename(columns=fields), fields


def _by_geometry(name: str, gdf: gpd.GeoDataFrame) -> list[tuple[str, gpd.GeoDataFrame]]:
    """The layer, or its point and polygon parts when it mixes both (shapefiles cannot)."""
    dims = gdf.geometry.geom_type.map({"Point": "points", "MultiPoint": "points",
                                       "Polygon": "polygons", "MultiPolygon": "polygons"})
    if dims.nunique() <= 1:
        return [(name, gdf)]
    return [(f"{name}_{kind}", gdf[dims == kind]) for kind in ("points", "polygons")
            if (dims == kind).any()]


def _fields_csv(mapping: list[tuple[str, str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["layer", "field", "shapefile_field", "meaning"])
    for layer, long, short in mapping:
        writer.writerow([layer, long, short, FIELD_NOTES.get(long, "")])
    return buf.getvalue()


def _readme(layers: dict[str, gpd.GeoDataFrame], note: str,
            mapping: list[tuple[str, str, str]] | None = None) -> str:
    lines = ["gridplan export / 网格划分导出", "", note, "", "Layers:"]
    lines += [f"  {name}: {len(gdf)} features" for name, gdf in layers.items()]
    if mapping:
        lines += ["", "Shapefile field  <-  full name  (layer)"]
        lines += [f"  {short:<10}  <-  {long}  ({layer})" for layer, long, short in mapping]
    return "\n".join(lines) + "\n"


_WRITERS = {"geojson": _write_geojson, "gpkg": _write_gpkg, "shp": _write_shapefile,
            "csv": _write_csv, "parquet": _write_parquet, "fgb": _write_fgb}
