"""Coverage maps: layers, labels, offline HTML, GCJ-02 overlays, the ``gridplan map`` command."""
# ruff: noqa: F811  (pytest fixtures imported from map_fixtures)

from __future__ import annotations

import copy
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import run_cli
from gridplan.maps.assets import libraries_installed
from gridplan.maps.coverage import MapOptions, deviation_colour, render_html, save_plan_map
from gridplan.maps.gcj02 import wgs84_to_gcj02
from gridplan.maps.layers import light_geojson, service_points, uncovered_units, walking_bands
from map_fixtures import DEMO, demo, demo_dir  # noqa: F401

from gridplan.export.folder import read_plan

needs_libs = pytest.mark.skipif(not libraries_installed(),
                                reason="vendored Leaflet files missing")
EXTERNAL = re.compile(r"<(?:script|link|img|iframe)\b[^>]*?(?:src|href)\s*=\s*[\"']?(https?:)?//",
                      re.I)


def unescape(text: str) -> str:
    """Page text with the JSON ``\\uXXXX`` escapes folium writes turned back into characters."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


def test_deviation_colour_bins():
    assert deviation_colour(0, 300) == "#bdbdbd"
    assert deviation_colour(300, 300) == "#1b7837"
    assert deviation_colour(100, 300) == "#2166ac"
    assert deviation_colour(500, 300) == "#b2182b"


def test_service_points_are_central_units_inside_their_community(demo):
    pts = service_points(demo)
    assert sorted(pts["community_id"]) == sorted(demo.units["community_id"].unique())
    assert set(pts["source"]) == {"central_unit"}
    unit_pts = shapely.point_on_surface(demo.units.geometry.values)
    comm = demo.communities.set_index("community_id").geometry
    for cid, p in zip(pts["community_id"], pts.geometry, strict=True):
        assert comm[cid].buffer(0.01).contains(p)
        assert shapely.distance(unit_pts, p).min() < 1e-6  # it is one of the units


def test_given_centres_are_used_and_placed_by_location(demo):
    c = demo.communities.iloc[0]
    centre = gpd.GeoDataFrame(geometry=[c.geometry.representative_point()],
                              crs=demo.crs).to_crs(4326)
    pts = service_points(demo, centre)
    row = pts.set_index("community_id").loc[c["community_id"]]
    assert row["source"] == "file"
    assert row.geometry.distance(c.geometry.representative_point()) < 0.01
    assert (pts["source"] == "central_unit").sum() == len(pts) - 1


def test_straight_bands_nest_and_distances_follow_detour(demo):
    pts = service_points(demo)
    bands = walking_bands(demo, pts, (300, 600))
    assert bands.method == "straight"
    first = pts.iloc[0]
    mask = demo.units["community_id"] == first["community_id"]
    xy = shapely.get_coordinates(shapely.point_on_surface(demo.units.geometry[mask].values))
    expect = np.hypot(xy[:, 0] - first.geometry.x, xy[:, 1] - first.geometry.y) * 1.3
    assert np.allclose(bands.unit_walk_m[mask].to_numpy(), expect)
    ring = bands.polygons[bands.polygons["community_id"] == first["community_id"]]
    inner = ring[ring["band_m"] == 300].geometry.iloc[0]
    outer = ring[ring["band_m"] == 600].geometry.iloc[0]
    assert inner.intersection(outer).area < 1.0  # rings, not discs
    comm = demo.communities.set_index("community_id").geometry[first["community_id"]]
    assert outer.difference(comm).area < 1.0  # clipped to the community


def test_uncovered_counts_unassigned_grids_and_far_units(demo):
    pts = service_points(demo)
    bands = walking_bands(demo, pts)
    assert (uncovered_units(demo, bands.unit_walk_m, 1e9)["why"] != "no_worker").sum() == 0
    staffed = copy.copy(demo)
    staffed.grids = demo.grids.copy()
    unassigned = set(staffed.grids["grid_code"].iloc[:2])
    staffed.grids.loc[staffed.grids["grid_code"].isin(unassigned), "workers"] = "(unassigned)"
    unc = uncovered_units(staffed, bands.unit_walk_m, 1500)
    want = demo.units[demo.units["grid_code"].isin(unassigned) & (demo.units["households"] > 0)]
    got = unc[unc["why"] == "no_worker"]
    assert set(got["unit_id"]) == set(want["unit_id"])
    far = uncovered_units(demo, bands.unit_walk_m, 100)
    assert (far["why"] == "beyond_walk").sum() > 0


def test_light_geojson_simplifies_rounds_and_shifts(demo):
    full = light_geojson(demo.grids, simplify_m=0)
    light = light_geojson(demo.grids, simplify_m=5)
    assert full.crs.to_epsg() == 4326
    n_full = shapely.get_num_coordinates(full.geometry.values).sum()
    n_light = shapely.get_num_coordinates(light.geometry.values).sum()
    assert n_light < n_full
    xy = shapely.get_coordinates(full.geometry.values)
    assert np.allclose(xy, np.round(xy, 6))
    shifted = light_geojson(demo.grids, simplify_m=0, gcj02=True)
    sxy = shapely.get_coordinates(shifted.geometry.values)
    glon, glat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
    assert np.allclose(sxy[:, 0], glon, atol=2e-6) and np.allclose(sxy[:, 1], glat, atol=2e-6)


@needs_libs
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_map_is_self_contained_and_labelled(demo, lang):
    text = render_html(demo, lang=lang, options=MapOptions(tiles="none"))
    assert not EXTERNAL.search(text), EXTERNAL.search(text).group(0)
    assert "L.map(" in text and "leafletjs.com" in text  # Leaflet inlined
    assert "https://tile" not in text
    zh = ["户数", "社区边界", "服务点", "未覆盖住户", "步行距离圈", "网格员分配"]
    en = ["Households", "Community boundaries", "Service points", "uncovered",
          "Walking distance bands", "Worker assignment"]
    words = zh if lang == "zh" else en
    unescaped = unescape(text)
    for w in words:
        assert w in unescaped, w
    assert "most central unit" in text or "最居中的楼栋" in text
    assert "× 1.3" in text


@needs_libs
def test_only_the_configured_tile_url_leaves_the_page(demo):
    url = "http://tiles.intranet.example/{z}/{x}/{y}.png"
    text = render_html(demo, lang="en", options=MapOptions(tiles=url))
    hosts = set(re.findall(r"https?://([^/\"'\s]+)", text))
    assert "tiles.intranet.example" in hosts
    assert not EXTERNAL.search(text)
    assert not {"cdn.jsdelivr.net", "code.jquery.com", "cdnjs.cloudflare.com",
                "unpkg.com"} & hosts


def test_gcj02_map_moves_overlays(demo):
    plain = render_html(demo, lang="en", options=MapOptions(tiles="none", simplify_m=0))
    amap = render_html(demo, lang="en", options=MapOptions(tiles="amap", simplify_m=0))
    lon, lat = demo.grids.to_crs(4326).geometry.iloc[0].exterior.coords[0]
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert f"{round(lon, 6)}" in plain
    assert f"{round(float(glon), 6)}" in amap and f"{round(float(glat), 6)}" in amap


def test_save_replaces_file_atomically(demo, tmp_path):
    path = tmp_path / "map.html"
    path.write_text("old")
    save_plan_map(demo, path, lang="en", options=MapOptions(tiles="none"))
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]
    assert path.stat().st_mode & 0o044 == 0o044  # readable like the other outputs


def test_cli_map_writes_html(demo_dir, tmp_path):
    out = tmp_path / "m.html"
    r = run_cli("map", "--plan", demo_dir, "--out", out, "--lang", "en", "--tiles", "none",
                "--barriers", DEMO / "barriers.geojson", "--bands", "400,800")
    assert r.exit_code == 0, r.stderr
    text = unescape(out.read_text(encoding="utf-8"))
    assert "Barriers (roads, rivers)" in text and "≤ 800 m" in text
    assert "wrote" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["--tiles", "ftp://nowhere"], "--tiles"),
    (["--bands", "0,-5"], "--bands"),
    (["--simplify", "-1"], "--simplify"),
    (["--centres", "missing.geojson"], "file not found"),
])
def test_cli_map_bad_input(demo_dir, tmp_path, args, needle):
    out = tmp_path / "m.html"
    out.write_text("keep")
    r = run_cli("map", "--plan", demo_dir, "--out", out, *args)
    assert r.exit_code == 2 and needle in r.stderr
    assert out.read_text() == "keep"


def test_cli_map_not_a_plan(tmp_path):
    r = run_cli("map", "--plan", tmp_path, "--out", tmp_path / "m.html")
    assert r.exit_code == 2 and "no plan here" in r.stderr


def test_worker_lists_from_the_api(demo):
    stored = copy.copy(demo)
    stored.grids = demo.grids.copy()
    stored.grids["workers"] = [[] for _ in range(len(stored.grids))]  # stored, never staffed
    bands = walking_bands(stored, service_points(stored))
    assert (uncovered_units(stored, bands.unit_walk_m, 1e9)["why"] == "no_worker").sum() == 0
    text = unescape(render_html(stored, lang="en", options=MapOptions(tiles="none")))
    assert "Worker assignment" not in text
    stored.grids["workers"] = [["W1", "W2"]] + [[] for _ in range(len(stored.grids) - 1)]
    unc = uncovered_units(stored, bands.unit_walk_m, 1e9)
    first = stored.grids["grid_code"].iloc[0]
    assert first not in set(unc["grid_code"])
    assert set(unc["grid_code"]) == set(stored.grids["grid_code"].iloc[1:]) & set(
        stored.units.loc[stored.units["households"] > 0, "grid_code"])
    text = unescape(render_html(stored, lang="en", options=MapOptions(tiles="none")))
    assert "Worker assignment" in text and "W1, W2" in text


WUDAOKOU = Path(__file__).resolve().parents[3] / "shared" / "data" / "beijing_wudaokou.osm.bz2"


@pytest.mark.realdata
@pytest.mark.skipif(not WUDAOKOU.exists(), reason="real data not found")
def test_network_bands_on_real_streets(tmp_path):
    from gridplan.workforce.workload import walking_network

    out = tmp_path / "plan"
    assert run_cli("plan", "--osm", WUDAOKOU, "--out", out, "--no-map",
                   "--quiet").exit_code == 0
    plan = read_plan(out)
    street = walking_network(WUDAOKOU, plan.crs)
    pts = service_points(plan)
    bands = walking_bands(plan, pts, (500, 1000), street=street)
    assert bands.method == "network" and len(bands.polygons) >= len(pts)
    unit_xy = shapely.get_coordinates(shapely.point_on_surface(plan.units.geometry.values))
    centre = pts.set_index("community_id").geometry
    cxy = np.array([[centre[c].x, centre[c].y] for c in plan.units["community_id"]])
    straight = np.hypot(*(unit_xy - cxy).T)
    walk = bands.unit_walk_m.to_numpy()
    reached = np.isfinite(walk)
    assert reached.mean() > 0.5
    assert (walk[reached] >= straight[reached] - 1e-6).all()  # no shortcut through walls
    r = run_cli("map", "--plan", out, "--out", tmp_path / "m.html", "--osm", WUDAOKOU,
                "--tiles", "none", "--lang", "en")
    assert r.exit_code == 0, r.stderr
    text = unescape((tmp_path / "m.html").read_text(encoding="utf-8"))
    assert "street network (OSM)" in text and "Barriers (roads, rivers)" in text


def test_units_layer_left_out_above_the_limit_unless_asked(demo, monkeypatch):
    import gridplan.maps.coverage as coverage

    n_units = len(demo.units)
    drawn = unescape(render_html(demo, lang="en", options=MapOptions(tiles="none")))
    assert "Buildings / units" in drawn and "not drawn" not in drawn
    monkeypatch.setattr(coverage, "UNITS_DRAWN_UP_TO", n_units - 1)
    left_out = unescape(render_html(demo, lang="en", options=MapOptions(tiles="none")))
    assert "Buildings / units not drawn" in left_out and "gridplan map --units" in left_out
    assert left_out.count("L.geoJson(") == drawn.count("L.geoJson(") - 1
    forced = unescape(render_html(demo, lang="zh", options=MapOptions(tiles="none",
                                                                      units=True)))
    assert "楼栋 / Units" in forced and "楼栋未绘制" not in forced
    zh = unescape(render_html(demo, lang="zh", options=MapOptions(tiles="none")))
    assert "楼栋未绘制" in zh


def test_map_data_is_plain_geojson_once_per_layer(demo):
    import json

    text = render_html(demo, lang="en", options=MapOptions(tiles="none"))
    data = re.findall(r"var (gridplan_data_\d+) = (\{.*?\});</script>", text)
    layers = {name: json.loads(body) for name, body in data}
    sizes = sorted(len(fc["features"]) for fc in layers.values())
    assert len(demo.grids) in sizes and len(demo.units) in sizes
    assert text.count("gridplan_data_0") >= 2  # defined once, drawn by its layers
