"""Kernels: compiled inner loops of the bisection (numba), on plain CSR arrays.

One bisection tries several random spanning trees of a region of tens to
thousands of nodes; each try is a subgraph extraction, Prim's algorithm, subtree
sums and a scan over every tree edge. Done with scipy and numpy these cost more in
call overhead than in work, so they run here as compiled loops.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit


@njit(cache=True)
def subgraph(indptr, indices, data, nodes, local):  # pragma: no cover - compiled
    """CSR arrays of the subgraph induced by ``nodes``; ``local`` is scratch of -1s."""
    m = len(nodes)
    for i in range(m):
        local[nodes[i]] = i
    count = 0
    for i in range(m):
        g = nodes[i]
        for p in range(indptr[g], indptr[g + 1]):
            if local[indices[p]] >= 0:
                count += 1
    sub_ptr = np.zeros(m + 1, np.int64)
    sub_idx = np.empty(count, np.int64)
    sub_dat = np.empty(count, np.float64)
    c = 0
    for i in range(m):
        g = nodes[i]
        for p in range(indptr[g], indptr[g + 1]):
            j = local[indices[p]]
            if j >= 0:
                sub_idx[c] = j
                sub_dat[c] = data[p]
                c += 1
        sub_ptr[i + 1] = c
    for i in range(m):
        local[nodes[i]] = -1
    return sub_ptr, sub_idx, sub_dat


@njit(cache=True)
def prim(ptr, idx, cost, root):  # pragma: no cover - compiled
    """Minimum spanning tree from ``root``: visit order (parents first) and parent array."""
    m = len(ptr) - 1
    parent = np.full(m, -1, np.int64)
    order = np.empty(m, np.int64)
    done = np.zeros(m, np.bool_)
    heap = [(0.0, root, -1)]
    k = 0
    while len(heap) > 0 and k < m:
        _, v, p = heapq.heappop(heap)
        if done[v]:
            continue
        done[v] = True
        parent[v] = p
        order[k] = v
        k += 1
        for q in range(ptr[v], ptr[v + 1]):
            u = idx[q]
            if not done[u]:
                heapq.heappush(heap, (cost[q], u, v))
    return order[:k], parent


@njit(cache=True)
def best_cut(order, parent, w, stats, zone, lo1, hi1, lo2, hi2, k1, k2,
             bonus):  # pragma: no cover - compiled
    """Best tree edge to cut: (violation, score, child node, child side holds ``k1``?).

    ``stats`` rows are (count, Σx, Σy, Σx²+y²) per node. The violation is how far
    the child's subtree weight lies outside both feasible ranges; the score is the
    two sides' moment of inertia relative to the whole (times ``bonus`` for a cut
    between zones) plus half the deviation from the proportional share.
    """
    m = len(order)
    acc = np.zeros((len(parent), 5))
    for i in range(m):
        v = order[i]
        acc[v, 0] = w[v]
        for c in range(4):
            acc[v, c + 1] = stats[v, c]
    for i in range(m - 1, 0, -1):
        v = order[i]
        p = parent[v]
        for c in range(5):
            acc[p, c] += acc[v, c]
    root = order[0]
    total = acc[root, 0]
    whole = acc[root, 4] - (acc[root, 2] ** 2 + acc[root, 3] ** 2) / max(acc[root, 1], 1e-9)
    mean_grid = max(total / (k1 + k2), 1.0)
    best_viol, best_score, best_v, best_k1 = np.inf, np.inf, -1, True
    for i in range(1, m):
        v = order[i]
        s = acc[v, 0]
        n_in = acc[v, 1]
        n_out = acc[root, 1] - n_in
        inert_in = acc[v, 4] - (acc[v, 2] ** 2 + acc[v, 3] ** 2) / max(n_in, 1e-9)
        rx = acc[root, 2] - acc[v, 2]
        ry = acc[root, 3] - acc[v, 3]
        inert_out = (acc[root, 4] - acc[v, 4]) - (rx ** 2 + ry ** 2) / max(n_out, 1e-9)
        score = (max(inert_in, 0.0) + max(inert_out, 0.0)) / max(whole, 1e-9)
        if zone[v] != zone[parent[v]]:
            score *= bonus
        viol1 = max(lo1 - s, 0.0) + max(s - hi1, 0.0)
        viol2 = max(lo2 - s, 0.0) + max(s - hi2, 0.0)
        gets_k1 = viol1 <= viol2
        viol = np.round(min(viol1, viol2), 6)
        share = (k1 if gets_k1 else k2) / (k1 + k2)
        score += 0.5 * abs(s - total * share) / mean_grid
        if viol < best_viol or (viol == best_viol and score < best_score):
            best_viol, best_score, best_v, best_k1 = viol, score, v, gets_k1
    return best_viol, best_score, best_v, best_k1


@njit(cache=True)
def subtree_mask(order, parent, v):  # pragma: no cover - compiled
    """Nodes in ``v``'s subtree (``order`` lists parents before children)."""
    inside = np.zeros(len(parent), np.bool_)
    inside[v] = True
    started = False
    for i in range(len(order)):
        u = order[i]
        if u == v:
            started = True
        elif started and parent[u] >= 0 and inside[parent[u]]:
            inside[u] = True
    return inside
