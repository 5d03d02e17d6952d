"""A seeded synthetic city for benchmarks: clustered units, Voronoi footprints, communities.

The city is a square whose side grows with ``sqrt(n_units)`` so that density stays
city-like (on average one unit per 25 × 25 m). Unit points are a mixture of
Gaussian clusters (dense neighbourhoods) and a uniform background; each unit's
footprint is its Voronoi cell, so the units tile the square without gaps or
overlaps. Households per unit are lognormal with mean about 25 (clipped to
1..250, below the 345 upper band bound, so no unit is split into stairwells).
Communities are the Voronoi cells of about ``n_units / 500`` seed points drawn
from the unit points (so communities follow density), clipped to the square: they
tile the city too, and every unit's representative point lies in exactly one.

Examples
--------
>>> units, communities = synthetic_city(1000, seed=1)
>>> len(units), len(communities)
(1000, 2)
"""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import shapely
from scipy.sparse import coo_matrix

log = logging.getLogger(__name__)

CRS = "EPSG:32650"  # UTM zone 50N, metres (Beijing area)
CENTRE = (440_000.0, 4_420_000.0)
AREA_PER_UNIT = 25.0 * 25.0  # m² per unit on average
MEAN_HOUSEHOLDS = 25.0
HOUSEHOLD_SIGMA = 0.9  # sigma of log(households)
MAX_HOUSEHOLDS = 250
UNITS_PER_COMMUNITY = 500
UNITS_PER_CLUSTER = 5000
CLUSTER_SHARE = 0.65  # share of units in Gaussian clusters (the rest is uniform background)


def city_side(n_units: int) -> float:
    """Side in metres of the square city holding ``n_units`` units.

    Examples
    --------
    >>> city_side(10_000)
    2500.0
    """
    return math.sqrt(n_units * AREA_PER_UNIT)


def city_box(n_units: int) -> shapely.Polygon:
    """The city square, centred on :data:`CENTRE`."""
    half = city_side(n_units) / 2
    return shapely.box(CENTRE[0] - half, CENTRE[1] - half, CENTRE[0] + half, CENTRE[1] + half)


def unit_points(n_units: int, rng: np.random.Generator) -> np.ndarray:
    """``n_units`` clustered points in the city square (Gaussian clusters plus background).

    Parameters
    ----------
    n_units : int
        Number of points.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    ndarray (n_units, 2)
        Point coordinates in :data:`CRS`.
    """
    side = city_side(n_units)
    x0, y0 = CENTRE[0] - side / 2, CENTRE[1] - side / 2
    n_clusters = max(3, round(n_units / UNITS_PER_CLUSTER))
    centres = rng.uniform(0.1 * side, 0.9 * side, size=(n_clusters, 2))
    sigmas = side * rng.uniform(0.02, 0.07, size=n_clusters)
    weights = rng.lognormal(0.0, 0.6, size=n_clusters)
    weights /= weights.sum()
    n_clustered = round(CLUSTER_SHARE * n_units)
    chunks = [rng.uniform(0.0, side, size=(n_units - n_clustered, 2))]
    need = n_clustered
    while need > 0:  # draw, drop points outside the square, draw again for the rest
        which = rng.choice(n_clusters, size=need, p=weights)
        pts = centres[which] + rng.normal(size=(need, 2)) * sigmas[which, None]
        pts = pts[np.all((pts > 0.0) & (pts < side), axis=1)]
        chunks.append(pts)
        need -= len(pts)
    xy = np.vstack(chunks)
    xy = np.round(xy, 2)  # centimetre coordinates, like surveyed data
    xy = _drop_duplicates(xy, rng, side)
    return xy[rng.permutation(len(xy))] + np.array([x0, y0])


def _drop_duplicates(xy: np.ndarray, rng: np.random.Generator, side: float) -> np.ndarray:
    """Replace points that coincide (to the centimetre) with fresh background points."""
    while True:
        _, first = np.unique(xy, axis=0, return_index=True)
        if len(first) == len(xy):
            return xy
        dup = np.setdiff1d(np.arange(len(xy)), first)
        xy[dup] = np.round(rng.uniform(0.0, side, size=(len(dup), 2)), 2)


def voronoi_cells(xy: np.ndarray, square: shapely.Polygon) -> np.ndarray:
    """Voronoi cell of every point (in input order), clipped to ``square``.

    Parameters
    ----------
    xy : ndarray (n, 2)
        Distinct points inside ``square``.
    square : shapely.Polygon
        Clip extent.

    Returns
    -------
    ndarray of shapely.Polygon
        ``cells[i]`` contains ``xy[i]``.
    """
    if len(xy) == 1:
        return np.array([square])
    coll = shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=square, ordered=True)
    cells = np.asarray(shapely.get_parts(coll))
    if len(cells) != len(xy):
        raise RuntimeError(f"Voronoi gave {len(cells)} cells for {len(xy)} points")
    shapely.prepare(square)
    outside = ~shapely.within(cells, square)
    cells[outside] = shapely.intersection(cells[outside], square)
    return cells


def lognormal_households(n_units: int, rng: np.random.Generator) -> np.ndarray:
    """Households per unit: lognormal with mean about 25, rounded and clipped to 1..250.

    Examples
    --------
    >>> h = lognormal_households(100_000, np.random.default_rng(0))
    >>> bool(24.5 < h.mean() < 25.5), int(h.min()) >= 1, int(h.max()) <= 250
    (True, True, True)
    """
    mu = math.log(MEAN_HOUSEHOLDS) - HOUSEHOLD_SIGMA ** 2 / 2
    h = np.rint(rng.lognormal(mu, HOUSEHOLD_SIGMA, size=n_units))
    return np.clip(h, 1, MAX_HOUSEHOLDS).astype(np.int64)


def synthetic_city(n_units: int, seed: int = 0) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Generate a synthetic city of ``n_units`` units and about ``n_units / 500`` communities.

    Parameters
    ----------
    n_units : int
        Number of units (buildings); at least 1.
    seed : int
        Seed; equal ``(n_units, seed)`` give identical layers.

    Returns
    -------
    units : GeoDataFrame
        ``unit_id`` (``"u0000001"``...), ``households`` (int) and a Voronoi-cell polygon
        per unit, in EPSG:32650. The cells tile the city square.
    communities : GeoDataFrame
        ``id`` (``"C0001"``...) and polygon geometry, tiling the same square.
    """
    if n_units < 1:
        raise ValueError("n_units must be at least 1")
    rng = np.random.default_rng(seed)
    square = city_box(n_units)
    xy = unit_points(n_units, rng)
    households = lognormal_households(n_units, rng)
    cells = voronoi_cells(xy, square)
    n_comm = max(1, round(n_units / UNITS_PER_COMMUNITY))
    seeds = xy[np.sort(rng.choice(n_units, size=n_comm, replace=False))]
    comm_cells = voronoi_cells(seeds, square)
    width = len(str(n_units))
    units = gpd.GeoDataFrame({
        "unit_id": [f"u{i:0{width}d}" for i in range(n_units)],
        "households": households,
    }, geometry=cells, crs=CRS)
    communities = gpd.GeoDataFrame({
        "id": [f"C{i + 1:04d}" for i in range(n_comm)],
    }, geometry=comm_cells, crs=CRS)
    log.debug("synthetic city: %d units, %d communities, %d households", n_units, n_comm,
              int(households.sum()))
    return units, communities


def unit_adjacency(geoms: np.ndarray) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, of polygons that share boundary (a tiling's dual graph).

    Parameters
    ----------
    geoms : ndarray of shapely.Polygon
        Non-overlapping polygons (e.g. the units of :func:`synthetic_city`).

    Returns
    -------
    ndarray (m, 2) of int64
        Unique adjacent pairs. Polygons touching at a single point are not adjacent.
    """
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    dim = shapely.get_dimensions(shapely.intersection(geoms[i], geoms[j]))
    line = dim >= 1
    return np.column_stack([i[line], j[line]]).astype(np.int64)


def csr_graph(n: int, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric CSR adjacency (``xadj``, ``adjncy``) of ``n`` nodes from unique pairs.

    Examples
    --------
    >>> xadj, adjncy = csr_graph(3, np.array([[0, 1], [1, 2]]))
    >>> xadj.tolist(), adjncy.tolist()
    ([0, 1, 3, 4], [1, 0, 2, 1])
    """
    rows = np.concatenate([pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0]])
    m = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n)).tocsr()
    m.sort_indices()
    return m.indptr.astype(np.int64), m.indices.astype(np.int64)
