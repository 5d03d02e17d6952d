"""Read buildings, residential compounds and barriers from an OpenStreetMap extract.

:func:`read_osm` turns an ``.osm.pbf``, ``.osm``, ``.osm.bz2`` or ``.osm.gz`` file (the
format is recognised from its first bytes) into EPSG:4326 layers, in one streaming pass
with pyosmium (node locations cached for the ways, multipolygons assembled by libosmium):

* **buildings**: ``building``-tagged closed ways and multipolygon relations, with
  their households estimated by :func:`gridplan.layers.households.estimate_households`.
  Buildings mapped as bare nodes or open ways (no footprint) are dropped.
* **compounds**: ``landuse=residential`` polygons (小区 / residential compounds).
* **barriers**: roads, railways and waterways that split a community (by default
  the values in :mod:`gridplan.params`); ways in tunnels (``tunnel`` ≠ ``no``) are
  left out. River or canal areas (``natural=water`` + ``water=river|canal`` or
  ``waterway=riverbank``) add their outline.
* **dedicated**: sites for dedicated grids, by ``dedicated_tags``.

The layers are those the former osmnx XML reader returned (same ids, columns, order
and geometry): closed ways are polygons by osmnx's rules, geometries are made valid.
Clipped extracts may reference nodes or member ways that the file lacks: missing
nodes are skipped (closed ways stay closed), ways left with fewer than two nodes are
dropped, and multipolygons whose members are missing are built from the members
present (the rings that still close). A file not sorted by id (some JOSM saves) is
read without libosmium's assembler. XML with a DOCTYPE or entity declarations is
refused, and compressed XML may not unpack to more than :data:`MAX_XML_BYTES`.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from xml.parsers import expat

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely
from shapely import GeometryCollection, LineString, MultiLineString, MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import linemerge, polygonize, unary_union

from gridplan.errors import InputError
from gridplan.layers.households import DEFAULT_DWELLING_AREA, estimate_households, parse_levels
from gridplan.layers.sites import osm_sites
from gridplan.layers.vector import geometry_limits
from gridplan.params import (
    DEFAULT_BARRIER_HIGHWAYS,
    DEFAULT_BARRIER_RAILWAYS,
    DEFAULT_BARRIER_WATERWAYS,
    parse_tags,
)

logger = logging.getLogger(__name__)

CRS = "EPSG:4326"
NO_BUILDINGS_FIX = "use an extract that contains buildings or pass --population"
WATER_AREA_VALUES = ("river", "canal")
HULL_BUFFER_M = 50.0
AREA_RELATION_TYPES = ("multipolygon", "boundary")  # the relation types osmnx builds

Bounds = tuple[float, float, float, float]


@dataclass
class OSMLayers:
    """The layers read from one OSM extract, all in EPSG:4326.

    Attributes
    ----------
    buildings : GeoDataFrame
        ``unit_id`` (``"way/123"``, ``"relation/45"``), ``building``, ``levels``
        (float or NaN), ``name``, ``households`` (int), Polygon/MultiPolygon geometry.
    compounds : GeoDataFrame
        ``landuse=residential`` polygons: ``compound_id``, ``name`` (``""`` if unnamed).
    barriers : GeoDataFrame
        ``barrier_id``, ``kind`` (the highway/railway/waterway value), ``name``,
        LineString/MultiLineString geometry.
    dedicated : GeoDataFrame
        Sites for dedicated grids (schools, hospitals... by ``dedicated_tags``):
        ``site_id``, ``kind`` (the tag value), ``name``, polygons.
    source : str
        Path of the file read.
    bounds : tuple of float, optional
        ``(minlon, minlat, maxlon, maxlat)`` of the file's ``<bounds>`` element.
    """

    buildings: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame
    barriers: gpd.GeoDataFrame
    source: str
    bounds: Bounds | None = field(default=None)
    dedicated: gpd.GeoDataFrame = field(default_factory=lambda: _no_sites())


def _no_sites() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"site_id": [], "kind": [], "name": []}, geometry=[], crs=CRS)


def read_osm(
    path: str | Path,
    *,
    barrier_highways: Sequence[str] = DEFAULT_BARRIER_HIGHWAYS,
    barrier_waterways: Sequence[str] = DEFAULT_BARRIER_WATERWAYS,
    barrier_railways: Sequence[str] = DEFAULT_BARRIER_RAILWAYS,
    dwelling_area: float = DEFAULT_DWELLING_AREA,
    levels_defaults: dict[str, int] | None = None,
    dedicated_tags: Sequence[str] = (),
) -> OSMLayers:
    """Read buildings (with households), compounds and barriers from an OSM extract.

    Parameters
    ----------
    path : str or Path
        OSM PBF, or OSM XML plain or compressed (``.bz2``, ``.gz``); the format is
        recognised from the content, whatever the name.
    barrier_highways, barrier_waterways, barrier_railways : sequence of str
        ``highway`` / ``waterway`` / ``railway`` values whose ways act as barriers.
    dwelling_area : float
        Floor area per dwelling in m², passed to ``estimate_households``.
    levels_defaults : dict of str to int, optional
        Default levels per building type, passed to ``estimate_households``.
    dedicated_tags : sequence of str
        ``key=value`` tags of sites read into ``dedicated`` (e.g.
        :data:`gridplan.params.DEFAULT_DEDICATED_TAGS`); none by default.

    Returns
    -------
    OSMLayers
        Buildings, compounds and barriers in EPSG:4326.

    Raises
    ------
    InputError
        If the file is missing, is not OSM (PBF or XML), is truncated or corrupt,
        declares a DOCTYPE, unpacks to more than :data:`MAX_XML_BYTES`, or holds no
        building footprints.

    Examples
    --------
    >>> layers = read_osm("../shared/data/beijing_wudaokou.osm.bz2")  # doctest: +SKIP
    >>> layers.buildings[["unit_id", "building", "households"]].head(2)  # doctest: +SKIP
    """
    path = Path(path)
    started = time.perf_counter()
    keys = _query_keys(barrier_highways, barrier_waterways, barrier_railways, dedicated_tags)
    found, bounds = _read_features(path, keys)
    features = _features_frame(found, sorted(set(_KEEP_KEYS) | keys), source=str(path))
    compounds = _compounds(features)
    buildings = _buildings(features, path)
    buildings["households"] = estimate_households(
        buildings, residential_areas=compounds.geometry, dwelling_area=dwelling_area,
        levels_defaults=levels_defaults)
    barriers = _barriers(features, barrier_highways, barrier_waterways, barrier_railways)
    sites = osm_sites(features, dedicated_tags) if dedicated_tags else _no_sites()
    layers = OSMLayers(buildings, compounds, barriers, str(path), bounds, sites)
    _log_summary(layers, time.perf_counter() - started)
    return layers


def study_area(layers: OSMLayers) -> Polygon:
    """The area an OSM extract covers, as a polygon in EPSG:4326.

    The file's ``<bounds>`` when present, else the convex hull of every feature
    buffered by 50 m.

    Parameters
    ----------
    layers : OSMLayers
        Layers from :func:`read_osm`.

    Returns
    -------
    shapely.Polygon
        The study area in EPSG:4326.

    Examples
    --------
    >>> empty = gpd.GeoDataFrame(geometry=[], crs=CRS)
    >>> study_area(OSMLayers(empty, empty, empty, "x.osm", (116.3, 39.9, 116.4, 40.0))).bounds
    (116.3, 39.9, 116.4, 40.0)
    """
    if layers.bounds is not None:
        return box(*layers.bounds)
    parts = [f.geometry.to_crs(CRS) for f in (layers.buildings, layers.compounds,
                                               layers.barriers) if not f.empty]
    if not parts:
        raise InputError("no features to derive a study area from", source=layers.source,
                         fix="use an extract with a <bounds> element or with features")
    everything = gpd.GeoSeries(pd.concat(parts, ignore_index=True), crs=CRS)
    hull = gpd.GeoSeries([everything.union_all().convex_hull], crs=CRS)
    metric = hull.estimate_utm_crs()
    return hull.to_crs(metric).buffer(HULL_BUFFER_M).to_crs(CRS).iloc[0]


# --- reading the file with pyosmium -------------------------------------------------------

PBF_FIX = "pass an OSM extract: .osm.pbf, .osm, .osm.bz2 or .osm.gz"
MAX_XML_BYTES = 4 * 1024**3  # a compressed XML extract may not unpack to more than this
_KEEP_KEYS = ("building", "building:levels", "name", "landuse", "natural", "water", "waterway",
              "highway", "railway", "tunnel", "area", "type")
_ONEWAY = {"yes", "true", "1", "-1", "reverse", "T", "F"}  # osmnx's oneway values


def _polygon_way(closed: bool, tags: dict[str, str]) -> bool:
    """Whether osmnx reads a way as a polygon (closed, not ``area=no``, a polygon tag)."""
    if not closed or tags.get("area") == "no":
        return False
    for key, value in tags.items():
        rule = POLYGON_FEATURES.get(key)
        if rule is None:
            continue
        kind, values = rule
        if kind == "all" or (kind == "pass" and value in values) or (
                kind == "block" and value not in values):
            return True
    return False


POLYGON_FEATURES: dict[str, tuple[str, frozenset[str]]] = {
    # the closed ways osmnx (2.1) builds as polygons: the Overpass turbo polygon rules
    **{key: ("all", frozenset()) for key in (
        "amenity", "area", "area:highway", "boundary", "building", "building:part", "craft",
        "golf", "historic", "indoor", "landuse", "leisure", "military", "office", "place",
        "public_transport", "ruins", "shop", "tourism")},
    "aeroway": ("block", frozenset({"taxiway"})),
    "barrier": ("pass", frozenset({"city_wall", "ditch", "hedge", "retaining_wall", "spikes"})),
    "highway": ("pass", frozenset({"elevator", "escape", "rest_area", "services"})),
    "man_made": ("block", frozenset({"cutline", "embankment", "pipeline"})),
    "natural": ("block", frozenset({"arete", "cliff", "coastline", "ridge", "tree_row"})),
    "power": ("pass", frozenset({"generator", "plant", "substation", "transformer"})),
    "railway": ("pass", frozenset({"platform", "roundhouse", "station", "turntable"})),
    "waterway": ("pass", frozenset({"boatyard", "dam", "dock", "riverbank"})),
}


@dataclass
class _Feature:
    """One way or relation kept from the file: its id, relevant tags and geometry."""

    element: str
    osm_id: int
    tags: dict[str, str]
    geometry: BaseGeometry | None = None
    polygon: bool = False
    wkb: bytes | None = None  # a way's line as read, turned into geometry in bulk

    @property
    def fid(self) -> str:
        return f"{self.element}/{self.osm_id}"


def sniff_format(path: Path) -> str:
    """The pyosmium format of ``path`` from its first bytes: ``pbf``, ``osm``, ``osm.bz2``…

    Raises
    ------
    InputError
        If the file is missing or is none of these.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.osm"
    >>> _ = p.write_bytes(b'<?xml version="1.0"?><osm version="0.6"></osm>')
    >>> sniff_format(p)
    'osm'
    """
    if not path.is_file():
        raise InputError(f"OSM file {path} not found", source=str(path),
                         fix="check the path or download an extract (e.g. Geofabrik .osm.pbf)")
    with path.open("rb") as handle:
        head = handle.read(64)
    if not head:
        raise InputError("the OSM file is empty", source=str(path),
                         fix="download or export the extract again, complete")
    if is_pbf(head):
        return "pbf"
    if head.startswith(b"BZh"):
        return "osm.bz2"
    if head.startswith(b"\x1f\x8b"):
        return "osm.gz"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "osm"
    raise InputError("not an OSM file (neither PBF nor XML, plain or compressed)",
                     source=str(path), fix=PBF_FIX)


def is_pbf(head: bytes) -> bool:
    """Whether ``head`` starts an OSM PBF file (a BlobHeader of type ``OSMHeader``).

    Examples
    --------
    >>> is_pbf(b"\\x00\\x00\\x00\\x0d\\x0a\\x09OSMHeader\\x18")
    True
    >>> is_pbf(b"<osm>")
    False
    """
    return len(head) >= 15 and head[4:6] == b"\x0a\x09" and head[6:15] == b"OSMHeader"


@contextmanager
def _opened(path: Path) -> Iterator[tuple[osmium.io.File, str]]:
    """``path`` checked, as pyosmium reads it, and its format.

    Compressed XML is unpacked once, to a temporary file, while it is checked: pyosmium
    then reads plain XML in its two passes instead of unpacking the file twice more.
    """
    fmt = sniff_format(path)
    if fmt == "pbf":
        yield osmium.io.File(str(path), fmt), fmt
        return
    if fmt == "osm":
        _check_xml(path, fmt)
        yield osmium.io.File(str(path), fmt), fmt
        return
    with tempfile.TemporaryDirectory(prefix="gridplan-osm-") as tmp:
        plain = Path(tmp) / "unpacked.osm"
        with plain.open("wb") as out:
            _check_xml(path, fmt, out)
        yield osmium.io.File(str(plain), "osm"), fmt


def _check_xml(path: Path, fmt: str, out: IO[bytes] | None = None) -> None:
    """Refuse XML that is not ``<osm>``, declares a DOCTYPE or entities, or unpacks absurdly.

    Compressed XML is unpacked whole (to ``out`` if given) to know its size.
    """
    opener: Callable[..., IO[bytes]] = {"osm.bz2": bz2.open, "osm.gz": gzip.open}.get(
        fmt, open)  # type: ignore[assignment]
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    root: list[str] = []

    def doctype(*_args) -> None:
        raise InputError("XML with a DOCTYPE or entity declarations", source=str(path),
                         fix="pass a plain OSM extract (e.g. re-export it with osmium)")

    def start(name: str, _attrs) -> None:
        root.append(name)
        parser.StartElementHandler = None

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.StartElementHandler = start
    total = 0
    try:
        with opener(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                total += len(chunk)
                if total > MAX_XML_BYTES:
                    raise InputError(f"the XML unpacks to more than {MAX_XML_BYTES >> 30} GB",
                                     source=str(path),
                                     fix="use a smaller extract, or the same area as .osm.pbf")
                if out is not None:
                    out.write(chunk)
                if not root:
                    parser.Parse(chunk, False)
                elif fmt == "osm":
                    break  # a plain file's size is its own; no need to read it all
    except expat.ExpatError as exc:
        raise InputError(f"cannot parse as OSM XML ({expat.ErrorString(exc.code)}, line "
                         f"{exc.lineno})", source=str(path), fix=PBF_FIX) from exc
    except (OSError, EOFError, ValueError) as exc:
        raise InputError(f"cannot read the compressed file ({exc})", source=str(path),
                         fix="download the extract again, complete") from exc
    if not root:
        raise InputError("cannot parse as OSM XML (no root element)", source=str(path),
                         fix=PBF_FIX)
    if root[0] != "osm":
        raise InputError(f"root element is <{root[0]}>, not <osm>", source=str(path),
                         fix=PBF_FIX)


class _Pass:
    """What one streaming pass keeps: the ways and relation areas carrying a key of interest."""

    def __init__(self, keys: set[str]) -> None:
        self.keys = keys
        self.keep = tuple(sorted(set(_KEEP_KEYS) | keys))
        self.wkb = osmium.geom.WKBFactory()
        self.ways: list[_Feature] = []
        self.relations: dict[int, _Feature] = {}  # areas assembled from relations
        self.unbuilt: dict[int, tuple[_Feature, list[tuple[int, str]]]] = {}
        self.trimmed: set[int] = set()
        self.dropped: set[int] = set()

    def tags(self, obj) -> dict[str, str]:
        tags = obj.tags
        return {key: value for key in self.keep if (value := tags.get(key)) is not None}

    def way(self, way) -> None:
        tags = self.tags(way)
        if not self.keys & tags.keys():
            return
        try:  # every node in order (the ring of a closed way); raises if one is missing
            line = self.wkb.create_linestring(way, osmium.geom.ALL)
        except osmium.InvalidLocationError:
            self._clipped(way, tags)
            return
        except RuntimeError:  # fewer than two nodes
            return
        self.ways.append(_Feature("way", way.id, tags, wkb=line,
                                  polygon=_polygon_way(way.is_closed(), tags)))

    def _clipped(self, way, tags: dict[str, str]) -> None:
        """A way some of whose nodes the file lacks: the nodes present, closed again."""
        refs = self._trim(way)
        if not refs:
            return
        closed = len(refs) > 3 and refs[0] == refs[-1]
        feature = _Feature("way", way.id, tags, polygon=_polygon_way(closed, tags))
        coords = [(n.lon, n.lat) for n in way.nodes if n.location.valid()]
        if closed and coords[0] != coords[-1]:
            coords.append(coords[0])
        feature.geometry = _make_geometry(coords, feature.polygon)
        self.ways.append(feature)

    def _trim(self, way) -> list[int]:
        """Node ids of ``way`` left once missing ones are dropped; ``[]`` if too few."""
        refs = [node.ref for node in way.nodes]
        kept = [node.ref for node in way.nodes if node.location.valid()]
        closed = len(refs) > 3 and refs[0] == refs[-1]
        if len(set(kept)) < 2:
            self.dropped.add(way.id)
            return []
        self.trimmed.add(way.id)
        if closed and len(set(kept)) >= 3 and kept[0] != kept[-1]:
            kept.append(kept[0])
        return kept

    def area(self, area) -> None:
        if area.from_way():  # a closed way's polygon is its own ring (as osmnx built it)
            return
        try:
            geometry = _single(shapely.from_wkb(self.wkb.create_multipolygon(area)))
        except (osmium.InvalidLocationError, RuntimeError, shapely.errors.GEOSException):
            geometry = None
        if geometry is not None:
            self.relations[area.orig_id()] = _Feature("relation", area.orig_id(),
                                                      self.tags(area), geometry, True)

    def relation(self, relation) -> None:
        tags = self.tags(relation)
        if tags.get("type") not in AREA_RELATION_TYPES or not self.keys & tags.keys():
            return
        members = [(m.ref, m.role) for m in relation.members if m.type == "w"]
        self.unbuilt[relation.id] = (_Feature("relation", relation.id, tags, polygon=True),
                                     members)


def _build_ways(ways: list[_Feature]) -> None:
    """The geometry of every way read whole, in bulk: its line, or its ring's polygon.

    A closed way with fewer than four nodes makes no polygon (as with osmnx).
    """
    pending = [f for f in ways if f.wkb is not None]
    if not pending:
        return
    lines = shapely.from_wkb(np.array([f.wkb for f in pending], dtype=object))
    polygon = np.array([f.polygon for f in pending])
    geometry = np.where(polygon, None, lines)
    rings = polygon & (shapely.get_num_coordinates(lines) >= 4)
    if rings.any():
        coords, index = shapely.get_coordinates(lines[rings], return_index=True)
        geometry[rings] = shapely.polygons(shapely.linearrings(coords, indices=index))
    for feature, geom in zip(pending, geometry, strict=True):
        feature.geometry, feature.wkb = geom, None


def _make_geometry(coords, polygon: bool) -> BaseGeometry | None:
    try:
        return Polygon(coords) if polygon else LineString(coords)
    except (ValueError, shapely.errors.GEOSException):
        return None


def _single(geometry: BaseGeometry) -> BaseGeometry | None:
    """A one-part MultiPolygon as a Polygon (as osmnx returns it); None if empty."""
    if geometry.is_empty:
        return None
    if isinstance(geometry, MultiPolygon) and len(geometry.geoms) == 1:
        return geometry.geoms[0]
    return geometry


def _read_features(path: Path, keys: set[str]) -> tuple[list[_Feature], Bounds | None]:
    """The ways and relations of ``path`` carrying one of ``keys``, with their geometry."""
    with _opened(path) as (source, fmt):
        try:
            bounds = _header_bounds(osmium.FileProcessor(source).header)
            try:
                reader = _stream(source, keys, areas=True)
            except RuntimeError as exc:
                if "out of order" not in str(exc):
                    raise
                logger.warning("%s is not sorted by id (%s): building its areas without "
                               "pyosmium's assembler (sort it with `osmium sort` for speed)",
                               path, exc)
                reader = _stream(source, keys, areas=False)
        except RuntimeError as exc:
            raise InputError(f"cannot read as {_label(fmt)} ({exc})", source=str(path),
                             fix=f"download or export the extract again, complete; {PBF_FIX}"
                             ) from exc
    if reader.trimmed or reader.dropped:
        logger.warning("cleaned references to elements missing from the file: %d ways "
                       "trimmed, %d ways dropped", len(reader.trimmed), len(reader.dropped))
    return [*reader.ways, *reader.relations.values()], bounds


def _stream(source: osmium.io.File, keys: set[str], *, areas: bool) -> _Pass:
    """One pass over ``source``; without ``areas`` every polygon is built from its outline."""
    reader = _Pass(keys)
    processor = osmium.FileProcessor(source).with_locations()
    if areas:  # multipolygon assembly needs a file sorted by type and id
        processor = processor.with_areas(osmium.filter.KeyFilter(*sorted(keys)))
    processor = (processor
                 .with_filter(osmium.filter.EntityFilter(
                     osmium.osm.WAY | osmium.osm.RELATION | osmium.osm.AREA))
                 .with_filter(osmium.filter.KeyFilter(*sorted(keys))))
    for obj in processor:
        if obj.is_area():
            reader.area(obj)
        elif obj.is_way():
            reader.way(obj)
        elif obj.is_relation():
            reader.relation(obj)
    _build_ways(reader.ways)
    for built in reader.relations:
        reader.unbuilt.pop(built, None)
    if reader.unbuilt:
        _rebuild_relations(source, reader)
    return reader


def _label(fmt: str) -> str:
    return "OSM PBF" if fmt == "pbf" else "OSM XML"


def _header_bounds(header) -> Bounds | None:
    box_ = header.box()
    if not box_.valid():
        return None
    return (box_.bottom_left.lon, box_.bottom_left.lat, box_.top_right.lon, box_.top_right.lat)


def _rebuild_relations(source, reader: _Pass) -> None:
    """Areas of relations pyosmium could not assemble (members missing from a clipped file).

    As the XML reader did: the member ways present (missing nodes trimmed) are merged
    into outer and inner rings, inner rings cut from the outer polygons that contain them.
    """
    wanted = {ref for _, members in reader.unbuilt.values() for ref, _ in members}
    lines: dict[int, BaseGeometry] = {}
    ways = (osmium.FileProcessor(source, osmium.osm.NODE | osmium.osm.WAY).with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.IdFilter(wanted)))
    for way in ways:
        coords = [(n.lon, n.lat) for n in way.nodes if n.location.valid()]
        if len(coords) < len(way.nodes):
            if reader._trim(way):
                if way.is_closed() and len(set(coords)) >= 3 and coords[0] != coords[-1]:
                    coords.append(coords[0])
            else:
                continue
        if len(set(coords)) >= 2:
            lines[way.id] = LineString(coords)
    built = {}
    for rel_id, (feature, members) in reader.unbuilt.items():
        rings = {"outer": [], "inner": []}
        for ref, role in members:
            if ref in lines and role in rings:
                rings[role].append(lines[ref])
        if not members or not (rings["outer"]):
            continue
        feature.geometry = _relation_polygon(rings["outer"], rings["inner"])
        if feature.geometry is not None:
            built[rel_id] = feature
    if built:
        logger.warning("built %d relations from the members present in the file "
                       "(%s)", len(built), ", ".join(f.fid for f in built.values()))
    reader.relations.update(built)


def _relation_polygon(outer: list[BaseGeometry], inner: list[BaseGeometry]
                      ) -> BaseGeometry | None:
    def polygons(lines: list[BaseGeometry]) -> list[Polygon]:
        if not lines:
            return []
        merged = linemerge(lines)
        parts = getattr(merged, "geoms", [merged])
        return [p for part in parts for p in polygonize(part)]

    shells, holes = polygons(outer), polygons(inner)
    if holes:
        shells = [s.difference(unary_union([h for h in holes if s.contains(h)])) for s in shells]
    geometry = unary_union(shells) if shells else None
    if not isinstance(geometry, (Polygon, MultiPolygon)) or geometry.is_empty:
        return None
    return geometry


def _query_keys(highways: Sequence[str], waterways: Sequence[str], railways: Sequence[str],
                dedicated_tags: Sequence[str]) -> set[str]:
    keys = {"building", "landuse", "natural", "waterway"}
    if highways:
        keys.add("highway")
    if railways:
        keys.add("railway")
    return keys | set(parse_tags(dedicated_tags))


def _features_frame(features: list[_Feature], keys: Sequence[str],
                    source: str = "the OSM file") -> gpd.GeoDataFrame:
    """The features as the frame osmnx returned: one column per tag key, index ``way/1``.

    Held to the vertex limits (:class:`~gridplan.layers.vector.GeometryLimits`) before
    anything is repaired: a feature or extract beyond them is refused; an invalid feature
    too large to repair quickly is left out, with a warning.
    """
    # osmnx sorted its frame by (element, id): relations before ways; units keep that order
    valid = sorted((f for f in features if f.geometry is not None),
                   key=lambda f: (f.element, f.osm_id))
    raw = np.array([f.geometry for f in valid], dtype=object)
    keep = _within_limits(raw, [f.fid for f in valid], source)
    if not keep.all():
        valid = [f for f, k in zip(valid, keep, strict=True) if k]
        raw = raw[keep]
    columns = {key: [f.tags.get(key) for f in valid] for key in keys}
    geometry = shapely.make_valid(raw)
    return gpd.GeoDataFrame(columns, geometry=list(geometry), crs=CRS,
                            index=[f.fid for f in valid])


def _within_limits(geometry: np.ndarray, fids: list[str], source: str) -> np.ndarray:
    """Which features to keep: refuse any beyond the vertex limits, drop (with a warning)
    the invalid ones too large to repair."""
    limits = geometry_limits()
    counts = shapely.get_num_coordinates(geometry) if len(geometry) else np.zeros(0, int)
    keep = np.ones(len(counts), dtype=bool)
    if not len(counts):
        return keep
    worst = int(np.argmax(counts))
    fix = ("leave it out of the extract (e.g. osmium extract with a smaller area), or "
           "simplify it in JOSM")
    if counts[worst] > limits.feature_vertices:
        raise InputError(f"{fids[worst]} has {int(counts[worst]):,} vertices, more than the "
                         f"limit of {limits.feature_vertices:,} per feature", source=source,
                         fix=fix)
    if counts.sum() > limits.layer_vertices:
        raise InputError(f"the extract's features have {int(counts.sum()):,} vertices, more "
                         f"than the limit of {limits.layer_vertices:,} per layer",
                         source=source, fix="use a smaller extract")
    big = np.flatnonzero(counts > limits.repair_vertices)
    if len(big):
        broken = big[~shapely.is_valid(geometry[big])]
        for i in broken:
            logger.warning("%s: left out %s: invalid, with %d vertices, too many to repair "
                        "(at most %d)", source, fids[i], counts[i], limits.repair_vertices)
        keep[broken] = False
    return keep


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name].astype(object)
    return pd.Series(None, index=frame.index, dtype=object)


def _text(frame: pd.DataFrame, name: str) -> list[str]:
    return [value if isinstance(value, str) else "" for value in _column(frame, name)]


def _layer(columns: dict[str, object], geometry: Sequence[BaseGeometry]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(list(geometry), crs=CRS), crs=CRS)


# --- geometry helpers ---------------------------------------------------------------------


def _map_geometry(frame: gpd.GeoDataFrame,
                  func: Callable[[BaseGeometry | None], BaseGeometry | None]) -> pd.Series:
    """Apply ``func`` to each geometry; an object Series (None where it returns None)."""
    return pd.Series([func(g) for g in frame.geometry], index=frame.index, dtype=object)


def _polygonal(geom: BaseGeometry | None) -> Polygon | MultiPolygon | None:
    """The polygonal part of ``geom`` (None if it has none)."""
    if geom is None or geom.is_empty:
        return None
    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    if isinstance(geom, GeometryCollection):
        parts = [g for g in geom.geoms if isinstance(g, (Polygon, MultiPolygon))]
        return _polygonal(unary_union(parts)) if parts else None
    return None


def _linear(geom: BaseGeometry | None) -> BaseGeometry | None:
    """The line part of ``geom`` (None if it has none)."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("LineString", "MultiLineString"):
        return geom
    if isinstance(geom, GeometryCollection):
        lines = [g for g in geom.geoms if g.geom_type in ("LineString", "MultiLineString")]
        return linemerge(MultiLineString(_flatten_lines(lines))) if lines else None
    return None


def _flatten_lines(lines: list[BaseGeometry]) -> list[BaseGeometry]:
    return [part for line in lines for part in getattr(line, "geoms", [line])]


# --- layers -------------------------------------------------------------------------------


def _buildings(features: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    tagged = _column(features, "building")
    selected = features[tagged.notna() & (tagged != "no")]
    geometry = _map_geometry(selected, _polygonal)
    footprints = selected[geometry.notna()]
    if footprints.empty:
        raise InputError(f"no building-tagged ways in {path.name}", source=str(path),
                         fix=NO_BUILDINGS_FIX)
    if len(footprints) < len(selected):
        logger.info("dropped %d buildings without a footprint (nodes or open ways)",
                    len(selected) - len(footprints))
    levels = _column(footprints, "building:levels").map(parse_levels)
    return _layer({
        "unit_id": list(footprints.index),
        "building": _text(footprints, "building"),
        "levels": levels.astype(float).to_numpy(),
        "name": _text(footprints, "name"),
    }, geometry[geometry.notna()])


def _compounds(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    selected = features[_column(features, "landuse") == "residential"]
    geometry = _map_geometry(selected, _polygonal)
    compounds = selected[geometry.notna()]
    return _layer({"compound_id": list(compounds.index), "name": _text(compounds, "name")},
                  geometry[geometry.notna()])


def _barriers(features: gpd.GeoDataFrame, highways: Sequence[str], waterways: Sequence[str],
              railways: Sequence[str]) -> gpd.GeoDataFrame:
    in_tunnel = _column(features, "tunnel").fillna("no") != "no"
    kind = pd.Series(None, index=features.index, dtype=object)
    for key, values in (("highway", highways), ("railway", railways), ("waterway", waterways)):
        column = _column(features, key)
        kind = kind.where(kind.notna(), column.where(column.isin(list(values))))
    geometry = _map_geometry(features, _linear)
    if (tunnels := int((kind.notna() & in_tunnel).sum())) > 0:
        logger.info("left out %d barrier ways in tunnels", tunnels)
    kind = kind.where(geometry.notna() & ~in_tunnel)
    water_kind, water_geometry = _water_areas(features, waterways)
    kind = kind.where(kind.notna(), water_kind)
    geometry = geometry.where(water_kind.isna(), water_geometry)
    chosen = kind.notna()
    return _layer({
        "barrier_id": list(features.index[chosen]),
        "kind": kind[chosen].astype(str).tolist(),
        "name": _text(features[chosen], "name"),
    }, geometry[chosen])


def _water_areas(features: gpd.GeoDataFrame,
                 waterways: Sequence[str]) -> tuple[pd.Series, pd.Series]:
    """Kind (``river``/``canal``) and outline of river/canal areas; None elsewhere."""
    water = _column(features, "water")
    kind = water.where((_column(features, "natural") == "water") & water.isin(WATER_AREA_VALUES))
    riverbank = _column(features, "waterway") == "riverbank"
    kind = kind.where(~riverbank, "river")
    polygons = _map_geometry(features, _polygonal)
    kind = kind.where(kind.isin(list(waterways)) & polygons.notna())
    outline = [p.boundary if k is not None and not pd.isna(k) else None
               for p, k in zip(polygons, kind, strict=True)]
    return kind, pd.Series(outline, index=features.index, dtype=object)


def _log_summary(layers: OSMLayers, seconds: float) -> None:
    households = layers.buildings["households"]
    logger.info(
        "%s: %d buildings (%d residential, %d households), %d compounds, %d barriers %s "
        "in %.2f s", layers.source, len(layers.buildings), int((households > 0).sum()),
        int(households.sum()), len(layers.compounds), len(layers.barriers),
        layers.barriers["kind"].value_counts().to_dict(), seconds)


# --- the street network -------------------------------------------------------------------


def street_graph(path: str | Path):
    """The streets of an OSM extract as an osmnx graph (EPSG:4326), in one pyosmium pass.

    Every ``highway``-tagged way becomes edges between its consecutive nodes, both
    ways unless one-way (osmnx's rules); the graph is then simplified by osmnx. A
    node that another (non-highway) way also uses stays a node, as when osmnx
    parsed the whole file: such nodes are where stops snap to the network.

    Raises
    ------
    InputError
        If the file is not an OSM extract or holds no highway-tagged way.
    """
    import networkx as nx
    import osmnx as ox

    path = Path(path)
    graph = nx.MultiDiGraph(crs=CRS)
    touched: set[int] = set()
    with _opened(path) as (source, fmt):
        try:
            ways = (osmium.FileProcessor(source, osmium.osm.NODE | osmium.osm.WAY)
                    .with_locations().with_filter(osmium.filter.EntityFilter(osmium.osm.WAY)))
            for way in ways:
                if "highway" in way.tags:
                    _add_street(graph, way)
                else:
                    touched.update(node.ref for node in way.nodes)
        except RuntimeError as exc:
            raise InputError(f"cannot read as {_label(fmt)} ({exc})", source=str(path),
                             fix=f"download or export the extract again, complete; {PBF_FIX}"
                             ) from exc
    if graph.number_of_edges() == 0:
        raise InputError("no highway-tagged ways", source=str(path),
                         fix="give an extract that contains streets and paths")
    nx.set_node_attributes(graph, {n: True for n in touched if n in graph}, "shared")
    graph = ox.distance.add_edge_lengths(graph)
    graph = ox.simplify_graph(graph, node_attrs_include=["shared"])
    for _, data in graph.nodes(data=True):
        data.pop("shared", None)
    return graph


_STREET_TAGS = ("bridge", "tunnel", "lanes", "ref", "name", "highway", "maxspeed", "service",
                "access", "area", "landuse", "width", "est_width", "junction")


def _add_street(graph, way) -> None:
    nodes = [(node.ref, node.lon, node.lat) for node in way.nodes if node.location.valid()]
    if len(nodes) < 2:
        return
    tags = {key: way.tags[key] for key in _STREET_TAGS if key in way.tags}
    oneway = way.tags.get("oneway") in _ONEWAY or tags.get("junction") == "roundabout"
    if oneway and way.tags.get("oneway") in ("-1", "reverse", "T"):
        nodes.reverse()
    for ref, lon, lat in nodes:
        graph.add_node(ref, x=lon, y=lat)
    attrs = {"osmid": way.id, **tags, "oneway": oneway, "reversed": False}
    pairs = list(zip(nodes, nodes[1:], strict=False))
    graph.add_edges_from((u[0], v[0], dict(attrs)) for u, v in pairs)
    if not oneway:
        back = {**attrs, "reversed": True}
        graph.add_edges_from((v[0], u[0], dict(back)) for u, v in pairs)
