"""Population rasters: a GeoTIFF of residents per cell (WorldPop, GHS-POP) read as units.

Without building footprints each cell with residents becomes a unit (the cell's square).
With footprints (``--buildings``) the residents of each cell go to the buildings whose
footprints intersect it, in proportion to the footprint area inside the cell (times the
building's levels when a ``building:levels`` or ``levels`` field gives them); a cell that
no footprint covers keeps its residents as a cell unit, so no resident is lost.

rasterio is an optional dependency (``pip install "gridplan[raster]"``), imported only
when a raster is read.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridplan.errors import InputError

log = logging.getLogger(__name__)

RASTER_SUFFIXES = (".tif", ".tiff")
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF
LEVEL_FIELDS = ("building:levels", "building_levels", "levels", "floors", "层数")
MAX_CELLS = 50_000_000  # cells read at once (400 MB as float64); larger rasters are clipped first
FIX_RASTER = ("give a GeoTIFF of residents per cell with a CRS (e.g. WorldPop or "
              "GHS-POP), or a vector file of buildings/points with households")


def is_raster(path: str | Path) -> bool:
    """Whether ``path`` names a GeoTIFF, by its suffix or its first bytes.

    Examples
    --------
    >>> is_raster("pop.tif"), is_raster("missing.geojson")
    (True, False)
    """
    path = Path(path)
    if path.suffix.lower() in RASTER_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) in TIFF_MAGIC
    except OSError:
        return False


def _rasterio():
    try:
        import rasterio  # optional: the [raster] extra
    except ImportError as exc:
        raise InputError("reading a population raster needs rasterio", field="--population",
                         fix='pip install "gridplan[raster]"') from exc
    return rasterio


def read_cells(path: str | Path, *, source: str | None = None,
               crs: str | None = None) -> gpd.GeoDataFrame:
    """The cells of a population raster with residents > 0, as square polygons.

    Columns ``cell_id`` (``r<row>c<col>``) and ``residents``; the raster's CRS (or
    ``crs`` when the file declares none). Nodata, NaN and negative cells are left out.
    """
    rasterio = _rasterio()
    src = str(source or path)
    if not Path(path).exists():
        raise InputError("file not found", source=src, field="--population",
                         fix="check the path given for the population raster")
    try:
        with rasterio.open(path, driver="GTiff") as ds:
            if ds.width * ds.height > MAX_CELLS:
                raise InputError(
                    f"the raster has {ds.width} × {ds.height} cells, more than "
                    f"{MAX_CELLS:,} read at once", source=src, field="--population",
                    fix="clip it to the study area first, e.g. gdalwarp -te XMIN YMIN XMAX "
                        "YMAX in.tif area.tif")
            values = ds.read(1, masked=True).astype("float64")
            transform, file_crs = ds.transform, ds.crs
    except rasterio.errors.RasterioError as exc:
        raise InputError(f"cannot be read as a raster ({exc})", source=src,
                         field="--population", fix=FIX_RASTER) from exc
    if file_crs is None and not crs:
        raise InputError("the raster has no CRS", source=src, field="--population",
                         fix="assign one (gdal_edit.py -a_srs EPSG:4326 FILE) or pass "
                             "--crs EPSG:4326")
    data = np.ma.filled(values, np.nan)
    rows, cols = np.nonzero(np.isfinite(data) & (data > 0))
    if len(rows) == 0:
        raise InputError("the raster has no cell with residents > 0", source=src,
                         field="--population", fix=FIX_RASTER)
    boxes = cell_polygons(transform, rows, cols)
    ids = [f"r{r}c{c}" for r, c in zip(rows, cols, strict=True)]
    out = gpd.GeoDataFrame({"cell_id": ids, "residents": data[rows, cols]}, geometry=boxes,
                           crs=file_crs or crs)
    out.attrs["source"] = src
    return out


def cell_polygons(transform, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The polygons of cells (``rows``, ``cols``) of a raster with an affine ``transform``.

    Examples
    --------
    >>> from affine import Affine
    >>> cell_polygons(Affine(10, 0, 100, 0, -10, 50), np.array([0]), np.array([1]))[0].bounds
    (110.0, 40.0, 120.0, 50.0)
    """
    a, b, c, d, e, f = tuple(transform)[:6]
    corners = [(cols, rows), (cols + 1, rows), (cols + 1, rows + 1), (cols, rows + 1),
               (cols, rows)]
    xy = np.stack([np.stack([a * x + b * y + c, d * x + e * y + f], axis=-1)
                   for x, y in corners], axis=1)
    return shapely.orient_polygons(shapely.polygons(xy))


def apportion(cells: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, *,
              id_field: str = "unit_id") -> gpd.GeoDataFrame:
    """Units with ``unit_id`` and ``population``: buildings given their cells' residents.

    Each cell's residents are shared among the footprints that intersect it by footprint
    area inside the cell × levels; cells that no footprint covers stay units themselves.
    Buildings that receive no residents are left out. Residents are conserved.

    Examples
    --------
    >>> cells = gpd.GeoDataFrame({"cell_id": ["a", "b"], "residents": [10.0, 4.0]},
    ...     geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], crs=3857)
    >>> b = gpd.GeoDataFrame({"unit_id": ["x", "y"]}, geometry=[shapely.box(0, 0, .5, .5),
    ...     shapely.box(.5, .5, 1, 1)], crs=3857)
    >>> apportion(cells, b)[["unit_id", "population"]].values.tolist()
    [['x', 5.0], ['y', 5.0], ['b', 4.0]]
    """
    b = buildings.to_crs(cells.crs)
    ids = (b[id_field].astype(str) if id_field in b.columns
           else pd.Series([f"B{i + 1}" for i in range(len(b))], index=b.index))
    levels = _levels(b)
    bi, ci = cells.sindex.query(b.geometry.values, predicate="intersects")
    area = shapely.area(shapely.intersection(b.geometry.values[bi], cells.geometry.values[ci]))
    weight = area * levels[bi]
    keep = weight > 0
    bi, ci, weight = bi[keep], ci[keep], weight[keep]
    total = np.bincount(ci, weights=weight, minlength=len(cells))
    residents = cells["residents"].to_numpy(float)
    share = residents[ci] * weight / total[ci]
    got = np.bincount(bi, weights=share, minlength=len(b))
    has = got > 0
    housed = gpd.GeoDataFrame({"unit_id": ids.values[has], "population": got[has]},
                              geometry=b.geometry.values[has], crs=cells.crs)
    empty = total == 0
    bare = gpd.GeoDataFrame({"unit_id": cells["cell_id"].values[empty],
                             "population": residents[empty]},
                            geometry=cells.geometry.values[empty], crs=cells.crs)
    out = gpd.GeoDataFrame(pd.concat([housed, bare], ignore_index=True), crs=cells.crs)
    out.attrs["buildings_with_residents"] = int(has.sum())
    out.attrs["buildings_without_residents"] = int((~has).sum())
    out.attrs["cells_kept"] = int(empty.sum())
    return out


def _levels(buildings: gpd.GeoDataFrame) -> np.ndarray:
    """Levels of each building (1 where not given or not a positive number)."""
    for name in LEVEL_FIELDS:
        if name in buildings.columns:
            v = pd.to_numeric(buildings[name], errors="coerce").to_numpy(float)
            return np.where(np.isfinite(v) & (v > 0), v, 1.0)
    return np.ones(len(buildings))


def raster_units(path: str | Path, buildings: gpd.GeoDataFrame | None = None, *,
                 source: str | None = None, crs: str | None = None,
                 id_field: str = "unit_id") -> gpd.GeoDataFrame:
    """A population raster as units with ``unit_id`` and ``population`` (residents).

    ``buildings`` (footprints, any CRS) receive the residents of the cells they cover
    (:func:`apportion`); without them each cell with residents is a unit.
    """
    cells = read_cells(path, source=source, crs=crs)
    if buildings is None:
        units = gpd.GeoDataFrame({"unit_id": cells["cell_id"], "population": cells["residents"]},
                                 geometry=cells.geometry.values, crs=cells.crs)
        units.attrs["cells_kept"] = len(cells)
    else:
        units = apportion(cells, buildings, id_field=id_field)
    units.attrs["cells"] = len(cells)
    units.attrs["residents_read"] = float(cells["residents"].sum())
    units.attrs["source"] = cells.attrs["source"]
    return units
