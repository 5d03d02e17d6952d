"""Boundary moves: atoms move between neighbouring unlocked grids within the budget.

:class:`BudgetRefiner` is the engine's balance refiner that counts the existing households it
takes from home; the grids it changes are redrawn inside the area they held before.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

from gridplan.engine import region
from gridplan.engine.adjacency import build_community_graph
from gridplan.engine.grids import grid_polygons
from gridplan.engine.partition import contract
from gridplan.engine.refine import BalanceRefiner
from gridplan.practice.replan.carry import Context, State

RINGS = 2  # neighbour rings around an out-of-band grid that boundary moves may reach


class BudgetRefiner(BalanceRefiner):
    """Boundary moves that never take more than ``budget`` existing households from home.

    ``home[a]`` is the grid atom ``a`` was in before the re-plan (``-1`` for new
    units), ``cost[a]`` its existing households. Moves home are free and give budget back.

    Examples
    --------
    >>> g = csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]))
    >>> w = np.array([100., 100., 10.])  # grid 0 holds 200 (over), grid 1 holds 10 (under)
    >>> r = BudgetRefiner(g, w, np.zeros((3, 2)), (90, 110), home=np.array([0, 0, -1]),
    ...                   cost=np.array([100., 100., 0.]), budget=99)
    >>> r.run(np.array([0, 0, 1])).tolist()  # the one fixing move costs 100: over budget
    [0, 0, 1]
    """

    def __init__(self, graph: csr_matrix, weights: np.ndarray, xy: np.ndarray,
                 band: tuple[float, float], zone: np.ndarray | None = None, *,
                 home: np.ndarray, cost: np.ndarray, budget: float) -> None:
        super().__init__(graph, weights, xy, band, zone)
        self.home, self.cost, self.budget = home, cost, budget
        self.moved = 0.0

    def delta(self, a: int, src: int, dst: int) -> float:
        """Change of the households moved if atom ``a`` goes from ``src`` to ``dst``."""
        return float(self.cost[a]) * (int(self.home[a] == src) - int(self.home[a] == dst))

    def _candidates(self, g: int, over: bool):
        for a, src, dst in super()._candidates(g, over):
            if self.moved + self.delta(a, src, dst) <= self.budget:
                yield a, src, dst

    def _shape_cost(self, a: int, dst: int) -> float:
        # of two equal gains, prefer the move that spends no budget
        spent = self.delta(a, int(self.labels[a]), dst) > 0
        return super()._shape_cost(a, dst) + (1e7 if spent else 0.0)

    def _move(self, a: int, src: int, dst: int) -> None:
        self.moved += self.delta(a, src, dst)
        super()._move(a, src, dst)


def _neighbours(state: State, codes: list[str], seeds: list[str]) -> list[str]:
    """``seeds`` and the grids within :data:`RINGS` rings of them among ``codes``."""
    geoms = {c: state.polys[c].buffer(0.5) for c in codes}
    found = set(seeds)
    frontier = set(seeds)
    for _ in range(RINGS):
        nxt = {c for c in codes if c not in found
               and any(geoms[c].intersects(state.polys[f]) for f in frontier)}
        found |= nxt
        frontier = nxt
    return [c for c in codes if c in found]


def refine(state: State, ctx: Context, cid: str, bad: list[str], budget: float) -> None:
    """Move boundary atoms between unlocked neighbours of the out-of-band grids."""
    free = [c for c in state.codes_of(cid) if c not in state.locked]
    area_codes = _neighbours(state, free, bad)
    if len(area_codes) < 2:
        return
    u = state.units
    index, sub, graph, pos = _area_graph(state, ctx, area_codes)
    lab = np.concatenate([sub["grid_code"].map(pos).to_numpy(int),
                          _filler_labels(graph, state, area_codes)])
    home_unit = sub["old_grid"].map(pos).fillna(-1).to_numpy(int)
    home = np.concatenate([home_unit, np.full(graph.n - graph.n_units, -1)])
    existing = np.concatenate([np.where(sub["old_grid"].notna(), sub["households"], 0),
                               np.zeros(graph.n - graph.n_units)])
    atoms = region.atom_labels(sub.get("compound_id", pd.Series([None] * len(sub))),
                               graph.households[:graph.n_units], ctx.params.band[1],
                               graph.seed[:graph.n_units])
    atoms = np.concatenate([atoms, atoms.max(initial=-1) + 1 + np.arange(graph.n - graph.n_units)])
    key = np.column_stack([atoms, lab, home])
    _, atom = np.unique(key, axis=0, return_inverse=True)
    atom = atom.ravel()
    _, pairs, _, _ = contract(atom, graph.edges, graph.edge_costs(), graph.edge_kind())
    n_atoms = int(atom.max()) + 1
    adj = csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n_atoms,) * 2)
    count = np.bincount(atom, minlength=n_atoms).clip(min=1)
    centres = np.column_stack([np.bincount(atom, weights=graph.xy[:, i], minlength=n_atoms)
                               for i in (0, 1)]) / count[:, None]
    first = np.zeros(n_atoms, dtype=int)
    first[atom[::-1]] = np.arange(len(atom))[::-1]
    refiner = BudgetRefiner(adj + adj.T, np.bincount(atom, weights=graph.households,
                                                     minlength=n_atoms),
                            centres, ctx.params.band, zone=graph.block[first],
                            home=home[first], cost=np.bincount(atom, weights=existing,
                                                               minlength=n_atoms),
                            budget=budget - state.moved())
    start = lab[first].copy()
    end = refiner.run(start.copy())
    if (end == start).all():
        return
    before, after = lab[:graph.n_units], end[atom][:graph.n_units]
    diff = before != after
    changed = sorted({area_codes[i] for i in np.concatenate([before[diff], after[diff]])})
    u.loc[index, "grid_code"] = [area_codes[i] for i in after]
    _redraw(state, ctx, changed)


def _area_graph(state: State, ctx: Context, codes: list[str]):
    """Units of grids ``codes`` (index, rows), their graph over the grids' area, code → label."""
    index = state.units.index[state.units["grid_code"].isin(codes)]
    sub = state.units.loc[index]
    area = shapely.union_all([state.polys[c] for c in codes])
    return index, sub, unit_graph(area, sub, ctx), {c: i for i, c in enumerate(codes)}


def unit_graph(area, sub: gpd.GeoDataFrame, ctx: Context):
    compound = pd.factorize(sub["compound_id"])[0] if "compound_id" in sub else None
    return build_community_graph(area, sub.geometry.values, sub["households"].to_numpy(float),
                                 barriers=ctx.barrier_lines, compound=compound,
                                 mode=ctx.params.tessellation)


def _filler_labels(graph, state: State, codes: list[str]) -> np.ndarray:
    """Grid of each filler point (a block holding no unit): the grid polygon holding it."""
    xy = graph.xy[graph.n_units:]
    if len(xy) == 0:
        return np.zeros(0, dtype=int)
    dist = np.column_stack([shapely.distance(state.polys[c], shapely.points(xy)) for c in codes])
    return dist.argmin(axis=1)


def _redraw(state: State, ctx: Context, changed: list[str]) -> None:
    """Redraw the polygons of ``changed`` grids inside the area they held before."""
    u = state.units
    index, sub, graph, pos = _area_graph(state, ctx, changed)
    lab = with_fillers(graph, sub["grid_code"].map(pos).to_numpy(int))
    polys, labels, _ = grid_polygons(graph.cells, graph.cell_unit, lab, graph.xy,
                                     graph.households, len(changed))
    u.loc[index, "grid_code"] = [changed[i] for i in labels[:graph.n_units]]
    for c, p in zip(changed, polys, strict=True):
        state.polys[c] = p
        state.reshaped.add(c)


def with_fillers(graph, unit_lab: np.ndarray) -> np.ndarray:
    """Unit labels followed by each filler point's nearest unit's label."""
    fill_xy = graph.xy[graph.n_units:]
    if not len(fill_xy):
        return unit_lab
    near = cKDTree(graph.xy[:graph.n_units]).query(fill_xy)[1]
    return np.concatenate([unit_lab, unit_lab[near]])
