"""Uploads: the limits, the error, the saved upload and the sizes every step shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gridplan.errors import GridplanError

MB = 1024 * 1024
CHUNK = 1024 * 1024
ACCEPTED = ("GeoJSON (.geojson), GeoPackage (.gpkg), zipped Shapefile (.zip), "
            "OSM (.osm.pbf, .osm, .osm.bz2, .osm.gz), CSV (.csv), Excel (.xlsx) or, for "
            "population, a GeoTIFF of residents per cell (.tif)")
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
        super().__init__(problem, source=source, fix=fix)
        self.status = status

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
        ``geojson``, ``gpkg``, ``shapefile``, ``osm``, ``csv`` or ``xlsx``.
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


def human_size(n: int) -> str:
    """A byte count as people read it.

    Examples
    --------
    >>> human_size(200 * MB), human_size(512)
    ('200 MB', '512 bytes')
    """
    return f"{n / MB:g} MB" if n >= MB else f"{n} bytes"
