"""Micro-grids: split every grid into micro-grids (微网格) of 30–80 households for liaisons."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from tqdm.auto import tqdm

from gridplan.engine import region
from gridplan.engine.metrics import validate_plan
from gridplan.engine.pipeline import StageTimer
from gridplan.engine.units import split_large_buildings
from gridplan.errors import InputError, PlanInvariantError
from gridplan.export.folder import write_files, write_geojson
from gridplan.model import Plan
from gridplan.params import PlanParams

log = logging.getLogger(__name__)

MICRO_FIELDS = ["micro_code", "grid_code", "community_id", "households", "population", "units",
                "area_m2", "polsby_popper", "status", "reason"]
MICRO_UNIT_FIELDS = ["unit_id", "building_id", "micro_code", "grid_code", "community_id",
                     "households"]
MICRO_FILES = ("microgrids.geojson", "microgrids.gpkg", "microunits.csv",
               "microgrids_report.json")


@dataclass(frozen=True)
class MicroParams:
    """Size rules of micro-grids.

    Parameters
    ----------
    target : int
        Households per micro-grid aimed at (default 55).
    lower, upper : int
        Band of an in-band micro-grid (default 30–80 households).
    stairwell_households : int
        Households per stairwell (单元) sub-unit when one building exceeds ``upper``.

    Examples
    --------
    >>> MicroParams().band
    (30.0, 80.0)
    """

    target: int = 55
    lower: int = 30
    upper: int = 80
    stairwell_households: int = 30

    def __post_init__(self) -> None:
        if not 0 < self.lower <= self.target <= self.upper:
            raise InputError(f"micro-grid band {self.lower}–{self.upper} must hold the target "
                             f"{self.target} and be positive", field="--min/--max/--target",
                             fix="pass e.g. --min 30 --target 55 --max 80")
        if self.stairwell_households <= 0 or self.stairwell_households > self.upper:
            raise InputError("stairwell households must lie between 1 and --max",
                             field="--stairwell-households", fix="pass e.g. 30")

    @property
    def band(self) -> tuple[float, float]:
        """Lower and upper household bounds of an in-band micro-grid."""
        return (float(self.lower), float(self.upper))

    def engine_params(self, plan_params: PlanParams) -> PlanParams:
        """The partition engine's parameters one level down (seed etc. from the plan)."""
        return PlanParams(target=self.target,
                          tolerance=(self.upper - self.lower) / (2 * self.target),
                          seed=plan_params.seed, stairwell_households=self.stairwell_households,
                          tessellation=plan_params.tessellation, attempts=plan_params.attempts)


@dataclass
class MicroPlan:
    """Micro-grids of a plan: one row per micro-grid and the unit → micro-grid table."""

    microgrids: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    params: MicroParams
    report: dict

    def as_plan(self) -> Plan:
        """The micro-grids as a plan one level down: grids are its communities."""
        return micro_as_plan(self.microgrids, self.units, self.grids, self.params)


def micro_as_plan(micro: gpd.GeoDataFrame, units: gpd.GeoDataFrame, grids: gpd.GeoDataFrame,
                  params: MicroParams) -> Plan:
    """Rename the micro layers so that the plan rules of :mod:`gridplan.engine.metrics` apply."""
    g = micro.drop(columns="community_id").rename(
        columns={"grid_code": "community_id"}).rename(columns={"micro_code": "grid_code"})
    u = units.drop(columns="community_id").rename(
        columns={"grid_code": "community_id"}).rename(columns={"micro_code": "grid_code"})
    comm = gpd.GeoDataFrame({"community_id": grids["grid_code"].values,
                             "code": grids["grid_code"].values},
                            geometry=grids.geometry.values, crs=grids.crs)
    return Plan(grids=g, units=u, communities=comm,
                params=PlanParams(target=params.target,
                                  tolerance=(params.upper - params.lower) / (2 * params.target),
                                  stairwell_households=params.stairwell_households))


def plan_microgrids(plan: Plan, params: MicroParams | None = None,
                    progress: bool = False) -> MicroPlan:
    """Split every grid of ``plan`` into contiguous micro-grids of about ``params.target``.

    The same engine as grids, one level down: each grid is a region, its buildings
    (stairwell sub-units where a building exceeds ``params.upper``) are the units,
    and micro-grid codes extend the grid code with a 3-digit serial numbered north
    to south, west to east.

    Examples
    --------
    >>> from gridplan.export.folder import read_plan                # doctest: +SKIP
    >>> micro = plan_microgrids(read_plan("out/demo"))       # doctest: +SKIP
    >>> micro.microgrids["micro_code"].iloc[0]               # doctest: +SKIP
    '990101001001001001'
    """
    params = params or MicroParams()
    t0 = time.perf_counter()
    timer = StageTimer()
    engine = params.engine_params(plan.params)
    units = _split_units(plan, params)
    by_grid = dict(tuple(units.groupby("grid_code", sort=False)))
    rows, tables = [], []
    bar = tqdm(list(plan.grids.itertuples(index=False)), desc="micro-grids", unit="grid",
               disable=not progress)
    for grid in bar:
        sub = by_grid.get(grid.grid_code, units.iloc[0:0])
        result = _plan_grid(grid.geometry, sub, engine, params, timer)
        parent = SimpleNamespace(code=str(grid.grid_code), community_id=str(grid.grid_code))
        g, ug = region.describe_grids(result, parent, sub, engine)
        g["community_id"] = grid.community_id
        g = g.rename(columns={"grid_code": "micro_code"})
        g.insert(1, "grid_code", grid.grid_code)
        rows.append(g)
        tables.append(ug.rename(columns={"grid_code": "micro_code"}))
    micro = gpd.GeoDataFrame(pd.concat(rows, ignore_index=True), geometry="geometry",
                             crs=plan.crs)[[*MICRO_FIELDS, "geometry"]]
    u = units.merge(pd.concat(tables, ignore_index=True), on="unit_id", how="left")
    u = gpd.GeoDataFrame(u[[*MICRO_UNIT_FIELDS, "population", "geometry"]],
                         geometry="geometry", crs=plan.crs)
    out = MicroPlan(micro, u, plan.grids, params, {})
    validate_micro(out, plan)
    out.report = micro_report(out, time.perf_counter() - t0)
    log.info("%d micro-grids in %d grids; %.0f%% in band", len(micro), len(plan.grids),
             100 * out.report["share_in_band"])
    return out


def _plan_grid(geometry, sub: gpd.GeoDataFrame, engine: PlanParams, params: MicroParams,
               timer: StageTimer) -> region.RegionResult:
    """Micro-grids of one grid; one more or one fewer is tried when some fall out of band.

    The engine picks the count whose mean is nearest the target without looking at
    building sizes; with whole buildings of about the target size, a neighbouring
    count can put every micro-grid in band. Fewest out of band wins, then the count
    the engine chose.
    """
    result = region.plan_region(geometry, sub, None, engine, timer, target=params.target,
                                band=params.band)
    if _outside(result, sub, params) == 0:
        return result
    k, total = len(result.polygons), float(sub["households"].sum())
    best, best_bad = result, _outside(result, sub, params)
    for other in (k + 1, k - 1):
        aim = total / max(other, 1)
        if other < 1 or not params.lower <= aim <= params.upper:
            continue
        trial = region.plan_region(geometry, sub, None, engine, timer, target=aim,
                                   band=params.band)
        bad = _outside(trial, sub, params)
        if bad < best_bad:
            best, best_bad = trial, bad
    return best


def _outside(result: region.RegionResult, sub: gpd.GeoDataFrame, params: MicroParams) -> int:
    """Micro-grids with households outside the band."""
    hh = np.bincount(result.labels, weights=sub["households"].to_numpy(float),
                     minlength=len(result.polygons)) if len(sub) else np.zeros(1)
    return int(((hh > 0) & ((hh < params.lower) | (hh > params.upper))).sum())


def _split_units(plan: Plan, params: MicroParams) -> gpd.GeoDataFrame:
    """The plan's units, buildings above the micro band split by stairwell (within their grid)."""
    units = plan.units.copy()
    units["community_id"] = units["grid_code"]  # grids are the regions one level down
    regions = gpd.GeoDataFrame({"community_id": plan.grids["grid_code"].values},
                               geometry=plan.grids.geometry.values, crs=plan.crs)
    split = split_large_buildings(units, params.upper, params.stairwell_households, regions)
    community_of = dict(zip(plan.grids["grid_code"], plan.grids["community_id"], strict=True))
    split["community_id"] = split["grid_code"].map(community_of)
    return clip_to_grids(split, plan.grids.set_index("grid_code").geometry)


def clip_to_grids(units: gpd.GeoDataFrame, grid_geom: pd.Series) -> gpd.GeoDataFrame:
    """Clip stairwell strips to their grid, so each sub-unit's point lies in its grid.

    A footprint (a census block, say) may reach past its grid's edge; a strip cut from
    the part outside is replaced by its part inside, or by a point inside the grid.
    """
    geoms = units.geometry.values
    own = grid_geom.reindex(units["grid_code"]).values
    outside = ~shapely.covers(own, shapely.point_on_surface(geoms))
    if not outside.any():
        return units
    fixed = shapely.intersection(geoms[outside], own[outside])
    fixed = np.where(shapely.is_empty(fixed) | (shapely.area(fixed) == 0),
                     shapely.point_on_surface(own[outside]), fixed)
    units = units.copy()
    units.loc[outside, "geometry"] = fixed
    log.info("%d stairwell sub-unit(s) clipped to their grid", int(outside.sum()))
    return units


def validate_micro(micro: MicroPlan, plan: Plan) -> None:
    """Check the plan rules one level down, and that micro-grids conserve their grid's households.

    Raises :class:`~gridplan.errors.PlanInvariantError` when a rule is broken.
    """
    validate_plan(micro.as_plan())
    per_grid = micro.microgrids.groupby("grid_code")["households"].sum()
    want = plan.grids.set_index("grid_code")["households"]
    diff = (per_grid.reindex(want.index, fill_value=0) - want).abs()
    if diff.sum():
        raise PlanInvariantError(f"micro-grids of {int((diff > 0).sum())} grid(s) do not add up "
                                 "to their grid's households")
    bad = micro.units["micro_code"].str[:-3] != micro.units["grid_code"].astype(str)
    if bad.any():
        raise PlanInvariantError("a micro-grid code does not extend its grid's code")


def micro_report(micro: MicroPlan, runtime: float) -> dict:
    """Counts and quality figures of the micro-grids, as written to the report."""
    m = micro.microgrids
    with_hh = m[m["households"] > 0]
    lo, hi = micro.params.band
    per_grid = m.groupby("grid_code").size()
    return {
        "grids": int(len(micro.grids)),
        "microgrids": int(len(m)),
        "units": int(len(micro.units)),
        "households": int(m["households"].sum()),
        "band": [lo, hi],
        "share_in_band": float(with_hh["households"].between(lo, hi).mean())
        if len(with_hh) else 0.0,
        "households_per_microgrid": {
            "min": int(with_hh["households"].min()) if len(with_hh) else 0,
            "median": float(with_hh["households"].median()) if len(with_hh) else 0.0,
            "max": int(with_hh["households"].max()) if len(with_hh) else 0},
        "microgrids_per_grid": {"min": int(per_grid.min()), "max": int(per_grid.max())},
        "contiguous_share": float((m.geometry.geom_type == "Polygon").mean()),
        "mean_polsby_popper": float(round(m["polsby_popper"].mean(), 4)),
        "status": {k: int(v) for k, v in m["status"].value_counts().items()},
        "params": asdict(micro.params),
        "runtime_seconds": round(runtime, 3),
    }


def write_microgrids(micro: MicroPlan, out_dir: str | Path,
                     extra: dict[str, Callable[[Path], None]] | None = None) -> dict[str, Path]:
    """Write the micro-grid files into ``out_dir``, all or nothing.

    ``extra`` maps further file names to writers of that path (the CLI adds
    ``microgrids_map.html`` this way).

    Examples
    --------
    >>> write_microgrids(micro, "out/demo")                  # doctest: +SKIP
    """
    def files(folder: Path) -> None:
        write_geojson(micro.microgrids, folder / "microgrids.geojson")
        gpkg = folder / "microgrids.gpkg"
        pyogrio.write_dataframe(micro.microgrids, gpkg, layer="microgrids", driver="GPKG")
        pyogrio.write_dataframe(micro.units, gpkg, layer="units", driver="GPKG", append=True,
                                geometry_type="Unknown")
        micro.units[MICRO_UNIT_FIELDS].to_csv(folder / "microunits.csv", index=False,
                                              encoding="utf-8")
        with open(folder / "microgrids_report.json", "w", encoding="utf-8") as fh:
            json.dump(micro.report, fh, ensure_ascii=False, indent=2)

    writers = {"files": files}
    names = list(MICRO_FILES)
    for name, writer in (extra or {}).items():
        writers[name] = lambda folder, name=name, writer=writer: writer(folder / name)
        names.append(name)
    return write_files(out_dir, writers, names)


def summary_text(micro: MicroPlan, out_dir: Path) -> str:
    """A short readable summary of the micro-grids."""
    r = micro.report
    lo, hi = r["band"]
    return "\n".join([
        "",
        f"gridplan microgrids: {r['microgrids']} micro-grids (微网格) in {r['grids']} grids "
        f"({r['units']} units, {r['households']} households)",
        f"  in band {lo:.0f}–{hi:.0f} households: {100 * r['share_in_band']:.1f}% of "
        f"micro-grids with households; households per micro-grid {r['households_per_microgrid']}",
        f"  micro-grids per grid: {r['microgrids_per_grid']}   contiguous: "
        f"{100 * r['contiguous_share']:.0f}%   status: "
        + ", ".join(f"{k} {v}" for k, v in sorted(r["status"].items())),
        f"  wrote {out_dir}/: " + " ".join(MICRO_FILES),
    ])


__all__ = ["MicroParams", "MicroPlan", "clip_to_grids", "plan_microgrids", "validate_micro",
           "write_microgrids"]
