"""Uploads: recognise a file from its first bytes; check JSON depth, OSM XML and CSV text.

OSM PBF is recognised by its first blob header (``OSMHeader``); it needs no content
check here: it declares no entities, and pyosmium refuses blobs that inflate past
their declared size (at most 32 MB each).
"""

from __future__ import annotations

import bz2
import gzip
import json
import re
from pathlib import Path
from xml.parsers import expat

from gridplan.api.uploads.common import (
    ACCEPTED,
    CHUNK,
    GPKG_APPLICATION_IDS,
    MB,
    UploadError,
    UploadLimits,
    human_size,
)
from gridplan.api.uploads.names import suffix_of

from gridplan.layers.osm import is_pbf
from gridplan.layers.raster import TIFF_MAGIC

HEAD = 64 * 1024  # bytes inspected to recognise a format
JSON_TYPE_CHECK_BYTES = 16 * MB  # larger JSON is not parsed whole just to read its "type"
RATIO_MIN_BYTES = MB  # compressed XML unpacking to less than this is not ratio-checked
EXTENSIONS = {
    "geojson": (".geojson", ".json"),
    "gpkg": (".gpkg",),
    "shapefile": (".zip",),
    "osm": (".osm", ".osm.bz2", ".osm.gz", ".xml", ".xml.bz2", ".xml.gz", ".bz2", ".gz",
            ".osm.pbf", ".pbf"),
    "csv": (".csv", ".txt"),
    "tif": (".tif", ".tiff"),
}
SAVED_SUFFIX = {"geojson": ".geojson", "gpkg": ".gpkg", "csv": ".csv", "zip": ".zip",
                "osm": ".osm", "osm.bz2": ".osm.bz2", "osm.gz": ".osm.gz", "osm.pbf": ".osm.pbf",
                "tif": ".tif"}


def sniff(head: bytes, source: str) -> str:
    """The container or format the first bytes reveal."""
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"PK\x05\x06"):
        raise UploadError(400, "the zip file is empty", source=source,
                          fix="zip the dataset's files and upload again")
    if is_pbf(head):
        return "osm.pbf"
    if head.startswith(b"BZh"):
        return "osm.bz2"
    if head.startswith(b"\x1f\x8b"):
        return "osm.gz"
    if head[:4] in TIFF_MAGIC:
        return "tif"  # a population raster (GeoTIFF), read by the loader with rasterio
    if head.startswith(b"SQLite format 3\x00"):
        if head[68:72] in GPKG_APPLICATION_IDS:
            return "gpkg"
        raise UploadError(415, "an SQLite database that is not a GeoPackage", source=source,
                          fix="export the layer as a GeoPackage (.gpkg)")
    text = _text_head(head)
    if text is None and b"\x00" not in head:
        return "csv"  # text in another encoding (GBK...): the loader decodes it
    if text is None:
        raise UploadError(415, "unrecognised binary content", source=source,
                          fix=f"upload {ACCEPTED}")
    if text[:1] in "{[":
        return "geojson"
    if text[:1] == "<":
        return "osm"
    return "csv"


def _text_head(head: bytes) -> str | None:
    """The head decoded as UTF-8 (BOM and leading spaces dropped), or None if binary."""
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the head
            return None
        text = head[:exc.start].decode("utf-8")
    return text.lstrip("\ufeff \t\r\n")


def check_extension(kind: str, filename: str, source: str) -> None:
    """The extension must be one this content may carry."""
    fmt = "shapefile" if kind == "zip" else kind.split(".")[0]
    suffix = suffix_of(filename)
    if suffix in EXTENSIONS[fmt]:
        return
    known = sorted({s for exts in EXTENSIONS.values() for s in exts})
    if suffix in known:
        problem = f"the file is named {suffix} but its content is {_label(kind)}"
    else:
        problem = f"the extension {suffix or '(none)'} is not accepted"
    raise UploadError(415, problem, source=source,
                      fix=f"upload {ACCEPTED}, with the extension matching the content")


def _label(kind: str) -> str:
    return {"zip": "a zip archive", "osm.bz2": "bzip2-compressed data",
            "osm.gz": "gzip-compressed data", "gpkg": "a GeoPackage", "geojson": "JSON",
            "osm": "XML", "osm.pbf": "OSM PBF", "csv": "text (CSV)", "tif": "a TIFF image"}[kind]


def check_content(kind: str, path: Path, source: str, limits: UploadLimits) -> None:
    """Format-specific checks before any reader opens the file."""
    if kind == "geojson":
        check_json(path, source=source, max_depth=limits.max_json_depth)
    elif kind.startswith("osm") and kind != "osm.pbf":
        check_osm_xml(path, source=source, max_bytes=limits.max_unzipped_bytes,
                      max_ratio=limits.max_ratio)
    elif kind == "csv":
        check_csv(path, source)


def check_json(path: Path, *, source: str, max_depth: int = 64) -> None:
    """Refuse JSON nested deeper than ``max_depth`` (streaming; strings and escapes skipped).

    Then, for files up to 16 MB, parse it and require a GeoJSON object (``Feature``,
    ``FeatureCollection`` or a geometry); larger files are left to the vector reader.

    Examples
    --------
    >>> import tempfile, os
    >>> p = Path(tempfile.mkdtemp()) / "deep.json"
    >>> _ = p.write_text("[" * 100 + "]" * 100)
    >>> check_json(p, source="deep.json", max_depth=64)
    Traceback (most recent call last):
    ...
    gridplan.api.uploads.common.UploadError: deep.json: JSON nested deeper than 64 levels. Fix: ...
    """
    depth = json_depth(path, limit=max_depth)
    if depth > max_depth:
        raise UploadError(400, f"JSON nested deeper than {max_depth} levels", source=source,
                          fix="upload a GeoJSON FeatureCollection (features need only a few "
                              "levels of nesting)")
    if path.stat().st_size > JSON_TYPE_CHECK_BYTES:
        return  # parsing it whole here would cost GBs; the vector reader names what is wrong
    try:
        with open(path, encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except (ValueError, RecursionError) as exc:
        raise UploadError(400, f"not valid JSON ({exc})", source=source,
                          fix="check the file was saved completely, as UTF-8 GeoJSON") from exc
    kinds = ("FeatureCollection", "Feature", "Point", "MultiPoint", "LineString",
             "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection")
    if not isinstance(data, dict) or data.get("type") not in kinds:
        found = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise UploadError(415, f"JSON but not GeoJSON (type {found!r})", source=source,
                          fix="upload a GeoJSON FeatureCollection")


_JSON_TOKENS = re.compile(rb'[\[\]{}"\\]')


def json_depth(path: Path, limit: int | None = None) -> int:
    """Deepest nesting of ``[``/``{`` in a JSON file, read in chunks without parsing.

    Brackets inside strings (including escaped quotes) do not count. Stops early
    once ``limit`` is passed.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.json"
    >>> _ = p.write_text('{"a": [[1, 2]], "b": "[[[\\\\"[["}')
    >>> json_depth(p)
    3
    """
    depth = deepest = 0
    in_string = escaped = False
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            skip_at = 0 if escaped else -1
            escaped = False
            for m in _JSON_TOKENS.finditer(chunk):
                pos, ch = m.start(), chunk[m.start()]
                if pos == skip_at:
                    continue
                if in_string:
                    if ch == 0x5C:  # backslash: the next byte is escaped
                        skip_at = pos + 1
                        escaped = skip_at == len(chunk)
                    elif ch == 0x22:
                        in_string = False
                elif ch == 0x22:
                    in_string = True
                elif ch in (0x5B, 0x7B):
                    depth += 1
                    deepest = max(deepest, depth)
                    if limit is not None and deepest > limit:
                        return deepest
                elif ch in (0x5D, 0x7D):
                    depth -= 1
    return deepest


def check_osm_xml(path: Path, *, source: str, max_bytes: int,
                  max_ratio: float | None = None) -> None:
    """Refuse XML that is not OSM, declares a DOCTYPE/entities, or inflates past ``max_bytes``.

    The (decompressed) stream is read once, chunk by chunk, and never kept: its size
    is counted and its start fed to expat until the root element appears, so a DOCTYPE
    hidden after a long comment is still seen. No entity is ever resolved. Compressed
    XML (``.bz2``, ``.gz``) is refused (400, as a zip is) as soon as it unpacks to more
    than ``max_bytes`` or, past :data:`RATIO_MIN_BYTES`, to more than ``max_ratio`` times
    the compressed file (a decompression bomb): real OSM XML compresses about 10–20:1.

    Examples
    --------
    >>> import bz2, tempfile
    >>> p = Path(tempfile.mkdtemp()) / "bomb.osm.bz2"
    >>> _ = p.write_bytes(bz2.compress(b"<osm>" + b" " * 5_000_000))
    >>> check_osm_xml(p, source="bomb.osm.bz2", max_bytes=800 * MB, max_ratio=100)
    Traceback (most recent call last):
    ...
    gridplan.api.uploads.common.UploadError: bomb.osm.bz2: the file unpacks more than 100:1 ...
    """
    opener = {".bz2": bz2.open, ".gz": gzip.open}.get(path.suffix, open)
    packed = path.stat().st_size
    compressed = opener is not open
    prolog = _XMLProlog(source)
    total = 0
    try:
        with opener(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise UploadError(
                        400, f"the file decompresses to more than {human_size(max_bytes)}",
                        source=source, fix="upload a smaller OSM extract, or the same area "
                                           "as .osm.pbf")
                if (compressed and max_ratio is not None and total > RATIO_MIN_BYTES
                        and total > max_ratio * packed):
                    raise UploadError(
                        400, f"the file unpacks more than {max_ratio:g}:1 ({packed:,} bytes "
                             f"to at least {total:,}); it looks like a decompression bomb",
                        source=source, fix="upload the OSM extract compressed normally "
                                           "(e.g. as downloaded), or as .osm.pbf")
                prolog.feed(chunk)
    except (OSError, EOFError, ValueError) as exc:
        raise UploadError(400, f"the compressed data is corrupt ({exc})", source=source,
                          fix="upload the .osm.bz2 file again") from exc
    prolog.finish()


class _XMLProlog:
    """Feeds XML to expat until the root element; refuses DOCTYPE and entity declarations."""

    def __init__(self, source: str) -> None:
        self.source, self.root = source, None
        self.parser = expat.ParserCreate()
        self.parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.parser.StartDoctypeDeclHandler = self._doctype
        self.parser.EntityDeclHandler = self._doctype
        self.parser.StartElementHandler = self._start

    def _doctype(self, *_args) -> None:
        raise UploadError(400, "XML with a DOCTYPE or entity declarations is not accepted",
                          source=self.source, fix="upload a plain OSM XML extract")

    def _start(self, name: str, _attrs) -> None:
        self.root = name
        self.parser.StartElementHandler = None
        if name != "osm":
            raise UploadError(415, f"XML whose root element is <{name}>, not <osm>",
                              source=self.source,
                              fix="upload an OpenStreetMap XML extract (.osm or .osm.bz2)")

    def feed(self, chunk: bytes) -> None:
        if self.root is not None:
            return
        try:
            self.parser.Parse(chunk, False)
        except expat.ExpatError as exc:
            raise UploadError(400, f"not well-formed XML ({expat.ErrorString(exc.code)}, "
                                   f"line {exc.lineno})", source=self.source,
                              fix="upload the OSM extract again, complete") from exc

    def finish(self) -> None:
        if self.root is None:
            raise UploadError(400, "XML without a root element", source=self.source,
                              fix="upload an OpenStreetMap XML extract (.osm or .osm.bz2)")


def check_csv(path: Path, source: str) -> None:
    """CSV must be text (no NUL byte); its encoding (UTF-8, GBK...) is the loader's to read."""
    with open(path, "rb") as fh:
        offset = 0
        while chunk := fh.read(CHUNK):
            at = chunk.find(b"\x00")
            if at >= 0:
                raise UploadError(400, f"the CSV is not text (NUL byte at {offset + at})",
                                  source=source,
                                  fix="save the table as CSV (Excel: 'CSV UTF-8')")
            offset += len(chunk)
