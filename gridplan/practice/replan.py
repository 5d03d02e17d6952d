"""Re-plan: rebalance a plan after households change, moving as few households as possible.

Units present before keep their grid; new units join the grid whose polygon holds
them. Only grids then out of band are repaired, in three steps of growing reach:
a grid big enough for two is split on its own; boundary atoms move between
neighbouring unlocked grids within the ``max_moved`` budget; a community still out
of band is re-planned (its unlocked part only) if that fits the budget, and named
otherwise. Grids no step touched keep their code and their polygon; locked grids
never change; new grids take the next free serial of their community.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

from gridplan.codes import grid_code, grid_serial
from gridplan.engine import region
from gridplan.engine.adjacency import block_polygons, build_community_graph
from gridplan.engine.grids import grid_polygons, polsby_popper
from gridplan.engine.metrics import summarize, validate_plan
from gridplan.engine.partition import contract
from gridplan.engine.pipeline import StageTimer
from gridplan.engine.refine import BalanceRefiner
from gridplan.engine.units import assign_communities, split_large_buildings, tag_by_polygons
from gridplan.errors import InputError
from gridplan.layers.prepare import prepare_barriers, prepare_compounds
from gridplan.layers.vector import InputNotes, check_layer
from gridplan.model import Plan
from gridplan.practice.microgrids import clip_to_grids

log = logging.getLogger(__name__)

RINGS = 2  # neighbour rings around an out-of-band grid that boundary moves may reach
CHANGE_FIELDS = ["unit_id", "building_id", "community_id", "old_grid", "new_grid", "households",
                 "change"]


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


@dataclass
class ReplanResult:
    """The re-planned plan, the change list and the figures against a fresh plan."""

    plan: Plan
    old: Plan
    changes: pd.DataFrame
    summary: dict
    notes: list[str] = field(default_factory=list)


@dataclass
class _State:
    """Units with their current grid, the polygon of every grid, and what changed."""

    units: gpd.GeoDataFrame  # grid_code (current), old_grid (existing units), community_id
    polys: dict  # grid code -> polygon
    community: dict  # grid code -> community id
    locked: set
    reshaped: set = field(default_factory=set)
    new: set = field(default_factory=set)
    used: dict = field(default_factory=dict)  # community -> highest serial ever used
    before: dict = field(default_factory=dict)  # grid code -> households in the old plan

    def copy(self) -> _State:
        return _State(self.units.copy(), dict(self.polys), dict(self.community), self.locked,
                      set(self.reshaped), set(self.new), dict(self.used), self.before)

    def moved(self) -> int:
        """Existing households now in a grid other than their old one."""
        u = self.units
        away = u["old_grid"].notna() & (u["grid_code"] != u["old_grid"])
        return int(u.loc[away, "households"].sum())

    def sums(self) -> pd.Series:
        return self.units.groupby("grid_code")["households"].sum().reindex(
            list(self.polys), fill_value=0)

    def codes_of(self, cid: str) -> list[str]:
        return [c for c, k in self.community.items() if k == cid]


def locked_codes(old: Plan, lock: list[str] | tuple[str, ...] = ()) -> set[str]:
    """Grids never to change: ``lock`` plus those with a true ``locked`` column in the plan.

    Examples
    --------
    >>> locked_codes(old, ["990101001001003"])              # doctest: +SKIP
    {'990101001001003'}
    """
    codes = {str(c).strip() for c in lock if str(c).strip()}
    unknown = sorted(codes - set(old.grids["grid_code"].astype(str)))
    if unknown:
        raise InputError(f"--lock names grid(s) not in the plan: {', '.join(unknown[:5])}",
                         field="--lock", fix="give grid codes from the plan's grids.geojson")
    if "locked" in old.grids.columns:
        flag = old.grids["locked"].astype(str).str.strip().str.lower()
        codes |= set(old.grids.loc[flag.isin(["1", "true", "yes", "y", "是"]), "grid_code"])
    return codes


def dedicated_codes(old: Plan) -> set[str]:
    """Dedicated grids (专属网格) of a plan: their site decides them, a re-plan keeps them."""
    return set(old.grids.loc[old.grids["status"].astype(str) == "dedicated", "grid_code"])


def replan(old: Plan, population: gpd.GeoDataFrame, *, lock=(), max_moved: int | None = None,
           compounds: gpd.GeoDataFrame | None = None, barriers: gpd.GeoDataFrame | None = None,
           compare: bool = True, notes: InputNotes | None = None) -> ReplanResult:
    """Re-plan ``old`` for a new population, changing as little as the band requires.

    Parameters
    ----------
    old : Plan
        The plan in force (e.g. from :func:`gridplan.export.folder.read_plan`).
    population : GeoDataFrame
        The new units, from :func:`gridplan.layers.population.prepare_units`; a unit keeps its grid
        when its ``unit_id`` (or, for a stairwell sub-unit, its building) was planned.
    lock : sequence of str
        Grid codes never to change (besides a true ``locked`` column in the plan).
    max_moved : int, optional
        Most existing households that may change grid (no limit when ``None``).
    compounds, barriers : GeoDataFrame, optional
        Compounds kept whole and roads/rivers followed where grids are redrawn.
    compare : bool
        Also plan from scratch and report what that would move.
    notes : InputNotes, optional
        What reading the inputs repaired or dropped, continued in the new plan's report.

    Examples
    --------
    >>> res = replan(read_plan("out/demo"), prepare_units(new), max_moved=300)  # doctest: +SKIP
    >>> res.summary["replan"]["households_moved"] <= 300                        # doctest: +SKIP
    True
    """
    t0 = time.perf_counter()
    if max_moved is not None and max_moved < 0:
        raise InputError("--max-moved must be 0 or more", field="--max-moved",
                         fix="pass a household count such as 300")
    notes = notes if notes is not None else InputNotes()
    ctx = _Context.make(old, population, compounds, barriers, notes)
    state = _initial_state(old, ctx, locked_codes(old, lock) | dedicated_codes(old))
    budget = float("inf") if max_moved is None else float(max_moved)
    messages: list[str] = []
    known = int(state.units["old_grid"].notna().sum())
    if known < 0.5 * len(old.units):
        messages.append(f"only {known} of the {len(old.units)} planned units were found by id in "
                        "the new population; the others count as new, not moved: check --unit-id")
    if old.params.balance == "workload":
        messages.append("the plan was balanced on workload; the re-plan balances households")
    for cid in old.communities["community_id"]:
        _repair_community(state, ctx, str(cid), budget, messages)
    new_plan = _assemble(state, ctx, old, notes, time.perf_counter() - t0)
    changes = change_list(state.units, old.units)
    summary = {"replan": _figures(old, state.units.set_index("unit_id")["grid_code"],
                                  new_plan, state)}
    if compare:
        summary["fresh"] = fresh_figures(old, ctx)
    summary.update(max_moved=max_moved, locked=sorted(state.locked - dedicated_codes(old)),
                   notes=messages)
    new_plan.report["replan"] = summary
    for m in messages:
        log.info(m)
    return ReplanResult(new_plan, old, changes, summary, messages)


@dataclass
class _Context:
    """Inputs of a re-plan in the old plan's CRS."""

    units: gpd.GeoDataFrame
    raw: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame | None
    barriers: gpd.GeoDataFrame | None
    barrier_lines: object
    params: object
    communities: gpd.GeoDataFrame

    @classmethod
    def make(cls, old: Plan, population, compounds, barriers, notes) -> _Context:
        crs = old.crs
        raw = check_layer(population, what="population", notes=notes).to_crs(crs)
        compounds = prepare_compounds(compounds, notes)
        compounds = None if compounds is None else compounds.to_crs(crs)
        barriers = prepare_barriers(barriers, notes)
        barriers = None if barriers is None else barriers.to_crs(crs)
        lines = None if barriers is None else shapely.union_all(barriers.geometry.values)
        comm = old.communities[["community_id", "code", "geometry"]].copy()
        comm["community_id"] = comm["community_id"].astype(str)
        units = assign_communities(raw, comm, notes)
        units = split_large_buildings(units, old.params.band[1],
                                      old.params.stairwell_households, comm)
        units["compound_id"] = tag_by_polygons(units, compounds, "compound_id", "compound_id")
        return cls(units, raw, compounds, barriers, lines, old.params, comm)


def _initial_state(old: Plan, ctx: _Context, locked: set[str]) -> _State:
    """Existing units keep their grid, new ones join the grid holding them."""
    u = ctx.units.copy()
    ou = old.units.assign(unit_id=old.units["unit_id"].astype(str),
                          building_id=old.units["building_id"].astype(str))
    by_unit = dict(zip(ou["unit_id"], ou["grid_code"], strict=True))
    main = ou.sort_values("households", ascending=False).drop_duplicates("building_id")
    by_building = dict(zip(main["building_id"], main["grid_code"], strict=True))
    grid_comm = dict(zip(old.grids["grid_code"], old.grids["community_id"].astype(str),
                         strict=True))
    old_grid = u["unit_id"].astype(str).map(by_unit)
    old_grid = old_grid.fillna(u["building_id"].astype(str).map(by_building))
    same = old_grid.map(grid_comm) == u["community_id"].astype(str)
    u["old_grid"] = old_grid.where(same, None)
    located = tag_by_polygons(u, old.grids[["grid_code", "geometry"]], "grid_code", "grid_code")
    located = located.where(located.map(grid_comm) == u["community_id"].astype(str), None)
    u["grid_code"] = u["old_grid"].fillna(located)
    missing = u["grid_code"].isna()
    if missing.any():  # on a community edge beyond every grid: the nearest grid of its community
        u.loc[missing, "grid_code"] = [
            _nearest_grid(old.grids, g, c) for g, c in
            zip(u.geometry[missing], u.loc[missing, "community_id"], strict=True)]
    polys = dict(zip(old.grids["grid_code"], old.grids.geometry.values, strict=True))
    u = clip_to_grids(u, pd.Series(polys))
    used = {}
    for code, cid in grid_comm.items():
        used[cid] = max(used.get(cid, 0), _serial(code, old.params.code_scheme))
    before = dict(zip(old.grids["grid_code"], old.grids["households"], strict=True))
    return _State(u, polys, grid_comm, locked, used=used, before=before)


def _nearest_grid(grids: gpd.GeoDataFrame, geom, cid: str) -> str:
    mine = grids[grids["community_id"].astype(str) == str(cid)]
    return str(mine["grid_code"].iloc[int(np.argmin(mine.geometry.distance(geom).values))])


def _serial(code: str, scheme: str = "nbs12+3") -> int:
    try:
        return grid_serial(code, scheme)
    except InputError:
        return 0


def _out_of_band(state: _State, ctx: _Context, cid: str) -> list[str]:
    """Unlocked grids of ``cid`` out of band whose households changed (new grids included).

    A grid left out of band by the old plan and untouched by the change stays as it was.
    """
    lo, hi = ctx.params.band
    sums = state.sums()
    return [c for c in state.codes_of(cid) if c not in state.locked
            and not lo <= sums[c] <= hi and sums[c] > 0 and sums[c] != state.before.get(c)]


def _repair_community(state: _State, ctx: _Context, cid: str, budget: float,
                      messages: list[str]) -> None:
    """Try the local repairs, keep the one leaving fewest grids out of band, then fewest moved.

    Candidates, from the least to the most disruptive: nothing; boundary moves alone; overgrown
    grids split off their new units (old units stay) then boundary moves; overgrown
    grids re-planned on their own then boundary moves; the community's unlocked grids
    re-planned together. Candidates over the budget are dropped; among the rest the one
    with fewest grids out of band wins, then fewest households outside the band, then
    fewest households moved.
    """
    _absorb_emptied(state, cid)
    bad = _out_of_band(state, ctx, cid)
    if not bad:
        return
    trials = {name: _attempt(state, ctx, cid, budget, name) for name in REPAIRS}
    fits = {n: t for n, t in trials.items() if t.moved() <= budget}
    score = {n: _score(t, ctx, cid) for n, t in fits.items()}
    best = min(score, key=lambda n: (score[n], REPAIRS.index(n)))
    _adopt(state, trials[best])
    still = _out_of_band(state, ctx, cid)
    whole = trials["community"]
    if best == "community":
        messages.append(f"community {cid}: boundary moves and splits could not bring grids "
                        f"{', '.join(bad)} into band; its unlocked grids were re-planned"
                        + (f" ({', '.join(still)} still out of band)" if still else ""))
    elif still and len(_out_of_band(whole, ctx, cid)) < len(still):
        messages.append(f"community {cid}: grids {', '.join(still)} stay out of band; re-planning "
                        f"its unlocked grids would fix more but move {whole.moved()} households "
                        f"in all, over the budget of {budget:g}: raise --max-moved or unlock "
                        "grids")
    elif still:
        messages.append(f"community {cid}: grids {', '.join(still)} stay out of band: neither "
                        "boundary moves, splits nor re-planning its unlocked grids do better "
                        "(whole buildings, compounds or locked grids leave no better split)")


REPAIRS = ("none", "moves", "split_new", "split", "community")


def _score(state: _State, ctx: _Context, cid: str) -> tuple[int, float, int, int]:
    """Grids out of band, households outside the band, households moved, new grids."""
    lo, hi = ctx.params.band
    bad = _out_of_band(state, ctx, cid)
    sums = state.sums()
    outside = sum(max(lo - sums[c], 0) + max(sums[c] - hi, 0) for c in bad)
    return len(bad), round(float(outside)), state.moved(), len(state.new)


def _absorb_emptied(state: _State, cid: str) -> None:
    """Retire unlocked grids the change left without households; a neighbour takes the area.

    The neighbour sharing the longest boundary takes it, so no household changes grid.
    """
    sums = state.sums()
    for code in [c for c in state.codes_of(cid) if sums[c] == 0 and state.before.get(c, 0) > 0
                 and c not in state.locked]:
        others = [c for c in state.codes_of(cid) if c != code and c not in state.locked]
        shared = [state.polys[code].boundary.intersection(state.polys[c].boundary).length
                  for c in others]
        if not others or max(shared) <= 0:
            continue
        heir = others[int(np.argmax(shared))]
        merged = shapely.union(state.polys[heir], state.polys[code])
        if merged.geom_type != "Polygon":
            continue
        state.polys[heir] = merged
        state.reshaped.add(heir)
        state.units.loc[state.units["grid_code"] == code, "grid_code"] = heir  # units without hh
        del state.polys[code], state.community[code]


def _attempt(state: _State, ctx: _Context, cid: str, budget: float, how: str) -> _State:
    """A copy of ``state`` with community ``cid`` repaired one way (see :data:`REPAIRS`)."""
    trial = state.copy()
    if how == "none":
        return trial
    if how == "community":
        _replan_part(trial, ctx, cid)
        return trial
    lo, hi = ctx.params.band
    if how != "moves":
        for code in _out_of_band(trial, ctx, cid):
            h = trial.sums()[code]
            if h > hi and h >= 2 * lo:
                (_split_new if how == "split_new" else _split_grid)(trial, ctx, code)
    bad = _out_of_band(trial, ctx, cid)
    if bad:
        _refine(trial, ctx, cid, bad, budget)
    return trial


def _adopt(state: _State, trial: _State) -> None:
    state.__dict__.update(trial.__dict__)


def _next_code(state: _State, ctx: _Context, cid: str) -> str:
    state.used[cid] = state.used.get(cid, 0) + 1
    comm = ctx.communities.set_index("community_id").loc[cid]
    code = comm["code"] if isinstance(comm["code"], str) and comm["code"] else None
    return grid_code(code, cid, state.used[cid], scheme=ctx.params.code_scheme,
                     object_class=ctx.params.object_class)


def _split_grid(state: _State, ctx: _Context, code: str) -> None:
    """Re-plan one overgrown grid on its own polygon; its biggest old part keeps the code."""
    sub = state.units[state.units["grid_code"] == code]
    result = region.plan_region(state.polys[code], sub, ctx.barrier_lines, ctx.params,
                                StageTimer(), target=ctx.params.target, band=ctx.params.band)
    if len(result.polygons) < 2:
        return
    _apply_parts(state, ctx, state.community[code], sub.index, result, [code])


def _split_new(state: _State, ctx: _Context, code: str) -> None:
    """Split an overgrown grid into its old units (keeping the code) and its new units."""
    u = state.units
    index = u.index[u["grid_code"] == code]
    sub = u.loc[index]
    new = sub["old_grid"].isna().to_numpy()
    if new.all() or not new.any():
        return
    graph = _graph(state.polys[code], sub, ctx)
    lab = _with_fillers(graph, new.astype(int))
    polys, labels, _ = grid_polygons(graph.cells, graph.cell_unit, lab, graph.xy,
                                  graph.households, 2)
    if any(p.geom_type != "Polygon" for p in polys):
        return
    fresh = _next_code(state, ctx, state.community[code])
    state.new.add(fresh)
    state.community[fresh] = state.community[code]
    u.loc[index, "grid_code"] = np.where(labels[:graph.n_units] == 1, fresh, code)
    for c, p in zip((code, fresh), polys, strict=True):
        state.polys[c] = p
        state.reshaped.add(c)
    lo, hi = ctx.params.band
    h = state.sums()[fresh]
    if h > hi and h >= 2 * lo:
        _split_grid(state, ctx, fresh)


def _with_fillers(graph, unit_lab: np.ndarray) -> np.ndarray:
    """Unit labels followed by each filler point's nearest unit's label."""
    fill_xy = graph.xy[graph.n_units:]
    if not len(fill_xy):
        return unit_lab
    near = cKDTree(graph.xy[:graph.n_units]).query(fill_xy)[1]
    return np.concatenate([unit_lab, unit_lab[near]])


def _replan_part(state: _State, ctx: _Context, cid: str) -> None:
    """Re-plan the unlocked grids of community ``cid`` together, old codes matched by households."""
    codes = [c for c in state.codes_of(cid) if c not in state.locked]
    if not codes:
        return
    area = shapely.union_all([state.polys[c] for c in codes])
    sub = state.units[state.units["grid_code"].isin(codes)]
    result = region.plan_region(area, sub, ctx.barrier_lines, ctx.params, StageTimer(),
                                target=ctx.params.target, band=ctx.params.band)
    _apply_parts(state, ctx, cid, sub.index, result, codes)


def _apply_parts(state: _State, ctx: _Context, cid: str, index, result, codes: list[str]) -> None:
    """Give the parts of ``result`` the old ``codes`` they share most households with."""
    u = state.units
    k = len(result.polygons)
    old = u.loc[index, "old_grid"].fillna(u.loc[index, "grid_code"]).to_numpy()
    overlap = np.zeros((k, len(codes)))
    hh = u.loc[index, "households"].to_numpy(float)
    for j, c in enumerate(codes):
        np.add.at(overlap[:, j], result.labels[old == c], hh[old == c])
    rows, cols = linear_sum_assignment(-overlap)
    name = {int(r): codes[c] for r, c in zip(rows, cols, strict=True)}
    for part in range(k):
        if part not in name:
            name[part] = _next_code(state, ctx, cid)
            state.new.add(name[part])
    for c in codes:
        if c not in name.values():
            del state.polys[c], state.community[c]
    labels = np.array([name[int(p)] for p in result.labels], dtype=object)
    u.loc[index, "grid_code"] = labels
    for part in range(k):
        state.polys[name[part]] = result.polygons[part]
        state.community[name[part]] = cid
        state.reshaped.add(name[part])


def _neighbours(state: _State, codes: list[str], seeds: list[str]) -> list[str]:
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


def _refine(state: _State, ctx: _Context, cid: str, bad: list[str], budget: float) -> None:
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


def _area_graph(state: _State, ctx: _Context, codes: list[str]):
    """Units of grids ``codes`` (index, rows), their graph over the grids' area, code → label."""
    index = state.units.index[state.units["grid_code"].isin(codes)]
    sub = state.units.loc[index]
    area = shapely.union_all([state.polys[c] for c in codes])
    return index, sub, _graph(area, sub, ctx), {c: i for i, c in enumerate(codes)}


def _graph(area, sub: gpd.GeoDataFrame, ctx: _Context):
    compound = pd.factorize(sub["compound_id"])[0] if "compound_id" in sub else None
    return build_community_graph(area, sub.geometry.values, sub["households"].to_numpy(float),
                                 barriers=ctx.barrier_lines, compound=compound,
                                 mode=ctx.params.tessellation)


def _filler_labels(graph, state: _State, codes: list[str]) -> np.ndarray:
    """Grid of each filler point (a block holding no unit): the grid polygon holding it."""
    xy = graph.xy[graph.n_units:]
    if len(xy) == 0:
        return np.zeros(0, dtype=int)
    dist = np.column_stack([shapely.distance(state.polys[c], shapely.points(xy)) for c in codes])
    return dist.argmin(axis=1)


def _redraw(state: _State, ctx: _Context, changed: list[str]) -> None:
    """Redraw the polygons of ``changed`` grids inside the area they held before."""
    u = state.units
    index, sub, graph, pos = _area_graph(state, ctx, changed)
    lab = _with_fillers(graph, sub["grid_code"].map(pos).to_numpy(int))
    polys, labels, _ = grid_polygons(graph.cells, graph.cell_unit, lab, graph.xy,
                                     graph.households, len(changed))
    u.loc[index, "grid_code"] = [changed[i] for i in labels[:graph.n_units]]
    for c, p in zip(changed, polys, strict=True):
        state.polys[c] = p
        state.reshaped.add(c)


def _assemble(state: _State, ctx: _Context, old: Plan, notes: InputNotes,
              runtime: float) -> Plan:
    """The re-planned plan: grid rows in community and code order, units, report."""
    u = state.units
    lo, hi = ctx.params.band
    old_rows = old.grids.set_index("grid_code")
    codes = sorted(state.polys, key=lambda c: (str(state.community[c]), c))
    g = u.groupby("grid_code")
    polys = np.array([state.polys[c] for c in codes], dtype=object)
    rows = gpd.GeoDataFrame({
        "grid_code": codes,
        "community_id": [state.community[c] for c in codes],
        "households": g["households"].sum().reindex(codes, fill_value=0).astype(np.int64).values,
        "population": np.round(g["population"].sum().reindex(codes, fill_value=0).values, 1),
        "units": g.size().reindex(codes, fill_value=0).astype(np.int64).values,
        "area_m2": np.round(shapely.area(polys), 1),
        "polsby_popper": np.round(polsby_popper(polys), 4),
        "barrier_crossings": _crossings(state, ctx, codes, old_rows),
    }, geometry=polys, crs=old.crs)
    hh = rows["households"]
    rows["status"] = np.where(hh == 0, "empty", np.where(hh < lo, "below_band",
                                                         np.where(hh > hi, "above_band", "ok")))
    ded = dedicated_codes(old)
    rows["status"] = np.where(rows["grid_code"].isin(ded), "dedicated", rows["status"])
    for column in ("grid_type", "site_kind", "site_name"):
        old_col = old_rows[column] if column in old_rows.columns else pd.Series(dtype=object)
        rows[column] = [old_col.get(c, "") if c in ded else
                        ("comprehensive" if column == "grid_type" else "") for c in codes]
    rows["change"] = ["kept" if c in ded else _change_kind(state, c) for c in codes]
    rows["locked"] = [c in state.locked and c not in ded for c in codes]
    rows["reason"] = [_reason(state, old_rows, c, s, lo, hi)
                      for c, s in zip(codes, rows["status"], strict=True)]
    rows["reason_zh"] = [_reason_zh(state, old_rows, c, s, lo, hi)
                         for c, s in zip(codes, rows["status"], strict=True)]
    units = u[["unit_id", "building_id", "grid_code", "community_id", "households",
               "population", "geometry"]].reset_index(drop=True)
    comm = old.communities.copy()
    comm["households"] = comm["community_id"].astype(str).map(
        units.groupby("community_id")["households"].sum()).fillna(0).astype(np.int64)
    comm["grids"] = comm["community_id"].astype(str).map(
        rows.groupby("community_id").size()).fillna(0).astype(np.int64)
    plan_ = Plan(grids=rows, units=gpd.GeoDataFrame(units, geometry="geometry", crs=old.crs),
                 communities=comm, params=old.params)
    validate_plan(plan_)
    plan_.report = summarize(plan_, notes, {}, runtime)
    return plan_


def _change_kind(state: _State, code: str) -> str:
    if code in state.locked:
        return "locked"
    if code in state.new:
        return "new"
    return "reshaped" if code in state.reshaped else "kept"


def _reason(state: _State, old_rows: pd.DataFrame, code: str, status: str, lo: float,
            hi: float) -> str:
    if status == "dedicated":
        return str(old_rows["reason"].get(code, ""))
    if code in state.locked:
        return "locked (锁定): kept as it was" + (f"; {status} after the change"
                                                 if status != "ok" else "")
    if status == "ok":
        return ""
    if status == "empty":
        return "no households left here after the change"
    before = old_rows["households"].get(code)
    was = f" (had {int(before)} before)" if before is not None else ""
    return (f"still outside {lo:.0f}–{hi:.0f} after re-planning{was}: whole buildings, locked "
            "neighbours or the --max-moved budget leave no better split")


def _reason_zh(state: _State, old_rows: pd.DataFrame, code: str, status: str, lo: float,
               hi: float) -> str:
    """:func:`_reason` in Chinese."""
    if status == "dedicated":
        return str(old_rows["reason_zh"].get(code, "")) if "reason_zh" in old_rows else ""
    if code in state.locked:
        return "锁定：保持原样" + ("" if status == "ok" else "；变更后不在区间内")
    if status == "ok":
        return ""
    if status == "empty":
        return "变更后此处已无住户"
    before = old_rows["households"].get(code)
    was = f"（原有{int(before)}户）" if before is not None else ""
    return (f"重新规划后仍不在{lo:.0f}–{hi:.0f}户区间内{was}：整栋楼、锁定的相邻网格或 "
            "--max-moved 上限使其无法更好划分")


def _crossings(state: _State, ctx: _Context, codes: list[str], old_rows) -> np.ndarray:
    """Barrier blocks spanned minus one: recomputed for redrawn grids when barriers are given."""
    out = []
    blocks: dict = {}
    for c in codes:
        if c not in state.reshaped and c in old_rows.index:
            out.append(int(old_rows.at[c, "barrier_crossings"]))
            continue
        if ctx.barrier_lines is None:
            out.append(0)
            continue
        cid = state.community[c]
        if cid not in blocks:
            geom = ctx.communities.set_index("community_id").geometry[cid]
            blocks[cid] = shapely.STRtree(block_polygons(geom, ctx.barrier_lines))
        pts = shapely.point_on_surface(state.units.geometry[state.units["grid_code"] == c].values)
        out.append(max(len(set(blocks[cid].nearest(pts).tolist())) - 1, 0) if len(pts) else 0)
    return np.asarray(out, dtype=np.int64)


def change_list(units: pd.DataFrame, old_units: pd.DataFrame) -> pd.DataFrame:
    """Units that changed grid, are new, or are gone: ``unit_id, old_grid, new_grid, ...``.

    Examples
    --------
    >>> new = pd.DataFrame({"unit_id": ["a", "b"], "building_id": ["a", "b"],
    ...                     "community_id": ["C1", "C1"], "old_grid": ["G1", None],
    ...                     "grid_code": ["G2", "G1"], "households": [10, 5]})
    >>> old = pd.DataFrame({"unit_id": ["a", "c"], "building_id": ["a", "c"],
    ...                     "community_id": ["C1", "C1"], "grid_code": ["G1", "G1"],
    ...                     "households": [10, 7]})
    >>> change_list(new, old)["change"].tolist()
    ['moved', 'new', 'removed']
    """
    u = pd.DataFrame({"unit_id": units["unit_id"].astype(str).values,
                      "building_id": units["building_id"].astype(str).values,
                      "community_id": units["community_id"].astype(str).values,
                      "old_grid": units["old_grid"].values, "new_grid": units["grid_code"].values,
                      "households": units["households"].astype(np.int64).values})
    u["change"] = np.where(u["old_grid"].isna(), "new",
                           np.where(u["old_grid"] != u["new_grid"], "moved", "same"))
    gone_ids = set(old_units["unit_id"].astype(str)) - set(u["unit_id"])
    gone_buildings = set(u["building_id"])
    o = old_units[old_units["unit_id"].astype(str).isin(gone_ids)
                  & ~old_units["building_id"].astype(str).isin(gone_buildings)]
    gone = pd.DataFrame({"unit_id": o["unit_id"].astype(str).values,
                         "building_id": o["building_id"].astype(str).values,
                         "community_id": o["community_id"].astype(str).values,
                         "old_grid": o["grid_code"].values, "new_grid": None,
                         "households": o["households"].astype(np.int64).values,
                         "change": "removed"})
    out = pd.concat([u[u["change"] != "same"], gone], ignore_index=True)
    return out[CHANGE_FIELDS]


def _figures(old: Plan, new_grid: pd.Series, new_plan: Plan, state: _State | None) -> dict:
    """Households moved and grids changed by a plan against the old one."""
    old_grid = old.units.assign(unit_id=old.units["unit_id"].astype(str)).set_index(
        "unit_id")["grid_code"]
    hh = old.units.assign(unit_id=old.units["unit_id"].astype(str)).set_index(
        "unit_id")["households"]
    both = old_grid.index.intersection(new_grid.index)
    moved = both[(old_grid[both] != new_grid[both]).to_numpy()]
    members_old = old_grid[both].groupby(old_grid[both]).groups
    members_new = new_grid[both].groupby(new_grid[both]).groups
    codes = set(old.grids["grid_code"]) | set(new_plan.grids["grid_code"])
    changed = {c for c in codes if set(members_old.get(c, [])) != set(members_new.get(c, []))}
    changed |= set(old.grids["grid_code"]) ^ set(new_plan.grids["grid_code"])
    lo, hi = new_plan.params.band
    with_hh = new_plan.grids[new_plan.grids["households"] > 0]
    out = {"households_moved": int(hh[moved].sum()), "units_moved": int(len(moved)),
           "grids_changed": len(changed), "grids": int(len(new_plan.grids)),
           "grids_in_band": int(with_hh["households"].between(lo, hi).sum()),
           "grids_out_of_band": int((~with_hh["households"].between(lo, hi)).sum())}
    if state is not None:
        out["grids_new"] = len(state.new)
        out["grids_redrawn"] = len((state.reshaped & set(state.polys)) - state.new)
        out["grids_retired"] = len(set(old.grids["grid_code"]) - set(state.polys))
        out["grids_kept"] = int(sum(1 for c in state.polys
                                    if c not in state.reshaped and c not in state.new))
    return out


def fresh_figures(old: Plan, ctx: _Context) -> dict:
    """Plan the new population from scratch; match its grids to old ones; count the change."""
    from gridplan.engine.pipeline import plan

    fresh = plan(ctx.raw, ctx.communities, compounds=ctx.compounds, barriers=ctx.barriers,
                 params=old.params)
    renamed = match_codes(old, fresh)
    new_grid = fresh.units.assign(unit_id=fresh.units["unit_id"].astype(str)).set_index(
        "unit_id")["grid_code"].map(renamed)
    relabelled = Plan(grids=fresh.grids.assign(grid_code=fresh.grids["grid_code"].map(renamed)),
                      units=fresh.units, communities=fresh.communities, params=fresh.params)
    return _figures(old, new_grid, relabelled, None)


def match_codes(old: Plan, fresh: Plan) -> dict[str, str]:
    """Fresh grid code → the old code it shares most households with (one-to-one per community).

    Unmatched fresh grids keep a code marked ``new:``.
    """
    ou = old.units.assign(unit_id=old.units["unit_id"].astype(str)).set_index("unit_id")
    fu = fresh.units.assign(unit_id=fresh.units["unit_id"].astype(str)).set_index("unit_id")
    both = ou.index.intersection(fu.index)
    pairs = pd.DataFrame({"old": ou.loc[both, "grid_code"].values,
                          "new": fu.loc[both, "grid_code"].values,
                          "h": ou.loc[both, "households"].values})
    out = {c: f"new:{c}" for c in fresh.grids["grid_code"]}
    table = pairs.pivot_table(index="new", columns="old", values="h", aggfunc="sum",
                              fill_value=0)
    if table.size:
        rows, cols = linear_sum_assignment(-table.to_numpy(float))
        for r, c in zip(rows, cols, strict=True):
            if table.iat[r, c] > 0:
                out[table.index[r]] = table.columns[c]
    return out


def write_replan(result: ReplanResult, out_dir,
                 maps: dict[str, Callable[[Path], None]] | None = None) -> dict:
    """Write the re-planned plan, ``changes.csv`` and any ``maps``, all or nothing.

    ``maps`` maps file names to writers of that path (the CLI adds ``diff_map.html``).

    Examples
    --------
    >>> write_replan(result, "out/replan")                     # doctest: +SKIP
    """
    from gridplan.export.folder import write_plan

    extra = {"changes.csv": lambda p: result.changes.to_csv(p, index=False, encoding="utf-8")}
    extra.update(maps or {})
    return write_plan(result.plan, out_dir, extra=extra)


def summary_text(result: ReplanResult, out_dir) -> str:
    """A readable summary of a re-plan against planning from scratch."""
    s = result.summary
    r = s["replan"]
    budget = "no limit" if s["max_moved"] is None else f"{s['max_moved']}"
    kinds = result.changes["change"].value_counts().to_dict()
    lines = ["", f"gridplan replan: {r['grids']} grids ({r['grids_kept']} kept, "
             f"{r['grids_redrawn']} redrawn, {r['grids_new']} new, {r['grids_retired']} "
             f"retired, {len(s['locked'])} locked)",
             f"  households moved to another grid: {r['households_moved']} "
             f"({r['units_moved']} units; budget {budget}); grids changed: "
             f"{r['grids_changed']}; out of band: {r['grids_out_of_band']}",
             "  units: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))]
    if "fresh" in s:
        f = s["fresh"]
        lines.append(f"  planning from scratch instead: {f['households_moved']} households "
                     f"moved ({f['units_moved']} units), {f['grids_changed']} grids changed, "
                     f"{f['grids_out_of_band']} out of band")
    lines += [f"  note: {m}" for m in s["notes"]]
    lines.append(f"  wrote {out_dir}/: grids.geojson units.csv plan.gpkg report.json "
                 "changes.csv" + (" diff_map.html" if (out_dir / "diff_map.html").exists()
                                  else ""))
    return "\n".join(lines)
