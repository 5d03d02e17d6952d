"""Tours: optimal on small grids, never longer than greedy, street distances as networkx's."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import shapely

from gridplan.workforce.tours import EXACT_POINTS, shortest_tour, tour_cost
from gridplan.workforce.workload import StreetNetwork, tour_length


def _points(n: int, seed: int, clustered: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 800, (n, 2))
    if clustered:  # buildings bunch up in compounds
        pts[: n // 2] = rng.normal(400, 30, (n // 2, 2))
    return pts


def _matrix(stops: np.ndarray) -> np.ndarray:
    return np.hypot(*(stops[:, None, :] - stops[None, :, :]).transpose(2, 0, 1))


def _brute_force(dist: np.ndarray) -> float:
    n = len(dist)
    return min(tour_cost(np.array((0, *p)), dist) for p in itertools.permutations(range(1, n)))


def _greedy(dist: np.ndarray) -> float:
    """networkx's greedy tour, the method tours over 60 stops were measured with."""
    g = nx.Graph()
    g.add_weighted_edges_from((i, j, float(dist[i, j])) for i, j in
                              itertools.combinations(range(len(dist)), 2))
    cycle = nx.approximation.traveling_salesman_problem(
        g, cycle=True, method=nx.approximation.greedy_tsp)
    return float(sum(dist[a, b] for a, b in itertools.pairwise(cycle)))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("stops", [2, 4, 6, 8])
def test_small_tours_are_optimal(stops, seed):
    pts = _points(stops, seed, clustered=seed % 2 == 1)
    start = np.array([400.0, 400.0])
    length, on_net = tour_length(pts, start, detour=1.0)
    best = _brute_force(_matrix(np.vstack([start, pts])))
    # exact on distances rounded to 1/65535 of the longest: at most that per edge off
    assert length == pytest.approx(best, rel=1e-4)
    assert length <= best * (1 + 1e-4) and on_net is False


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [EXACT_POINTS - 1, EXACT_POINTS + 1, 20, 40, 90])
def test_tours_never_longer_than_greedy(n, seed):
    dist = _matrix(_points(n, 100 + seed, clustered=seed % 2 == 0))
    tour = shortest_tour(dist)
    assert sorted(tour.tolist()) == list(range(n)) and tour[0] == 0
    assert tour_cost(tour, dist) <= _greedy(dist) + 1e-9


def test_tours_are_the_same_every_time():
    dist = _matrix(_points(60, 7))
    first = shortest_tour(dist)
    assert all((shortest_tour(dist) == first).all() for _ in range(3))


def test_degenerate_tours():
    assert tour_length(np.empty((0, 2)), np.array([0.0, 0.0]))[0] == 0.0
    assert tour_length(np.array([[3.0, 4.0]]), np.array([0.0, 0.0]), detour=1.0)[0] == 10.0
    same = np.zeros((5, 2))  # five stops on one spot
    assert tour_length(same, np.array([0.0, 0.0]), detour=1.0)[0] == 0.0


def _street(seed: int = 0) -> tuple[nx.MultiDiGraph, np.ndarray]:
    """A 6 × 6 lattice with jittered nodes, some streets missing, a parallel way and a
    zero-length link, like an OSM walking graph."""
    rng = np.random.default_rng(seed)
    g = nx.MultiDiGraph()
    xy = {}
    for i, j in itertools.product(range(6), range(6)):
        xy[(i, j)] = np.array([i * 100.0, j * 100.0]) + rng.uniform(-20, 20, 2)
        g.add_node(i * 6 + j, x=xy[(i, j)][0], y=xy[(i, j)][1])
    for (i, j), p in xy.items():
        for di, dj in ((1, 0), (0, 1)):
            q = xy.get((i + di, j + dj))
            if q is not None and rng.random() > 0.2:
                length = float(np.hypot(*(q - p))) * rng.uniform(1.0, 1.3)
                g.add_edge(i * 6 + j, (i + di) * 6 + j + dj, length=length, highway="footway")
    g.add_edge(0, 1, length=500.0, highway="path")  # a longer parallel way: ignored
    g.add_edge(14, 15, length=0.0, highway="steps")
    return g, np.array([xy[k] for k in sorted(xy)])


def test_street_distances_equal_networkx():
    g, _ = _street()
    reach = nx.Graph()
    for u, v, d in g.edges(data=True):
        if not reach.has_edge(u, v) or reach[u][v]["length"] > d["length"]:
            reach.add_edge(u, v, length=d["length"])
    assert nx.is_connected(reach)
    net = StreetNetwork(g)
    stops = np.random.default_rng(1).uniform(0, 500, (15, 2))
    stops[3] = stops[4]  # two stops on one spot
    dist = net.distances(stops)
    idx = net.tree.nearest(shapely.points(stops))
    near, snap = net.nodes[idx], np.hypot(*(net.xy[idx] - stops).T)
    for i in range(len(stops)):
        lengths = nx.single_source_dijkstra_path_length(reach, near[i], weight="length")
        for j in range(len(stops)):
            want = 0.0 if i == j else lengths[near[j]] + snap[i] + snap[j]
            assert dist[i, j] == pytest.approx(want, abs=1e-9)


def test_unconnected_street_records_the_stop_it_cannot_reach():
    g = nx.MultiDiGraph()
    for n, (x, y) in enumerate([(0, 0), (100, 0), (1000, 0), (1100, 0)]):
        g.add_node(n, x=x, y=y)
    g.add_edge(0, 1, length=100.0, highway="footway")
    g.add_edge(2, 3, length=100.0, highway="footway")  # an island
    net = StreetNetwork(g)
    stops = np.array([[0.0, 10.0], [100.0, 10.0], [1100.0, 10.0]])
    assert net.distances(stops) is None
    assert net.unreached == [(1100.0, 10.0)]
    length, on_net = tour_length(stops[1:], stops[0], street=net, detour=1.0)
    assert on_net is False and length == pytest.approx(2200.0)  # straight lines instead
