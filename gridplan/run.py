"""Run: read the files a user names, plan, write outputs and print a readable summary."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
import geopandas as gpd

from gridplan.errors import InputError
from gridplan.export import write_plan
from gridplan.inputs import prepare_communities
from gridplan.layers import InputNotes, read_vector
from gridplan.pipeline import Plan, plan
from gridplan.units import prepare_units

log = logging.getLogger(__name__)


def _read(path: str | None, what: str, crs: str | None) -> gpd.GeoDataFrame | None:
    """Read an optional layer, giving it ``crs`` when it declares none."""
    if path is None:
        return None
    gdf = read_vector(path, what=what)
    if gdf.crs is None and crs:
        gdf = gdf.set_crs(crs)
    return gdf


def load_inputs(kw: dict) -> dict:
    """Read every input the ``plan`` options name; returns arguments for :func:`plan`."""
    from gridplan.cli import params_from

    params = params_from(kw, kw.get("barrier_highways"))
    notes = InputNotes()
    if not kw.get("population") and not kw.get("osm"):
        raise InputError("no population layer", field="--population",
                         fix="pass --population FILE (buildings, points or blocks) or --osm FILE")
    osm = None
    if kw.get("osm"):
        from gridplan.osm import read_osm, study_area

        osm = read_osm(kw["osm"], barrier_highways=params.barrier_highways,
                       dwelling_area=kw.get("dwelling_area", 90.0))
    if kw.get("population"):
        pop = _read(kw["population"], "population", kw.get("crs"))
        units = prepare_units(pop, unit_id=kw.get("unit_id", "unit_id"),
                              households=kw.get("households_field"),
                              population_field=kw.get("population_field"),
                              household_size=kw.get("household_size", 2.6))
    else:
        units = prepare_units(osm.buildings, unit_id="unit_id", households="households")
        units.attrs["source"] = str(kw["osm"])
    communities = _read(kw.get("communities"), "communities", kw.get("crs"))
    if communities is not None:
        communities = prepare_communities(communities, id_field=kw.get("community_id", "id"),
                                          code_field=kw.get("community_code"),
                                          scheme=params.code_scheme, notes=notes)
    compounds = _read(kw.get("compounds"), "compounds", kw.get("crs"))
    barriers = _read(kw.get("barriers"), "barriers", kw.get("crs"))
    if osm is not None:
        compounds = compounds if compounds is not None else osm.compounds
        barriers = barriers if barriers is not None else osm.barriers
    return {"units": units, "communities": communities, "compounds": compounds,
            "barriers": barriers, "params": params, "notes": notes,
            "study_area": study_area(osm) if osm is not None else None}


def run_plan(**kw) -> Plan:
    """``gridplan plan``: read, plan, write, summarise."""
    inputs = load_inputs(kw)
    progress = not kw.get("quiet") and sys.stderr.isatty()
    result = plan(**inputs, progress=progress)
    _write(result, Path(kw["out_dir"]), kw.get("with_map", True))
    if not kw.get("quiet"):
        click.echo(summary_text(result, Path(kw["out_dir"])))
    return result


def run_demo(out_dir: Path, data_dir: str | None = None, **kw) -> Plan:
    """``gridplan demo``: plan the bundled demo district."""
    files = demo_files(data_dir)
    args = dict(kw, communities=str(files["communities"]), community_id="id",
                community_code="code", population=str(files["buildings"]),
                unit_id="unit_id", households_field="households", population_field=None,
                compounds=str(files["compounds"]), barriers=str(files["barriers"]),
                out_dir=str(out_dir), with_map=True, osm=None)
    return run_plan(**args)


DEMO_LAYERS = ("communities", "buildings", "compounds", "barriers")


def demo_files(data_dir: str | Path | None = None) -> dict[str, Path]:
    """Paths of the demo layers; regenerated into a cache folder if the bundle is missing."""
    from gridplan.demo import DEMO_DIR, write_demo

    folder = Path(data_dir) if data_dir else DEMO_DIR
    files = {name: folder / f"{name}.geojson" for name in DEMO_LAYERS}
    if data_dir is None and not all(p.exists() for p in files.values()):
        folder = Path.home() / ".cache" / "gridplan" / "demo"
        log.info("bundled demo data not found; generating it in %s", folder)
        write_demo(folder)
        files = {name: folder / f"{name}.geojson" for name in DEMO_LAYERS}
    return files


def _write(result: Plan, out_dir: Path, with_map: bool) -> None:
    extra = {}
    if with_map:
        from maps.coverage import save_plan_map

        extra["map.html"] = lambda path: save_plan_map(result, path)
    write_plan(result, out_dir, extra=extra)


def summary_text(result: Plan, out_dir: Path) -> str:
    """A short readable summary of a plan, printed at the end of a run."""
    r = result.report
    lo, hi = r["band"]
    st = r["status"]
    lines = [
        "",
        f"gridplan: {r['grids']} grids in {r['communities']} communities "
        f"({r['units']} units, {r['households']} households)",
        f"  in band {lo:.0f}–{hi:.0f} households: {100 * r['share_in_band']:.1f}% of grids "
        f"with households; max deviation {100 * r['max_deviation']:.0f}%",
        f"  households per grid: {r['households_per_grid']}",
        f"  contiguous: {100 * r['contiguous_share']:.0f}%   mean Polsby-Popper: "
        f"{r['mean_polsby_popper']:.2f}   grids crossing barriers: "
        f"{r['grids_crossing_barriers']} ({r['barrier_crossings']} crossings)",
        "  status: " + ", ".join(f"{k} {v}" for k, v in sorted(st.items())),
    ]
    inp = r["input"]
    if inp["units_outside_communities"]:
        lines.append(f"  left out: {inp['units_outside_communities']} units "
                     f"({inp['households_outside_communities']} households) outside every "
                     "community")
    for w in inp["warnings"]:
        lines.append(f"  warning: {w}")
    lines.append(f"  time: {r['runtime_seconds']:.1f} s "
                 + " ".join(f"{k}={v:.1f}" for k, v in r["stage_seconds"].items()))
    lines.append(f"  wrote {out_dir}/: grids.geojson units.csv plan.gpkg report.json"
                 + (" map.html" if (out_dir / "map.html").exists() else ""))
    return "\n".join(lines)
