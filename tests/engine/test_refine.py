"""Refine: boundary moves bring grids towards the band and never break what bisection built.

By hand: a move that balances two grids is taken, one that would cut a grid in two is
not, a chain passes households through an in-band grid. On random graphs (hypothesis):
grids stay connected and non-empty, and neither the total nor the largest distance
outside the band ever grows.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix

from gridplan.engine.refine import BalanceRefiner

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None)


def refiner(n: int, edges, weights, band, *, xy=None, zone=None) -> BalanceRefiner:
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    xy = np.column_stack([np.arange(n, dtype=float), np.zeros(n)]) if xy is None else xy
    return BalanceRefiner((graph + graph.T).tocsr(), np.asarray(weights, dtype=float), xy,
                          band, zone=zone)


def penalties(labels, weights, band) -> np.ndarray:
    sums = np.bincount(labels, weights=np.asarray(weights, dtype=float))
    return np.maximum(band[0] - sums, 0) + np.maximum(sums - band[1], 0)


def connected(labels, n: int, edges) -> list[bool]:
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(map(tuple, np.asarray(edges).reshape(-1, 2).tolist()))
    return [nx.is_connected(graph.subgraph(np.flatnonzero(labels == g).tolist()))
            for g in range(int(labels.max()) + 1)]


def test_penalty_is_the_distance_outside_the_band():
    r = refiner(1, [], [0], (150, 250))
    assert [r.penalty(h) for h in (100, 150, 200, 250, 300)] == [50, 0, 0, 0, 50]


def test_a_balancing_move_is_taken():
    """Path 0-1-2-3 of 100 each, grids {0,1,2} (300) and {3} (100), band 150–250."""
    labels = refiner(4, [(0, 1), (1, 2), (2, 3)], [100] * 4, (150, 250)).run(
        np.array([0, 0, 0, 1]))
    assert labels.tolist() == [0, 0, 1, 1]


def test_a_move_that_would_cut_a_grid_in_two_is_refused():
    """Unit 1 links 0, 2 and 3; handing it to grid {3} would balance but split {0, 2}."""
    labels = np.array([0, 0, 0, 1])
    out = refiner(4, [(0, 1), (1, 2), (1, 3)], [100] * 4, (150, 250)).run(labels.copy())
    assert out.tolist() == labels.tolist()


def test_a_grid_is_never_emptied():
    """A lone 400-household unit stays a grid of its own, however far above the band."""
    out = refiner(3, [(0, 1), (1, 2)], [400, 100, 100], (150, 250)).run(np.array([0, 1, 1]))
    assert out.tolist() == [0, 1, 1]


def test_a_chain_passes_households_through_an_in_band_grid():
    """Grids {0,1,2} (300), {3,4} (200), {5} (100) on a path, band 150–250.

    No single move helps: the middle grid is in band and would leave it. A chain hands
    unit 2 to the middle grid and unit 4 on to the last: every grid ends at 200.
    """
    edges = [(i, i + 1) for i in range(5)]
    out = refiner(6, edges, [100] * 6, (150, 250)).run(np.array([0, 0, 0, 1, 1, 2]))
    assert out.tolist() == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize(("zone", "expected"), [
    (None, [1, 1, 1, 2, 2, 0]),                 # unit 0 lies nearer the grid's centre
    ([0, 1, 1, 1, 1, 0], [0, 1, 1, 1, 2, 0]),   # but would join it across a zone boundary
])
def test_moves_prefer_to_stay_inside_a_zone(zone, expected):
    """Grid {1,2} is short by 100; moving in unit 0 or unit 3 balances every grid alike."""
    xy = np.array([[0.0, 0], [1, 0], [2, 0], [3.5, 0], [4.5, 0], [-1, 0]])
    edges = [(5, 0), (0, 1), (1, 2), (2, 3), (3, 4)]
    zone = None if zone is None else np.array(zone)
    out = refiner(6, edges, [100, 50, 50, 100, 200, 200], (200, 300), xy=xy,
                  zone=zone).run(np.array([0, 1, 1, 2, 2, 0]))
    assert out.tolist() == expected


@st.composite
def contiguous_plans(draw, max_n: int = 24):
    """A random connected graph, weights, a band, and a partition into connected grids.

    The grids are the pieces of a random spanning tree with some tree edges cut, so each
    is connected in the graph.
    """
    n = draw(st.integers(2, max_n))
    tree = [(draw(st.integers(0, i - 1)), i) for i in range(1, n)]
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n))
    edges = sorted(set(tree) | {(min(a, b), max(a, b)) for a, b in extra if a != b})
    cut = draw(st.lists(st.booleans(), min_size=n - 1, max_size=n - 1))
    forest = nx.Graph([e for e, c in zip(tree, cut, strict=True) if not c])
    forest.add_nodes_from(range(n))
    labels = np.empty(n, dtype=np.int64)
    for g, piece in enumerate(nx.connected_components(forest)):
        labels[list(piece)] = g
    weights = draw(st.lists(st.integers(0, 120), min_size=n, max_size=n))
    lo = draw(st.integers(50, 300))
    band = (float(lo), float(lo + draw(st.integers(0, 150))))
    cells = draw(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), min_size=n,
                          max_size=n, unique=True))
    zone = draw(st.none() | st.lists(st.integers(0, 2), min_size=n, max_size=n).map(np.array))
    return n, edges, np.array(weights, float), band, labels, np.array(cells, float), zone


@SETTINGS
@given(contiguous_plans())
def test_refine_keeps_grids_connected_and_never_worsens_balance(plan):
    n, edges, weights, band, labels, xy, zone = plan
    before = penalties(labels, weights, band)
    out = refiner(n, edges, weights, band, xy=xy, zone=zone).run(labels.copy())
    assert out.shape == labels.shape
    assert np.unique(out).tolist() == np.unique(labels).tolist()  # no grid emptied
    assert all(connected(out, n, edges))
    after = penalties(out, weights, band)
    assert after.sum() <= before.sum() + 1e-9
    assert after.max() <= before.max() + 1e-9
