"""Grids: cells dissolve into one polygon per grid; detached fragments go to a neighbour."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from gridplan.engine.adjacency import build_community_graph
from gridplan.engine.grids import grid_polygons, outline, polsby_popper


def test_cells_dissolve_into_one_polygon_per_grid():
    cells = np.array([shapely.box(i, 0, i + 1, 1) for i in range(4)])
    xy = np.array([[i + 0.5, 0.5] for i in range(4)])
    polys, labels, moves = grid_polygons(cells, np.arange(4), np.array([0, 0, 1, 1]), xy,
                                         np.ones(4), 2)
    assert polys[0].equals(shapely.box(0, 0, 2, 1))
    assert polys[1].equals(shapely.box(2, 0, 4, 1))
    assert labels.tolist() == [0, 0, 1, 1] and moves == []


def test_a_detached_fragment_goes_to_the_neighbour_and_its_units_follow():
    """Grid 0 holds cells A and C on either side of grid 1's cell B.

    A holds most of grid 0's households, so C, cut off, is handed to grid 1 and the unit
    inside it changes grid with it.
    """
    a, b, c = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 3, 1), shapely.box(3, 0, 4, 1)
    xy = np.array([[0.5, 0.5], [2.0, 0.5], [3.5, 0.5]])
    polys, labels, moves = grid_polygons(np.array([a, b, c]), np.arange(3), np.array([0, 1, 0]),
                                         xy, np.array([100.0, 100.0, 5.0]), 2)
    assert polys[0].equals(a)
    assert polys[1].equals(shapely.box(1, 0, 4, 1))
    assert labels.tolist() == [0, 1, 1]
    assert [(part.equals(c), src, dst) for part, src, dst in moves] == [(True, 0, 1)]


def test_a_grid_without_cells_is_empty():
    polys, _, _ = grid_polygons(np.array([shapely.box(0, 0, 1, 1)]), np.array([0]),
                                np.array([0]), np.array([[0.5, 0.5]]), np.ones(1), 2)
    assert polys[1].is_empty


def test_lattice_grids_hold_their_units_and_tile_the_community():
    x0, y0 = 440_000.0, 4_420_000.0
    community = shapely.box(x0, y0, x0 + 150, y0 + 150)
    pts = shapely.points([(x0 + 25 + 50 * i, y0 + 25 + 50 * j)
                          for i in range(3) for j in range(3)])
    g = build_community_graph(community, pts, np.full(9, 100.0))
    column = np.repeat([0, 1, 2], 3)
    polys, labels, moves = grid_polygons(g.cells, g.cell_unit, column, g.xy, g.households, 3)
    assert labels.tolist() == column.tolist() and moves == []
    for i, poly in enumerate(polys):
        assert poly.geom_type == "Polygon"
        assert poly.area == pytest.approx(50 * 150)
        assert shapely.contains_xy(poly, *g.xy[column == i].T).all()
    assert shapely.union_all(polys).area == pytest.approx(community.area)


@pytest.mark.parametrize(("hole", "area"), [(0.5, 100.0), (2.0, 96.0)])
def test_outline_drops_sliver_holes_only(hole, area):
    """A hole under 1 m² is an overlay sliver and goes; a 4 m² courtyard stays."""
    square = shapely.difference(shapely.box(0, 0, 10, 10), shapely.box(4, 4, 4 + hole, 4 + hole))
    assert outline([square]).area == pytest.approx(area)


def test_polsby_popper():
    square, circle = shapely.box(0, 0, 1, 1), shapely.Point(0, 0).buffer(10, quad_segs=64)
    pp = polsby_popper(np.array([square, circle, shapely.Polygon()]))
    assert pp[0] == pytest.approx(math.pi / 4)
    assert pp[1] == pytest.approx(1.0, abs=1e-3)
    assert pp[2] == 0.0


def test_grid_polygons_carry_no_fixed_precision():
    """Snapped to 1 cm, but with the floating precision model: a point derived from a grid
    (the interior point that orders grid codes) is not rounded to the snapping grid."""
    cells = np.array([shapely.box(0, 0, 10.004, 7.003), shapely.box(10.004, 0, 20, 7.003)])
    polys, _, _ = grid_polygons(cells, np.array([0, 1]), np.array([0, 0]),
                                np.array([[5.0, 3.0], [15.0, 3.0]]), np.ones(2), 1)
    assert shapely.get_precision(polys[0]) == 0
    assert shapely.get_coordinates(polys[0]).max(axis=0).tolist() == [20.0, 7.0]
