"""Refine: move boundary units between neighbouring grids until grids fall in band.

A local search after bisection. A move hands one atom (a unit, or a compound
kept whole) from one grid to an adjacent grid. It is taken only when it lowers
the plan's total distance outside the band and leaves both grids contiguous, so
refinement never breaks a rule that bisection established.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

CHAIN_DEPTH = 3  # grids a chain of moves may pass through beyond the first
CHAIN_WIDTH = 6  # moves tried per grid on a chain


class BalanceRefiner:
    """Greedy boundary moves on one community's atom graph.

    Parameters
    ----------
    graph : csr_matrix
        Symmetric atom adjacency (any non-zero entry is an edge).
    weights : ndarray
        Households per atom.
    xy : ndarray (n, 2)
        Atom centroids, to prefer moves that keep grids compact.
    band : tuple of float
        Lower and upper household bounds.
    zone : ndarray, optional
        Block/compound label per atom; moves that would join a grid only across a
        zone boundary (a road, river or compound wall) are taken last.
    """

    def __init__(self, graph: csr_matrix, weights: np.ndarray, xy: np.ndarray,
                 band: tuple[float, float], zone: np.ndarray | None = None) -> None:
        g = graph.tocsr()
        self.nbrs = [g.indices[g.indptr[i]:g.indptr[i + 1]].tolist() for i in range(g.shape[0])]
        self.zone = zone
        self.w = weights.astype(float)
        self.xy = xy
        self.lo, self.hi = band

    def penalty(self, h: float) -> float:
        """Households outside the band."""
        return max(self.lo - h, 0.0) + max(h - self.hi, 0.0)

    def run(self, labels: np.ndarray, max_rounds: int = 100) -> np.ndarray:
        """Improve ``labels`` in place by boundary moves; returns them."""
        self.labels = labels
        k = int(labels.max()) + 1
        self.sums = np.bincount(labels, weights=self.w, minlength=k)
        self.members = [set(np.flatnonzero(labels == g).tolist()) for g in range(k)]
        for _ in range(max_rounds):
            bad = [g for g in range(k) if self.penalty(self.sums[g]) > 0]
            if not bad:
                break
            bad.sort(key=lambda g: -self.penalty(self.sums[g]))
            moved = sum(self._fix(g) for g in bad)
            if not moved:
                moved = sum(self._chain(g) for g in bad if self.penalty(self.sums[g]) > 0)
            if not moved:
                break
        return self.labels

    def _fix(self, g: int) -> bool:
        """Try one move that brings grid ``g`` towards the band."""
        over = self.sums[g] > self.hi
        best = None
        for a, src, dst in self._candidates(g, over):
            gain = self._gain(a, src, dst)
            if gain <= 1e-9:
                continue
            cost = self._shape_cost(a, dst)
            key = (-gain, cost)
            if (best is None or key < best[0]) and self._stays_connected(a, src):
                best = (key, a, src, dst)
        if best is None:
            return False
        _, a, src, dst = best
        self._move(a, src, dst)
        return True

    def _chain(self, g: int) -> bool:
        """Pass households along a chain of in-band grids to or from out-of-band grid ``g``."""
        if self.sums[g] > self.hi:
            return self._push(g, depth=0, visited={g})
        return self._pull(g, depth=0, visited={g})

    def _push(self, src: int, depth: int, visited: set[int]) -> bool:
        """Move one atom out of ``src`` and, if the receiver overflows, onwards."""
        for a, _, dst in self._ranked(self._candidates(src, True), visited):
            after = self.sums[src] - self.w[a]
            if not self._step_ok(src, after, depth) or not self._stays_connected(a, src):
                continue
            before_dst = self.penalty(self.sums[dst])
            self._move(a, src, dst)
            if self.penalty(self.sums[dst]) <= before_dst:
                return True
            if (depth < CHAIN_DEPTH and self.sums[dst] > self.hi
                    and self._push(dst, depth + 1, visited | {dst})):
                return True
            self._move(a, dst, src)
        return False

    def _pull(self, dst: int, depth: int, visited: set[int]) -> bool:
        """Move one atom into ``dst`` and, if the giver runs short, refill it in turn."""
        for a, src, _ in self._ranked(self._candidates(dst, False), visited):
            after = self.sums[dst] + self.w[a]
            if not self._step_ok(dst, after, depth) or not self._stays_connected(a, src):
                continue
            before_src = self.penalty(self.sums[src])
            self._move(a, src, dst)
            if self.penalty(self.sums[src]) <= before_src:
                return True
            if (depth < CHAIN_DEPTH and self.sums[src] < self.lo
                    and self._pull(src, depth + 1, visited | {src})):
                return True
            self._move(a, dst, src)
        return False

    def _step_ok(self, g: int, after: float, depth: int) -> bool:
        """The first grid of a chain must improve; later ones must end in band."""
        if depth == 0:
            return self.penalty(after) < self.penalty(self.sums[g])
        return self.lo <= after <= self.hi

    def _ranked(self, moves, visited: set[int]) -> list:
        """The most compact few moves to grids not yet on the chain."""
        moves = [m for m in moves if (m[2] if m[1] in visited else m[1]) not in visited]
        moves.sort(key=lambda m: (self._shape_cost(m[0], m[2]), m[0]))
        return moves[:CHAIN_WIDTH]

    def _candidates(self, g: int, over: bool):
        """(atom, from grid, to grid) moves across ``g``'s boundary."""
        lab = self.labels
        seen = set()
        for a in self.members[g]:
            for b in self.nbrs[a]:
                h = int(lab[b])
                if h == g:
                    continue
                move = (a, g, h) if over else (b, h, g)
                if move not in seen:
                    seen.add(move)
                    yield move

    def _gain(self, a: int, src: int, dst: int) -> float:
        """Drop in total penalty if atom ``a`` moves from ``src`` to ``dst``."""
        w = self.w[a]
        s, d = self.sums[src], self.sums[dst]
        before = self.penalty(s) + self.penalty(d)
        after = self.penalty(s - w) + self.penalty(d + w)
        return before - after

    def _shape_cost(self, a: int, dst: int) -> float:
        """Distance from the atom to the receiving grid's centre, plus a barrier surcharge."""
        members = list(self.members[dst])
        centre = self.xy[members].mean(axis=0)
        dist = float(np.hypot(*(self.xy[a] - centre)))
        if self.zone is not None:
            links = [b for b in self.nbrs[a] if self.labels[b] == dst]
            if links and all(self.zone[a] != self.zone[b] for b in links):
                dist *= 10.0
        return dist

    def _stays_connected(self, a: int, src: int) -> bool:
        """Whether grid ``src`` stays contiguous and non-empty without atom ``a``."""
        rest = self.members[src] - {a}
        if not rest:
            return False
        start = next(iter(rest))
        stack, seen = [start], {start}
        while stack:
            v = stack.pop()
            for b in self.nbrs[v]:
                if b in rest and b not in seen:
                    seen.add(b)
                    stack.append(b)
        return len(seen) == len(rest)

    def _move(self, a: int, src: int, dst: int) -> None:
        self.labels[a] = dst
        self.members[src].discard(a)
        self.members[dst].add(a)
        self.sums[src] -= self.w[a]
        self.sums[dst] += self.w[a]
