"""Uploads: stream a user's file to a server-chosen path, check it, then read it as a layer.

Nothing a client sends reaches GDAL as a path: the file is written under a
random name inside ``dest_dir``, its format is recognised from its first bytes
(and must agree with its extension), zips are checked member by member before
anything is extracted (under server-chosen names), deeply nested JSON and XML
with a ``DOCTYPE`` are refused before any recursive parser sees them, and only
then is the server-side path handed to gridplan's one input loader
(:func:`gridplan.layers.load.read_layer`), which checks it exactly as the command
line checks a file.

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

Modules: :mod:`.names` (the client's file name), :mod:`.stream` (:func:`save_upload`:
streaming under a size cap), :mod:`.sniff` (formats from their first bytes, JSON
depth, OSM XML, CSV text), :mod:`.archives` (zips), :mod:`.read` (:func:`read_upload`),
:mod:`.worker` (:func:`~.worker.read_in_process`: the read in a process of its own, under
the vertex limits, stopped at a time limit) and :mod:`.common` (limits, errors, the saved
upload).
"""

from __future__ import annotations

from gridplan.api.uploads.common import SavedUpload, UploadError, UploadLimits
from gridplan.api.uploads.names import sanitize_name
from gridplan.api.uploads.read import (
    KINDS,
    UploadedLayer,
    discard,
    error_status,
    read_upload,
    summarize_layer,
)
from gridplan.api.uploads.sniff import check_json, check_osm_xml, json_depth
from gridplan.api.uploads.stream import save_upload

__all__ = ["KINDS", "SavedUpload", "UploadError", "UploadLimits", "UploadedLayer",
           "check_json", "check_osm_xml", "discard", "error_status", "json_depth",
           "read_upload", "sanitize_name", "save_upload", "summarize_layer"]
