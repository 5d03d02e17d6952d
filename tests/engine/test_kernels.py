"""The compiled bisection kernels agree with plain scipy / networkx / Python references.

Random small graphs (hypothesis, a bounded number of derandomised examples) plus a few
cases small enough to check by hand.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix, csr_matrix

from gridplan.engine import kernels

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None)


def csr_arrays(n: int, edges: list[tuple[int, int]], costs: list[float]):
    """Symmetric CSR arrays (int64 pointers and indices, float64 costs), as the bisector builds."""
    i = [a for a, _ in edges] + [b for _, b in edges]
    j = [b for _, b in edges] + [a for a, _ in edges]
    m = coo_matrix((list(costs) * 2, (i, j)), shape=(n, n)).tocsr()
    m.sort_indices()
    return m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data.astype(np.float64)


def nx_graph(n: int, edges, costs) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from((a, b, c) for (a, b), c in zip(edges, costs, strict=True))
    return g


@st.composite
def graphs(draw, *, connected: bool, max_n: int = 12):
    """``(n, edges, costs)``: a random tree (possibly thinned) plus random extra edges."""
    n = draw(st.integers(2, max_n))
    tree = [(draw(st.integers(0, i - 1)), i) for i in range(1, n)]
    if not connected:
        keep = draw(st.lists(st.booleans(), min_size=n - 1, max_size=n - 1))
        tree = [e for e, k in zip(tree, keep, strict=True) if k]
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                          max_size=2 * n))
    edges = sorted(set(tree) | {(min(a, b), max(a, b)) for a, b in extra if a != b})
    costs = draw(st.lists(st.integers(1, 50).map(float), min_size=len(edges),
                          max_size=len(edges)))
    return n, edges, costs


@st.composite
def trees(draw, max_n: int = 12):
    """A random rooted tree as the kernels take it: visit order (parents first) and parents."""
    n = draw(st.integers(2, max_n))
    parent = np.array([-1] + [draw(st.integers(0, i - 1)) for i in range(1, n)], np.int64)
    return np.arange(n, dtype=np.int64), parent


def subtree(parent: np.ndarray, v: int) -> set[int]:
    """``v`` and its descendants (networkx reference)."""
    g = nx.DiGraph((int(p), c) for c, p in enumerate(parent) if p >= 0)
    g.add_nodes_from(range(len(parent)))
    return {v} | nx.descendants(g, v)


# --- subgraph --------------------------------------------------------------------------------

@SETTINGS
@given(graphs(connected=False), st.data())
def test_subgraph_is_the_induced_submatrix(graph, data):
    n, edges, costs = graph
    ptr, idx, dat = csr_arrays(n, edges, costs)
    size = data.draw(st.integers(1, n))
    nodes = np.array(data.draw(st.permutations(range(n)))[:size], np.int64)
    local = np.full(n, -1, np.int64)
    sptr, sidx, sdat = kernels.subgraph(ptr, idx, dat, nodes, local)
    got = csr_matrix((sdat, sidx, sptr), shape=(len(nodes), len(nodes))).toarray()
    want = csr_matrix((dat, idx, ptr), shape=(n, n))[nodes][:, nodes].toarray()
    np.testing.assert_array_equal(got, want)
    assert (local == -1).all()  # the scratch array is handed back clean


def test_subgraph_of_a_path_by_hand():
    ptr, idx, dat = csr_arrays(4, [(0, 1), (1, 2), (2, 3)], [1.0, 2.0, 3.0])
    sptr, sidx, sdat = kernels.subgraph(ptr, idx, dat, np.array([2, 1], np.int64),
                                        np.full(4, -1, np.int64))
    assert sptr.tolist() == [0, 1, 2]  # node 2 (local 0) and node 1 (local 1) see each other
    assert sidx.tolist() == [1, 0]
    assert sdat.tolist() == [2.0, 2.0]


# --- prim ------------------------------------------------------------------------------------

@SETTINGS
@given(graphs(connected=False), st.data())
def test_prim_is_a_minimum_spanning_tree_of_the_roots_component(graph, data):
    n, edges, costs = graph
    g = nx_graph(n, edges, costs)
    root = data.draw(st.integers(0, n - 1))
    order, parent = kernels.prim(*csr_arrays(n, edges, costs), root)
    component = nx.node_connected_component(g, root)
    assert sorted(order.tolist()) == sorted(component)
    assert order[0] == root and parent[root] == -1
    position = {int(v): i for i, v in enumerate(order)}
    for v in order[1:]:
        assert g.has_edge(int(v), int(parent[v]))
        assert position[int(parent[v])] < position[int(v)]  # parents are visited first
    assert all(parent[v] == -1 for v in range(n) if v not in component)
    weight = sum(g.edges[int(v), int(parent[v])]["weight"] for v in order[1:])
    mst = nx.minimum_spanning_tree(g.subgraph(component)).size(weight="weight")
    assert weight == pytest.approx(mst)


def test_prim_avoids_the_expensive_edge_of_a_triangle():
    order, parent = kernels.prim(*csr_arrays(3, [(0, 1), (1, 2), (0, 2)], [1.0, 1.0, 9.0]), 0)
    assert order.tolist() == [0, 1, 2]
    assert parent.tolist() == [-1, 0, 1]


# --- subtree_mask ----------------------------------------------------------------------------

@SETTINGS
@given(trees(), st.data())
def test_subtree_mask_is_the_node_and_its_descendants(tree, data):
    order, parent = tree
    v = data.draw(st.integers(0, len(order) - 1))
    inside = kernels.subtree_mask(order, parent, v)
    assert set(np.flatnonzero(inside).tolist()) == subtree(parent, v)


@SETTINGS
@given(graphs(connected=True), st.data())
def test_subtree_mask_follows_prims_visit_order(graph, data):
    n, edges, costs = graph
    order, parent = kernels.prim(*csr_arrays(n, edges, costs), data.draw(st.integers(0, n - 1)))
    v = int(order[data.draw(st.integers(0, n - 1))])
    assert set(np.flatnonzero(kernels.subtree_mask(order, parent, v)).tolist()) == \
        subtree(parent, v)


# --- best_cut --------------------------------------------------------------------------------

def inertia(xy: np.ndarray) -> float:
    """Moment of inertia of points about their centroid."""
    return float(((xy - xy.mean(axis=0)) ** 2).sum()) if len(xy) else 0.0


def reference_cuts(order, parent, w, xy, zone, lo1, hi1, lo2, hi2, k1, k2, bonus):
    """(violation, score, child side holds k1?) of every tree edge, by its child node."""
    n = len(order)
    everyone = np.arange(n)
    total = w.sum()
    whole = max(inertia(xy), 1e-9)
    mean_grid = max(total / (k1 + k2), 1.0)
    cuts = {}
    for v in order[1:]:
        inside = np.isin(everyone, list(subtree(parent, int(v))))
        s = w[inside].sum()
        score = (inertia(xy[inside]) + inertia(xy[~inside])) / whole
        if zone[v] != zone[parent[v]]:
            score *= bonus
        viol1 = max(lo1 - s, 0.0) + max(s - hi1, 0.0)
        viol2 = max(lo2 - s, 0.0) + max(s - hi2, 0.0)
        gets_k1 = viol1 <= viol2
        share = (k1 if gets_k1 else k2) / (k1 + k2)
        score += 0.5 * abs(s - total * share) / mean_grid
        cuts[int(v)] = (round(min(viol1, viol2), 6), score, gets_k1)
    return cuts


@st.composite
def cut_problems(draw):
    order, parent = draw(trees())
    n = len(order)
    cells = draw(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=n,
                          max_size=n, unique=True))
    xy = np.array(cells, dtype=float)
    w = np.array(draw(st.lists(st.integers(0, 200), min_size=n, max_size=n)), dtype=float)
    zone = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), np.int64)
    total = int(w.sum())
    lo1, hi1, lo2, hi2 = (float(draw(st.integers(0, max(total, 1)))) for _ in range(4))
    k1, k2 = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    bonus = draw(st.sampled_from([0.4, 1.0]))
    return (order, parent, w, xy, zone, min(lo1, hi1), max(lo1, hi1), min(lo2, hi2),
            max(lo2, hi2), k1, k2, bonus)


def stats_of(xy: np.ndarray) -> np.ndarray:
    """Per-node (count, Σx, Σy, Σx²+y²) rows of one-unit atoms."""
    return np.column_stack([np.ones(len(xy)), xy, (xy ** 2).sum(axis=1)])


@SETTINGS
@given(cut_problems())
def test_best_cut_picks_the_least_violation_then_the_best_score(problem):
    order, parent, w, xy, zone, lo1, hi1, lo2, hi2, k1, k2, bonus = problem
    viol, score, v, gets_k1 = kernels.best_cut(order, parent, w, stats_of(xy), zone, lo1, hi1,
                                               lo2, hi2, k1, k2, bonus)
    cuts = reference_cuts(order, parent, w, xy, zone, lo1, hi1, lo2, hi2, k1, k2, bonus)
    least = min(c[0] for c in cuts.values())
    assert viol == least
    assert cuts[v][0] == least and cuts[v][2] == gets_k1
    assert score == pytest.approx(cuts[v][1], rel=1e-9, abs=1e-9)
    assert score <= min(c[1] for c in cuts.values() if c[0] == least) + 1e-9


def test_best_cut_halves_a_path_by_hand():
    """Four 100-household units in a row, a band of 150–250 per side: cut the middle edge."""
    order = np.arange(4, dtype=np.int64)
    parent = np.array([-1, 0, 1, 2], np.int64)
    xy = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    viol, _, v, _ = kernels.best_cut(order, parent, np.full(4, 100.0), stats_of(xy),
                                     np.zeros(4, np.int64), 150.0, 250.0, 150.0, 250.0, 1, 1,
                                     0.4)
    assert (viol, v) == (0.0, 2)  # the subtree under node 2 holds units 2 and 3


@pytest.mark.parametrize(("bonus", "child"), [(0.4, 5), (1.0, 6)])
def test_best_cut_prefers_a_zone_boundary_among_feasible_cuts(bonus, child):
    """Twelve 50-household units in a row, either side may hold 200–400 households.

    Without a bonus the even 300 | 300 cut (under unit 6) is the most compact; with one,
    the 250 | 350 cut along the zone boundary (under unit 5) wins.
    """
    order = np.arange(12, dtype=np.int64)
    parent = np.arange(-1, 11, dtype=np.int64)
    xy = np.column_stack([np.arange(12.0), np.zeros(12)])
    zone = np.array([0] * 5 + [1] * 7, np.int64)
    viol, _, v, _ = kernels.best_cut(order, parent, np.full(12, 50.0), stats_of(xy), zone,
                                     200.0, 400.0, 200.0, 400.0, 1, 1, bonus)
    assert (viol, v) == (0.0, child)
