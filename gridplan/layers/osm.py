"""Read buildings, residential compounds and barriers from an OpenStreetMap XML extract.

:func:`read_osm` turns an ``.osm`` / ``.osm.bz2`` / ``.osm.gz`` file into three
EPSG:4326 layers:

* **buildings**: ``building``-tagged closed ways and multipolygon relations, with
  their households estimated by :func:`gridplan.layers.households.estimate_households`.
  Buildings mapped as bare nodes (no footprint) are dropped and counted in the log.
* **compounds**: ``landuse=residential`` polygons (小区 / residential compounds).
* **barriers**: roads, railways and waterways that split a community (by default
  the values in :mod:`gridplan.params`); ways in tunnels (``tunnel`` ≠ ``no``) are
  left out. River or canal areas (``natural=water`` + ``water=river|canal`` or
  ``waterway=riverbank``) add their outline.

Clipped extracts may reference nodes or member ways that the file lacks; osmnx
2.1 silently drops such ways and crashes on multipolygon relations whose member
way lost its nodes. The file is therefore pre-parsed and cleaned first: missing
node references are removed (closed ways stay closed), ways left with fewer than
two nodes are dropped, and multipolygon members pointing to absent ways are removed
(the remaining members still form a polygon when their rings close).
"""

from __future__ import annotations

import bz2
import gzip
import logging
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import geopandas as gpd
import osmnx as ox
import pandas as pd
from osmnx._errors import InsufficientResponseError
from shapely import GeometryCollection, MultiLineString, MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import linemerge, unary_union

from gridplan.errors import InputError
from gridplan.layers.households import DEFAULT_DWELLING_AREA, estimate_households, parse_levels
from gridplan.layers.sites import osm_sites
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


@dataclass
class _Cleaning:
    """What cleaning the XML changed."""

    trimmed_ways: int = 0
    dropped_ways: int = 0
    dropped_members: int = 0
    dropped_relations: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.trimmed_ways or self.dropped_ways or self.dropped_members
                    or self.dropped_relations)


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
    """Read buildings (with households), compounds and barriers from an OSM XML file.

    Parameters
    ----------
    path : str or Path
        OSM XML file, plain or compressed (``.bz2``, ``.gz``).
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
        If the file is missing, is not OSM XML or holds no building footprints.

    Examples
    --------
    >>> layers = read_osm("../shared/data/beijing_wudaokou.osm.bz2")  # doctest: +SKIP
    >>> layers.buildings[["unit_id", "building", "households"]].head(2)  # doctest: +SKIP
    """
    path = Path(path)
    started = time.perf_counter()
    root = _parse_xml(path)
    bounds = _read_bounds(root)
    cleaning = _clean(root)
    tags = _query_tags(barrier_highways, barrier_waterways, barrier_railways)
    for key, values in parse_tags(dedicated_tags).items():
        tags[key] = True if tags.get(key) is True else sorted({*tags.get(key, []), *values})
    features = _features(path, root, cleaning, tags)
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


# --- reading and cleaning the XML -------------------------------------------------------


@contextmanager
def _open(path: Path) -> Iterator[IO[bytes]]:
    if path.suffix == ".bz2":
        with bz2.open(path, "rb") as handle:
            yield handle
    elif path.suffix == ".gz":
        with gzip.open(path, "rb") as handle:
            yield handle
    else:
        with path.open("rb") as handle:
            yield handle


def _parse_xml(path: Path) -> ET.Element:
    if not path.is_file():
        raise InputError(f"OSM file {path} not found", source=str(path),
                         fix="check the path or download an extract (e.g. from Overpass)")
    try:
        with _open(path) as handle:
            root = ET.parse(handle).getroot()
    except (ET.ParseError, OSError, EOFError, ValueError) as exc:
        raise InputError(f"cannot parse as OSM XML ({exc})", source=str(path),
                         fix="pass an OSM XML file (.osm, .osm.bz2 or .osm.gz)") from exc
    if root.tag != "osm":
        raise InputError(f"root element is <{root.tag}>, not <osm>", source=str(path),
                         fix="pass an OSM XML file (.osm, .osm.bz2 or .osm.gz)")
    return root


def _read_bounds(root: ET.Element) -> Bounds | None:
    element = root.find("bounds")
    if element is None:
        return None
    try:
        values = tuple(float(element.attrib[k]) for k in ("minlon", "minlat", "maxlon", "maxlat"))
    except (KeyError, ValueError):
        logger.warning("ignoring malformed <bounds> element %s", element.attrib)
        return None
    return values  # type: ignore[return-value]


def _clean(root: ET.Element) -> _Cleaning:
    """Remove references to elements the file lacks, in place."""
    cleaning = _Cleaning()
    node_ids = {node.get("id") for node in root.iter("node")}
    way_ids: set[str | None] = set()
    for way in root.findall("way"):
        if _clean_way(way, node_ids, cleaning):
            way_ids.add(way.get("id"))
        else:
            root.remove(way)
    for relation in root.findall("relation"):
        if _relation_type(relation) in AREA_RELATION_TYPES:
            _clean_relation(root, relation, way_ids, cleaning)
    if cleaning.changed:
        logger.warning("cleaned references to elements missing from the file: %d ways "
                       "trimmed, %d ways dropped, %d relation members and %d relations "
                       "dropped", cleaning.trimmed_ways, cleaning.dropped_ways,
                       cleaning.dropped_members, cleaning.dropped_relations)
    return cleaning


def _clean_way(way: ET.Element, node_ids: set[str | None], cleaning: _Cleaning) -> bool:
    """Drop missing node refs of ``way``; return False if too little of it is left."""
    refs = way.findall("nd")
    missing = [nd for nd in refs if nd.get("ref") not in node_ids]
    if not missing:
        return True
    closed = len(refs) > 3 and refs[0].get("ref") == refs[-1].get("ref")
    for nd in missing:
        way.remove(nd)
    kept = way.findall("nd")
    distinct = {nd.get("ref") for nd in kept}
    if len(distinct) < 2:
        cleaning.dropped_ways += 1
        return False
    if closed and len(distinct) >= 3 and kept[0].get("ref") != kept[-1].get("ref"):
        _append_after(way, kept[-1], ET.Element("nd", ref=kept[0].get("ref", "")))
    cleaning.trimmed_ways += 1
    return True


def _append_after(parent: ET.Element, anchor: ET.Element, new: ET.Element) -> None:
    parent.insert(list(parent).index(anchor) + 1, new)


def _relation_type(relation: ET.Element) -> str | None:
    for tag in relation.iter("tag"):
        if tag.get("k") == "type":
            return tag.get("v")
    return None


def _clean_relation(root: ET.Element, relation: ET.Element, way_ids: set[str | None],
                    cleaning: _Cleaning) -> None:
    members = relation.findall("member")
    for member in members:
        if member.get("type") == "way" and member.get("ref") not in way_ids:
            relation.remove(member)
            cleaning.dropped_members += 1
    if members and not relation.findall("member"):
        root.remove(relation)
        cleaning.dropped_relations += 1


# --- features via osmnx -------------------------------------------------------------------


def _query_tags(highways: Sequence[str], waterways: Sequence[str],
                railways: Sequence[str]) -> dict[str, bool | list[str]]:
    tags: dict[str, bool | list[str]] = {
        "building": True,
        "landuse": ["residential"],
        "natural": ["water"],
        "waterway": [*waterways, "riverbank"],
    }
    if highways:
        tags["highway"] = list(highways)
    if railways:
        tags["railway"] = list(railways)
    return tags


def _features(path: Path, root: ET.Element, cleaning: _Cleaning,
              tags: dict[str, bool | list[str]]) -> gpd.GeoDataFrame:
    if not cleaning.changed:
        return _features_from(path, path, tags)
    with tempfile.TemporaryDirectory(prefix="gridplan-osm-") as tmp:
        cleaned = Path(tmp) / "cleaned.osm"
        ET.ElementTree(root).write(cleaned, encoding="utf-8", xml_declaration=True)
        return _features_from(cleaned, path, tags)


def _features_from(file: Path, source: Path,
                   tags: dict[str, bool | list[str]]) -> gpd.GeoDataFrame:
    try:
        features = ox.features_from_xml(file, tags=tags)
    except InsufficientResponseError:
        return gpd.GeoDataFrame(geometry=[], crs=CRS)
    except Exception as exc:
        raise InputError(f"osmnx could not build features ({exc!r})", source=str(source),
                         fix="check the extract, e.g. re-export it from osmium or JOSM") from exc
    features = features.to_crs(CRS)
    features.index = [f"{element}/{osm_id}" for element, osm_id in features.index]
    return features


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
