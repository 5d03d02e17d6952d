"""Adjacency: which units neighbour each other, which links cross a barrier, and the cells.

Fixtures known by hand (a row, a 3 × 3 lattice, a road across a community, an empty
block, a concave community, co-located units) and random points (hypothesis) checked
against a Delaunay triangulation: neighbours are pairs whose Voronoi cells share an edge,
a subset of the Delaunay edges.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import Delaunay

from gridplan.engine.adjacency import (
    BARRIER_PENALTY,
    COMPOUND_PENALTY,
    block_polygons,
    build_community_graph,
    colocated_seed,
    resolve_mode,
    snap,
)

X0, Y0 = 440_000.0, 4_420_000.0  # metres, UTM 50N


def box(x1, y1, x2, y2):
    return shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def points(xy):
    return shapely.points(np.asarray(xy, dtype=float) + [X0, Y0])


def graph_of(community, geoms, **kw):
    return build_community_graph(community, geoms, np.full(len(geoms), 10.0), **kw)


def edge_set(graph) -> set[tuple[int, int]]:
    return set(map(tuple, graph.edges.tolist()))


ROW = box(0, 0, 200, 100)
ROAD = shapely.LineString([(X0 + 100, Y0 - 10), (X0 + 100, Y0 + 110)])  # across ROW


def test_a_row_links_only_next_neighbours():
    g = graph_of(ROW, points([(25, 50), (75, 50), (125, 50), (175, 50)]))
    assert edge_set(g) == {(0, 1), (1, 2), (2, 3)}
    assert g.n == g.n_units == 4
    assert not g.crossing_edges().any()
    assert g.edge_kind().tolist() == [0, 0, 0]


def test_lattice_corners_are_not_neighbours():
    """Square cells of a 3 × 3 lattice meet diagonally at one point: rook adjacency only."""
    g = graph_of(box(0, 0, 150, 150),
                 points([(25 + 50 * i, 25 + 50 * j) for i in range(3) for j in range(3)]))
    rook = {(i * 3 + j, i * 3 + j + 1) for i in range(3) for j in range(2)}
    rook |= {(i * 3 + j, (i + 1) * 3 + j) for i in range(2) for j in range(3)}
    assert edge_set(g) == rook


def test_edges_are_ordered_unique_pairs():
    g = graph_of(box(0, 0, 150, 150),
                 points([(25 + 50 * i, 25 + 50 * j) for i in range(3) for j in range(3)]))
    assert (g.edges[:, 0] < g.edges[:, 1]).all()
    assert len(np.unique(g.edges, axis=0)) == len(g.edges)


def test_a_road_makes_two_blocks_and_the_link_across_it_a_crossing():
    g = graph_of(ROW, points([(25, 50), (75, 50), (125, 50), (175, 50)]), barriers=ROAD)
    assert edge_set(g) == {(0, 1), (1, 2), (2, 3)}  # cells still touch along the road
    assert g.block[0] == g.block[1] != g.block[2] == g.block[3]
    assert g.crossing_edges().tolist() == [False, True, False]
    assert g.edge_kind().tolist() == [0, 2, 0]
    plain = np.hypot(50, 0) + 1.0
    assert g.edge_costs() == pytest.approx([plain, plain * (1 + BARRIER_PENALTY), plain])


def test_a_compound_wall_is_an_edge_of_kind_one():
    g = graph_of(ROW, points([(25, 50), (75, 50), (125, 50), (175, 50)]),
                 compound=np.array([0, 0, 1, -1]))
    assert g.edge_kind().tolist() == [0, 1, 1]
    plain = np.hypot(50, 0) + 1.0
    assert g.edge_costs() == pytest.approx([plain, plain * (1 + COMPOUND_PENALTY),
                                            plain * (1 + COMPOUND_PENALTY)])


def test_a_block_without_units_gets_an_empty_filler():
    """All units west of the road: the east block is stood for by a 0-household point."""
    g = graph_of(ROW, points([(25, 50), (50, 50), (75, 50)]), barriers=ROAD)
    assert (g.n_units, g.n) == (3, 4)
    assert g.households.tolist() == [10.0, 10.0, 10.0, 0.0]
    assert g.compound[3] == -1 and g.seed[3] == 3
    assert shapely.contains_xy(box(100, 0, 200, 100), *g.xy[3])
    assert edge_set(g) == {(0, 1), (1, 2), (2, 3)}
    assert g.crossing_edges().tolist() == [False, False, True]


def test_cells_sharing_an_edge_only_outside_a_concave_community_are_not_neighbours():
    """A U-shaped community: the west and east arms' cells meet only across the notch."""
    u_shape = shapely.difference(box(0, 0, 300, 200), box(100, 50, 200, 210))
    g = graph_of(u_shape, points([(50, 150), (250, 150), (150, 25)]))
    assert edge_set(g) == {(0, 2), (1, 2)}


def test_pieces_cut_off_from_their_point_are_nodes_and_every_division_draws_as_chosen():
    """A C-shaped community clips the cells of units 2 and 4 into two pieces each; the
    pieces without their points lie in the lower arm. Linking units through those pieces
    let the exact stage choose grids that, once drawn, lost a unit to a neighbouring grid
    (Providence 2818: 4 of 4 in band solved, 3 drawn). Each loose piece is a node of its
    own without households, so a division contiguous in the graph is one polygon per grid
    with every unit where it was put."""
    from itertools import product

    from gridplan.engine.exact import contiguous
    from gridplan.engine.grids import grid_polygons

    comm = shapely.difference(box(0, 0, 10, 10), box(3, 2, 10, 8))
    g = graph_of(comm, points([[0.3, 1.2], [1.4, 7.2], [4.9, 8.9], [3.9, 8.9], [2.3, 6.2]]),
                 mode="centroid")
    assert g.n_units == 5 and g.n > 5 and (g.households[5:] == 0).all()
    assert (shapely.get_num_geometries(g.cells) == 1).all()
    assert shapely.area(g.cells).sum() == pytest.approx(comm.area, rel=1e-9)
    assert shapely.intersects_xy(g.cells[:5], *g.xy[g.cell_unit[:5]].T).all()
    assert contiguous(np.zeros(g.n, dtype=int), g.edges, 1)
    for lab in product(range(2), repeat=g.n):
        lab = np.array(lab)
        if contiguous(lab, g.edges, 2):
            polys, drawn, moves = grid_polygons(g.cells, g.cell_unit, lab, g.xy,
                                                g.households, 2)
            assert np.array_equal(drawn, lab) and not moves
            assert all(p.geom_type == "Polygon" for p in polys)


def test_a_loose_piece_touching_no_other_cell_stays_with_its_cell():
    """An island of the community with no unit on it is no grid of its own."""
    comm = shapely.union(box(0, 0, 100, 100), box(150, 0, 200, 100))
    g = graph_of(comm, points([(25, 50), (75, 50)]))
    assert (g.n, g.n_units) == (2, 2)
    assert edge_set(g) == {(0, 1)}
    assert shapely.area(g.cells).sum() == pytest.approx(comm.area, rel=1e-9)


def test_co_located_units_share_one_cell_and_are_linked():
    g = graph_of(ROW, points([(25, 50), (25, 50), (175, 50)]))
    assert g.seed.tolist() == [0, 0, 2]
    assert set(g.cell_unit.tolist()) == {0, 2}  # unit 1 has no cell of its own
    assert edge_set(g) == {(0, 1), (0, 2)}


def test_footprints_are_neighbours_where_their_cells_touch():
    """A tall building west of two long ones: all three touch, and each has many cells."""
    community = box(0, 0, 200, 100)
    fps = np.array([box(10, 10, 40, 90), box(60, 10, 190, 40), box(60, 60, 190, 90)])
    assert resolve_mode("auto", fps, community) == "footprint"
    g = graph_of(community, fps)
    assert edge_set(g) == {(0, 1), (0, 2), (1, 2)}
    assert (np.bincount(g.cell_unit) > 1).all()


def test_resolve_mode():
    community = box(0, 0, 100, 100)
    assert resolve_mode("auto", points([(5, 5)]), community) == "centroid"
    assert resolve_mode("auto", np.array([box(0, 0, 80, 100)]), community) == "centroid"
    assert resolve_mode("auto", np.array([box(0, 0, 10, 10)]), community) == "footprint"
    assert resolve_mode("centroid", np.array([box(0, 0, 10, 10)]), community) == "centroid"


@pytest.mark.parametrize(("lines", "blocks"), [
    (None, 1),
    (shapely.LineString([(X0 + 100, Y0 + 50), (X0 + 100, Y0 + 150)]), 1),  # a dead end
    (ROAD, 2),
    (shapely.MultiLineString([ROAD.coords, [(X0 - 10, Y0 + 50), (X0 + 210, Y0 + 50)]]), 4),
])
def test_blocks_tile_the_community(lines, blocks):
    faces = block_polygons(ROW, lines)
    assert len(faces) == blocks
    assert shapely.area(faces).sum() == pytest.approx(ROW.area)
    assert shapely.union_all(faces).equals(ROW)


def test_snap_and_colocated_seed():
    xy = snap(np.array([[0.0, 0.0], [0.01, 0.02], [1.0, 1.0], [0.0, 0.0]]))
    assert xy.tolist() == [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
    assert colocated_seed(xy).tolist() == [0, 0, 2, 0]


@st.composite
def scattered(draw):
    """3–40 distinct points on the snapping grid inside a 300 m × 200 m community."""
    n = draw(st.integers(3, 40))
    cells = draw(st.lists(st.tuples(st.integers(1, 5999), st.integers(1, 3999)), min_size=n,
                          max_size=n, unique=True))
    return np.array(cells, dtype=float) * 0.05


def delaunay_edges(xy: np.ndarray) -> set[tuple[int, int]]:
    """Edges of a Delaunay triangulation (consecutive pairs where the points are collinear)."""
    if np.linalg.matrix_rank(xy - xy[0]) < 2:
        rel = xy - xy[0]
        along = np.argsort(rel @ rel[np.argmax(np.hypot(*rel.T))])
        return {tuple(sorted((int(a), int(b)))) for a, b in zip(along[:-1], along[1:],
                                                                 strict=True)}
    return {tuple(sorted((int(a), int(b)))) for t in Delaunay(xy).simplices
            for a, b in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2]))}


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(scattered())
def test_random_points_neighbour_along_delaunay_edges_and_cells_tile(xy):
    community = box(0, 0, 300, 200)
    g = graph_of(community, points(xy))
    assert (g.edges[:, 0] < g.edges[:, 1]).all()
    assert len(np.unique(g.edges, axis=0)) == len(g.edges)
    assert edge_set(g) <= delaunay_edges(xy)
    assert shapely.intersects_xy(g.cells, *g.xy[g.cell_unit].T).all()  # cell holds its unit
    assert shapely.area(g.cells).sum() == pytest.approx(community.area, rel=1e-9)


@pytest.mark.skipif(sys.platform != "linux", reason="forked processes: Linux only")
def test_blocks_on_two_processes_give_the_graph_of_one(monkeypatch, caplog):
    """A large tessellation spreads its blocks over processes; the graph is the same,
    loose pieces of several blocks numbered as in one process."""
    import gridplan.engine.adjacency as adjacency
    from gridplan.engine import processes

    notches = [box(x + 5, 20, x + 45, 80) for x in range(0, 400, 50)]  # a C in every block
    comm = shapely.difference(box(0, 0, 400, 100), shapely.union_all(notches))
    roads = shapely.MultiLineString([[(X0 + x, Y0 - 10), (X0 + x, Y0 + 110)]
                                     for x in range(50, 400, 50)])
    rng = np.random.default_rng(3)
    xy = rng.uniform([0, 0], [400, 100], size=(600, 2))
    inside = shapely.contains_xy(comm, xy[:, 0] + X0, xy[:, 1] + Y0)
    geoms = points(xy[inside])
    monkeypatch.setattr(adjacency, "PARALLEL_POINTS", 10)
    graphs = []
    for n in ("1", "2"):
        monkeypatch.setenv(processes.ENV, n)
        with caplog.at_level("INFO", logger=processes.__name__):
            graphs.append(graph_of(comm, geoms, barriers=roads, mode="centroid"))
    assert "8 blocks on 2 processes" in caplog.text
    one, two = graphs
    assert len(np.unique(one.block[one.n_units:])) == one.n - one.n_units == 2  # two blocks'
    assert np.array_equal(one.edges, two.edges)
    assert np.array_equal(one.cell_unit, two.cell_unit)
    assert np.array_equal(one.block, two.block) and np.array_equal(one.xy, two.xy)
    assert shapely.equals_exact(one.cells, two.cells, tolerance=0).all()
