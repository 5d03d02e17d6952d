"""Tables: CSV and Excel files read with their encoding, and points from coordinate columns.

Chinese planners keep lists in Excel, and Chinese Excel saves CSV in GBK (code page 936).
Text is decoded as given (``--encoding``), else as UTF-8 (with or without a byte-order
mark), else as GB18030 (a superset of GBK and GB2312); the encoding used is recorded in the
input notes. A table of points (``lon``/``lat``, ``经度``/``纬度``, ``x``/``y``...) becomes a
point layer in EPSG:4326 unless a CRS is given.
"""

from __future__ import annotations

import codecs
import io
import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gridplan.errors import InputError

log = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
TABLE_SUFFIXES = CSV_SUFFIXES + EXCEL_SUFFIXES
FALLBACK_ENCODINGS = ("utf-8-sig", "gb18030")  # UTF-8 (BOM or none), then Chinese Excel's

X_NAMES = ("lon", "lng", "long", "longitude", "x", "经度", "x坐标", "lon_wgs84", "lng_wgs84")
Y_NAMES = ("lat", "latitude", "y", "纬度", "y坐标", "lat_wgs84")


def is_table(path: str | Path) -> bool:
    """Whether ``path`` names a CSV or Excel table (by its suffix).

    Examples
    --------
    >>> is_table("points.CSV"), is_table("b.xlsx"), is_table("b.gpkg")
    (True, True, False)
    """
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def decode(raw: bytes, *, source: str, encoding: str | None = None,
           option: str = "--encoding") -> tuple[str, str]:
    """The text of ``raw`` bytes and the encoding that decoded them.

    Examples
    --------
    >>> decode("荷花池社区".encode("gbk"), source="a.csv")
    ('荷花池社区', 'gb18030')
    >>> decode(b"\\xef\\xbb\\xbfid", source="a.csv")
    ('id', 'utf-8')
    >>> decode(b"id,\\xff\\xff", source="a.csv")
    Traceback (most recent call last):
    ...
    gridplan.errors.InputError: a.csv: field --encoding: the text is neither UTF-8 nor \
GB18030/GBK (undecodable byte 0xff at offset 3). Fix: save the file as UTF-8, or pass the \
encoding it was written in, e.g. --encoding gbk (or big5, latin-1)
    """
    if encoding:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError as exc:
            raise InputError(f"unknown encoding {encoding!r}", source=source, field=option,
                             fix="pass an encoding Python knows, e.g. utf-8, gbk, gb18030, "
                                 "big5") from exc
        try:
            return raw.decode(codec), encoding
        except UnicodeDecodeError as exc:
            raise InputError(f"the text cannot be decoded as {encoding} "
                             f"(byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                             source=source, field=option,
                             fix="pass the encoding the file was written in, e.g. "
                                 f"{option} gbk, or leave {option} out to detect "
                                 "UTF-8 or GB18030") from exc
    first = None
    for codec in FALLBACK_ENCODINGS:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as exc:
            first = first or exc
            continue
        return text, "utf-8" if codec == "utf-8-sig" else codec
    raise InputError("the text is neither UTF-8 nor GB18030/GBK (undecodable byte "
                     f"0x{raw[first.start]:02x} at offset {first.start})", source=source,
                     field=option,
                     fix="save the file as UTF-8, or pass the encoding it was written in, "
                         f"e.g. {option} gbk (or big5, latin-1)")


def read_csv(path: str | Path, *, what: str, encoding: str | None = None,
             source: str | None = None, dtype=None, option: str = "--encoding",
             path_option: str | None = None) -> tuple[pd.DataFrame, str]:
    """A CSV file as a frame, decoded as :func:`decode` does; returns it and the encoding.

    ``path_option`` names the option that gave the file (for the missing-file fix).
    """
    src = str(source or path)
    try:
        raw = Path(path).read_bytes()
    except (FileNotFoundError, IsADirectoryError) as exc:
        given = f"with {path_option}" if path_option else f"for the {what} table"
        raise InputError("file not found", source=src, fix=f"check the path given {given}"
                         ) from exc
    text, used = decode(raw, source=src, encoding=encoding, option=option)
    sep = "\t" if Path(path).suffix.lower() == ".tsv" else ","
    try:
        df = pd.read_csv(io.StringIO(text), dtype=dtype, sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputError(f"cannot be read as a CSV table ({type(exc).__name__}: {exc})",
                         source=src, fix="give a comma-separated table with a header row"
                         ) from exc
    df.columns = [str(c).strip() for c in df.columns]
    df.attrs["source"] = src
    log.info("%s: read %d rows as %s", src, len(df), used)
    return df, used


def read_excel(path: str | Path, *, what: str, sheet: str | None = None,
               source: str | None = None) -> tuple[pd.DataFrame, str]:
    """An Excel sheet as a frame; returns it and the sheet read.

    Without ``sheet``: the only sheet, else the only one with coordinate columns, else
    an :class:`InputError` listing the sheets.
    """
    src = str(source or path)
    if not Path(path).exists():
        raise InputError("file not found", source=src,
                         fix=f"check the path given for the {what} layer")
    try:
        sheets = pd.read_excel(path, sheet_name=None, engine="openpyxl")
    except ImportError as exc:
        raise InputError("reading Excel files needs openpyxl", source=src,
                         fix="pip install openpyxl, or save the sheet as CSV") from exc
    except Exception as exc:  # openpyxl raises several types for a damaged or foreign file
        raise InputError(f"cannot be read as an Excel workbook ({type(exc).__name__}: {exc})",
                         source=src, fix="save it as .xlsx from Excel or WPS, or as CSV"
                         ) from exc
    names = list(sheets)
    if sheet is not None:
        if sheet not in sheets:
            raise InputError(f"no sheet {sheet!r} in the workbook (sheets: {', '.join(names)})",
                             source=src, field=sheet,
                             fix=f"name one of the sheets, e.g. {Path(src).name}:{names[0]}")
        chosen = sheet
    elif len(names) == 1:
        chosen = names[0]
    else:
        with_xy = [n for n in names if _find(sheets[n].columns, X_NAMES)
                   and _find(sheets[n].columns, Y_NAMES)]
        if len(with_xy) != 1:
            raise InputError(f"the workbook holds {len(names)} sheets ({', '.join(names)})",
                             source=src, field="sheet",
                             fix=f"name the sheet to read, e.g. {Path(src).name}:{names[0]}")
        chosen = with_xy[0]
    df = sheets[chosen]
    df.columns = [str(c).strip() for c in df.columns]
    df.attrs["source"] = src
    return df, chosen


def _find(columns, names: tuple[str, ...]) -> str | None:
    """The first column whose name (stripped, case-insensitive) is one of ``names``."""
    by_name = {str(c).strip().lower(): c for c in columns}
    for name in names:
        if name in by_name:
            return by_name[name]
    return None


def points_from_table(df: pd.DataFrame, *, what: str, x_field: str | None = None,
                      y_field: str | None = None, crs: str | None = None,
                      source: str | None = None) -> gpd.GeoDataFrame:
    """Points from a table's longitude/latitude (or x/y) columns, in ``crs`` (EPSG:4326).

    Columns are ``x_field``/``y_field`` when given, else found by common names
    (:data:`X_NAMES`, :data:`Y_NAMES`, case-insensitive).

    Examples
    --------
    >>> t = pd.DataFrame({"unit_id": ["a"], "households": [300], "经度": [116.3],
    ...                   "纬度": [39.9]})
    >>> g = points_from_table(t, what="population")
    >>> g.crs.to_string(), g.geometry[0].x
    ('EPSG:4326', 116.3)
    >>> points_from_table(t[["unit_id"]], what="population", source="p.csv")
    Traceback (most recent call last):
    ...
    gridplan.errors.InputError: p.csv: field lon/lat: no longitude and latitude columns in \
the population table (columns: unit_id). Fix: name them lon and lat (or lng, longitude, x, \
经度 and lat, latitude, y, 纬度), or pass --x-field COLUMN --y-field COLUMN
    """
    src = str(source or df.attrs.get("source", what))
    columns = ", ".join(map(str, df.columns))
    picked = []
    for given, names, option in ((x_field, X_NAMES, "--x-field"),
                                 (y_field, Y_NAMES, "--y-field")):
        if given:
            if given not in df.columns:
                raise InputError(f"no column {given!r} in the {what} table (columns: {columns})",
                                 source=src, field=given,
                                 fix=f"name the coordinate column with {option}")
            picked.append(given)
        else:
            picked.append(_find(df.columns, names))
    if picked[0] is None or picked[1] is None:
        raise InputError(f"no longitude and latitude columns in the {what} table "
                         f"(columns: {columns})", source=src, field="lon/lat",
                         fix="name them lon and lat (or lng, longitude, x, 经度 and lat, "
                             "latitude, y, 纬度), or pass --x-field COLUMN --y-field COLUMN")
    xy = []
    for col in picked:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna()
        if bad.any():
            rows = ", ".join(str(i + 2) for i in df.index[bad][:5])
            raise InputError(f"{int(bad.sum())} row(s) without a numeric {col} "
                             f"(rows {rows}, counting the header as row 1)", source=src,
                             field=str(col), fix="give every row its coordinates as numbers "
                                                 "(decimal degrees, e.g. 116.3912)")
        xy.append(values.to_numpy(float))
    gdf = gpd.GeoDataFrame(df.copy(), geometry=gpd.points_from_xy(xy[0], xy[1]),
                           crs=crs or "EPSG:4326")
    gdf.attrs["source"] = src
    return gdf
