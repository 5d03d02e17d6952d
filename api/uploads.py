"""Uploads: stream a user's file to a server-chosen path, check it, then read it as a layer.

Nothing a client sends reaches GDAL as a path: the file is written under a
random name inside ``dest_dir``, its format is recognised from its first bytes
(and must agree with its extension), zips are checked member by member before
anything is extracted (under server-chosen names), deeply nested JSON and XML
with a ``DOCTYPE`` are refused before any recursive parser sees them, and only
then is the server-side path handed to gridplan's own readers.

Accepted formats
----------------
==========  ===================================  =================================
format      extensions                           content
==========  ===================================  =================================
geojson     .geojson .json                       JSON object, ``type`` GeoJSON
gpkg        .gpkg                                SQLite with application_id GPKG
shapefile   .zip (``.shp.zip``)                  zip of one .shp + .shx + .dbf
osm         .osm .osm.bz2 .osm.gz .xml(.bz2)     XML whose root element is <osm>
csv         .csv .txt                            UTF-8 text (workers, special)
==========  ===================================  =================================

A zip may instead hold exactly one .gpkg, .geojson/.json or .csv file. Zip
members allowed: ``.shp .shx .dbf .prj .cpg .qix .sbn .sbx .shp.xml`` (ESRI
metadata, never parsed) and the single-file formats above; ``__MACOSX/`` and
``.DS_Store`` entries are skipped. Anything else (nested archives, .vrt, paths
with ``..`` or a leading ``/``, symbolic links, encrypted members) is refused.
"""

from __future__ import annotations

import asyncio
import bz2
import contextlib
import gzip
import hashlib
import json
import logging
import re
import shutil
import stat
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from xml.parsers import expat

from gridplan.errors import GridplanError, InputError

log = logging.getLogger(__name__)

MB = 1024 * 1024
CHUNK = 1024 * 1024
HEAD = 64 * 1024  # bytes inspected to recognise a format
JSON_TYPE_CHECK_BYTES = 16 * MB  # larger JSON is not parsed whole just to read its "type"
RATIO_MIN_BYTES = MB  # members smaller than this are not ratio-checked (tiny files compress well)

SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".shp.xml")
SINGLE_FILE_SUFFIXES = {".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson",
                        ".csv": "csv"}
SKIPPED_MEMBERS = ("__MACOSX/", ".DS_Store")
ARCHIVE_SUFFIXES = (".zip", ".gz", ".bz2", ".7z", ".rar", ".tar", ".tgz", ".xz", ".kmz")
EXTENSIONS = {
    "geojson": (".geojson", ".json"),
    "gpkg": (".gpkg",),
    "shapefile": (".zip",),
    "osm": (".osm", ".osm.bz2", ".osm.gz", ".xml", ".xml.bz2", ".xml.gz", ".bz2", ".gz"),
    "csv": (".csv", ".txt"),
}
SAVED_SUFFIX = {"geojson": ".geojson", "gpkg": ".gpkg", "csv": ".csv", "zip": ".zip",
                "osm": ".osm", "osm.bz2": ".osm.bz2", "osm.gz": ".osm.gz"}
ACCEPTED = ("GeoJSON (.geojson), GeoPackage (.gpkg), zipped Shapefile (.zip), "
            "OSM XML (.osm, .osm.bz2, .osm.gz) or CSV (.csv)")
GPKG_APPLICATION_IDS = (b"GPKG", b"GP10", b"GP11")


@dataclass(frozen=True)
class UploadLimits:
    """Limits applied to every upload (bytes unless said otherwise).

    Examples
    --------
    >>> UploadLimits(max_bytes=1024).max_zip_members
    100
    """

    max_bytes: int = 200 * MB
    max_zip_members: int = 100
    max_unzipped_bytes: int = 1024 * MB
    max_ratio: float = 100.0
    max_json_depth: int = 64


class UploadError(GridplanError):
    """A refused upload, with the HTTP status the API answers and a problem + fix.

    ``status`` is 413 (too large), 415 (format not accepted) or 400 (content
    malformed or unsafe). Bad *data* in a well-formed file is an
    :class:`~gridplan.errors.InputError` (422), see :func:`read_upload`.

    Examples
    --------
    >>> err = UploadError(415, "a GDAL virtual file (.vrt) is not accepted", source="x.vrt",
    ...                   fix="upload the data itself")
    >>> err.status, str(err)
    (415, 'x.vrt: a GDAL virtual file (.vrt) is not accepted. Fix: upload the data itself')
    """

    exit_code = 2

    def __init__(self, status: int, problem: str, *, source: str | None = None,
                 fix: str | None = None) -> None:
        self.status = status
        self.problem = problem
        self.source = source
        self.fix = fix
        text = f"{source}: {problem}" if source else problem
        super().__init__(f"{text}. Fix: {fix}" if fix else text)

    def to_dict(self) -> dict:
        """JSON body for the API: status, problem, source, fix."""
        return {"status": self.status, "problem": self.problem, "source": self.source,
                "fix": self.fix}


@dataclass
class SavedUpload:
    """An upload checked and stored server-side.

    Attributes
    ----------
    upload_id : str
        Random hex id; also the name of the upload's folder in ``dest_dir``.
    folder : Path
        The upload's folder (delete it to discard the upload).
    path : Path
        Server-side path of the dataset to read (for a zip: the extracted ``.shp``
        or single file, under a server-chosen name).
    fmt : str
        ``geojson``, ``gpkg``, ``shapefile``, ``osm`` or ``csv``.
    original_name : str
        The client's file name, sanitised; metadata only, never used as a path.
    size_bytes : int
        Bytes received.
    sha256 : str
        Hex digest of the bytes received.
    members : list of str
        For a zip: the (sanitised) member names that were extracted.
    """

    upload_id: str
    folder: Path
    path: Path
    fmt: str
    original_name: str
    size_bytes: int
    sha256: str
    members: list[str] = field(default_factory=list)


# --- names ----------------------------------------------------------------------------------

def sanitize_name(name: str, max_len: int = 120) -> str:
    """The client's file name reduced to a safe label (no folders, controls or odd characters).

    Examples
    --------
    >>> sanitize_name("../../etc/社区 边界.geojson")
    '社区_边界.geojson'
    >>> sanitize_name("C:\\\\Users\\\\x\\\\a b.zip")
    'a_b.zip'
    """
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", name or ""))[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    base = re.sub(r"[^\w.\-]+", "_", base).strip("._")
    return base[:max_len] or "upload"


def _suffix(name: str) -> str:
    """Lower-case suffix, keeping compound ones (``.osm.bz2``, ``.shp.xml``, ``.shp.zip``)."""
    parts = [s.lower() for s in PurePosixPath(name.replace("\\", "/")).suffixes]
    if len(parts) >= 2 and parts[-1] in (".bz2", ".gz", ".xml", ".zip") \
            and parts[-2] in (".osm", ".xml", ".shp"):
        return "".join(parts[-2:]) if parts[-1] != ".zip" else ".zip"
    return parts[-1] if parts else ""


# --- streaming to disk ----------------------------------------------------------------------

async def _chunks(stream: Any) -> AsyncIterator[bytes]:
    """Chunks from an object with ``async read(n)`` or from an async iterator of bytes."""
    if hasattr(stream, "read"):
        while True:
            chunk = await stream.read(CHUNK)
            if not chunk:
                return
            yield chunk
    else:
        async for chunk in stream:
            yield chunk


async def _stream_to(stream: Any, target: Path, limits: UploadLimits, source: str
                     ) -> tuple[int, str]:
    """Write the stream to ``target``; stop at ``max_bytes`` (413, partial file deleted)."""
    digest, size = hashlib.sha256(), 0
    try:
        with open(target, "xb") as fh:
            async for chunk in _chunks(stream):
                size += len(chunk)
                if size > limits.max_bytes:
                    raise UploadError(
                        413, f"the file is larger than the {_human(limits.max_bytes)} limit",
                        source=source, fix="upload a smaller extract, or split the layer")
                digest.update(chunk)
                fh.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if size == 0:
        target.unlink(missing_ok=True)
        raise UploadError(400, "the file is empty", source=source, fix="upload a non-empty file")
    return size, digest.hexdigest()


def _human(n: int) -> str:
    return f"{n / MB:g} MB" if n >= MB else f"{n} bytes"


async def save_upload(stream: Any, filename: str, dest_dir: Path,
                      limits: UploadLimits | None = None) -> SavedUpload:
    """Stream an upload to a server-chosen folder, recognise and check it.

    Parameters
    ----------
    stream : object with ``async read(n)``, or async iterator of bytes
        The upload body, e.g. a starlette ``UploadFile``.
    filename : str
        The client's file name: its extension must match the content; the name
        itself is only kept (sanitised) as metadata.
    dest_dir : Path
        Folder under which a new ``<upload_id>/`` folder is created.
    limits : UploadLimits, optional
        Size, zip and JSON limits (defaults: :class:`UploadLimits`).

    Returns
    -------
    SavedUpload
        Where the checked dataset now lives.

    Raises
    ------
    UploadError
        413 over ``max_bytes`` (reading stops there); 415 format or extension not
        accepted (.vrt, GDAL ``/vsi`` paths, non-OSM XML, unknown bytes, zip members
        of other types); 400 empty, malformed or unsafe content (zip traversal,
        symlinks, bombs, JSON too deep, XML DOCTYPE). The upload's folder is removed.

    Examples
    --------
    >>> class Body:
    ...     def __init__(self, data): self.data = data
    ...     async def read(self, n):
    ...         chunk, self.data = self.data[:n], self.data[n:]
    ...         return chunk
    >>> import tempfile
    >>> body = Body(b'{"type": "FeatureCollection", "features": []}')
    >>> saved = asyncio.run(save_upload(body, "a.geojson", Path(tempfile.mkdtemp())))
    >>> saved.fmt, saved.path.name
    ('geojson', 'layer.geojson')
    """
    limits = limits or UploadLimits()
    source = sanitize_name(filename)
    _refuse_name(filename, source)
    upload_id = uuid.uuid4().hex
    folder = Path(dest_dir) / upload_id
    folder.mkdir(parents=True, exist_ok=False)
    try:
        raw = folder / "upload.part"
        size, sha = await _stream_to(stream, raw, limits, source)
        fmt, path, members = await asyncio.to_thread(_inspect, raw, filename, source, limits)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    log.info("upload %s (%s, %d bytes) saved as %s", source, fmt, size, path)
    return SavedUpload(upload_id, folder, path, fmt, source, size, sha, members)


def _refuse_name(filename: str, source: str) -> None:
    """Refuse names that point at GDAL virtual files or drivers, whatever the content."""
    lowered = (filename or "").lower().replace("\\", "/")
    if "/vsi" in lowered or lowered.startswith("vsi"):
        raise UploadError(415, "GDAL virtual file system paths (/vsi...) are not accepted",
                          source=source, fix=f"upload the file itself as {ACCEPTED}")
    if _suffix(lowered) == ".vrt" or lowered.endswith(".vrt"):
        raise UploadError(415, "GDAL virtual datasets (.vrt) are not accepted", source=source,
                          fix=f"upload the data itself as {ACCEPTED}")


# --- recognising the content ----------------------------------------------------------------

def _inspect(raw: Path, filename: str, source: str, limits: UploadLimits
             ) -> tuple[str, Path, list[str]]:
    """Recognise ``raw``, check it and move it to its final server-side name."""
    with open(raw, "rb") as fh:
        head = fh.read(HEAD)
    kind = _sniff(head, source)
    _check_extension(kind, filename, source)
    if kind == "zip":
        fmt, path, members = _unzip(raw, source, limits)
        raw.unlink()
        return fmt, path, members
    final = raw.with_name("layer" + SAVED_SUFFIX[kind])
    raw.rename(final)
    _check_content(kind, final, source, limits)
    return kind.split(".")[0], final, []


def _sniff(head: bytes, source: str) -> str:
    """The container or format the first bytes reveal."""
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"PK\x05\x06"):
        raise UploadError(400, "the zip file is empty", source=source,
                          fix="zip the dataset's files and upload again")
    if head.startswith(b"BZh"):
        return "osm.bz2"
    if head.startswith(b"\x1f\x8b"):
        return "osm.gz"
    if head.startswith(b"SQLite format 3\x00"):
        if head[68:72] in GPKG_APPLICATION_IDS:
            return "gpkg"
        raise UploadError(415, "an SQLite database that is not a GeoPackage", source=source,
                          fix="export the layer as a GeoPackage (.gpkg)")
    text = _text_head(head)
    if text is None and b"\x00" not in head:
        raise UploadError(400, "text that is not UTF-8 (GBK?)", source=source,
                          fix="save the file as UTF-8 (Excel: 'CSV UTF-8')")
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


def _check_extension(kind: str, filename: str, source: str) -> None:
    """The extension must be one this content may carry."""
    fmt = "shapefile" if kind == "zip" else kind.split(".")[0]
    suffix = _suffix(filename)
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
            "osm": "XML", "csv": "text (CSV)"}[kind]


def _check_content(kind: str, path: Path, source: str, limits: UploadLimits) -> None:
    """Format-specific checks before any reader opens the file."""
    if kind == "geojson":
        check_json(path, source=source, max_depth=limits.max_json_depth)
    elif kind.startswith("osm"):
        check_osm_xml(path, source=source, max_bytes=limits.max_unzipped_bytes)
    elif kind == "csv":
        _check_csv(path, source)


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
    gridplan.api.uploads.UploadError: deep.json: JSON nested deeper than 64 levels. Fix: ...
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


def check_osm_xml(path: Path, *, source: str, max_bytes: int) -> None:
    """Refuse XML that is not OSM, declares a DOCTYPE/entities, or inflates past ``max_bytes``.

    The (decompressed) stream is read once: its size is counted and its start fed
    to expat until the root element appears, so a DOCTYPE hidden after a long
    comment is still seen. No entity is ever resolved.
    """
    opener = {".bz2": bz2.open, ".gz": gzip.open}.get(path.suffix, open)
    prolog = _XMLProlog(source)
    total = 0
    try:
        with opener(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise UploadError(
                        400, f"the file decompresses to more than {_human(max_bytes)}",
                        source=source, fix="upload a smaller OSM extract")
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


def _check_csv(path: Path, source: str) -> None:
    """CSV must be UTF-8 text."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            while fh.read(CHUNK):
                pass
    except UnicodeDecodeError as exc:
        raise UploadError(400, f"the CSV is not UTF-8 text (byte {exc.start})", source=source,
                          fix="save the table as CSV UTF-8 (Excel: 'CSV UTF-8'); GBK is not "
                              "accepted") from exc


# --- zips -----------------------------------------------------------------------------------

def _unzip(raw: Path, source: str, limits: UploadLimits) -> tuple[str, Path, list[str]]:
    """Check a zip's members and extract the one dataset under server-chosen names."""
    try:
        with zipfile.ZipFile(raw) as zf:
            infos = _zip_members(zf, source, limits)
            fmt, plan = _zip_dataset(infos, source)
            out = raw.parent / "data"
            out.mkdir()
            written = 0
            for info, target in plan:
                written += _extract(zf, info, out / target, source, limits, written)
    except zipfile.BadZipFile as exc:
        raise UploadError(400, f"not a readable zip file ({exc})", source=source,
                          fix="zip the files again and upload the .zip") from exc
    names = [sanitize_name(i.filename) for i, _ in plan]
    main = out / plan[0][1]
    if fmt == "geojson":
        check_json(main, source=source, max_depth=limits.max_json_depth)
    elif fmt == "csv":
        _check_csv(main, source)
    elif fmt == "gpkg":
        _check_gpkg_header(main, source)
    else:
        _check_shp_header(main, source)
    return fmt, main, names


def _check_gpkg_header(path: Path, source: str) -> None:
    with open(path, "rb") as fh:
        head = fh.read(100)
    if not head.startswith(b"SQLite format 3\x00") or head[68:72] not in GPKG_APPLICATION_IDS:
        raise UploadError(415, "the .gpkg member is not a GeoPackage", source=source,
                          fix="zip a GeoPackage written by QGIS or GDAL")


def _zip_members(zf: zipfile.ZipFile, source: str, limits: UploadLimits
                 ) -> list[zipfile.ZipInfo]:
    """Every member checked (count, names, links, sizes, ratios); returns those to extract."""
    infos = zf.infolist()
    if len(infos) > limits.max_zip_members:
        raise UploadError(400, f"the zip holds {len(infos)} entries, more than "
                               f"{limits.max_zip_members}", source=source,
                          fix="zip only the dataset's files")
    total, keep, seen = 0, [], set()
    for info in infos:
        _check_member_name(info, source)
        if info.is_dir() or _skipped(info.filename):
            continue
        _check_member_kind(info, source)
        total += info.file_size
        if total > limits.max_unzipped_bytes:
            raise UploadError(400, f"the zip unpacks to more than "
                                   f"{_human(limits.max_unzipped_bytes)}", source=source,
                              fix="upload a smaller layer")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_MIN_BYTES and ratio > limits.max_ratio:
            raise UploadError(400, f"zip member {sanitize_name(info.filename)} is compressed "
                                   f"{ratio:.0f}:1, beyond the {limits.max_ratio:g}:1 limit "
                                   "(a zip bomb?)", source=source,
                              fix="upload the layer zipped normally")
        key = PurePosixPath(info.filename).name.lower()
        if key in seen:
            raise UploadError(400, f"the zip holds two files named {sanitize_name(key)}",
                              source=source, fix="zip exactly one dataset")
        seen.add(key)
        keep.append(info)
    return keep


def _check_member_name(info: zipfile.ZipInfo, source: str) -> None:
    """No absolute paths, drive letters, ``..`` components, links or encrypted members."""
    name = info.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise UploadError(400, f"zip member path {name!r} points outside the archive",
                          source=source, fix="zip the files without absolute or '..' paths")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UploadError(400, f"zip member {name!r} is a symbolic link", source=source,
                          fix="zip the files themselves, not links to them")
    if info.flag_bits & 0x1:
        raise UploadError(400, f"zip member {name!r} is encrypted", source=source,
                          fix="zip the files without a password")


def _skipped(name: str) -> bool:
    return name.startswith(SKIPPED_MEMBERS[0]) or PurePosixPath(name).name == SKIPPED_MEMBERS[1]


def _check_member_kind(info: zipfile.ZipInfo, source: str) -> None:
    suffix = _suffix(info.filename)
    if suffix in SHAPEFILE_PARTS or suffix in SINGLE_FILE_SUFFIXES:
        return
    name = sanitize_name(info.filename)
    if suffix in ARCHIVE_SUFFIXES:
        problem = f"nested archive {name} inside the zip"
    elif suffix == ".vrt":
        problem = f"GDAL virtual dataset {name} inside the zip"
    else:
        problem = f"zip member {name} has a type that is not accepted ({suffix or 'none'})"
    allowed = " ".join((*SHAPEFILE_PARTS, *SINGLE_FILE_SUFFIXES))
    raise UploadError(415, problem, source=source,
                      fix=f"zip only one dataset's files ({allowed})")


def _zip_dataset(infos: list[zipfile.ZipInfo], source: str
                 ) -> tuple[str, list[tuple[zipfile.ZipInfo, str]]]:
    """Exactly one dataset: a shapefile (.shp+.shx+.dbf) or one single-file layer."""
    by_suffix: dict[str, list[zipfile.ZipInfo]] = {}
    for info in infos:
        by_suffix.setdefault(_suffix(info.filename), []).append(info)
    shp = by_suffix.get(".shp", [])
    singles = [i for s in SINGLE_FILE_SUFFIXES for i in by_suffix.get(s, [])]
    if len(shp) + len(singles) != 1:
        count = len(shp) + len(singles)
        raise UploadError(400, f"the zip holds {count} datasets; exactly one is needed",
                          source=source, fix="zip one shapefile (.shp, .shx, .dbf, .prj) or "
                                             "one GeoPackage/GeoJSON/CSV file")
    if singles:
        info = singles[0]
        suffix = _suffix(info.filename)
        fmt = SINGLE_FILE_SUFFIXES[suffix]
        return fmt, [(info, "layer" + (".geojson" if fmt == "geojson" else suffix))]
    stem = PurePosixPath(shp[0].filename).name[:-4].lower()
    parts = [i for i in infos if PurePosixPath(i.filename).name.lower()
             .startswith(stem + ".")]
    stray = [i for i in infos if i not in parts]
    if stray:
        raise UploadError(400, f"{sanitize_name(stray[0].filename)} does not belong to the "
                               f"shapefile {sanitize_name(shp[0].filename)}", source=source,
                          fix="zip one shapefile's files only")
    found = {_suffix(i.filename) for i in parts}
    missing = [s for s in (".shx", ".dbf") if s not in found]
    if missing:
        raise UploadError(400, f"the shapefile lacks its {' and '.join(missing)} file",
                          source=source, fix="zip the .shp with its .shx, .dbf and .prj")
    ordered = sorted(parts, key=lambda i: _suffix(i.filename) != ".shp")
    return "shapefile", [(i, "layer" + _suffix(i.filename)) for i in ordered]


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, source: str,
             limits: UploadLimits, written: int) -> int:
    """Copy one member, counting real bytes (declared sizes may lie)."""
    size = 0
    try:
        with zf.open(info) as src, open(target, "xb") as dst:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > info.file_size or written + size > limits.max_unzipped_bytes:
                    raise UploadError(400, "a zip member is larger than its header says",
                                      source=source, fix="zip the files again")
                dst.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise UploadError(400, f"zip member {sanitize_name(info.filename)} cannot be "
                               f"extracted ({exc})", source=source,
                          fix="zip the files again (deflate or store)") from exc
    return size


def _check_shp_header(path: Path, source: str) -> None:
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head != b"\x00\x00\x27\x0a":
        raise UploadError(400, "the .shp member is not a shapefile", source=source,
                          fix="zip the shapefile written by QGIS or GDAL")


# --- reading a saved upload -----------------------------------------------------------------

KINDS = {"communities": ("geojson", "gpkg", "shapefile"),
         "population": ("geojson", "gpkg", "shapefile"),
         "compounds": ("geojson", "gpkg", "shapefile"),
         "barriers": ("geojson", "gpkg", "shapefile"),
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
    """Read a saved upload with gridplan's own readers and checks.

    Parameters
    ----------
    saved : SavedUpload
        From :func:`save_upload`; only ``saved.path`` (server-side) is opened.
    kind : str
        ``communities``, ``population``, ``compounds``, ``barriers`` (vector files),
        ``osm`` (OSM XML), ``workers`` or ``special`` (CSV).
    **options
        ``crs`` (for layers declaring none) and ``layer`` (GeoPackage layer) for vector
        kinds; communities: ``id_field`` ("id"), ``code_field``, ``scheme``
        ("nbs12+3"); population: ``unit_id`` ("unit_id"), ``households``,
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
        return _READERS[kind](saved, options)
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

    source = saved.original_name if exc.source is None else hide(exc.source)
    return InputError(hide(exc.problem), source=source, field=exc.field, fix=hide(exc.fix))


def _vector(saved: SavedUpload, options: dict, what: str):
    """The layer as read (CRS assigned if asked); checks are left to the ``prepare_*`` step."""
    import pyogrio

    from gridplan.layers.vector import InputNotes, read_vector

    layer = options.get("layer")
    if saved.fmt == "gpkg" and layer is None:
        names = [str(n) for n in pyogrio.list_layers(saved.path)[:, 0]]
        if len(names) > 1:
            raise InputError(f"the GeoPackage holds {len(names)} layers "
                             f"({', '.join(names[:10])})",
                             fix=f"name the {what} layer to read (layer=...)")
    gdf = read_vector(saved.path, what=what, layer=layer)
    gdf.attrs["source"] = saved.original_name
    if gdf.crs is None and options.get("crs"):
        gdf = gdf.set_crs(options["crs"])
    return gdf, InputNotes()


def _read_communities(saved: SavedUpload, options: dict) -> UploadedLayer:
    from gridplan.layers.prepare import prepare_communities

    gdf, notes = _vector(saved, options, "communities")
    out = prepare_communities(gdf, id_field=options.get("id_field", "id"),
                              code_field=options.get("code_field"),
                              scheme=options.get("scheme", "nbs12+3"), notes=notes)
    return UploadedLayer("communities", out, summarize_layer(out), notes.to_dict())


def _read_population(saved: SavedUpload, options: dict) -> UploadedLayer:
    from gridplan.layers.population import prepare_units
    from gridplan.layers.vector import check_layer

    gdf, notes = _vector(saved, options, "population")
    gdf = check_layer(gdf, what="population", notes=notes)
    out = prepare_units(gdf, unit_id=options.get("unit_id", "unit_id"),
                        households=options.get("households"),
                        population_field=options.get("population_field"),
                        household_size=options.get("household_size", 2.6))
    summary = summarize_layer(out)
    summary["households"] = int(out["households"].sum())
    return UploadedLayer("population", out, summary, notes.to_dict())


def _read_context(saved: SavedUpload, options: dict, kind: str) -> UploadedLayer:
    from gridplan.layers.prepare import prepare_barriers, prepare_compounds

    gdf, notes = _vector(saved, options, kind)
    prepare = prepare_compounds if kind == "compounds" else prepare_barriers
    out = prepare(gdf, notes)
    if out is None or len(out) == 0:
        raise InputError(f"no usable {kind} geometries", fix=f"upload {kind} as "
                         + ("polygons" if kind == "compounds" else "lines"))
    return UploadedLayer(kind, out, summarize_layer(out), notes.to_dict())


def _read_osm(saved: SavedUpload, options: dict) -> UploadedLayer:
    from gridplan.layers.osm import read_osm
    from gridplan.layers.population import prepare_units
    from gridplan.params import DEFAULT_BARRIER_HIGHWAYS

    layers = read_osm(saved.path, dwelling_area=options.get("dwelling_area", 90.0),
                      barrier_highways=options.get("barrier_highways",
                                                   DEFAULT_BARRIER_HIGHWAYS))
    layers.source = saved.original_name
    units = prepare_units(layers.buildings, unit_id="unit_id", households="households")
    units.attrs["source"] = saved.original_name
    summary = summarize_layer(units)
    summary.update(households=int(units["households"].sum()),
                   compounds=len(layers.compounds), barriers=len(layers.barriers),
                   osm_bounds=list(layers.bounds) if layers.bounds else None)
    return UploadedLayer("osm", units, summary, osm=layers)


def _read_table(saved: SavedUpload, options: dict, kind: str) -> UploadedLayer:
    import pandas as pd

    from gridplan.layers.special import read_special
    from gridplan.params import WorkloadParams
    from gridplan.workforce.staffing import read_workers

    column = "community_id" if kind == "workers" else "unit_id"
    ids = options.get("community_ids" if kind == "workers" else "unit_ids")
    if ids is None:  # nothing to check against yet: accept the ids the file names
        ids = pd.read_csv(saved.path, dtype=str, usecols=lambda c: c == column).get(column)
        ids = ids if ids is not None else pd.Series([], dtype=str)
    ids = pd.Series(list(ids), dtype=str)
    df = (read_workers(saved.path, ids) if kind == "workers"
          else read_special(saved.path, ids, options.get("params") or WorkloadParams()))
    summary = {"rows": len(df), "fields": [str(c) for c in df.columns],
               "ids_checked": options.get("community_ids" if kind == "workers"
                                          else "unit_ids") is not None}
    return UploadedLayer(kind, df, summary)


_READERS = {
    "communities": _read_communities,
    "population": _read_population,
    "compounds": lambda s, o: _read_context(s, o, "compounds"),
    "barriers": lambda s, o: _read_context(s, o, "barriers"),
    "osm": _read_osm,
    "workers": lambda s, o: _read_table(s, o, "workers"),
    "special": lambda s, o: _read_table(s, o, "special"),
}


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


__all__ = ["KINDS", "SavedUpload", "UploadError", "UploadLimits", "UploadedLayer",
           "check_json", "check_osm_xml", "discard", "error_status", "json_depth",
           "read_upload", "sanitize_name", "save_upload", "summarize_layer"]
