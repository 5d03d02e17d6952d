"""OSM PBF and XML read alike (pyosmium), clear errors for bad files, the street graph."""

from __future__ import annotations

import bz2
import shutil
from pathlib import Path

import osmium
import pytest
from click.testing import CliRunner

from gridplan.cli.main import main as cli
from gridplan.errors import InputError
from gridplan.layers.osm import OSMLayers, is_pbf, read_osm, sniff_format, street_graph

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LON, LAT, STEP = 116.3100, 39.9950, 0.0001  # ~10 m per step
# households of the former ElementTree + osmnx reader on the shared extracts (merge-exact)
OLD_HOUSEHOLDS = {"beijing_wudaokou": 12459, "beijing_bnu": 2610, "shanghai_shu": 1358,
                  "helsinki": 3535}
OLD_COUNTS = {  # buildings, compounds, barriers
    "beijing_wudaokou": (521, 6, 99), "beijing_bnu": (111, 3, 11),
    "shanghai_shu": (107, 1, 24), "helsinki": (446, 13, 609)}


class _Ids:
    def __init__(self) -> None:
        self.node = 0

    def next(self) -> int:
        self.node += 1
        return self.node


def _square(writer, ids: _Ids, x: float, y: float, size: float) -> list[int]:
    """Nodes of an axis-aligned square (in steps); the refs of its closed ring."""
    refs = []
    for dx, dy in ((0, 0), (size, 0), (size, size), (0, size)):
        ref = ids.next()
        writer.add_node(osmium.osm.mutable.Node(
            id=ref, location=(LON + (x + dx) * STEP, LAT + (y + dy) * STEP)))
        refs.append(ref)
    return [*refs, refs[0]]


def write_extract(path: Path, *, bounds: bool = True) -> Path:
    """Buildings with levels, a landuse multipolygon with a hole, roads, a river area."""
    header = osmium.io.Header()
    if bounds:
        header.add_box(osmium.osm.Box(osmium.osm.Location(LON - STEP, LAT - 2 * STEP),
                                      osmium.osm.Location(LON + 60 * STEP, LAT + 40 * STEP)))
    ids = _Ids()
    with osmium.SimpleWriter(str(path), header=header, overwrite=True) as w:
        rings = {
            "outer": _square(w, ids, 0, 0, 30),
            "inner": _square(w, ids, 20, 20, 5),
            "a": _square(w, ids, 2, 2, 3),
            "b": _square(w, ids, 8, 2, 4),
            "school": _square(w, ids, 40, 0, 6),
            "mp": _square(w, ids, 2, 10, 6),
            "river": _square(w, ids, 50, 10, 5),
            "hut": _square(w, ids, 22, 21, 1),  # inside the hole: not in the compound
        }
        road = [ids.next() for _ in range(4)]
        for i, ref in enumerate(road):
            w.add_node(osmium.osm.mutable.Node(id=ref, location=(LON + i * 15 * STEP,
                                                                 LAT - STEP)))
        w.add_way(osmium.osm.mutable.Way(id=10, nodes=rings["outer"], tags={}))
        w.add_way(osmium.osm.mutable.Way(id=11, nodes=rings["inner"], tags={}))
        w.add_way(osmium.osm.mutable.Way(id=12, nodes=rings["a"], tags={
            "building": "apartments", "building:levels": "6", "name": "1号楼"}))
        w.add_way(osmium.osm.mutable.Way(id=13, nodes=rings["b"], tags={
            "building": "residential", "building:levels": "12"}))
        w.add_way(osmium.osm.mutable.Way(id=14, nodes=rings["school"], tags={
            "building": "school", "amenity": "school"}))
        w.add_way(osmium.osm.mutable.Way(id=15, nodes=rings["mp"], tags={}))
        w.add_way(osmium.osm.mutable.Way(id=16, nodes=rings["river"], tags={
            "natural": "water", "water": "river"}))
        w.add_way(osmium.osm.mutable.Way(id=17, nodes=rings["hut"], tags={"building": "yes"}))
        w.add_way(osmium.osm.mutable.Way(id=20, nodes=road[:3], tags={
            "highway": "primary", "name": "成府路"}))
        w.add_way(osmium.osm.mutable.Way(id=21, nodes=road[2:], tags={
            "highway": "primary", "tunnel": "yes"}))
        w.add_relation(osmium.osm.mutable.Relation(id=30, members=[
            ("w", 10, "outer"), ("w", 11, "inner")], tags={
            "type": "multipolygon", "landuse": "residential", "name": "荷清苑"}))
        w.add_relation(osmium.osm.mutable.Relation(id=31, members=[("w", 15, "outer")], tags={
            "type": "multipolygon", "building": "apartments", "building:levels": "3"}))
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[OSMLayers, OSMLayers, Path]:
    folder = tmp_path_factory.mktemp("osm")
    pbf = read_osm(write_extract(folder / "tiny.osm.pbf"),
                   dedicated_tags=["amenity=school"])
    xml = read_osm(write_extract(folder / "tiny.osm.bz2"), dedicated_tags=["amenity=school"])
    return pbf, xml, folder


def test_pbf_and_xml_give_the_same_layers(pair):
    pbf, xml, _ = pair
    for name in ("buildings", "compounds", "barriers", "dedicated"):
        a, b = getattr(pbf, name), getattr(xml, name)
        assert a.drop(columns="geometry").equals(b.drop(columns="geometry")), name
        assert a.geometry.geom_equals_exact(b.geometry, 0).all(), name
    assert pbf.bounds == pytest.approx(xml.bounds)


def test_layers_of_the_tiny_extract(pair):
    pbf, _, _ = pair
    b = pbf.buildings.set_index("unit_id")
    assert list(b.index) == ["relation/31", "way/12", "way/13", "way/14", "way/17"]
    assert b.loc["way/12", "levels"] == 6 and b.loc["way/12", "name"] == "1号楼"
    assert b.loc["way/13", "households"] > b.loc["way/12", "households"] > 0
    assert b.loc["relation/31", "households"] > 0
    assert b.loc["way/14", "households"] == 0
    compound = pbf.compounds.set_index("compound_id").loc["relation/30"]
    assert compound["name"] == "荷清苑"
    assert len(compound.geometry.interiors) == 1  # the hole assembled by libosmium
    barriers = pbf.barriers.set_index("barrier_id")
    assert sorted(barriers.index) == ["way/16", "way/20"]  # the tunnel is left out
    assert barriers.loc["way/20", "kind"] == "primary"
    assert barriers.loc["way/16", "kind"] == "river"  # the river area's outline
    assert list(pbf.dedicated["site_id"]) == ["way/14"]


def test_format_comes_from_the_content(pair):
    _, _, folder = pair
    pbf = folder / "tiny.osm.pbf"
    assert sniff_format(pbf) == "pbf" and is_pbf(pbf.read_bytes()[:64])
    renamed = folder / "download.osm"  # a PBF saved under an XML name reads all the same
    shutil.copy(pbf, renamed)
    assert read_osm(renamed).buildings["households"].sum() == \
        read_osm(pbf).buildings["households"].sum()


def test_unsorted_xml_is_read_without_the_assembler(tmp_path: Path, pair,
                                                     caplog: pytest.LogCaptureFixture):
    pbf, _, _ = pair
    sorted_xml = write_extract(tmp_path / "sorted.osm")
    text = sorted_xml.read_text(encoding="utf-8")
    way_10 = text[text.index('<way id="10"'):text.index("</way>", text.index('<way id="10"'))
                  + len("</way>")]
    unsorted = text.replace(way_10, "").replace("<relation", way_10 + "<relation", 1)
    path = tmp_path / "unsorted.osm"
    path.write_text(unsorted, encoding="utf-8")
    layers = read_osm(path)
    assert "not sorted by id" in caplog.text
    assert layers.buildings.drop(columns="geometry").equals(
        pbf.buildings.drop(columns="geometry"))
    assert layers.compounds.geometry.iloc[0].equals(pbf.compounds.geometry.iloc[0])


@pytest.mark.parametrize(("name", "cut"), [("truncated.osm.pbf", 0.6), ("corrupt.osm.pbf", -1)])
def test_bad_pbf_raises_input_error(pair, tmp_path: Path, name: str, cut: float):
    _, _, folder = pair
    data = (folder / "tiny.osm.pbf").read_bytes()
    # cut short, or the header blob kept and the data blob garbled
    data = data[:int(len(data) * cut)] if cut > 0 else data[:60] + bytes(
        b ^ 0x5A for b in data[60:])
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError, match="OSM PBF") as info:
        read_osm(path)
    assert info.value.source == str(path) and "again" in info.value.fix


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.osm.pbf", b"", "is empty"),
    ("photo.osm.pbf", b"\x89PNG\r\n\x1a\n" + bytes(64), "not an OSM file"),
    ("doctype.osm", b'<?xml version="1.0"?><!DOCTYPE osm [<!ENTITY a "x">]><osm/>',
     "DOCTYPE"),
    ("other.osm", b"<gpx><trk/></gpx>", "not <osm>"),
])
def test_non_osm_files_raise_input_error(tmp_path: Path, name: str, content: bytes,
                                         message: str):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        read_osm(path)
    assert info.value.source == str(path)


def test_empty_extract_raises_input_error(tmp_path: Path):
    path = tmp_path / "empty.osm.pbf"
    with osmium.SimpleWriter(str(path)) as w:
        w.add_node(osmium.osm.mutable.Node(id=1, location=(LON, LAT)))
    with pytest.raises(InputError, match="no building-tagged ways") as info:
        read_osm(path)
    assert "--population" in info.value.fix


def test_bz2_that_unpacks_absurdly_is_refused(tmp_path: Path, monkeypatch):
    import gridplan.layers.osm as osm

    monkeypatch.setattr(osm, "MAX_XML_BYTES", 1_000_000)
    path = tmp_path / "bomb.osm.bz2"
    path.write_bytes(bz2.compress(b"<osm>" + b" " * 5_000_000 + b"</osm>"))
    with pytest.raises(InputError, match="unpacks to more than"):
        read_osm(path)


def test_cli_exits_2_on_a_truncated_pbf(pair, tmp_path: Path):
    _, _, folder = pair
    path = tmp_path / "cut.osm.pbf"
    path.write_bytes((folder / "tiny.osm.pbf").read_bytes()[:-40])
    result = CliRunner().invoke(cli, ["plan", "--osm", str(path), "--out",
                                      str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "cut.osm.pbf" in result.stderr


def test_street_graph_from_the_ways_read(pair):
    _, _, folder = pair
    graph = street_graph(folder / "tiny.osm.pbf")
    highways = {d["highway"] for _, _, d in graph.edges(data=True)}
    assert highways == {"primary"} and graph.graph["crs"] == "EPSG:4326"
    assert graph.number_of_nodes() == 2  # two ways in a row: simplified to one street
    assert all(d["length"] > 0 for _, _, d in graph.edges(data=True))


# --- the shared extracts ------------------------------------------------------------------


@pytest.fixture(params=sorted(OLD_HOUSEHOLDS))
def shared(request: pytest.FixtureRequest) -> tuple[str, Path]:
    path = DATA / f"{request.param}.osm.bz2"
    if not path.is_file():
        pytest.skip(f"real OSM extract {path} not found (needs ../shared/data next to the repo)")
    return request.param, path


@pytest.mark.realdata
def test_shared_extract_households_equal_the_old_reader(shared):
    name, path = shared
    layers = read_osm(path)
    assert int(layers.buildings["households"].sum()) == OLD_HOUSEHOLDS[name]
    counts = (len(layers.buildings), len(layers.compounds), len(layers.barriers))
    assert counts == OLD_COUNTS[name]


@pytest.mark.realdata
def test_shared_extract_as_pbf_reads_the_same(shared, tmp_path: Path):
    name, path = shared
    pbf = tmp_path / f"{name}.osm.pbf"  # the extract converted by pyosmium
    header = osmium.io.Reader(str(path), osmium.osm.NOTHING).header()
    with osmium.SimpleWriter(str(pbf), header=header) as writer:
        for obj in osmium.FileProcessor(str(path)):
            writer.add(obj)
    xml, pbf_layers = read_osm(path), read_osm(pbf)
    assert xml.bounds == pbf_layers.bounds
    for layer in ("buildings", "compounds", "barriers"):
        a, b = getattr(xml, layer), getattr(pbf_layers, layer)
        assert a.drop(columns="geometry").equals(b.drop(columns="geometry")), layer
        assert a.geometry.geom_equals_exact(b.geometry, 0).all(), layer
