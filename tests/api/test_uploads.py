"""Uploads: every refusal has its exact status and names the problem; real layers read back."""

from __future__ import annotations

import asyncio
import bz2
import io
import json
import stat
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from gridplan.api.uploads import (
    SavedUpload,
    UploadError,
    UploadLimits,
    error_status,
    json_depth,
    read_upload,
    sanitize_name,
    save_upload,
)
from gridplan.api.uploads import sniff as uploads  # json_depth reads its CHUNK there
from hypothesis import given, settings
from hypothesis import strategies as st

from gridplan.errors import InputError

DEMO = Path(__file__).resolve().parents[2] / "data" / "boundaries"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
if not SHARED.exists():
    SHARED = Path("/work/shared/data")


class Body:
    """A starlette-like upload: ``async read(n)`` over bytes, recording how much was read."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    async def read(self, n: int) -> bytes:
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk


def save(data: bytes, name: str, dest: Path, **limits) -> SavedUpload:
    return asyncio.run(save_upload(Body(data), name, dest, UploadLimits(**limits)))


def refused(data: bytes, name: str, dest: Path, **limits) -> UploadError:
    with pytest.raises(UploadError) as info:
        save(data, name, dest, **limits)
    assert list(dest.iterdir()) == [], "a refused upload leaves nothing behind"
    return info.value


def zip_bytes(members: dict[str, bytes], *, links: tuple[str, ...] = (),
              method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = method
            if name in links:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, data)
    return buf.getvalue()


def shapefile_zip(gdf: gpd.GeoDataFrame, tmp: Path, stem: str = "communities",
                  folder: str = "") -> bytes:
    out = tmp / f"shp_{stem}"
    out.mkdir()
    pyogrio.write_dataframe(gdf, out / f"{stem}.shp", encoding="UTF-8")
    return zip_bytes({folder + p.name: p.read_bytes() for p in sorted(out.iterdir())})


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    d = tmp_path / "uploads"
    d.mkdir()
    return d


@pytest.fixture(scope="module")
def communities() -> gpd.GeoDataFrame:
    return gpd.read_file(DEMO / "communities.geojson")


# --- accepted uploads, read through gridplan's readers ------------------------------------

def test_geojson_upload_reads_as_communities(dest: Path, communities) -> None:
    data = (DEMO / "communities.geojson").read_bytes()
    saved = save(data, "../../etc/社区 boundaries.geojson", dest)
    assert saved.fmt == "geojson"
    assert saved.path.parent.parent == dest and saved.path.name == "layer.geojson"
    assert saved.original_name == "社区_boundaries.geojson"
    assert saved.size_bytes == len(data)
    layer = read_upload(saved, "communities", id_field="id", code_field="code")
    assert list(layer.data["community_id"]) == list(communities["id"])
    s = layer.summary
    assert s["features"] == len(communities) and s["crs"] == "EPSG:4326"
    assert s["geometry_types"] in (["Polygon"], ["MultiPolygon"], ["MultiPolygon", "Polygon"])
    minx, miny, maxx, maxy = communities.total_bounds
    assert s["bbox_4326"] == pytest.approx([minx, miny, maxx, maxy], abs=1e-6)
    assert {"community_id", "code", "name"} <= set(s["fields"])


def test_zipped_shapefile_keeps_chinese_names(dest: Path, tmp_path: Path, communities) -> None:
    data = shapefile_zip(communities, tmp_path, folder="边界/")
    saved = save(data, "communities.shp.zip", dest)
    assert saved.fmt == "shapefile" and saved.path.name == "layer.shp"
    assert sorted(p.name for p in saved.path.parent.iterdir()) == \
        ["layer.cpg", "layer.dbf", "layer.prj", "layer.shp", "layer.shx"]
    layer = read_upload(saved, "communities", id_field="id", code_field="code")
    assert list(layer.data["name"]) == list(communities["name"])
    assert layer.summary["crs"] == "EPSG:4326"


def test_geopackage_population_upload(dest: Path, tmp_path: Path) -> None:
    buildings = gpd.read_file(DEMO / "buildings.geojson")
    path = tmp_path / "b.gpkg"
    pyogrio.write_dataframe(buildings.to_crs(32650), path, layer="buildings", driver="GPKG")
    saved = save(path.read_bytes(), "buildings.gpkg", dest)
    assert saved.fmt == "gpkg"
    layer = read_upload(saved, "population", unit_id="unit_id", households="households")
    assert layer.summary["households"] == int(buildings["households"].sum())
    assert layer.summary["crs"] == "EPSG:32650" and layer.summary["features"] == len(buildings)


def test_geopackage_with_several_layers_needs_a_name(dest: Path, tmp_path: Path,
                                                    communities) -> None:
    path = tmp_path / "two.gpkg"
    pyogrio.write_dataframe(communities, path, layer="分区", driver="GPKG")
    pyogrio.write_dataframe(communities, path, layer="other", driver="GPKG", append=True)
    saved = save(path.read_bytes(), "two.gpkg", dest)
    with pytest.raises(InputError, match="holds 2 layers \\(分区 \\(Polygon\\), other"):
        read_upload(saved, "communities")
    assert read_upload(saved, "communities", layer="分区").summary["features"] == len(communities)


def test_geopackage_layer_plainly_meant_is_read(dest: Path, tmp_path: Path,
                                                communities) -> None:
    path = tmp_path / "two.gpkg"
    pyogrio.write_dataframe(communities, path, layer="社区", driver="GPKG")
    pyogrio.write_dataframe(communities, path, layer="other", driver="GPKG", append=True)
    layer = read_upload(save(path.read_bytes(), "two.gpkg", dest), "communities")
    assert layer.notes["sources"] == {"two.gpkg": {"layer": "社区"}}


def test_zip_holding_one_geopackage(dest: Path, tmp_path: Path, communities) -> None:
    path = tmp_path / "c.gpkg"
    pyogrio.write_dataframe(communities, path, driver="GPKG")
    saved = save(zip_bytes({"c.gpkg": path.read_bytes()}), "c.zip", dest)
    assert saved.fmt == "gpkg" and saved.path.name == "layer.gpkg"
    assert read_upload(saved, "communities").summary["features"] == len(communities)


def test_csv_uploads(dest: Path, communities) -> None:
    saved = save((DEMO / "workers.csv").read_bytes(), "workers.csv", dest)
    layer = read_upload(saved, "workers", community_ids=communities["id"])
    assert layer.summary["rows"] == len(layer.data) > 0 and layer.summary["ids_checked"]
    with pytest.raises(InputError, match="unknown community ids: C0"):
        read_upload(saved, "workers", community_ids=["X"])
    special = save((DEMO / "special.csv").read_bytes(), "special.csv", dest)
    assert read_upload(special, "special").summary["rows"] > 0


@pytest.mark.realdata
def test_osm_bz2_upload(dest: Path) -> None:
    src = SHARED / "beijing_bnu.osm.bz2"
    if not src.exists():
        pytest.skip("shared OSM extract absent")
    saved = save(src.read_bytes(), "beijing_bnu.osm.bz2", dest)
    assert saved.fmt == "osm" and saved.path.name == "layer.osm.bz2"
    layer = read_upload(saved, "osm")
    assert layer.summary["features"] > 0 and layer.summary["households"] > 0
    assert layer.osm.source == "beijing_bnu.osm.bz2"


def _pbf_of(src: Path, dest: Path) -> bytes:
    """``src`` (an OSM extract) converted to PBF with pyosmium."""
    import osmium

    pbf = dest.parent / (dest.name + "-conv.osm.pbf")
    header = osmium.io.Reader(str(src), osmium.osm.NOTHING).header()
    with osmium.SimpleWriter(str(pbf), header=header) as writer:
        for obj in osmium.FileProcessor(str(src)):
            writer.add(obj)
    data = pbf.read_bytes()
    pbf.unlink()
    return data


@pytest.mark.realdata
def test_osm_pbf_upload(dest: Path) -> None:
    src = SHARED / "beijing_bnu.osm.bz2"
    if not src.exists():
        pytest.skip("shared OSM extract absent")
    data = _pbf_of(src, dest)
    saved = save(data, "beijing_bnu.osm.pbf", dest)
    assert saved.fmt == "osm" and saved.path.name == "layer.osm.pbf"
    layer = read_upload(saved, "osm")
    assert layer.summary["households"] == read_upload(
        save(src.read_bytes(), "beijing_bnu.osm.bz2", dest), "osm").summary["households"]
    truncated = save(data[:len(data) // 2], "cut.osm.pbf", dest)
    with pytest.raises(InputError, match="OSM PBF") as info:
        read_upload(truncated, "osm")
    assert error_status(info.value)[0] == 422 and info.value.source == "cut.osm.pbf"


# --- refusals: size, type, content ----------------------------------------------------------

def test_oversized_stream_stops_reading(dest: Path) -> None:
    body = Body(b'{"type": "FeatureCollection", "features": []}' + b" " * 10_000_000)
    with pytest.raises(UploadError) as info:
        asyncio.run(save_upload(body, "big.geojson", dest, UploadLimits(max_bytes=2_500_000)))
    assert info.value.status == 413 and "larger than the" in info.value.problem
    assert body.pos <= 3 * 1024 * 1024, "reading stops soon after the limit"
    assert list(dest.iterdir()) == []


def test_async_iterator_stream_is_accepted(dest: Path) -> None:
    async def chunks():
        yield b'{"type": "FeatureCollection",'
        yield b' "features": []}'
    saved = asyncio.run(save_upload(chunks(), "a.geojson", dest))
    assert saved.fmt == "geojson" and saved.size_bytes == 45


@pytest.mark.parametrize("name", ["layer.vrt", "/vsicurl/http://x/a.geojson",
                                  "/vsizip/a.zip/a.shp"])
def test_gdal_virtual_names_refused(dest: Path, name: str) -> None:
    err = refused(b'{"type": "FeatureCollection", "features": []}', name, dest)
    assert err.status == 415 and ("virtual" in err.problem)


def test_vrt_content_refused(dest: Path) -> None:
    vrt = b'<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd' \
          b'</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>'
    err = refused(vrt, "layer.osm", dest)
    assert err.status == 415 and "<OGRVRTDataSource>, not <osm>" in err.problem


def test_xml_with_doctype_refused(dest: Path) -> None:
    xml = b'<?xml version="1.0"?><!DOCTYPE osm [<!ENTITY a "aaaa">]><osm>&a;</osm>'
    err = refused(xml, "x.osm", dest)
    assert err.status == 400 and "DOCTYPE" in err.problem


def test_doctype_after_a_long_comment_refused(dest: Path) -> None:
    xml = (b'<?xml version="1.0"?><!-- <osm> ' + b"x" * 200_000 + b' -->'
           b'<!DOCTYPE osm [<!ENTITY a "aaaa">]><osm>&a;</osm>')
    err = refused(bz2.compress(xml), "x.osm.bz2", dest)
    assert err.status == 400 and "DOCTYPE" in err.problem


def test_malformed_xml_refused(dest: Path) -> None:
    err = refused(b"<<osm>", "x.osm", dest)
    assert err.status == 400 and "not well-formed XML" in err.problem


def test_non_geojson_json_refused(dest: Path) -> None:
    err = refused(b'{"layers": []}', "a.json", dest)
    assert err.status == 415 and "not GeoJSON" in err.problem


def test_deep_json_refused_before_parsing(dest: Path) -> None:
    deep = b'{"type": "FeatureCollection", "features": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    err = refused(deep, "deep.geojson", dest)
    assert err.status == 400 and err.problem == "JSON nested deeper than 64 levels"


def test_json_depth_ignores_brackets_in_strings(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    text = {"a": [[1]], "s": "[[[[[[\\\"{{{{" * 20}
    path.write_text(json.dumps(text))
    assert json_depth(path) == 3


def test_unknown_binary_refused(dest: Path) -> None:
    err = refused(b"\x89PNG\r\n\x1a\n\x00\x00", "a.geojson", dest)
    assert err.status == 415 and "unrecognised binary content" in err.problem


def test_sqlite_that_is_not_geopackage_refused(dest: Path) -> None:
    err = refused(b"SQLite format 3\x00" + b"\x00" * 200, "a.gpkg", dest)
    assert err.status == 415 and "not a GeoPackage" in err.problem


def test_extension_must_match_content(dest: Path) -> None:
    err = refused(zip_bytes({"a.csv": b"a,b\n1,2\n"}), "a.geojson", dest)
    assert err.status == 415 and "named .geojson but its content is a zip archive" in err.problem
    err = refused(b"a,b\n1,2\n", "a.exe", dest)
    assert err.status == 415 and "extension .exe is not accepted" in err.problem


def test_empty_refused_gbk_accepted(dest: Path) -> None:
    assert refused(b"", "a.csv", dest).status == 400
    assert refused(b"a,b\n1,\x00\n", "a.csv", dest).status in (400, 415)
    # GBK (Chinese Excel's CSV) is text: the loader decodes it (UTF-8, else GB18030)
    saved = save("worker_id,name,community_id\nW1,网格员,c1\n".encode("gbk"), "w.csv", dest)
    layer = read_upload(saved, "workers", community_ids=["c1"])
    assert layer.data["name"].tolist() == ["网格员"]


# --- refusals: zips -------------------------------------------------------------------------

@pytest.mark.parametrize("member", ["../evil.shp", "/etc/evil.shp", "a/../../evil.shp",
                                    "C:/evil.shp", "..\\evil.shp"])
def test_zip_path_traversal_refused(dest: Path, member: str) -> None:
    err = refused(zip_bytes({member: b"x", "evil.shx": b"x", "evil.dbf": b"x"}), "a.zip", dest)
    assert err.status == 400 and "points outside the archive" in err.problem


def test_zip_symlink_refused(dest: Path) -> None:
    data = zip_bytes({"a.shp": b"/etc/passwd", "a.shx": b"", "a.dbf": b""}, links=("a.shp",))
    err = refused(data, "a.zip", dest)
    assert err.status == 400 and "symbolic link" in err.problem


def test_zip_bomb_refused(dest: Path) -> None:
    data = zip_bytes({"a.shp": b"\x00" * 50_000_000, "a.shx": b"", "a.dbf": b""})
    assert len(data) < 100_000
    err = refused(data, "bomb.zip", dest)
    assert err.status == 400 and "beyond the 100:1 limit" in err.problem


def test_zip_total_size_refused(dest: Path) -> None:
    data = zip_bytes({"a.shp": b"\x00" * 3000, "a.shx": b"", "a.dbf": b""},
                     method=zipfile.ZIP_STORED)
    err = refused(data, "a.zip", dest, max_unzipped_bytes=2000)
    assert err.status == 400 and "unpacks to more than 2000 bytes" in err.problem


def test_zip_member_lying_about_its_size_refused(dest: Path, tmp_path: Path,
                                                 communities) -> None:
    data = bytearray(shapefile_zip(communities, tmp_path))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("communities.dbf")
    # shrink the declared size in the central directory entry of the .dbf
    central = data.rfind(b"PK\x01\x02", 0, data.find(b"communities.dbf", data.find(b"PK\x01\x02")))
    data[central + 24:central + 28] = (info.file_size // 2).to_bytes(4, "little")
    err = refused(bytes(data), "a.zip", dest)
    assert err.status == 400
    assert "larger than its header says" in err.problem or "cannot be extracted" in err.problem


def test_nested_zip_refused(dest: Path) -> None:
    inner = zip_bytes({"a.csv": b"a\n1\n"})
    err = refused(zip_bytes({"inner.zip": inner}), "a.zip", dest)
    assert err.status == 415 and "nested archive inner.zip" in err.problem


def test_zip_vrt_member_refused(dest: Path) -> None:
    err = refused(zip_bytes({"a.vrt": b"<OGRVRTDataSource/>"}), "a.zip", dest)
    assert err.status == 415 and "GDAL virtual dataset a.vrt" in err.problem


def test_zip_other_member_type_refused(dest: Path) -> None:
    err = refused(zip_bytes({"a.shp": b"", "a.shx": b"", "a.dbf": b"", "run.sh": b"x"}),
                  "a.zip", dest)
    assert err.status == 415 and "run.sh has a type that is not accepted" in err.problem


def test_zip_member_count_refused(dest: Path) -> None:
    members = {f"a{i}.prj": b"" for i in range(5)}
    err = refused(zip_bytes(members), "a.zip", dest, max_zip_members=4)
    assert err.status == 400 and "holds 5 entries, more than 4" in err.problem


def test_zip_needs_exactly_one_dataset(dest: Path) -> None:
    two = {"a.shp": b"", "a.shx": b"", "a.dbf": b"", "b.geojson": b"{}"}
    err = refused(zip_bytes(two), "a.zip", dest)
    assert err.status == 400 and "holds 2 datasets; exactly one is needed" in err.problem
    err = refused(zip_bytes({"a.shp": b"\x00\x00\x27\x0a", "a.dbf": b""}), "a.zip", dest)
    assert err.status == 400 and "lacks its .shx file" in err.problem
    err = refused(zip_bytes({"a.prj": b""}), "a.zip", dest)
    assert err.status == 400 and "holds 0 datasets" in err.problem


def test_zip_mac_junk_is_skipped(dest: Path, tmp_path: Path, communities) -> None:
    buf = io.BytesIO(shapefile_zip(communities, tmp_path))
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr("__MACOSX/._communities.shp", b"junk")
        zf.writestr(".DS_Store", b"junk")
    saved = save(buf.getvalue(), "a.zip", dest)
    assert saved.fmt == "shapefile" and len(saved.members) == 5


# --- bad data in well-formed files: InputError, 422 -----------------------------------------

def geojson(features: list, crs: str | None = None) -> bytes:
    doc = {"type": "FeatureCollection", "features": features}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    return json.dumps(doc).encode()


def feature(props: dict, geom) -> dict:
    return {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)}


def test_bad_data_is_422_naming_the_client_file(dest: Path) -> None:
    square = shapely.box(500000, 4400000, 500100, 4400100)
    data = geojson([feature({"unit_id": "a", "households": -3}, square)],
                   crs="urn:ogc:def:crs:EPSG::32650")
    saved = save(data, "人口.geojson", dest)
    with pytest.raises(InputError) as info:
        read_upload(saved, "population", households="households")
    err = info.value
    assert "negative counts" in err.problem and err.source == "人口.geojson"
    assert str(dest) not in str(err)
    status, body = error_status(err)
    assert status == 422 and body["field"] == "households" and body["fix"]


def test_swapped_lat_lon_is_422(dest: Path) -> None:
    square = shapely.box(39.9, 116.3, 39.91, 116.31)
    saved = save(geojson([feature({"id": "c"}, square)]), "c.geojson", dest)
    with pytest.raises(InputError, match="latitude and longitude look swapped"):
        read_upload(saved, "communities")


def test_missing_field_duplicate_ids_and_nan(dest: Path) -> None:
    sq = [shapely.box(116.3 + i / 1000, 39.9, 116.3009 + i / 1000, 39.9009) for i in range(2)]
    saved = save(geojson([feature({"id": "c"}, sq[0]), feature({"id": "c"}, sq[1])]),
                 "c.geojson", dest)
    with pytest.raises(InputError, match="duplicate ids in the communities layer: c"):
        read_upload(saved, "communities")
    saved = save(geojson([feature({"id": "c"}, sq[0]), feature({"id": "d"}, sq[1])]),
                 "c.geojson", dest)
    with pytest.raises(InputError, match="no field 'code' in the communities layer"):
        read_upload(saved, "communities", code_field="code")
    saved = save(geojson([feature({"unit_id": "a", "households": None}, sq[0])]),
                 "p.geojson", dest)
    with pytest.raises(InputError, match="missing \\(NaN/null\\) counts"):
        read_upload(saved, "population", households="households")


def test_invalid_geometry_repaired_and_reported(dest: Path) -> None:
    bowtie = shapely.Polygon([(116.30, 39.90), (116.31, 39.91), (116.31, 39.90),
                              (116.30, 39.91)])
    saved = save(geojson([feature({"id": "c", "code": None}, bowtie)]), "c.geojson", dest)
    layer = read_upload(saved, "communities")
    assert layer.notes["repaired_geometries"] == {"communities": 1}
    assert layer.data.geometry.is_valid.all()


def test_points_as_communities_is_422(dest: Path) -> None:
    saved = save(geojson([feature({"id": "c"}, shapely.Point(116.3, 39.9))]), "c.geojson", dest)
    with pytest.raises(InputError, match="must hold polygons"):
        read_upload(saved, "communities")


def test_empty_layer_and_wrong_kind(dest: Path) -> None:
    saved = save(geojson([]), "e.geojson", dest)
    with pytest.raises(InputError, match="cannot be read|empty"):
        read_upload(saved, "communities")
    with pytest.raises(UploadError) as info:
        read_upload(saved, "workers")
    assert info.value.status == 415 and "cannot be read from geojson" in info.value.problem


def test_unparseable_csv_is_422_not_500(dest: Path) -> None:
    saved = save(b'worker_id,community_id\n"W1,C01\n', "w.csv", dest)
    with pytest.raises(InputError) as info:
        read_upload(saved, "workers")
    assert error_status(info.value)[0] == 422 and info.value.source == "w.csv"


def test_sanitize_name() -> None:
    assert sanitize_name("..") == "upload"
    assert sanitize_name("a\x00b\n.csv") == "ab.csv"
    assert sanitize_name("x/" * 10 + "网格 plan (1).gpkg") == "网格_plan_1_.gpkg"


def test_bz2_bomb_and_non_osm_bz2_refused(dest: Path) -> None:
    bomb = bz2.compress(b"<osm>" + b" " * 5_000_000 + b"</osm>")
    err = refused(bomb, "a.osm.bz2", dest, max_unzipped_bytes=1_000_000)
    assert err.status == 400 and "decompresses to more than" in err.problem
    err = refused(bz2.compress(b"<gpx><trk/></gpx>"), "a.osm.bz2", dest)
    assert err.status == 415 and "<gpx>, not <osm>" in err.problem
    err = refused(b"BZh91AY&SYgarbage", "a.osm.bz2", dest)
    assert err.status == 400 and "compressed data is corrupt" in err.problem


def test_shapefile_without_prj_needs_a_crs(dest: Path, tmp_path: Path, communities) -> None:
    data = shapefile_zip(communities.to_crs(32650), tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if not n.endswith(".prj")}
    saved = save(zip_bytes(members), "c.zip", dest)
    with pytest.raises(InputError, match="has no coordinate reference system") as info:
        read_upload(saved, "communities")
    assert info.value.source == "c.zip" and "--crs" in info.value.fix
    layer = read_upload(saved, "communities", crs="EPSG:32650")
    assert layer.summary["crs"] == "EPSG:32650"
    assert layer.summary["bbox_4326"] == pytest.approx(list(communities.total_bounds), abs=1e-6)


def _true_depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_true_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_true_depth(v) for v in value), default=0)
    return 0


tricky_text = st.text(alphabet='[]{}"\\\\ab网', max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(value=json_values, chunk=st.integers(1, 9))
def test_json_depth_matches_the_parser(tmp_path_factory, value, chunk) -> None:
    """Any JSON, cut into chunks of any size (escapes split across chunks included)."""
    path = tmp_path_factory.mktemp("depth") / "v.json"
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(uploads, "CHUNK", chunk)
        assert json_depth(path) == _true_depth(value)


def test_excel_points_upload(dest: Path, tmp_path: Path) -> None:
    b = gpd.read_file(DEMO / "buildings.geojson")
    pts = b.representative_point()
    table = b.drop(columns="geometry").assign(经度=pts.x, 纬度=pts.y)
    table.to_excel(tmp_path / "p.xlsx", index=False)
    saved = save((tmp_path / "p.xlsx").read_bytes(), "楼栋.xlsx", dest)
    assert saved.fmt == "xlsx"
    layer = read_upload(saved, "population", households="households")
    assert layer.summary["households"] == int(b["households"].sum())
    assert layer.notes["sources"]["楼栋.xlsx"]["sheet"] == "Sheet1"
    (tmp_path / "other").mkdir()
    err = refused(zip_bytes({"a.csv": b"a,b\n1,2\n"}), "x.xlsx", tmp_path / "other")
    assert err.status == 415 and "not an Excel workbook" in err.problem
