"""Uploads: a zip checked member by member, then its one dataset extracted under safe names."""

from __future__ import annotations

import re
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from gridplan.api.uploads.common import (
    CHUNK,
    GPKG_APPLICATION_IDS,
    MB,
    UploadError,
    UploadLimits,
    human_size,
)
from gridplan.api.uploads.names import sanitize_name, suffix_of
from gridplan.api.uploads.sniff import check_csv, check_json

RATIO_MIN_BYTES = MB  # members smaller than this are not ratio-checked (tiny files compress well)

SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".shp.xml")
SINGLE_FILE_SUFFIXES = {".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson",
                        ".csv": "csv"}
SKIPPED_MEMBERS = ("__MACOSX/", ".DS_Store")
ARCHIVE_SUFFIXES = (".zip", ".gz", ".bz2", ".7z", ".rar", ".tar", ".tgz", ".xz", ".kmz")


def unzip(raw: Path, source: str, limits: UploadLimits) -> tuple[str, Path, list[str]]:
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
        check_csv(main, source)
    elif fmt == "gpkg":
        _check_gpkg_header(main, source)
    else:
        _check_shp_header(main, source)
    return fmt, main, names


def check_xlsx(raw: Path, source: str, limits: UploadLimits) -> None:
    """An Excel workbook (a zip of XML parts): safe members within the limits, a workbook.

    Read later by openpyxl, never extracted: the members are checked as a zip's are
    (names, links, encryption, count, unpacked size, compression ratio).
    """
    try:
        with zipfile.ZipFile(raw) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_zip_members:
                raise UploadError(400, f"the workbook holds {len(infos)} parts, more than "
                                       f"{limits.max_zip_members}", source=source,
                                  fix="save the sheet as CSV and upload that")
            total = 0
            for info in infos:
                _check_member_name(info, source)
                total += info.file_size
                ratio = info.file_size / max(info.compress_size, 1)
                if total > limits.max_unzipped_bytes or (
                        info.file_size > RATIO_MIN_BYTES and ratio > limits.max_ratio):
                    raise UploadError(400, "the workbook unpacks beyond the limits "
                                           f"({human_size(limits.max_unzipped_bytes)}, "
                                           f"{limits.max_ratio:g}:1)", source=source,
                                      fix="save the sheet as CSV and upload that")
            if "xl/workbook.xml" not in zf.namelist():
                raise UploadError(415, "a zip named .xlsx that is not an Excel workbook",
                                  source=source, fix="save the table from Excel or WPS as "
                                                     ".xlsx, or as CSV")
    except zipfile.BadZipFile as exc:
        raise UploadError(400, f"not a readable workbook ({exc})", source=source,
                          fix="save the table from Excel or WPS again") from exc


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
                                   f"{human_size(limits.max_unzipped_bytes)}", source=source,
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
    suffix = suffix_of(info.filename)
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
        by_suffix.setdefault(suffix_of(info.filename), []).append(info)
    shp = by_suffix.get(".shp", [])
    singles = [i for s in SINGLE_FILE_SUFFIXES for i in by_suffix.get(s, [])]
    if len(shp) + len(singles) != 1:
        count = len(shp) + len(singles)
        raise UploadError(400, f"the zip holds {count} datasets; exactly one is needed",
                          source=source, fix="zip one shapefile (.shp, .shx, .dbf, .prj) or "
                                             "one GeoPackage/GeoJSON/CSV file")
    if singles:
        info = singles[0]
        suffix = suffix_of(info.filename)
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
    found = {suffix_of(i.filename) for i in parts}
    missing = [s for s in (".shx", ".dbf") if s not in found]
    if missing:
        raise UploadError(400, f"the shapefile lacks its {' and '.join(missing)} file",
                          source=source, fix="zip the .shp with its .shx, .dbf and .prj")
    ordered = sorted(parts, key=lambda i: suffix_of(i.filename) != ".shp")
    return "shapefile", [(i, "layer" + suffix_of(i.filename)) for i in ordered]


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
