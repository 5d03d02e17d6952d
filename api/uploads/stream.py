"""Uploads: stream a body to a server-chosen file under a size cap, then recognise it."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from gridplan.api.uploads.archives import check_xlsx, unzip
from gridplan.api.uploads.common import (
    ACCEPTED,
    CHUNK,
    SavedUpload,
    UploadError,
    UploadLimits,
    human_size,
)
from gridplan.api.uploads.names import sanitize_name, suffix_of
from gridplan.api.uploads.sniff import HEAD, SAVED_SUFFIX, check_content, check_extension, sniff

log = logging.getLogger(__name__)


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
                        413, f"the file is larger than the {human_size(limits.max_bytes)} limit",
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
    if suffix_of(lowered) == ".vrt" or lowered.endswith(".vrt"):
        raise UploadError(415, "GDAL virtual datasets (.vrt) are not accepted", source=source,
                          fix=f"upload the data itself as {ACCEPTED}")


def _inspect(raw: Path, filename: str, source: str, limits: UploadLimits
             ) -> tuple[str, Path, list[str]]:
    """Recognise ``raw``, check it and move it to its final server-side name."""
    with open(raw, "rb") as fh:
        head = fh.read(HEAD)
    kind = sniff(head, source)
    if kind == "zip" and suffix_of(filename) == ".xlsx":  # a workbook is a zip of XML
        check_xlsx(raw, source, limits)
        final = raw.with_name("layer.xlsx")
        raw.rename(final)
        return "xlsx", final, []
    check_extension(kind, filename, source)
    if kind == "zip":
        fmt, path, members = unzip(raw, source, limits)
        raw.unlink()
        return fmt, path, members
    final = raw.with_name("layer" + SAVED_SUFFIX[kind])
    raw.rename(final)
    check_content(kind, final, source, limits)
    return kind.split(".")[0], final, []
