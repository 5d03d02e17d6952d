"""Tours: a short closed walk through a grid's buildings, the same on every run.

Tours of up to ``EXACT_POINTS`` points (the start included) are solved exactly by
Held-Karp (``fast_tsp.solve_tsp_exact``, on distances rounded to 1/65535 of the
longest), then polished on the exact distances. Every tour is also built by nearest
neighbour (from the first ``STARTS`` points for tours up to ``MULTI_START_POINTS``
points, else from the start point) and improved by 2-opt and Or-opt moves until none
shortens it (compiled loops, numba); the shortest wins. The nearest-neighbour tour
from the start point is always among them, so a tour is never longer than the
greedy one.

No step depends on a clock or on random draws, so a plan is staffed the same on any
machine under any load. That is why ``fast_tsp.find_tour`` is not used: its local
search runs for a wall-clock budget (on a busy 2-core machine the same 60 stops came
back with tours up to 7% apart), and it solves 13–20 points exactly, at 0.4–75 ms a
tour, where most grids have 11–16 buildings.
"""

from __future__ import annotations

import fast_tsp
import numpy as np
from numba import njit

EXACT_POINTS = 12  # Held-Karp: 0.1 ms at 12 points, 0.4 ms at 13, 2 ms at 15
STARTS = 10  # nearest-neighbour starts of the local search, for tours up to MULTI_START_POINTS
MULTI_START_POINTS = 400  # beyond, one start: a start costs 10 ms at 300 points, ~0.4 s at 1000
EPS = 1e-7  # metres: a move must shorten the tour by more than this


def shortest_tour(dist: np.ndarray) -> np.ndarray:
    """Order in which to visit the points of a symmetric distance matrix, from point 0.

    Parameters
    ----------
    dist : ndarray (n, n)
        Symmetric distances (m), zero diagonal.

    Returns
    -------
    ndarray of int
        A permutation of ``0 … n-1`` starting with 0; the tour returns to 0 at the end.

    Examples
    --------
    >>> square = np.array([[0, 1, 2, 1], [1, 0, 1, 2], [2, 1, 0, 1], [1, 2, 1, 0]], float)
    >>> shortest_tour(square).tolist()
    [0, 1, 2, 3]
    """
    n = len(dist)
    if n <= 3:
        return np.arange(n)
    d = np.ascontiguousarray(dist, dtype=np.float64)
    if n <= EXACT_POINTS:
        exact = np.asarray(fast_tsp.solve_tsp_exact(_quantised(d)), dtype=np.int64)
        return _best_tour(d, 1, exact)
    return _best_tour(d, STARTS if n <= MULTI_START_POINTS else 1, np.empty(0, np.int64))


def tour_cost(tour: np.ndarray, dist: np.ndarray) -> float:
    """Length of the closed tour ``tour`` over ``dist`` (edges taken in tour order).

    Examples
    --------
    >>> tour_cost(np.array([0, 1, 2]), np.array([[0, 3, 4], [3, 0, 5], [4, 5, 0]], float))
    12.0
    """
    return float(_length(np.asarray(tour, dtype=np.int64),
                         np.ascontiguousarray(dist, dtype=np.float64)))


def warm_up() -> None:
    """Load the compiled kernels (numba's cache) now, e.g. once before forking.

    Examples
    --------
    >>> warm_up()
    """
    d = np.abs(np.subtract.outer(np.arange(EXACT_POINTS + 1.0), np.arange(EXACT_POINTS + 1.0)))
    tour_cost(shortest_tour(d), d)
    tour_cost(shortest_tour(d[:EXACT_POINTS, :EXACT_POINTS]), d)


def _quantised(d: np.ndarray) -> np.ndarray:
    """Distances as the integers 0 … 65535 that fast_tsp takes, in proportion."""
    top = d.max()
    scale = 65535.0 / top if top > 0 else 1.0
    return np.minimum(np.rint(d * scale), 65535).astype(np.int64)


@njit(cache=True)
def _best_tour(d, starts, seed):  # pragma: no cover - compiled
    """Shortest of the local optima reached from the nearest-neighbour tours of points
    ``0 … starts-1`` and from ``seed`` (if not empty), rotated to begin at point 0."""
    best = _local_search(_nearest_neighbour(d, 0), d)
    best_len = _length(best, d)
    for first in range(1, starts):
        t = _local_search(_nearest_neighbour(d, first), d)
        t_len = _length(t, d)
        if t_len < best_len - EPS:
            best, best_len = t, t_len
    if len(seed):
        t = _local_search(seed, d)
        t_len = _length(t, d)
        if t_len < best_len - EPS:
            best, best_len = t, t_len
    at = 0
    while best[at] != 0:
        at += 1
    return np.concatenate((best[at:], best[:at]))


@njit(cache=True)
def _length(t, d):  # pragma: no cover - compiled
    s = 0.0
    n = len(t)
    for k in range(n):
        s += d[t[k], t[(k + 1) % n]]
    return s


@njit(cache=True)
def _nearest_neighbour(d, first):  # pragma: no cover - compiled
    """Greedy tour from ``first``: always on to the nearest point not yet visited (lowest
    index on ties, as networkx's ``greedy_tsp``)."""
    n = d.shape[0]
    tour = np.empty(n, np.int64)
    seen = np.zeros(n, np.bool_)
    tour[0] = first
    seen[first] = True
    for k in range(1, n):
        a = tour[k - 1]
        best, arg = np.inf, -1
        for b in range(n):
            if not seen[b] and d[a, b] < best:
                best, arg = d[a, b], b
        tour[k] = arg
        seen[arg] = True
    return tour


@njit(cache=True)
def _local_search(t, d):  # pragma: no cover - compiled
    """2-opt and Or-opt (segments of 1–3 points, either way round) until no move helps."""
    t = t.copy()
    moved = True
    while moved:
        moved = _two_opt(t, d)
        for seg in range(1, 4):
            moved = _or_opt(t, d, seg) or moved
    return t


@njit(cache=True)
def _two_opt(t, d):  # pragma: no cover - compiled
    """One sweep of 2-opt: reverse ``t[i+1 … j]`` whenever that shortens the tour."""
    n = len(t)
    improved = False
    for i in range(n - 2):
        a, b = t[i], t[i + 1]
        for j in range(i + 2, n if i > 0 else n - 1):
            c, e = t[j], t[j + 1 if j + 1 < n else 0]
            if d[a, c] + d[b, e] - d[a, b] - d[c, e] < -EPS:
                t[i + 1:j + 1] = t[i + 1:j + 1][::-1].copy()
                b = t[i + 1]
                improved = True
    return improved


@njit(cache=True)
def _or_opt(t, d, seg):  # pragma: no cover - compiled
    """One sweep of Or-opt: move each run of ``seg`` points to its best other place."""
    n = len(t)
    if n < seg + 3:
        return False
    improved = False
    for i in range(n):
        p, s0, s1, q = t[(i - 1) % n], t[i], t[(i + seg - 1) % n], t[(i + seg) % n]
        gain = d[p, s0] + d[s1, q] - d[p, q]
        best, at, flip = -EPS, -1, False
        # the edge t[i+x] → t[i+x+1] outside the run, for x = seg … n-2; positions wrap at
        # most once, so they are kept in range by a subtraction (no modulo in the inner loop)
        k = i + seg - n if i + seg >= n else i + seg
        for x in range(seg, n - 1):
            k1 = k + 1 if k + 1 < n else 0
            c, e = t[k], t[k1]
            k = k1
            ahead = d[c, s0] + d[s1, e] - d[c, e] - gain
            back = d[c, s1] + d[s0, e] - d[c, e] - gain
            if ahead < best:
                best, at, flip = ahead, x, False
            if back < best:
                best, at, flip = back, x, True
        if at >= 0:
            _move(t, i, seg, at, flip)
            improved = True
    return improved


@njit(cache=True)
def _move(t, i, seg, at, flip):  # pragma: no cover - compiled
    """Put the run ``t[i … i+seg-1]`` after ``t[i+at]`` (reversed if ``flip``), in place."""
    n = len(t)
    new = np.empty(n, np.int64)
    m = 0
    for x in range(seg, at + 1):
        new[m] = t[(i + x) % n]
        m += 1
    for y in range(seg):
        new[m] = t[(i + (seg - 1 - y if flip else y)) % n]
        m += 1
    for x in range(at + 1, n):
        new[m] = t[(i + x) % n]
        m += 1
    t[:] = new
