"""Workload: monthly hours a grid asks of its worker: visits plus walking tours.

The load of a grid is ``visits × minutes per visit + tours × tour length ÷ walking
speed``, in hours per month. Visits come from households (an ordinary household is
visited twice a year) and from special populations with their own visit rates
(high-risk elderly weekly, key groups monthly). A tour starts at the community
service centre, passes every building of the grid with households and returns;
its length is measured on the street network when one is given (shortest paths by
scipy's Dijkstra from every stop), else as straight-line distance times a detour
factor, and the tour itself comes from :mod:`gridplan.workforce.tours` (exact up to
12 points, else nearest neighbour improved by 2-opt and Or-opt; deterministic).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np
import shapely

from gridplan.layers.osm import street_graph
from gridplan.params import WorkloadParams
from gridplan.workforce.tours import shortest_tour, tour_cost

if TYPE_CHECKING:
    import networkx as nx
    from scipy.sparse import csr_matrix

log = logging.getLogger(__name__)


def tour_length(points: np.ndarray, start: np.ndarray, *, street=None,
                detour: float = 1.3) -> tuple[float, bool]:
    """Length (m) of a closed walk from ``start`` through ``points``; and whether the
    street network was used (``False`` when it did not reach every point).

    Parameters
    ----------
    points : ndarray (n, 2)
        Building locations, metric CRS.
    start : ndarray (2,)
        Service centre.
    street : StreetNetwork, optional
        Walking network; straight lines × ``detour`` without one.

    Examples
    --------
    >>> round(tour_length(np.array([[0., 100.], [100., 100.], [100., 0.]]),
    ...                   np.array([0., 0.]), detour=1.0)[0])
    400
    """
    stops = np.vstack([start[None, :], points])
    if len(stops) <= 1:
        return 0.0, street is not None
    dist = None if street is None else street.distances(stops)
    on_network = dist is not None
    if dist is None:
        diff = stops[:, None, :] - stops[None, :, :]
        dist = np.hypot(diff[..., 0], diff[..., 1]) * detour
    return _tsp_length(dist), on_network


def _tsp_length(dist: np.ndarray) -> float:
    """Length of a short closed tour over a distance matrix, from row 0 and back.

    The tour is searched on the symmetric mean of ``dist`` and measured on ``dist``.
    """
    if len(dist) == 2:
        return float(dist[0, 1] + dist[1, 0])
    tour = shortest_tour((dist + dist.T) / 2)
    return tour_cost(tour, dist)


class StreetNetwork:
    """A walking network (networkx graph in a metric CRS) and shortest-path distances.

    The graph is also kept as a symmetric sparse matrix (``matrix``, rows in the
    order of ``nodes``) for scipy's Dijkstra, built once per network.
    """

    SOURCES_CELLS = 4_000_000  # Dijkstra rows × nodes computed at once (32 MB)

    def __init__(self, graph: nx.MultiDiGraph | nx.Graph, max_snap: float = 300.0) -> None:
        import networkx as nx  # only with a street network (0.3 s of every command's start)

        g = nx.Graph()
        for u, v, data in graph.edges(data=True):
            w = float(data.get("length", 1.0))
            if not g.has_edge(u, v) or g[u][v]["length"] > w:
                g.add_edge(u, v, length=w)
        self.graph = g
        self.nodes = np.array(list(g.nodes))
        self.xy = np.array([[graph.nodes[n]["x"], graph.nodes[n]["y"]] for n in self.nodes])
        self.tree = shapely.STRtree(shapely.points(self.xy))
        self.matrix = _sparse_graph(g, self.nodes)
        self.max_snap = max_snap
        self.unreached: list[tuple[float, float]] = []

    def distances(self, stops: np.ndarray) -> np.ndarray | None:
        """Pairwise walking distances (m) between stops, or ``None`` if some are unreachable.

        Each stop is snapped to its nearest node (at most ``max_snap`` metres away);
        the distance is the snap of both stops plus the shortest path between their
        nodes. A stop the network does not reach from the first one is recorded in
        ``unreached``.
        """
        idx = self.tree.nearest(shapely.points(stops))
        snap = np.hypot(*(self.xy[idx] - stops).T)
        if (snap > self.max_snap).any():
            self.unreached.extend(map(tuple, stops[snap > self.max_snap]))
            return None
        along = self._between(idx)
        cut = ~np.isfinite(along[0])
        if cut.any():
            self.unreached.append(tuple(stops[int(np.argmax(cut))]))
            return None
        dist = along + snap[:, None] + snap[None, :]
        np.fill_diagonal(dist, 0.0)
        return dist

    def _between(self, idx: np.ndarray) -> np.ndarray:
        """Shortest-path lengths between the nodes at rows ``idx`` (inf if unconnected)."""
        from scipy.sparse.csgraph import dijkstra  # csgraph only with a street network

        nodes, inverse = np.unique(idx, return_inverse=True)
        out = np.empty((len(nodes), len(nodes)))
        step = max(1, self.SOURCES_CELLS // max(len(self.nodes), 1))
        for k in range(0, len(nodes), step):
            rows = dijkstra(self.matrix, directed=True, indices=nodes[k:k + step])
            out[k:k + step] = rows[:, nodes]
        return out[np.ix_(inverse, inverse)]


def _sparse_graph(g: nx.Graph, nodes: np.ndarray) -> csr_matrix:
    """Symmetric CSR matrix of edge lengths, rows and columns in the order of ``nodes``."""
    from scipy.sparse import csr_matrix

    pos = {n: i for i, n in enumerate(nodes.tolist())}
    edges = [(pos[u], pos[v], d["length"]) for u, v, d in g.edges(data=True) if u != v]
    r, c, w = np.array(edges, dtype=float).reshape(-1, 3).T
    r, c = r.astype(np.int64), c.astype(np.int64)
    size = len(nodes)
    return csr_matrix((np.r_[w, w], (np.r_[r, c], np.r_[c, r])), shape=(size, size))


def walking_network(osm_path, crs) -> StreetNetwork:
    """The walkable street network of an OSM extract, projected to ``crs``.

    Read by pyosmium (:func:`gridplan.layers.osm.street_graph`), simplified and
    projected by osmnx.
    """
    import osmnx as ox

    graph = street_graph(osm_path)
    graph = ox.project_graph(graph, to_crs=crs)
    log.info("street network: %d nodes, %d edges", graph.number_of_nodes(),
             graph.number_of_edges())
    return StreetNetwork(graph)


def hours(visits: float, tour_m: float, params: WorkloadParams) -> float:
    """Hours per month for ``visits`` visits and a tour of ``tour_m`` metres."""
    walk_h = params.tours_per_month * tour_m / 1000 / params.walking_speed_kmh
    return visits * params.minutes_per_visit / 60 + walk_h


def required_workers(residents: float, n_grids: int, per_10k: float = 18.0) -> int:
    """Workers a community needs: the staffing norm, and at least one per grid.

    Examples
    --------
    >>> required_workers(7800, 9)
    15
    >>> required_workers(2000, 9)
    9
    """
    return max(math.ceil(round(residents / 10000 * per_10k, 9)), n_grids)
