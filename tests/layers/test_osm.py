"""Tests of gridplan.layers.osm on small synthetic files and the real extracts in ../shared/data."""

from __future__ import annotations

import bz2
import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from osm_xml import LAT, LON, STEP, _square, _way
from shapely import box

from gridplan.errors import InputError
from gridplan.layers.osm import OSMLayers, read_osm, study_area

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
EXTRACTS = ("beijing_wudaokou", "beijing_bnu", "shanghai_shu", "helsinki")
UNIT_ID = re.compile(r"^(node|way|relation)/\d+$")

# --- synthetic OSM XML --------------------------------------------------------------------

def synthetic_osm(*, missing_nodes: bool = False, buildings: bool = True) -> str:
    """A compound with two buildings, a detached school, roads and a multipolygon building."""
    parts: list[str] = []
    ways: list[str] = []
    nodes, refs = _square(1, 0, 0, 10)
    parts += nodes
    ways.append(_way(100, refs, {"landuse": "residential", "name": "荷清苑"}))
    if buildings:
        nodes, refs = _square(11, 1, 1, 2)
        parts += nodes
        ways.append(_way(101, refs, {"building": "yes", "building:levels": "6;7"}))
        nodes, refs = _square(21, 20, 0, 2)
        parts += nodes
        ways.append(_way(102, refs, {"building": "school", "name": "小学"}))
        nodes, refs = _square(31, 5, 5, 3)
        parts += nodes
        ways.append(_way(103, refs, {}))  # outer member of relation 200
        parts.append('<node id="41" lat="39.9951" lon="116.3101"><tag k="building" v="yes"/>'
                     "</node>")
    parts += [f'<node id="{50 + i}" lat="{LAT - STEP:.7f}" lon="{LON + i * 5 * STEP:.7f}"/>'
              for i in range(5)]
    ways.append(_way(110, [50, 51, 52], {"highway": "primary", "name": "成府路"}))
    ways.append(_way(111, [52, 53], {"highway": "primary", "tunnel": "yes"}))
    ways.append(_way(112, [53, 54], {"highway": "footway"}))
    ways.append(_way(113, [50, 54], {"waterway": "river"}))
    nodes, refs = _square(61, 40, 0, 4)
    parts += nodes
    ways.append(_way(115, refs, {"natural": "water", "water": "river"}))  # river area
    if missing_nodes:  # a clipped extract: some referenced nodes are absent
        # building 101 now starts and ends at a missing node: cleaning must re-close it
        ways[1] = _way(101, [998, 12, 13, 999, 14, 11, 998],
                       {"building": "yes", "building:levels": "6;7"})
        ways.append(_way(104, [997, 996], {}))  # a member way with no existing node
        ways.append(_way(114, [51, 995, 52], {"highway": "secondary"}))
    # in a clipped file, inner 104 lost all its nodes (plain osmnx 2.1.1 crashes on that)
    # and relation 201 only has an absent member
    inner = '<member type="way" ref="104" role="inner"/>' if missing_nodes else ""
    relation = ('<relation id="200"><member type="way" ref="103" role="outer"/>' + inner
                + '<tag k="type" v="multipolygon"/><tag k="building" v="apartments"/></relation>')
    if missing_nodes:
        relation += ('<relation id="201"><member type="way" ref="105" role="outer"/>'
                     '<tag k="type" v="multipolygon"/><tag k="building" v="yes"/></relation>')
    bounds = '<bounds minlat="39.9940" minlon="116.3095" maxlat="39.9965" maxlon="116.3130"/>'
    body = "".join([bounds, *parts, *ways, relation if buildings else ""])
    return f'<?xml version="1.0" encoding="UTF-8"?><osm version="0.6">{body}</osm>'


def read_osm_text(folder: Path, text: str, name: str = "tiny.osm") -> OSMLayers:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return read_osm(path)


@pytest.fixture
def synthetic(tmp_path: Path) -> OSMLayers:
    return read_osm_text(tmp_path, synthetic_osm())


def test_synthetic_buildings(synthetic: OSMLayers):
    b = synthetic.buildings.set_index("unit_id")
    assert sorted(b.index) == ["relation/200", "way/101", "way/102"]  # node 41 dropped
    assert b.crs.to_epsg() == 4326
    assert set(b.geom_type) == {"Polygon"}
    assert b.loc["way/101", "levels"] == 6.5
    assert np.isnan(b.loc["way/102", "levels"])
    assert b.loc["way/102", "name"] == "小学" and b.loc["way/101", "name"] == ""
    assert b.loc["way/101", "households"] > 0  # building=yes inside the compound
    assert b.loc["way/102", "households"] == 0
    assert b.loc["relation/200", "households"] > 0
    assert b["households"].dtype == np.int64


def test_synthetic_compounds_and_barriers(synthetic: OSMLayers):
    compounds = synthetic.compounds
    assert compounds[["compound_id", "name"]].values.tolist() == [["way/100", "荷清苑"]]
    barriers = synthetic.barriers.set_index("barrier_id")
    assert barriers["kind"].to_dict() == {"way/110": "primary", "way/113": "river",
                                          "way/115": "river"}
    assert barriers.loc["way/110", "name"] == "成府路"
    assert set(barriers.geom_type) == {"LineString"}


def test_synthetic_study_area_is_file_bounds(synthetic: OSMLayers):
    assert study_area(synthetic).equals(box(116.3095, 39.9940, 116.3130, 39.9965))


def test_study_area_without_bounds_covers_all_features(synthetic: OSMLayers):
    synthetic.bounds = None
    area = study_area(synthetic)
    for layer in (synthetic.buildings, synthetic.compounds, synthetic.barriers):
        assert layer.geometry.within(area).all()


def test_missing_nodes_are_cleaned(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.INFO, logger="gridplan.layers.osm"):
        layers = read_osm_text(tmp_path, synthetic_osm(missing_nodes=True), "clipped.osm")
    assert "2 ways trimmed, 1 ways dropped" in caplog.text
    assert "3 buildings (2 residential" in caplog.text
    b = layers.buildings.set_index("unit_id")
    assert sorted(b.index) == ["relation/200", "way/101", "way/102"]
    clean = read_osm_text(tmp_path, synthetic_osm()).buildings.set_index("unit_id")
    assert b.loc["way/101"].geometry.equals(clean.loc["way/101"].geometry)  # re-closed
    assert b.loc["way/101", "households"] > 0
    barriers = layers.barriers.set_index("barrier_id")
    assert len(barriers.loc["way/114"].geometry.coords) == 2  # node 995 skipped


def test_missing_file_raises_input_error(tmp_path: Path):
    path = tmp_path / "nowhere.osm.bz2"
    with pytest.raises(InputError, match="nowhere.osm.bz2"):
        read_osm(path)


@pytest.mark.parametrize(("name", "content"), [
    ("garbage.osm", b"this is not <xml at all"),
    ("garbage.osm.bz2", b"not bzip2 data"),
    ("truncated.osm.bz2", bz2.compress(b"<osm><node id='1'")[:-8]),
    ("other.osm", b"<html><body>404</body></html>"),
])
def test_garbage_file_raises_input_error(tmp_path: Path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_osm(path)
    assert str(path) in str(info.value)


def test_file_without_buildings_raises_input_error(tmp_path: Path):
    path = tmp_path / "roads.osm"
    path.write_text(synthetic_osm(buildings=False), encoding="utf-8")
    with pytest.raises(InputError, match="no building-tagged ways") as info:
        read_osm(path)
    assert "--population" in info.value.fix


# --- real extracts ------------------------------------------------------------------------

_CACHE: dict[str, OSMLayers] = {}


@pytest.fixture(params=EXTRACTS)
def extract(request: pytest.FixtureRequest) -> tuple[str, OSMLayers]:
    name = request.param
    path = DATA / f"{name}.osm.bz2"
    if not path.is_file():
        pytest.skip(f"real OSM extract {path} not found (needs ../shared/data next to the repo)")
    if name not in _CACHE:
        _CACHE[name] = read_osm(path)
    return name, _CACHE[name]


@pytest.mark.realdata
def test_real_extract_buildings(extract: tuple[str, OSMLayers]):
    name, layers = extract
    b = layers.buildings
    assert not b.empty
    assert b.crs.to_epsg() == 4326
    assert b["unit_id"].is_unique
    assert b["unit_id"].map(lambda u: bool(UNIT_ID.match(u))).all()
    assert set(b.geom_type) <= {"Polygon", "MultiPolygon"}
    assert b["households"].dtype == np.int64 and (b["households"] >= 0).all()
    assert {"building", "levels", "name"} <= set(b.columns)
    if name in ("beijing_wudaokou", "helsinki"):
        assert (b["households"] > 0).sum() >= 20


@pytest.mark.realdata
def test_real_extract_compounds_and_barriers(extract: tuple[str, OSMLayers]):
    name, layers = extract
    for layer, id_column in ((layers.compounds, "compound_id"), (layers.barriers, "barrier_id")):
        assert layer.crs.to_epsg() == 4326
        assert layer[id_column].is_unique
        assert layer["name"].map(lambda v: isinstance(v, str)).all()
    assert set(layers.barriers.geom_type) <= {"LineString", "MultiLineString"}
    if name == "beijing_wudaokou":
        assert len(layers.compounds) >= 1
        assert {"primary", "secondary"} <= set(layers.barriers["kind"])
        assert "华清嘉园小区" in set(layers.compounds["name"])


@pytest.mark.realdata
def test_real_extract_study_area(extract: tuple[str, OSMLayers]):
    name, layers = extract
    area = study_area(layers)
    assert area.is_valid and area.area > 0
    if layers.bounds is None:  # helsinki has no <bounds>: the hull covers every building
        assert layers.buildings.geometry.within(area).all()
    else:
        assert area.equals(box(*layers.bounds))


@pytest.mark.realdata
def test_clipped_real_extract_is_cleaned(tmp_path: Path):
    """Dropping the western nodes of wudaokou crashes plain osmnx 2.1.1; read_osm copes."""
    source = DATA / "beijing_wudaokou.osm.bz2"
    if not source.is_file():
        pytest.skip(f"real OSM extract {source} not found (needs ../shared/data)")
    with bz2.open(source) as handle:
        root = ET.parse(handle).getroot()
    for node in [n for n in root.findall("node") if float(n.get("lon")) < 116.315]:
        root.remove(node)
    clipped = tmp_path / "clipped.osm"
    ET.ElementTree(root).write(clipped, encoding="utf-8")
    layers = read_osm(clipped)
    assert 0 < len(layers.buildings) < 521
    assert layers.buildings["households"].sum() > 0
    assert layers.buildings.is_valid.all()
