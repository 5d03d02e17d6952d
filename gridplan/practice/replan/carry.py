"""Where a re-plan starts: its inputs in the old plan's CRS, and every unit in a grid.

Units present before keep their grid; new units join the grid whose polygon holds them (the
nearest grid of their community when none does). Locked and dedicated grids are named here:
no repair touches them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridplan.codes import grid_serial
from gridplan.engine.units import assign_communities, split_large_buildings, tag_by_polygons
from gridplan.errors import InputError
from gridplan.layers.prepare import prepare_barriers, prepare_compounds
from gridplan.layers.vector import check_layer
from gridplan.model import Plan
from gridplan.practice.microgrids import clip_to_grids


@dataclass
class State:
    """Units with their current grid, the polygon of every grid, and what changed."""

    units: gpd.GeoDataFrame  # grid_code (current), old_grid (existing units), community_id
    polys: dict  # grid code -> polygon
    community: dict  # grid code -> community id
    locked: set
    reshaped: set = field(default_factory=set)
    new: set = field(default_factory=set)
    used: dict = field(default_factory=dict)  # community -> highest serial ever used
    before: dict = field(default_factory=dict)  # grid code -> households in the old plan

    def copy(self) -> State:
        return State(self.units.copy(), dict(self.polys), dict(self.community), self.locked,
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


@dataclass
class Context:
    """Inputs of a re-plan in the old plan's CRS."""

    units: gpd.GeoDataFrame
    raw: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame | None
    barriers: gpd.GeoDataFrame | None
    barrier_lines: object
    params: object
    communities: gpd.GeoDataFrame

    @classmethod
    def make(cls, old: Plan, population, compounds, barriers, notes) -> Context:
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


def initial_state(old: Plan, ctx: Context, locked: set[str]) -> State:
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
    return State(u, polys, grid_comm, locked, used=used, before=before)


def _nearest_grid(grids: gpd.GeoDataFrame, geom, cid: str) -> str:
    mine = grids[grids["community_id"].astype(str) == str(cid)]
    return str(mine["grid_code"].iloc[int(np.argmin(mine.geometry.distance(geom).values))])


def _serial(code: str, scheme: str = "nbs12+3") -> int:
    try:
        return grid_serial(code, scheme)
    except InputError:
        return 0
