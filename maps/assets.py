"""Assets: the pinned front-end libraries (npm, ``maps/node_modules``), inlined or served offline.

``maps/package.json`` and ``package-lock.json`` pin Leaflet and Leaflet-Geoman; ``npm ci
--prefix maps`` installs them. Coverage maps inline them into the HTML file, the editor's
server serves them under ``/static/lib``; no page loads a script or style from the internet.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from gridplan.errors import InputError

MAPS_DIR = Path(__file__).resolve().parent
NODE_MODULES = MAPS_DIR / "node_modules"
EDITOR_DIR = MAPS_DIR / "editor"
# name served under /static/lib/ → file inside node_modules
LIBRARIES = {
    "leaflet.js": "leaflet/dist/leaflet.js",
    "leaflet.css": "leaflet/dist/leaflet.css",
    "leaflet-geoman.js": "@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js",
    "leaflet-geoman.css": "@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css",
}


def library_path(name: str) -> Path:
    """Path of one pinned library file, or an :class:`InputError` saying how to install it.

    Examples
    --------
    >>> library_path("leaflet.js").name  # doctest: +SKIP
    'leaflet.js'
    """
    if name not in LIBRARIES:
        raise InputError(f"unknown front-end library {name!r}", field="name",
                         fix=f"use one of {', '.join(LIBRARIES)}")
    path = NODE_MODULES / LIBRARIES[name]
    if not path.exists():
        raise InputError("the map libraries are not installed (maps/node_modules is missing)",
                         source=str(path), fix="run `npm ci --prefix maps` in the repository")
    return path


def libraries_installed() -> bool:
    """Whether ``npm ci --prefix maps`` has been run (every pinned file is present)."""
    return all((NODE_MODULES / rel).exists() for rel in LIBRARIES.values())


def _inline_images(css: str, folder: Path) -> str:
    """Replace ``url(images/x.png)`` in a stylesheet by data URIs of the files in ``folder``."""

    def data_uri(match: re.Match) -> str:
        path = folder / match.group(1)
        if not path.exists():
            return match.group(0)
        kind = "svg+xml" if path.suffix == ".svg" else path.suffix.lstrip(".")
        return f"url(data:image/{kind};base64,{base64.b64encode(path.read_bytes()).decode()})"

    return re.sub(r"url\((images/[^)\"']+)\)", data_uri, css)


def inline_css(name: str) -> str:
    """A stylesheet's text with its images inlined, ready for a ``<style>`` element."""
    path = library_path(name)
    return _inline_images(path.read_text(encoding="utf-8"), path.parent)


def inline_js(name: str) -> str:
    """A script's text, safe inside a ``<script>`` element."""
    return library_path(name).read_text(encoding="utf-8").replace("</script", "<\\/script")


__all__ = ["EDITOR_DIR", "LIBRARIES", "inline_css", "inline_js", "libraries_installed",
           "library_path"]
