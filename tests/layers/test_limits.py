"""Vertex limits: features and layers beyond them are refused before any repair, and an
invalid polygon too large to repair quickly is refused with the fix."""

from __future__ import annotations

import math
import time

import geopandas as gpd
import pytest
import shapely
from conftest import X0, Y0, communities_frame, plan_args, run_cli, write_layer
from shapely.geometry import Polygon

from gridplan.errors import InputError
from gridplan.layers.vector import GeometryLimits, InputNotes, check_layer, limited_geometry


def star(n: int, r: float = 100.0, x0: float = X0, y0: float = Y0) -> Polygon:
    """A self-intersecting {n/2} star: n points on a circle joined every second (n odd)."""
    return Polygon([(x0 + r * math.cos(2 * math.pi * (i * 2 % n) / n),
                     y0 + r * math.sin(2 * math.pi * (i * 2 % n) / n)) for i in range(n)])


def circle(n: int) -> Polygon:
    return shapely.Point(X0, Y0).buffer(100, quad_segs=max(1, n // 4))


def _layer(*geoms) -> gpd.GeoDataFrame:
    return communities_frame([(f"C{i}", None, g) for i, g in enumerate(geoms, 1)])


def test_feature_over_the_limit_is_refused_before_repair():
    gdf = _layer(circle(40), star(200_001))
    t0 = time.perf_counter()
    with limited_geometry(GeometryLimits(feature_vertices=100_000)), \
            pytest.raises(InputError) as err:
        check_layer(gdf, what="communities", notes=InputNotes(), id_field="id")
    assert time.perf_counter() - t0 < 2  # make_valid of this star would take minutes
    text = str(err.value)
    assert "feature id 'C2'" in text and "200,002 vertices" in text and "100,000" in text
    assert "QGIS Vector ▸ Geometry Tools ▸ Simplify" in text


def test_layer_over_the_limit_is_refused():
    gdf = _layer(*[circle(400) for _ in range(5)])
    with limited_geometry(GeometryLimits(layer_vertices=1_000)), \
            pytest.raises(InputError, match=r"the communities layer has 2,\d+ vertices, more "
                                            r"than the limit of 1,000 per layer"):
        check_layer(gdf, what="communities", notes=InputNotes())


def test_invalid_polygon_too_large_to_repair():
    gdf = _layer(star(20_001))
    t0 = time.perf_counter()
    with pytest.raises(InputError) as err:  # the default limits, as the command line has them
        check_layer(gdf, what="communities", notes=InputNotes(), id_field="id")
    assert time.perf_counter() - t0 < 1
    text = str(err.value)
    assert "feature id 'C1'" in text and "20,002 vertices" in text
    assert "too many to repair (at most 20,000)" in text and "Simplify" in text


def test_small_invalid_polygon_still_repaired():
    notes = InputNotes()
    out = check_layer(_layer(star(301)), what="communities", notes=notes)
    assert out.geometry.is_valid.all() and notes.repaired_geometries == {"communities": 1}


def test_feature_named_by_position_without_ids():
    gdf = gpd.GeoDataFrame(geometry=[circle(40), circle(40), star(501)], crs=_layer().crs)
    with limited_geometry(GeometryLimits(repair_vertices=100)), \
            pytest.raises(InputError, match=r"feature 3 \(in file order\)"):
        check_layer(gdf, what="compounds", notes=InputNotes())


def test_cli_refuses_a_star_too_large_to_repair(tmp_path):
    units = gpd.GeoDataFrame({"unit_id": ["u1"], "households": [100]},
                             geometry=[shapely.Point(X0, Y0)], crs=_layer().crs)
    comm = write_layer(_layer(star(20_001)), tmp_path / "c.gpkg")
    pop = write_layer(units, tmp_path / "u.gpkg")
    t0 = time.perf_counter()
    result = run_cli(*plan_args(pop, comm, tmp_path / "out"))
    assert time.perf_counter() - t0 < 10
    assert result.exit_code == 2, result.output
    assert "c.gpkg" in result.stderr and "20,002 vertices" in result.stderr
    assert "Simplify" in result.stderr


def _osm_star(tmp_path, n: int):
    """An OSM file of two buildings: a small square (way 1) and a self-intersecting star of
    n nodes (way 2)."""
    lon, lat = 116.31, 39.995
    square = [(lon, lat), (lon + 0.0001, lat), (lon + 0.0001, lat + 0.0001), (lon, lat + 0.0001)]
    ring = [(lon + 0.001 + 0.0005 * math.cos(2 * math.pi * (i * 2 % n) / n),
             lat + 0.0005 * math.sin(2 * math.pi * (i * 2 % n) / n)) for i in range(n)]
    nodes = [f'<node id="{i}" lat="{y:.7f}" lon="{x:.7f}"/>'
             for i, (x, y) in enumerate(square + ring, 1)]
    tag = '<tag k="building" v="yes"/>'
    way1 = "".join(f'<nd ref="{i}"/>' for i in (1, 2, 3, 4, 1))
    way2 = "".join(f'<nd ref="{i}"/>' for i in (*range(5, 5 + n), 5))
    xml = (f'<?xml version="1.0"?><osm version="0.6">{"".join(nodes)}'
           f'<way id="1">{way1}{tag}</way><way id="2">{way2}{tag}</way></osm>')
    path = tmp_path / "star.osm"
    path.write_text(xml)
    return path


def test_osm_feature_over_the_limit_is_refused(tmp_path):
    from gridplan.layers.osm import read_osm

    path = _osm_star(tmp_path, 2_001)
    with limited_geometry(GeometryLimits(feature_vertices=1_000)), \
            pytest.raises(InputError, match=r"way/2 has 2,002 vertices, more than the limit of "
                                            r"1,000 per feature"):
        read_osm(path)


def test_osm_invalid_feature_too_large_to_repair_is_left_out(tmp_path, caplog):
    from gridplan.layers.osm import read_osm

    path = _osm_star(tmp_path, 2_001)
    with limited_geometry(GeometryLimits(repair_vertices=1_000)):
        layers = read_osm(path)
    assert list(layers.buildings["unit_id"]) == ["way/1"]
    assert "left out way/2" in caplog.text and "too many to repair" in caplog.text
