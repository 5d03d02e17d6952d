"""Assets: the editor's and start page's files and the vendored front-end libraries, inlined or
served offline.

Leaflet, Leaflet-Geoman and Swagger UI (for the service's ``/docs``) ship inside the package
(``gridplan/maps/vendor/``, copied from the versions pinned in ``maps/package-lock.json`` by
``maps/vendor/update.sh``). Coverage maps inline Leaflet into the HTML file, the service serves
the libraries under ``/static/lib`` and ``/static/docs``; no page loads a script or style from
the internet, and nothing needs ``npm`` at run time. Every file is read through
:mod:`importlib.resources`, so a wheel install works like a checkout.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable

from gridplan.errors import GridplanError, InputError

PACKAGE = "gridplan.maps"
# one folder per vendored library, named after the version pinned in maps/package-lock.json
VENDORED = {"leaflet": "leaflet-1.9.4", "@geoman-io/leaflet-geoman-free": "leaflet-geoman-2.20.2",
            "swagger-ui-dist": "swagger-ui-5.35.0"}
LEAFLET = VENDORED["leaflet"]
GEOMAN = VENDORED["@geoman-io/leaflet-geoman-free"]
# name served under /static/lib/ → file inside maps/vendor
LIBRARIES = {
    "leaflet.js": f"{LEAFLET}/leaflet.js",
    "leaflet.css": f"{LEAFLET}/leaflet.css",
    "leaflet-geoman.js": f"{GEOMAN}/leaflet-geoman.min.js",
    "leaflet-geoman.css": f"{GEOMAN}/leaflet-geoman.css",
}
LEAFLET_IMAGES = f"{LEAFLET}/images"
SWAGGER = VENDORED["swagger-ui-dist"]
# name served under /static/docs/ → file inside maps/vendor (Swagger UI for /docs)
DOCS_LIBRARIES = {
    "swagger-ui-bundle.js": f"{SWAGGER}/swagger-ui-bundle.js",
    "swagger-ui.css": f"{SWAGGER}/swagger-ui.css",
    "favicon-32x32.png": f"{SWAGGER}/favicon-32x32.png",
}
# the editor: its page, its ES modules (main.js imports the others) and its style
EDITOR_FILES = ("index.html", "main.js", "state.js", "i18n.js", "api.js", "panel.js", "map.js",
                "edits.js", "gcj02.js", "messages.js", "auth.js", "editor.css")
# the start page at / (plan list, uploads, parameters, job progress): page, module, style
START_FILES = ("index.html", "start.js", "words.js", "start.css")


class AssetMissing(GridplanError):
    """A file that ships with gridplan is not there: a broken install or a packaging bug.

    Examples
    --------
    >>> str(AssetMissing("gridplan.maps/vendor/x.js")).split(". Fix")[0]
    'gridplan.maps/vendor/x.js is missing from the installed package'
    """

    status = 500  # the service answers 500 with the problem and the fix

    def __init__(self, path: str) -> None:
        self.problem = f"{path} is missing from the installed package"
        self.fix = ("reinstall gridplan (a wheel without it is a packaging bug); in a checkout, "
                    "`bash maps/vendor/update.sh` restores the vendored libraries")
        super().__init__(f"{self.problem}. Fix: {self.fix}")


def resource(*parts: str) -> Traversable:
    """One file shipped in ``gridplan.maps`` (``vendor/…`` or ``editor/…``), which must exist.

    Raises :class:`AssetMissing` naming the file and the fix when it is not installed.

    Examples
    --------
    >>> resource("editor", "main.js").name
    'main.js'
    """
    path = files(PACKAGE).joinpath(*parts)
    if not path.is_file():
        raise AssetMissing(f"{PACKAGE}/{'/'.join(parts)}")
    return path


def library_file(name: str) -> Traversable:
    """One vendored library file by the name it is served under (``leaflet.js``, …).

    Examples
    --------
    >>> library_file("leaflet.js").name
    'leaflet.js'
    """
    if name not in LIBRARIES:
        raise InputError(f"unknown front-end library {name!r}", field="name",
                         fix=f"use one of {', '.join(LIBRARIES)}")
    return resource("vendor", *LIBRARIES[name].split("/"))


def leaflet_images() -> dict[str, Traversable]:
    """Leaflet's control icons (``layers.png``, ``marker-icon.png``, …) by file name.

    Examples
    --------
    >>> "layers.png" in leaflet_images()
    True
    """
    folder = files(PACKAGE).joinpath("vendor", *LEAFLET_IMAGES.split("/"))
    if not folder.is_dir():
        resource("vendor", *LEAFLET_IMAGES.split("/"), "layers.png")  # raises AssetMissing
    return {p.name: p for p in folder.iterdir() if p.name.endswith(".png")}


def editor_file(name: str) -> Traversable:
    """One of the editor's own files (:data:`EDITOR_FILES`: its page, modules and style).

    Examples
    --------
    >>> editor_file("index.html").name
    'index.html'
    """
    if name not in EDITOR_FILES:
        raise InputError(f"unknown editor file {name!r}", field="name",
                         fix=f"use one of {', '.join(EDITOR_FILES)}")
    return resource("editor", name)


def start_file(name: str) -> Traversable:
    """One of the start page's own files (:data:`START_FILES`).

    Examples
    --------
    >>> start_file("start.js").name
    'start.js'
    """
    if name not in START_FILES:
        raise InputError(f"unknown start page file {name!r}", field="name",
                         fix=f"use one of {', '.join(START_FILES)}")
    return resource("start", name)


def docs_file(name: str) -> Traversable:
    """One vendored Swagger UI file by the name it is served under (:data:`DOCS_LIBRARIES`).

    Examples
    --------
    >>> docs_file("swagger-ui.css").name
    'swagger-ui.css'
    """
    if name not in DOCS_LIBRARIES:
        raise InputError(f"unknown documentation file {name!r}", field="name",
                         fix=f"use one of {', '.join(DOCS_LIBRARIES)}")
    return resource("vendor", *DOCS_LIBRARIES[name].split("/"))


def libraries_installed() -> bool:
    """Whether every vendored library file is present (always so in a correct install)."""
    return all(files(PACKAGE).joinpath("vendor", *rel.split("/")).is_file()
               for rel in LIBRARIES.values())


def _inline_images(css: str) -> str:
    """Replace ``url(images/x.png)`` in Leaflet's stylesheet by data URIs of its icons."""
    images = leaflet_images()

    def data_uri(match: re.Match) -> str:
        path = images.get(match.group(1))
        if path is None:
            return match.group(0)
        return f"url(data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})"

    return re.sub(r"url\(images/([^)\"']+)\)", data_uri, css)


@cache
def inline_css(name: str) -> str:
    """A stylesheet's text with its images inlined, ready for a ``<style>`` element.

    Examples
    --------
    >>> "data:image/png;base64," in inline_css("leaflet.css")
    True
    """
    return _inline_images(library_file(name).read_text(encoding="utf-8"))


@cache
def inline_js(name: str) -> str:
    """A script's text, safe inside a ``<script>`` element.

    Examples
    --------
    >>> "</script" in inline_js("leaflet.js")
    False
    """
    return library_file(name).read_text(encoding="utf-8").replace("</script", "<\\/script")


__all__ = ["DOCS_LIBRARIES", "EDITOR_FILES", "LIBRARIES", "START_FILES", "VENDORED",
           "AssetMissing", "docs_file", "editor_file", "start_file",
           "inline_css", "inline_js", "leaflet_images", "libraries_installed", "library_file",
           "resource"]
