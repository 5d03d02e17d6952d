"""Export: write a plan as GeoJSON, CSV, GeoPackage, a JSON report and grids.xlsx, all or
nothing."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from gridplan.errors import InputError
from gridplan.export.excel import write_grids_xlsx
from gridplan.model import Plan
from gridplan.params import PlanParams

log = logging.getLogger(__name__)

GRID_FIELDS = ["grid_code", "community_id", "households", "population", "units", "area_m2",
               "polsby_popper", "barrier_crossings", "status", "reason"]
OPTIONAL_GRID_FIELDS = ["grid_type", "site_kind", "site_name", "reason_zh", "visit_equivalents",
                        "special_cases", "tour_m", "workload_hours", "workers", "change",
                        "locked"]
UNIT_FIELDS = ["unit_id", "grid_code", "community_id", "households"]
CELL_FIELDS = ["cell_id", "community_id", "grid_code", "block", "geometry"]  # parcels in GPKG
OUTPUT_FILES = ("grids.geojson", "units.csv", "plan.gpkg", "report.json", "grids.xlsx")
# files the other commands add to a plan folder (map, staffing, micro-grids, merge, re-plan):
# a new plan written into the folder makes those of the earlier plan stale, so they go
DERIVED_FILES = ("map.html", "workers.csv", "staffing.csv", "staffing.xlsx", "grids.xlsx",
                 "changes.csv", "diff_map.html", "microgrids*", "microunits.csv", "unified*",
                 "crosswalk.csv", "merge_report*")
Runner = Callable[[list[Callable[[], None]]], None]  # runs writers (see write_files)
TMP_PREFIX = ".gridplan-"  # + the writing process's id: a folder being written
# GeoPackage layers written with an R-tree: the ones opened on a map in QGIS. Units and
# parcels (tens of thousands of rows and more) are read whole by gridplan; an index there
# cost a third of the GeoPackage's writing time.
INDEXED_LAYERS = ("grids", "communities")


def to_rfc7946(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject to EPSG:4326 with counter-clockwise exterior rings (RFC 7946 §3.1.6)."""
    out = gdf.to_crs(4326)
    out.geometry = shapely.orient_polygons(out.geometry.values, exterior_cw=False)
    return out


def write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Write an RFC 7946 FeatureCollection (EPSG:4326, no ``crs`` member), one feature a line.

    Coordinates keep 7 decimals (1 cm), as GDAL's RFC 7946 writer does. The text is made
    here (GEOS for the geometry, pandas for the properties): GDAL's GeoJSON writer took
    0.95 s for 8,000 grids, this takes about a tenth of it.

    Examples
    --------
    >>> import tempfile
    >>> from shapely.geometry import Point
    >>> gdf = gpd.GeoDataFrame({"name": ["网格 1"]}, geometry=[Point(116.123456789, 39.9)],
    ...                        crs=4326)
    >>> path = Path(tempfile.mkdtemp()) / "a.geojson"
    >>> write_geojson(gdf, path)
    >>> lines = path.read_text(encoding="utf-8").splitlines()
    >>> lines[:3], lines[-2:]
    (['{', '"type": "FeatureCollection",', '"features": ['], [']', '}'])
    >>> for part in lines[3].split(GEOMETRY_KEY):
    ...     print(part)
    {"type": "Feature", "properties": {"name":"网格 1"}
    {"type":"Point","coordinates":[116.1234568,39.9]}}
    """
    out = to_rfc7946(gdf)
    geometry = _geometry_texts(out.geometry.values)
    _write_features(path, _property_texts(out), geometry)


GEOMETRY_KEY = ', "geometry": '  # what comes before a feature's geometry in its line
HEAD, TAIL = '{\n"type": "FeatureCollection",\n"features": [\n', "\n]\n}\n"
SEPARATOR = ",\n"  # between features


def _geometry_texts(geoms: np.ndarray) -> list[str]:
    """GeoJSON geometry of each shape, coordinates to 7 decimals; ``null`` for none."""
    rounded = shapely.transform(geoms, lambda xy: np.round(xy, 7))
    broken = ~shapely.is_valid(rounded)
    broken[broken] = shapely.is_valid(geoms[broken])  # invalid before rounding: left so
    if broken.any():  # rounding made a ring touch itself: snap-round those instead
        rounded[broken] = shapely.set_precision(geoms[broken], 1e-7)
    text = shapely.to_geojson(rounded)
    empty = shapely.is_missing(rounded) | shapely.is_empty(rounded)
    return ["null" if e else t for t, e in zip(text.tolist(), empty.tolist(), strict=True)]


def _property_texts(gdf: gpd.GeoDataFrame) -> list[str]:
    """Each row's columns but the geometry as a JSON object (missing values ``null``)."""
    props = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    if len(props) == 0:
        return []
    if len(props.columns) == 0:
        return ["{}"] * len(props)
    text = props.to_json(orient="records", lines=True, force_ascii=False,
                         double_precision=15, date_format="iso")
    return text.rstrip("\n").split("\n")


def _write_features(path: Path, props: list[str], geometry: list[str]) -> None:
    """The FeatureCollection's text, written as it is made (not joined into one string)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(HEAD)
        fh.writelines(f'{SEPARATOR if i else ""}{{"type": "Feature", "properties": {p}'
                      f'{GEOMETRY_KEY}{g}}}'
                      for i, (p, g) in enumerate(zip(props, geometry, strict=True)))
        fh.write(TAIL)


def write_geojson_like(gdf: gpd.GeoDataFrame, path: Path, source: Path) -> bool:
    """Write ``gdf`` as :func:`write_geojson` does, taking each feature's geometry text from
    the GeoJSON ``source`` that :func:`write_geojson` wrote for the same features.

    When only the grids' columns changed (``staff``), the properties are written and
    the geometry is the source's, byte for byte, without re-projecting. The source must
    have the same features in the same order (same first property, ``grid_code``)
    and, per feature, as many coordinates, rings and parts as ``gdf``'s geometry;
    otherwise nothing is written and the answer is ``False``.

    Returns
    -------
    bool
        Whether ``path`` was written.
    """
    geoms = gdf.geometry.values
    expected = _bracket_counts(geoms) if len(gdf) else None
    if expected is None or not source.is_file():
        return False
    props = _property_texts(gdf)
    with open(source, encoding="utf-8") as fh:
        text = fh.read()
    if not (text.startswith(HEAD) and text.endswith(TAIL)):
        return False
    old = text[len(HEAD):-len(TAIL)].split("\n")
    if len(old) != len(props):
        return False
    geometry = []
    for k, (line, prop) in enumerate(zip(old, props, strict=True)):
        at = line.rfind(GEOMETRY_KEY)
        code_end = prop.find(',"')
        start = line.find('"properties": ') + len('"properties": ')
        was = line[at + len(GEOMETRY_KEY):].rstrip(",")[:-1]
        if at < 0 or line[start:start + code_end] != prop[:code_end] or \
                was.count("[") != expected[k]:
            log.debug("%s does not match the grids at feature %d: written anew", source, k)
            return False
        geometry.append(was)
    _write_features(path, props, geometry)
    return True


def _bracket_counts(geoms) -> np.ndarray | None:
    """Opening brackets of each (multi)polygon's GeoJSON coordinates, or ``None`` if some
    geometry is empty or of another type.

    A Polygon's coordinates have one bracket per point, one per ring and one around all;
    a MultiPolygon's one more per polygon.

    Examples
    --------
    >>> from shapely.geometry import Polygon
    >>> _bracket_counts(np.array([Polygon([(0, 0), (1, 0), (1, 1)])])).tolist()
    [6]
    """
    kinds = shapely.get_type_id(geoms)
    if not np.isin(kinds, (3, 6)).all() or shapely.is_empty(geoms).any():
        return None
    parts, index = shapely.get_parts(geoms, return_index=True)
    rings = np.bincount(index, weights=shapely.get_num_interior_rings(parts) + 1,
                        minlength=len(geoms))
    multi = np.where(kinds == 6, shapely.get_num_geometries(geoms), 0)
    return shapely.get_num_coordinates(geoms) + rings.astype(np.int64) + multi + 1


def _arrow_ok(frame) -> bool:
    """Whether pyogrio can write ``frame`` through Arrow as it writes it without.

    Columns of Python lists (a grid's workers as the API stores them) have no Arrow
    equivalent OGR accepts; such frames are written the classic way.

    Examples
    --------
    >>> import pandas as pd
    >>> _arrow_ok(pd.DataFrame({"a": ["x"]})), _arrow_ok(pd.DataFrame({"w": [["W1"]]}))
    (True, False)
    """
    for name in frame.columns:
        col = frame[name]
        if col.dtype == object and col.map(lambda v: isinstance(v, list | tuple | dict | set)
                                           or hasattr(v, "__array__")).any():
            return False
    return True


def write_plan(plan, out_dir: str | Path, extra: dict[str, Callable[[Path], None]] | None = None,
               *, new: bool = True, unchanged_from: str | Path | None = None,
               run: Runner | None = None,
               check: Callable[[], None] | None = None) -> dict[str, Path]:
    """Write the plan's files into ``out_dir``, replacing them only once all are written.

    Files go to a temporary folder beside the outputs first; a failure part-way
    leaves any earlier plan in ``out_dir`` untouched and no partial files behind.
    A ``new`` plan replaces the folder's plan as a whole: files the other commands
    derived from the earlier plan (:data:`DERIVED_FILES`) are removed, and said so.

    Parameters
    ----------
    plan : Plan
        The plan to write.
    out_dir : str or Path
        Output folder (created if missing).
    extra : dict, optional
        More files to write: name → function writing that file at the given path.
    new : bool
        False when the folder's own plan is written again with more files (``staff``):
        what was derived from it stays.
    unchanged_from : str or Path, optional
        A plan folder whose units, communities and parcels are this plan's (the folder
        ``plan`` was read from, when only its grids gained columns, as in ``staff``):
        ``plan.gpkg``, ``units.csv`` and ``grids.xlsx`` are copied from it and only the
        GeoPackage's ``grids`` layer is written anew, which is several times faster on
        large plans. ``plan.cells`` is not needed then (read the plan with
        ``parcels=False``): the copy keeps the folder's parcels.
    run : callable, optional
        Runs the writers (the plan files, each of ``extra``, then ``plan.gpkg``, the
        longest), given as a list of functions without arguments; by default one after
        another.
    check : callable, optional
        Run (first) beside the writers: raising stops the plan's files from reaching
        ``out_dir``. For the plan's rules when the caller did not check them yet.

    Returns
    -------
    dict
        File name → final path.
    """
    source = Path(unchanged_from) if unchanged_from is not None else None
    writers = {"plan": lambda folder: _write_all(plan, folder, source)}
    writers.update({name: _into(name, w) for name, w in (extra or {}).items()})
    writers["plan.gpkg"] = lambda folder: _write_plan_gpkg(plan, folder, source)  # the longest
    written = write_files(out_dir, writers, [*OUTPUT_FILES, *(extra or {})], run=run,
                          check=check)
    if new:
        remove_stale(Path(out_dir), keep=set(written))
    return written


def remove_stale(out: Path, keep: set[str]) -> list[str]:
    """Remove the files an earlier plan's commands left in ``out`` (not those in ``keep``)."""
    stale = sorted({p.name for pattern in DERIVED_FILES for p in out.glob(pattern)
                    if p.is_file() and p.name not in keep})
    for name in stale:
        (out / name).unlink()
    if stale:
        log.warning("removed files of the earlier plan in %s: %s (a new plan replaces them)",
                    out, ", ".join(stale))
    return stale


def _into(name: str, writer: Callable[[Path], None]) -> Callable[[Path], None]:
    """A writer of the file ``name`` inside a given folder."""
    return lambda folder: writer(folder / name)


def write_files(out_dir: str | Path, writers: dict[str, Callable[[Path], None]],
                names: list[str], run: Runner | None = None,
                check: Callable[[], None] | None = None) -> dict[str, Path]:
    """Run ``writers`` into a temporary folder, then move ``names`` into ``out_dir``.

    Nothing in ``out_dir`` is replaced unless every writer succeeded, and ``check`` (run
    before the writers, by the same ``run``) returned. ``run`` runs the writers, given as
    functions without arguments (default: one after another).

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> sorted(write_files(d, {"a": lambda f: (f / "a.txt").write_text("x")}, ["a.txt"]))
    ['a.txt']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = temp_folder(out)
    try:
        tasks = [partial(writer, tmp) for writer in writers.values()]
        (run or _one_by_one)([check, *tasks] if check is not None else tasks)
        written = {}
        for name in names:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(tmp / name, target)
            written[name] = target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("wrote %s to %s", ", ".join(written), out)
    return written


def _one_by_one(tasks: list[Callable[[], None]]) -> None:
    for task in tasks:
        task()


def temp_folder(out: Path) -> Path:
    """A new temporary folder inside ``out`` for this process; abandoned ones are removed."""
    _remove_abandoned(out)
    return Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=out))


def _remove_abandoned(out: Path) -> None:
    """Remove temporary folders of writers that died (killed) before moving their files."""
    for tmp in out.glob(f"{TMP_PREFIX}*"):
        pid = tmp.name[len(TMP_PREFIX):].split("-")[0]
        if tmp.is_dir() and not (pid.isdigit() and _alive(int(pid))):
            shutil.rmtree(tmp, ignore_errors=True)
            log.info("removed %s, left by an interrupted run", tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_all(plan, folder: Path, source: Path | None = None) -> None:
    """Write the plan files (:data:`OUTPUT_FILES`) but ``plan.gpkg`` into ``folder``.

    With ``source`` (see :func:`write_plan`'s ``unchanged_from``), the files that do not
    depend on the grids' columns are copied from there when it has them.
    """
    layers = plan_layers(plan)
    reused = source is not None and write_geojson_like(layers["grids"], folder / "grids.geojson",
                                                       source / "grids.geojson")
    if not reused:
        write_geojson(layers["grids"], folder / "grids.geojson")
    copied = _copy_unchanged(source, folder, ("units.csv", "grids.xlsx"))
    if "units.csv" not in copied:
        plan.units[UNIT_FIELDS].to_csv(folder / "units.csv", index=False, encoding="utf-8")
    with open(folder / "report.json", "w", encoding="utf-8") as fh:
        json.dump(plan.report, fh, ensure_ascii=False, indent=2)
    if "grids.xlsx" not in copied:
        write_grids_xlsx(plan, folder / "grids.xlsx")


def _write_plan_gpkg(plan, folder: Path, source: Path | None = None) -> None:
    """Write ``plan.gpkg`` into ``folder``: all layers, or, from ``source``, a copy with
    the grids layer written anew (the other layers stay)."""
    gpkg = folder / "plan.gpkg"
    with unsynced_gpkg():
        if _copy_unchanged(source, folder, ("plan.gpkg",)):
            _write_layer(plan_layers(plan)["grids"], gpkg, "grids", append=False)
            return
        write_gpkg(plan_layers(plan), gpkg)
        if plan.cells is not None:
            _write_parcels(plan, gpkg)


SQLITE_SYNC = "OGR_SQLITE_SYNCHRONOUS"  # GDAL's setting of SQLite's PRAGMA synchronous
_unsynced = {"writers": 0, "before": None}  # GDAL's setting is the process's, for all threads
_unsynced_lock = threading.Lock()


def _unsynced_in_child() -> None:
    """A forked process starts with no open block: another thread's is the parent's own."""
    global _unsynced_lock
    _unsynced_lock = threading.Lock()
    if _unsynced["writers"]:
        _unsynced["writers"] = 0
        pyogrio.set_gdal_config_options({SQLITE_SYNC: _unsynced["before"]})


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_unsynced_in_child)


@contextmanager
def unsynced_gpkg() -> Iterator[None]:
    """GeoPackages written inside the block commit without waiting for the disk (SQLite's
    ``synchronous=OFF``); the setting before is restored when the last such block ends.

    For a plan's GeoPackage, written new in a temporary folder and moved into place only
    once it is complete. SQLite's syncs guard a database against a power cut during a
    transaction; a file that fails part-way is discarded with its folder whatever state
    it is in, so they guard nothing here. They kept the 500,000-unit command's GeoPackage
    waiting 2.3-2.7 s for the disk beyond its 9-12 s of CPU (0.2-0.6 s without them),
    and that process sets the end of the command. The plan's other files are not synced
    either: the system writes them all out in its own time. GDAL's setting holds for the
    whole process, so blocks in several threads share it: the first sets it, the last
    puts back what was there before the first.

    Examples
    --------
    >>> with unsynced_gpkg():
    ...     pyogrio.get_gdal_config_option(SQLITE_SYNC)  # pyogrio reads "OFF" as False
    False
    >>> pyogrio.get_gdal_config_option(SQLITE_SYNC) is None  # unless set before
    True
    """
    with _unsynced_lock:
        if _unsynced["writers"] == 0:
            _unsynced["before"] = pyogrio.get_gdal_config_option(SQLITE_SYNC)
            pyogrio.set_gdal_config_options({SQLITE_SYNC: "OFF"})
        _unsynced["writers"] += 1
    try:
        yield
    finally:
        with _unsynced_lock:
            _unsynced["writers"] -= 1
            if _unsynced["writers"] == 0:
                pyogrio.set_gdal_config_options({SQLITE_SYNC: _unsynced["before"]})


def _copy_unchanged(source: Path | None, folder: Path, names: tuple[str, ...]) -> set[str]:
    """Copy those of ``names`` that ``source`` has into ``folder``; their names."""
    if source is None:
        return set()
    copied = set()
    for name in names:
        if (source / name).is_file():
            shutil.copyfile(source / name, folder / name)
            copied.add(name)
    log.debug("copied %s from %s", ", ".join(sorted(copied)) or "nothing", source)
    return copied


def plan_layers(plan) -> dict[str, gpd.GeoDataFrame]:
    """The plan's grids, units and communities with the columns every output carries.

    Communities without a code get ``""`` (file formats without nulls in text fields).

    Examples
    --------
    >>> layers = plan_layers(plan)                        # doctest: +SKIP
    >>> list(layers)                                      # doctest: +SKIP
    ['grids', 'units', 'communities']
    """
    extra = [c for c in OPTIONAL_GRID_FIELDS if c in plan.grids.columns]
    grids = plan.grids[[*GRID_FIELDS, *extra, "geometry"]]
    cols = ["unit_id", "building_id", "grid_code", "cell_id", "community_id", "households",
            "population", "visit_equivalents", "geometry"]
    units = plan.units[[c for c in cols if c in plan.units.columns]]
    comm = plan.communities.copy()
    comm["code"] = comm["code"].astype(object).where(comm["code"].notna(), "")
    return {"grids": grids, "units": units, "communities": comm}


def write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    """Write layers (as from :func:`plan_layers`) into one GeoPackage, in their order.

    Grids stay single polygons; units may mix points and polygons; communities are
    promoted to MultiPolygon (a community may have islands). Only ``INDEXED_LAYERS`` get a
    spatial index.
    """
    for i, (name, gdf) in enumerate(layers.items()):
        options = {}
        if name == "units":
            kind = _geometry_type(gdf)
            options = {"geometry_type": kind, "promote_to_multi": kind == "MultiPolygon"}
        elif name == "communities":
            options = {"promote_to_multi": True}
        _write_layer(gdf, path, name, append=i > 0, **options)


def _write_layer(gdf, path: Path, name: str, append: bool = True, **options) -> None:
    """One GeoPackage layer, through Arrow where it can; an R-tree only on ``INDEXED_LAYERS``."""
    if "geometry" in getattr(gdf, "columns", ()):
        options.update(_index_options(name))
    pyogrio.write_dataframe(gdf, path, layer=name, driver="GPKG", append=append,
                            use_arrow=_arrow_ok(gdf), **options)


def _index_options(name: str) -> dict:
    """pyogrio's options for the geometry layer ``name``: no R-tree unless it is one of
    ``INDEXED_LAYERS``."""
    return {} if name in INDEXED_LAYERS else {"layer_options": {"SPATIAL_INDEX": "NO"}}


def write_wkb_layer(frame: pd.DataFrame, path: Path, name: str, *, crs,
                    geometry_type: str | None = None, promote_to_multi: bool = False) -> None:
    """Append a layer whose ``geometry`` column holds WKB (as ``shapely.to_wkb`` writes it by
    default) to a GeoPackage, as :func:`_write_layer` writes the same geometries, without
    making shapely objects of them.

    For frames read back from WKB only to be written again (a partitioned run's units and
    parcels): decoding, promoting and encoding them again took about a quarter of the
    merge's time at 500,000 units. Polygons are promoted to multi-polygons on their bytes
    (:func:`multi_polygon_wkb`). A frame that cannot be written so (another geometry type
    to promote, polygons in 3D, WKB with an SRID or big-endian, no geometry or no
    ``geometry_type`` to give, columns other than numbers and text) is decoded and written
    by :func:`_write_layer`.
    """
    if not _write_wkb(frame, path, name, crs=crs, geometry_type=geometry_type,
                      promote_to_multi=promote_to_multi):
        gdf = gpd.GeoDataFrame(frame.drop(columns="geometry"),
                               geometry=shapely.from_wkb(frame["geometry"].to_numpy()), crs=crs)
        _write_layer(gdf, path, name, geometry_type=geometry_type,
                     promote_to_multi=promote_to_multi)


def _write_wkb(frame: pd.DataFrame, path: Path, name: str, *, crs,
               geometry_type: str | None, promote_to_multi: bool) -> bool:
    """Append ``frame`` (its ``geometry`` as WKB) through Arrow as pyogrio's
    ``write_dataframe`` writes the geometries; False, writing nothing, where this cannot be
    sure to."""
    import pyarrow as pa

    wkb, kind = frame["geometry"].to_numpy(dtype=object), geometry_type
    if promote_to_multi:
        wkb, kind = multi_polygon_wkb(wkb), geometry_type or "MultiPolygon"
    elif not all(w is None or _plain_wkb(w) for w in wkb):
        wkb = None
    rest = frame.drop(columns="geometry")
    if (wkb is None or kind is None or not any(w is not None for w in wkb)
            or not _plain_columns(rest)):
        return False
    table = pa.Table.from_pandas(rest, preserve_index=False)
    for i, field in enumerate(table.schema):  # GDAL has no null type; pyogrio casts it too
        if pa.types.is_null(field.type):
            table = table.set_column(i, field.with_type(pa.string()), table[i].cast(pa.string()))
    table = table.add_column(frame.columns.get_loc("geometry"), "geometry",
                             pa.array(wkb, type=pa.binary()))
    pyogrio.write_arrow(table, path, layer=name, driver="GPKG", append=True,
                        geometry_name="geometry", geometry_type=kind, crs=_crs_text(crs),
                        **_index_options(name))
    return True


def _plain_wkb(wkb: bytes) -> bool:
    """Whether ``wkb`` is little-endian and carries no SRID (EWKB's 0x20000000 flag)."""
    return len(wkb) > 4 and wkb[0] == 1 and not wkb[4] & 0x20


def _plain_columns(frame: pd.DataFrame) -> bool:
    """Whether every column holds numbers, booleans or text (or only nulls): columns
    pyogrio hands to Arrow as they are (it converts dates and mixed objects first).

    Examples
    --------
    >>> _plain_columns(pd.DataFrame({"a": ["x", None], "n": [1, 2], "e": [None, None]}))
    True
    >>> _plain_columns(pd.DataFrame({"d": pd.to_datetime(["2026-12-04"])}))
    False
    """
    for name in frame.columns:
        col = frame[name]
        if col.dtype.kind in "iufb" or (col.dtype != object
                                         and pd.api.types.is_string_dtype(col.dtype)):
            continue
        if col.dtype != object or pd.api.types.infer_dtype(col) not in ("string", "empty"):
            return False
    return True


MULTI_POLYGON_HEAD = b"\x01\x06\x00\x00\x00\x01\x00\x00\x00"  # little-endian, 1 part


def multi_polygon_wkb(wkb: np.ndarray) -> np.ndarray | None:
    """2D little-endian WKB polygons as one-part multi-polygons, multi-polygons as they are;
    None if any is another type (missing geometries stay missing).

    The bytes ``shapely.to_wkb(shapely.multipolygons([p]))`` gives for each polygon ``p``.

    Examples
    --------
    >>> p = shapely.box(0, 0, 1, 1)
    >>> out = multi_polygon_wkb(np.array([shapely.to_wkb(p), None], dtype=object))
    >>> out[0] == shapely.to_wkb(shapely.multipolygons([p])), out[1]
    (True, None)
    >>> multi_polygon_wkb(np.array([shapely.to_wkb(shapely.Point(0, 0))], dtype=object))
    """
    out = np.empty(len(wkb), dtype=object)
    for i, w in enumerate(wkb):
        if w is None:
            out[i] = None
        elif w[:5] == b"\x01\x03\x00\x00\x00":
            out[i] = MULTI_POLYGON_HEAD + w
        elif w[:5] == b"\x01\x06\x00\x00\x00":
            out[i] = w
        else:
            return None
    return out


def _crs_text(crs) -> str | None:
    """The CRS as pyogrio's ``write_dataframe`` passes it to GDAL: its EPSG code, else WKT1."""
    if crs is None:
        return None
    crs = pyproj.CRS.from_user_input(crs)
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt("WKT1_GDAL")


def _write_parcels(plan, gpkg: Path) -> None:
    """Parcels (the pieces a planner moves) and their adjacency, for editing the plan later."""
    _write_layer(plan.cells[CELL_FIELDS], gpkg, "cells", promote_to_multi=True)
    write_cell_edges(plan.cell_edges, gpkg)


def write_cell_edges(edges: pd.DataFrame, gpkg: Path) -> None:
    """Append the parcels' adjacency (``cell_edges``) to a GeoPackage."""
    _write_layer(edges.astype({"crossing": "int64"}), gpkg, "cell_edges")


def _geometry_type(gdf: gpd.GeoDataFrame) -> str:
    """GeoPackage geometry type for a layer that may mix points and polygons."""
    kinds = set(gdf.geometry.geom_type.unique())
    if kinds <= {"Point"}:
        return "Point"
    if kinds <= {"Polygon", "MultiPolygon"}:
        return "MultiPolygon"
    return "Unknown"


def read_plan(out_dir: str | Path, *, parcels: bool = True):
    """Read a plan written by :func:`write_plan` back (grids, units, communities, report).

    Parameters
    ----------
    out_dir : str or Path
        The plan folder.
    parcels : bool
        Also read the parcels (``cells`` and ``cell_edges``, for editing); a job that
        leaves them as they are and writes with ``unchanged_from`` can skip them.
    """
    folder = Path(out_dir)
    gpkg, report = folder / "plan.gpkg", folder / "report.json"
    if not gpkg.exists() or not report.exists():
        raise InputError("no plan here (plan.gpkg and report.json are missing)",
                         source=str(folder), fix="give the --out folder of a `gridplan plan` run")
    try:
        # through Arrow: the same frames (checked column by column), in half the time
        layers = {name: gpd.read_file(gpkg, layer=name, use_arrow=True)
                  for name in ("grids", "units", "communities")}
        names = set(pyogrio.list_layers(gpkg)[:, 0])
        cells = edges = None
        if parcels and {"cells", "cell_edges"} <= names:
            cells = gpd.read_file(gpkg, layer="cells", use_arrow=True)
            edges = pyogrio.read_dataframe(gpkg, layer="cell_edges", read_geometry=False)
            edges["crossing"] = edges["crossing"].astype(bool)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputError(f"plan.gpkg cannot be read ({str(exc)[:200]})", source=str(gpkg),
                         fix="write the plan again with `gridplan plan --out`") from exc
    layers["communities"]["code"] = layers["communities"]["code"].replace("", None)
    try:
        with open(report, encoding="utf-8") as fh:
            rep = json.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"report.json is not valid JSON ({str(exc)[:200]})",
                         source=str(report),
                         fix="write the plan again with `gridplan plan --out`") from exc
    params = dict(rep["params"])
    params["barrier_highways"] = tuple(params.get("barrier_highways", ()))
    return Plan(grids=layers["grids"], units=layers["units"],
                communities=layers["communities"], params=PlanParams(**params), report=rep,
                cells=cells, cell_edges=edges)
