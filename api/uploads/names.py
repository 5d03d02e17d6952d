"""Uploads: the client's file name reduced to a safe label, and its suffix."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath


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


def suffix_of(name: str) -> str:
    """Lower-case suffix, keeping compound ones (``.osm.bz2``, ``.osm.pbf``, ``.shp.zip``…)."""
    parts = [s.lower() for s in PurePosixPath(name.replace("\\", "/")).suffixes]
    if len(parts) >= 2 and parts[-1] in (".bz2", ".gz", ".xml", ".zip", ".pbf") \
            and parts[-2] in (".osm", ".xml", ".shp"):
        return "".join(parts[-2:]) if parts[-1] != ".zip" else ".zip"
    return parts[-1] if parts else ""
