"""Partition: split a community's unit graph into contiguous, balanced, compact grids.

The method is recursive bisection on spanning trees. A region meant to hold ``k``
grids is split into two regions of ``k1 = k // 2`` and ``k2 = k - k1`` grids by
cutting one edge of a minimum spanning tree of its unit graph; both sides of a
tree cut are connected, so every grid is contiguous by construction. Edge costs
grow across barriers (roads, rivers) and compound walls, so the tree crosses them
rarely and cuts along them are preferred. Among the cuts whose household split
keeps both sides feasible for their ``k``, the most compact (least moment of
inertia) is taken. Residential compounds that fit in one grid are contracted into
one node first, so they are never split.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gridplan.engine import exact, kernels
from gridplan.engine.refine import BalanceRefiner

log = logging.getLogger(__name__)

BARRIER_CUT_BONUS = 0.4  # score factor for a cut along a barrier or compound wall
JITTER = (0.85, 1.18)  # random factor range on edge costs between attempts


@dataclass
class Region:
    """Nodes of a region still to be split into ``k`` grids."""

    nodes: np.ndarray
    k: int


@dataclass
class PartitionResult:
    """Grid label per unit, and notes explaining grids that could not be balanced."""

    labels: np.ndarray
    notes: dict[int, str] = field(default_factory=dict)
    proof: exact.Proof | None = None  # grids in band, their upper bound, and how it is known


def choose_k(households: float, target: float, lo: float, hi: float) -> int:
    """Number of grids for a region of ``households``.

    The count whose mean grid lies in band and nearest the target; when none fits,
    the count with the smallest relative deviation.

    Examples
    --------
    >>> choose_k(3000, 300, 255, 345)
    10
    >>> choose_k(120, 300, 255, 345)
    1
    """
    if households <= hi:
        return 1
    k_min, k_max = math.ceil(households / hi), math.floor(households / lo)
    feasible = range(max(k_min, 1), k_max + 1)
    if len(feasible):
        return min(feasible, key=lambda k: (abs(households / k - target), k))
    lo_k = max(1, math.floor(households / target))
    return min((lo_k, lo_k + 1), key=lambda k: abs(households / k - target))


def contract(labels_of_unit: np.ndarray, edges: np.ndarray, costs: np.ndarray,
             soft: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Contract units into atoms (compounds kept whole): atom id per unit and atom edges."""
    _, atom = np.unique(labels_of_unit, return_inverse=True)
    if len(edges) == 0:
        return atom, np.empty((0, 2), dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64)
    a, b = atom[edges[:, 0]], atom[edges[:, 1]]
    keep = a != b
    pairs = np.sort(np.column_stack([a[keep], b[keep]]), axis=1)
    order = np.lexsort((costs[keep], pairs[:, 1], pairs[:, 0]))
    pairs, c, s = pairs[order], costs[keep][order], soft[keep][order]
    first = np.ones(len(pairs), dtype=bool)
    first[1:] = np.any(pairs[1:] != pairs[:-1], axis=1)
    return atom, pairs[first], c[first], s[first]


class Bisector:
    """Recursive spanning-tree bisection over one connected graph of atoms."""

    def __init__(self, n: int, pairs: np.ndarray, costs: np.ndarray, zone: np.ndarray,
                 weights: np.ndarray, stats: np.ndarray, band: tuple[float, float],
                 rng: np.random.Generator, attempts: int) -> None:
        i, j = pairs[:, 0], pairs[:, 1]
        self.cost = coo_matrix((costs, (i, j)), shape=(n, n)).tocsr()
        sym = (self.cost + self.cost.T).tocsr()
        sym.sort_indices()
        self.csr = (sym.indptr.astype(np.int64), sym.indices.astype(np.int64),
                    sym.data.astype(np.float64))
        self.local = np.full(n, -1, dtype=np.int64)
        self.zone = zone.astype(np.int64)  # block and compound of each atom: cuts between preferred
        self.weights = weights.astype(np.float64)
        self.stats = np.ascontiguousarray(stats, dtype=np.float64)  # count, Σx, Σy, Σx²+y²
        self.lo, self.hi = band
        self.rng = rng
        self.attempts = attempts

    def split(self, nodes: np.ndarray, k: int) -> list[np.ndarray]:
        """Split connected ``nodes`` into ``k`` connected parts."""
        done, todo = [], [Region(nodes, k)]
        while todo:
            region = todo.pop()
            if region.k == 1 or len(region.nodes) == 1:
                done.append(region.nodes)
                continue
            k1 = region.k // 2
            a, b, ka, kb = self._bisect(region.nodes, k1, region.k - k1)
            todo.extend([Region(b, kb), Region(a, ka)])
        return done

    def _bisect(self, nodes: np.ndarray, k1: int, k2: int):
        """Best tree cut of ``nodes`` into parts for ``k1`` and ``k2`` grids."""
        nodes = nodes.astype(np.int64)
        total = float(self.weights[nodes].sum())
        (lo1, hi1), (lo2, hi2) = self._range(total, k1, k2), self._range(total, k2, k1)
        ptr, idx, cost = kernels.subgraph(*self.csr, nodes, self.local)
        w, stats, zone = self.weights[nodes], self.stats[nodes], self.zone[nodes]
        best = None
        for _ in range(self.attempts):
            jittered = cost * self.rng.uniform(*JITTER, size=len(cost))
            root = int(self.rng.integers(len(nodes)))
            order, parent = kernels.prim(ptr, idx, jittered, root)
            viol, score, v, gets_k1 = kernels.best_cut(order, parent, w, stats, zone, lo1, hi1,
                                                       lo2, hi2, k1, k2, BARRIER_CUT_BONUS)
            if best is None or (viol, score) < best[0]:
                best = ((viol, score), order, parent, int(v), bool(gets_k1))
            if viol == 0:
                break
        _, order, parent, v, subtree_gets_k1 = best
        inside = kernels.subtree_mask(order, parent, v)
        a, b = nodes[inside], nodes[~inside]
        return (a, b, k1, k2) if subtree_gets_k1 else (a, b, k2, k1)

    def _range(self, total: float, k_this: int, k_other: int) -> tuple[float, float]:
        """Household range for a side that will hold ``k_this`` grids.

        Within what keeps both sides feasible, the side's mean grid must stay near
        the region's mean: the allowed drift shrinks with the levels still to come,
        so drifts added level by level cannot push the final grids out of band.
        """
        k = k_this + k_other
        mean = total / k
        lo = max(k_this * self.lo, total - k_other * self.hi)
        hi = min(k_this * self.hi, total - k_other * self.lo)
        if lo > hi:  # band unreachable: aim at the proportional share
            return (mean * k_this, mean * k_this)
        if k_this > 1:
            slack = max(min(mean - self.lo, self.hi - mean), 0.0)
            drift = 0.5 * slack / (1 + math.log2(k_this))
            lo = max(lo, k_this * (mean - drift))
            hi = min(hi, k_this * (mean + drift))
            if lo > hi:
                return (mean * k_this, mean * k_this)
        return (lo, hi)


def partition_graph(n_units: int, edges: np.ndarray, costs: np.ndarray, kind: np.ndarray,
                    households: np.ndarray, xy: np.ndarray, atom_labels: np.ndarray,
                    *, target: float, band: tuple[float, float], seed: int,
                    attempts: int = 12, zones: np.ndarray | None = None,
                    exact_seconds: float = 0.0) -> PartitionResult:
    """Partition one community's units into contiguous grids of about ``target`` households.

    Parameters
    ----------
    n_units : int
        Number of units.
    edges : ndarray (m, 2)
        Adjacent unit pairs.
    costs : ndarray (m,)
        Edge costs (higher across barriers and compound walls).
    kind : ndarray of int (m,)
        0 for a plain edge, 1 across a compound wall, 2 across a barrier (road, river).
        Cuts along walls and barriers are preferred, and barrier-bounded blocks that
        can hold whole grids are planned on their own.
    households : ndarray (n,)
        Households per unit.
    xy : ndarray (n, 2)
        Unit points, for compactness.
    atom_labels : ndarray (n,)
        Units sharing a label are kept in one grid (compounds that fit).
    target, band, seed, attempts
        Households per grid, allowed range, random seed, spanning trees tried per cut.
    zones : ndarray (n,), optional
        Block/compound label per unit; tree cuts between zones are preferred.
    exact_seconds : float
        Budget of the exact stage (:func:`gridplan.engine.exact.improve`), run on the atom
        graph where the heuristic leaves fewer grids in band than an upper bound allows;
        0 only bounds.

    Returns
    -------
    PartitionResult
        ``labels[i]`` is the grid (0..k-1) of unit ``i``; ``proof`` bounds the grids in band.
    """
    atom, pairs, acost, akind = contract(atom_labels, edges, costs, kind)
    n_atoms = int(atom.max()) + 1 if n_units else 0
    weights = np.bincount(atom, weights=households, minlength=n_atoms)
    stats = np.column_stack([
        np.bincount(atom, minlength=n_atoms).astype(float),
        np.bincount(atom, weights=xy[:, 0], minlength=n_atoms),
        np.bincount(atom, weights=xy[:, 1], minlength=n_atoms),
        np.bincount(atom, weights=(xy ** 2).sum(axis=1), minlength=n_atoms),
    ])
    rng = np.random.default_rng(seed)
    zone = np.zeros(n_atoms, dtype=np.int64)
    zone[atom] = np.zeros(n_units, dtype=np.int64) if zones is None else zones
    bis = Bisector(n_atoms, pairs, acost, zone, weights, stats, band, rng, attempts)
    n_comp, comp = connected_components(bis.cost, directed=False)
    groups = block_groups(n_atoms, pairs, akind == 2, weights, target, band)
    atom_grid = np.full(n_atoms, -1, dtype=np.int64)
    notes: dict[int, str] = {}
    next_label = 0
    for grp in np.unique(groups):
        nodes = np.flatnonzero(groups == grp)
        h = float(weights[nodes].sum())
        k = choose_k(h, target, *band)
        c = int(comp[nodes[0]])
        whole = n_comp > 1 and len(nodes) == int((comp == c).sum())
        note = _component_note(c, n_comp if whole else 1, h, k, band)
        for part in bis.split(nodes, k):
            atom_grid[part] = next_label
            if note:
                notes[next_label] = note
            next_label += 1
    if len(pairs):
        centres = stats[:, 1:3] / np.maximum(stats[:, :1], 1)
        refiner = BalanceRefiner(bis.cost + bis.cost.T, weights, centres, band, zone=zone)
        atom_grid = refiner.run(atom_grid)
    new, proof = exact.improve(weights, pairs, akind, atom_grid, band, target,
                               seconds=exact_seconds, seed=seed)
    if not np.array_equal(new, atom_grid):
        new = _follow_labels(new, atom_grid)
        notes = _notes_after(new, atom_grid, notes, comp, n_comp, weights, band)
        atom_grid = new
    labels = atom_grid[atom]
    return PartitionResult(labels=labels, notes=notes, proof=proof)


def _follow_labels(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Renumber ``new`` grids after the ``old`` grid each shares most atoms with.

    Examples
    --------
    >>> _follow_labels(np.array([0, 0, 1, 1]), np.array([1, 1, 1, 0])).tolist()
    [1, 1, 0, 0]
    """
    k = int(max(new.max(), old.max())) + 1
    overlap = np.zeros((k, k), dtype=np.int64)
    np.add.at(overlap, (new, old), 1)
    rename = np.full(k, -1, dtype=np.int64)
    taken = np.zeros(k, dtype=bool)
    for flat in np.argsort(-overlap, axis=None, kind="stable"):
        g, h = divmod(int(flat), k)
        if rename[g] < 0 and not taken[h]:
            rename[g], taken[h] = h, True
    return rename[new]


def _notes_after(new: np.ndarray, old: np.ndarray, notes: dict[int, str], comp: np.ndarray,
                 n_comp: int, weights: np.ndarray, band: tuple[float, float]
                 ) -> dict[int, str]:
    """Notes of grids the exact stage left as they were; fresh part notes for the others."""
    out = {}
    for g in np.unique(new):
        mine = new == g
        if np.array_equal(mine, old == g):
            if int(g) in notes:
                out[int(g)] = notes[int(g)]
            continue
        c = int(comp[np.flatnonzero(mine)[0]])
        part = comp == c
        k = len(np.unique(new[part]))
        note = _component_note(c, n_comp, float(weights[part].sum()), k, band)
        if note:
            out[int(g)] = note
    return out


def block_groups(n: int, pairs: np.ndarray, crossing: np.ndarray, weights: np.ndarray,
                 target: float, band: tuple[float, float]) -> np.ndarray:
    """Group barrier-bounded blocks so that each group can hold whole grids in band.

    Blocks are the connected pieces left when edges across barriers are removed.
    A block too small for a grid (or whose households no whole number of grids
    fits) is merged with a neighbouring block, smallest first, preferring a
    neighbour that makes the pair feasible. Grids then cross a road or river only
    where a block alone cannot be balanced.
    """
    lo, hi = band
    inside = pairs[~crossing]
    graph = coo_matrix((np.ones(len(inside)), (inside[:, 0], inside[:, 1])), shape=(n, n))
    _, piece = connected_components(graph, directed=False)
    parent = list(range(int(piece.max()) + 1))
    total = np.bincount(piece, weights=weights).tolist()
    links = {(int(a), int(b)) for a, b in np.sort(piece[pairs[crossing]], axis=1) if a != b}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def feasible(h: float) -> bool:
        return h > 0 and lo <= h / choose_k(h, target, lo, hi) <= hi

    while True:
        nbrs: dict[int, set[int]] = {}
        for a, b in links:
            ra, rb = find(a), find(b)
            if ra != rb:
                nbrs.setdefault(ra, set()).add(rb)
                nbrs.setdefault(rb, set()).add(ra)
        weak = [r for r in nbrs if not feasible(total[r])]
        if not weak:
            break
        r = min(weak, key=lambda x: (total[x], x))
        q = min(nbrs[r], key=lambda x: (not feasible(total[r] + total[x]), total[x], x))
        parent[r] = q
        total[q] += total[r]
    roots = np.array([find(int(p)) for p in piece])
    return np.unique(roots, return_inverse=True)[1]


def _component_note(c: int, n_comp: int, h: float, k: int, band: tuple[float, float]) -> str:
    """Why grids of one connected part cannot reach the band, in a planner's words."""
    lo, hi = band
    parts = []
    if n_comp > 1:
        parts.append(f"part {c + 1} of {n_comp} separate parts of the community "
                     f"(not adjacent to the rest), with {int(h)} households")
    if h == 0:
        parts.append("no households here")
    elif h < lo:
        parts.append(f"only {int(h)} households here, fewer than the band's lower bound "
                     f"{lo:.0f}, so they form one grid")
    elif not lo <= h / k <= hi:
        parts.append(f"{int(h)} households cannot be divided into grids of {lo:.0f}–{hi:.0f}: "
                     f"{k} grid(s) average {h / k:.0f}")
    return "; ".join(parts)
