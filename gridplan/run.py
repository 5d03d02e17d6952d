"""Jobs: read the files a user names, plan or staff, write a plan folder, summarise.

Front-ends (the CLI, the web API's jobs) call these; they pass in what the library does not
own: a map writer (``map_writer(plan, path)``, from :mod:`gridplan.maps`) and ``echo`` for the
readable summary.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from gridplan.engine.processes import run_alongside
from gridplan.errors import InputError
from gridplan.export.excel import roster_table, write_staffing_xlsx
from gridplan.export.folder import read_plan, write_plan
from gridplan.layers.load import LayerOptions, load_inputs, read_layer
from gridplan.model import Plan
from gridplan.params import WorkloadParams
from gridplan.workforce.staffing import (
    assign_workers,
    grid_loads,
    inequality,
    service_centres,
    staffing_table,
)
from gridplan.workforce.workload import walking_network

# the engine (numba kernels, scipy's graphs) and the demo's generator are imported by the jobs
# that use them: ``staff`` reads a plan folder and starts without them (about 1 s of CPU)

log = logging.getLogger(__name__)

MapWriter = Callable[[Plan, Path], None]


def run_plan(*, map_writer: MapWriter | None = None,
             echo: Callable[[str], None] | None = None, **kw) -> Plan:
    """``gridplan plan``: read, plan, write (with ``map.html`` when given a map writer).

    ``kw`` are the ``plan`` options by name (see :func:`gridplan.layers.load.load_inputs`);
    ``echo`` receives the readable summary.
    """
    from gridplan.engine.metrics import validate_plan
    from gridplan.engine.pipeline import plan

    inputs = load_inputs(kw)
    progress = not kw.get("quiet") and sys.stderr.isatty()
    result = plan(**inputs, progress=progress, check=False)  # the rules: while writing
    del inputs  # the input layers, before the files are written on forked processes
    out_dir = Path(kw["out_dir"])
    extra = {"map.html": lambda path: map_writer(result, path)} if map_writer else {}
    write_plan(result, out_dir, extra=extra,  # plan.gpkg on a second process beside the rest
               run=partial(run_alongside, n_units=len(result.units)),
               check=partial(validate_plan, result))
    if echo:
        echo(summary_text(result, out_dir))
    return result


def run_demo(out_dir: Path, data_dir: str | None = None, *, map_writer: MapWriter | None = None,
             echo: Callable[[str], None] | None = None, **kw) -> Plan:
    """``gridplan demo``: plan the bundled demo district, then staff it with its workers."""
    files = demo_files(data_dir)
    args = dict(kw, **demo_options(data_dir), out_dir=str(out_dir))
    args["special_path"] = kw.get("special_path") or args["special_path"]
    args["dedicated_path"] = kw.get("dedicated_path") or args["dedicated_path"]
    result = run_plan(map_writer=map_writer, echo=echo, **args)
    if files["workers"].exists():
        run_staff(plan_dir=str(out_dir), workers_path=str(files["workers"]), out_dir=str(out_dir),
                  special_path=args["special_path"], map_writer=map_writer, echo=echo)
    return result


def demo_options(data_dir: str | None = None) -> dict:
    """The ``plan`` options that read the demo district (for :func:`load_inputs`).

    Examples
    --------
    >>> from gridplan.engine.pipeline import plan                            # doctest: +SKIP
    >>> plan(**load_inputs(demo_options())).report["grids"]           # doctest: +SKIP
    68
    """
    files = demo_files(data_dir)
    return dict(communities=str(files["communities"]), community_id="id",
                community_code="code", population=str(files["buildings"]),
                unit_id="unit_id", households_field="households", population_field=None,
                compounds=str(files["compounds"]), barriers=str(files["barriers"]), osm=None,
                special_path=_existing(files["special"]),
                dedicated_path=_existing(files["dedicated"]))


def _existing(path: Path) -> str | None:
    return str(path) if path.exists() else None


DEMO_LAYERS = ("communities", "buildings", "compounds", "barriers")
MAX_PER_10K = 1000.0  # the staffing norm's upper bound (as the API's per_10k)


def demo_files(data_dir: str | Path | None = None) -> dict[str, Path]:
    """Paths of the demo layers; regenerated into a cache folder if the bundle is missing."""
    from gridplan.demo.district import DEMO_DIR, write_demo

    folder = Path(data_dir) if data_dir else DEMO_DIR
    files = {name: folder / f"{name}.geojson" for name in DEMO_LAYERS}
    if data_dir is None and not all(p.exists() for p in files.values()):
        folder = Path.home() / ".cache" / "gridplan" / "demo"
        log.info("bundled demo data not found; generating it in %s", folder)
        write_demo(folder)
        files = {name: folder / f"{name}.geojson" for name in DEMO_LAYERS}
    files.update(special=folder / "special.csv", workers=folder / "workers.csv",
                 dedicated=folder / "dedicated.geojson")
    return files


def _balanced_label(report: dict) -> str:
    if report.get("balanced_on") == "visit_equivalents":
        return "household-equivalents of workload"
    return "households"


def summary_text(result: Plan, out_dir: Path) -> str:
    """A short readable summary of a plan, printed at the end of a run."""
    r = result.report
    lo, hi = r["band"]
    st = r["status"]
    lines = [
        "",
        f"gridplan: {r['grids']} grids in {r['communities']} communities "
        f"({r['units']} units, {r['households']} households)",
        f"  in band {lo:.0f}–{hi:.0f} {_balanced_label(r)}: "
        + (f"{100 * r['share_in_band']:.1f}% of grids with households; "
           f"max deviation {100 * r['max_deviation']:.0f}%" if r["households_per_grid"]
           else "no comprehensive grid with households"),
        f"  households per grid: {r['households_per_grid']}",
        f"  contiguous: {100 * r['contiguous_share']:.0f}%   mean Polsby-Popper: "
        f"{r['mean_polsby_popper']:.2f}   grids crossing barriers: "
        f"{r['grids_crossing_barriers']} ({r['barrier_crossings']} crossings)",
        "  status: " + ", ".join(f"{k} {v}" for k, v in sorted(st.items())),
    ] + _optimality_lines(r)
    lines += _dedicated_lines(r) + _explanation_lines(r)
    inp = r["input"]
    if inp["units_outside_communities"]:
        lines.append(f"  left out: {inp['units_outside_communities']} units "
                     f"({inp['households_outside_communities']} households) outside every "
                     "community")
    for w in inp["warnings"]:
        lines.append(f"  warning: {w}")
    lines.append(f"  time: {r['runtime_seconds']:.1f} s "
                 + " ".join(f"{k}={v:.1f}" for k, v in r["stage_seconds"].items()))
    lines.append(f"  wrote {out_dir}/: grids.geojson units.csv plan.gpkg report.json grids.xlsx"
                 + (" map.html" if (out_dir / "map.html").exists() else ""))
    return "\n".join(lines)


MAX_EXPLAINED = 8  # communities explained in the printed summary (all are in report.json)


def _dedicated_lines(report: dict) -> list[str]:
    d = report.get("dedicated") or {}
    if not d.get("grids"):
        return []
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(d["by_kind"].items()))
    return [f"  dedicated grids (专属网格): {d['grids']} ({kinds}) with {d['households']} "
            "households, outside the household balance"]


def _optimality_lines(report: dict) -> list[str]:
    """Grids in band against the proven best, e.g. 'in band 1,041 of 1,078; proven ...'."""
    o = report.get("optimality")
    if not o or not o["grids"]:
        return []
    return [f"  in band {o['grids_in_band']:,} of {o['grids']:,} (at most {o['in_band_bound']:,} "
            f"possible); proven best possible in {o['communities_proved']:,} of "
            f"{o['communities']:,} communities"]


def _explanation_lines(report: dict) -> list[str]:
    """Why grids miss the band, per community, in English and Chinese."""
    found = report.get("explanations") or []
    if not found:
        return []
    lines = ["  why grids miss the band (report.json \"explanations\" has all):"]
    for e in found[:MAX_EXPLAINED]:
        lines += [f"    {e['text']}", f"    {e['text_zh']}"]
    if len(found) > MAX_EXPLAINED:
        lines.append(f"    ... and {len(found) - MAX_EXPLAINED} more communities")
    return lines


def _dedicated(plan_) -> set[str]:
    """Codes of a plan's dedicated grids."""
    if "grid_type" not in plan_.grids:
        return set()
    return set(plan_.grids.loc[plan_.grids["grid_type"] == "dedicated", "grid_code"])


def _comprehensive_worker_hours(assignment, dedicated: set[str]):
    """Hours of workers holding at least one comprehensive (全科) grid."""
    held = assignment.grids.loc[~assignment.grids["grid_code"].isin(dedicated), "worker_id"]
    w = assignment.workers
    return w.loc[(w["grids"] > 0) & w["worker_id"].isin(set(held)), "hours"]


def _other_folder(plan_dir, out_dir) -> bool:
    """Whether staffing writes its plan into a folder other than the plan's own."""
    return Path(plan_dir).resolve() != Path(out_dir).resolve()


def run_staff(plan_dir: str, workers_path: str, out_dir: str, special_path: str | None = None,
              osm_path: str | None = None, per_10k: float = 18.0,
              workload: WorkloadParams | None = None, map_writer: MapWriter | None = None,
              echo: Callable[[str], None] | None = None, encoding: str | None = None) -> dict:
    """``gridplan staff``: loads per grid, staffing per community, workers assigned.

    ``encoding`` is the CSV tables' (default: UTF-8, else GB18030).
    """
    if not (math.isfinite(per_10k) and 0 < per_10k <= MAX_PER_10K):
        raise InputError(f"the staffing norm must be more than 0 and at most {MAX_PER_10K:g} "
                         f"workers per 10,000 residents, got {per_10k:g}",
                         field="--workers-per-10k", fix="give the norm, e.g. 18")
    # staffing adds columns to the grids only: units, communities and parcels are copied
    plan_ = read_plan(plan_dir, parcels=False)
    workload = workload or WorkloadParams()
    special = (read_layer(special_path, "special",
                          LayerOptions(unit_ids=plan_.units["building_id"], workload=workload,
                                       encoding=encoding))
               if special_path else None)
    workers = read_layer(workers_path, "workers",
                         LayerOptions(community_ids=plan_.communities["community_id"],
                                      encoding=encoding))
    street = walking_network(osm_path, plan_.crs) if osm_path else None
    centres = service_centres(plan_.communities)
    loads = grid_loads(plan_, special, workload, street, centres)
    if street is not None and (~loads["tour_on_network"]).any():
        fell = loads.loc[~loads["tour_on_network"], "grid_code"].tolist()
        log.warning("the street network does not reach every building of %d grid(s) (%s); "
                    "their tours use straight lines × %.1f", len(fell), ", ".join(fell[:10]),
                    workload.detour_factor)
    grid_xy = dict(zip(plan_.grids["grid_code"], shapely.get_coordinates(
        shapely.point_on_surface(plan_.grids.geometry.values)), strict=True))
    homes = _homes(workers, plan_.crs, centres)
    assignment = assign_workers(loads, workers, grid_xy, homes)
    staffing = staffing_table(plan_, workers, per_10k)
    _attach(plan_, loads, assignment)
    plan_.report["staffing"] = _staffing_report(staffing, assignment, per_10k)
    plan_.report["load"] = {
        # dedicated grids (专属网格) are looked after with their institution: not in the balance
        "grid_hours": inequality(loads.loc[~loads["grid_code"].isin(_dedicated(plan_)),
                                           "workload_hours"]),
        "worker_hours": inequality(_comprehensive_worker_hours(assignment, _dedicated(plan_))),
        "tours_on_street_network": int(loads["tour_on_network"].sum()),
        "tours_straight_line": int((~loads["tour_on_network"]).sum()),
        "unreached_points": len(street.unreached) if street else 0,
        "grids_tour_straight_line": (loads.loc[~loads["tour_on_network"], "grid_code"].tolist()
                                     if street else []),
        "weights": {"rates_per_month": workload.rates,
                    "minutes_per_visit": workload.minutes_per_visit,
                    "tours_per_month": workload.tours_per_month,
                    "walking_speed_kmh": workload.walking_speed_kmh,
                    "detour_factor": workload.detour_factor},
    }
    extra = {"workers.csv": lambda p: assignment.workers.to_csv(p, index=False),
             "staffing.csv": lambda p: staffing.to_csv(p, index=False),
             "staffing.xlsx": lambda p: write_staffing_xlsx(
                 p, roster_table(assignment.grids, assignment.workers), staffing)}
    if map_writer:
        extra["map.html"] = lambda p: map_writer(plan_, p)
    write_plan(plan_, Path(out_dir), extra=extra, new=_other_folder(plan_dir, out_dir),
               unchanged_from=plan_dir,  # plan.gpkg on a second process beside the rest
               run=partial(run_alongside, n_units=len(plan_.units)))
    if echo:
        echo(staff_summary(plan_.report, staffing, Path(out_dir)))
    return plan_.report


def _homes(workers, crs, centres) -> dict:
    """Home point of each worker in the plan's CRS, or their community's service centre."""
    out = {w: centres[c] for w, c in zip(workers["worker_id"], workers["community_id"],
                                         strict=True)}
    if {"lon", "lat"} <= set(workers.columns):
        known = workers.dropna(subset=["lon", "lat"])
        pts = gpd.GeoSeries(gpd.points_from_xy(known["lon"], known["lat"]), crs=4326).to_crs(crs)
        for w, p in zip(known["worker_id"], pts, strict=True):
            out[w] = np.array([p.x, p.y])
    return out


def _attach(plan_, loads, assignment) -> None:
    """Add ``workload_hours`` and ``workers`` to the plan's grids."""
    g = plan_.grids
    by_code = loads.set_index("grid_code")
    for column in ("special_cases", "tour_m", "workload_hours"):
        g[column] = g["grid_code"].map(by_code[column])
    g["workers"] = g["grid_code"].map(assignment.grids.set_index("grid_code")["worker_id"])


def _staffing_report(staffing, assignment, per_10k: float) -> dict:
    return {
        "workers_per_10k": per_10k,
        "required": int(staffing["required"].sum()),
        "available": int(staffing["available"].sum()),
        "shortfall": int((-staffing["balance"].clip(upper=0)).sum()),
        "surplus": int(staffing["balance"].clip(lower=0).sum()),
        "grids_without_worker": int(sum(assignment.missing.values())),
        "workers_missing_to_cover_grids": assignment.missing,
        "per_community": staffing.to_dict(orient="records"),
    }


def staff_summary(report: dict, staffing, out_dir: Path) -> str:
    """A readable staffing and load summary."""
    s, ld = report["staffing"], report["load"]
    lines = ["", "gridplan staff: workers per community (norm "
             f"{s['workers_per_10k']:g} per 10,000 residents, at least one per grid)",
             staffing.to_string(index=False), "",
             f"  required {s['required']}, available {s['available']}: shortfall "
             f"{s['shortfall']}, surplus {s['surplus']}"]
    if s["grids_without_worker"]:
        where = ", ".join(f"{k}: {v} more worker(s) needed"
                          for k, v in s["workers_missing_to_cover_grids"].items())
        lines.append(f"  grids without a worker: {s['grids_without_worker']} ({where})")
    lines += [f"  grid hours/month: CV {ld['grid_hours']['cv']:.3f}, max/min "
              f"{ld['grid_hours']['max_min']}",
              f"  worker hours/month: CV {ld['worker_hours']['cv']:.3f}, max/min "
              f"{ld['worker_hours']['max_min']}",
              f"  tours on the street network: {ld['tours_on_street_network']}, straight line × "
              f"detour: {ld['tours_straight_line']}",
              f"  wrote {out_dir}/: workers.csv staffing.csv staffing.xlsx grids.geojson plan.gpkg "
              "report.json grids.xlsx"]
    return "\n".join(lines)
