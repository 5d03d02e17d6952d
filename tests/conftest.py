"""Shared fixtures and the rule checks every plan must pass (``assert_plan_rules``)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from click.testing import CliRunner, Result

from gridplan.cli.main import main
from gridplan.codes import get_scheme, grid_code, grid_serial
from gridplan.layers.population import prepare_units
from gridplan.layers.prepare import prepare_communities
from gridplan.model import Plan
from gridplan.params import PlanParams

# Services made by the tests answer reads in their own process: a reader process per app
# would start hundreds of interpreters. tests/api/test_reads.py asks for reader processes
# where it checks them.
os.environ.setdefault("GRIDPLAN_READ_PROCESSES", "0")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
METRIC_CRS = "EPSG:32650"  # UTM 50N: Beijing
X0, Y0 = 440_000.0, 4_420_000.0  # a point in Beijing (about 116.30 E, 39.93 N)

GRID_COLUMNS = ["grid_code", "community_id", "grid_type", "households", "population", "units",
                "area_m2", "polsby_popper", "barrier_crossings", "status", "reason", "reason_zh",
                "site_kind", "site_name"]
UNIT_COLUMNS = ["unit_id", "building_id", "grid_code", "community_id", "households",
                "population"]
STATUSES = {"ok", "below_band", "above_band", "empty", "dedicated"}
POINT_SLACK = 0.05  # metres: a unit's point may sit this far outside its grid (snap rounding)


# --- building inputs ------------------------------------------------------------------------

def units_frame(rows: Iterable[tuple[str, float, object]], crs=METRIC_CRS) -> gpd.GeoDataFrame:
    """Raw population layer from ``(unit_id, households, geometry)`` rows."""
    rows = list(rows)
    return gpd.GeoDataFrame({"unit_id": [r[0] for r in rows],
                             "households": [r[1] for r in rows]},
                            geometry=[r[2] for r in rows], crs=crs)


def communities_frame(rows: Iterable[tuple[str, str | None, object]],
                      crs=METRIC_CRS) -> gpd.GeoDataFrame:
    """Raw community layer from ``(id, code, geometry)`` rows."""
    rows = list(rows)
    return gpd.GeoDataFrame({"id": [r[0] for r in rows], "code": [r[1] for r in rows]},
                            geometry=[r[2] for r in rows], crs=crs)


def lattice(nx: int, ny: int, *, size: float = 50.0, households: int = 50, x0: float = X0,
            y0: float = Y0, prefix: str = "u", inset: float = 5.0) -> list[tuple]:
    """``nx × ny`` square buildings of ``size`` m cells (footprints inset from the cell)."""
    return [(f"{prefix}{i}_{j}", households,
             shapely.box(x0 + i * size + inset, y0 + j * size + inset,
                         x0 + (i + 1) * size - inset, y0 + (j + 1) * size - inset))
            for i in range(nx) for j in range(ny)]


def prep_units(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return prepare_units(gdf, unit_id="unit_id", households="households")


def prep_communities(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return prepare_communities(gdf, id_field="id", code_field="code")


# --- the rules ------------------------------------------------------------------------------

def _rep_points(geoms: gpd.GeoSeries) -> np.ndarray:
    return shapely.point_on_surface(geoms.values)


def expected_units(units_in: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, crs
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Input units inside / outside the communities (by representative point)."""
    u = units_in.to_crs(crs)
    area = shapely.union_all(communities.to_crs(crs).geometry.values)
    inside = shapely.covered_by(_rep_points(u.geometry), area)
    cols = ["unit_id", "households"]
    df = pd.DataFrame({"unit_id": u["unit_id"].astype(str).values,
                       "households": u["households"].astype(np.int64).values})
    return df.loc[inside, cols].reset_index(drop=True), df.loc[~inside, cols].reset_index(
        drop=True)



def _assert_optimality_of_drawn_grids(plan: Plan) -> None:
    """report.json's proofs count the grids as drawn: ``proved`` only where they reach
    the bound."""
    entries = plan.report.get("optimality", {}).get("by_community", [])
    if not entries:
        return
    g = plan.grids[plan.grids["grid_type"] != "dedicated"] if "grid_type" in plan.grids \
        else plan.grids
    ok = (g["status"] == "ok").groupby(g["community_id"].astype(str)).sum()
    for e in entries:
        in_band = int(ok.get(str(e["community_id"]), 0))
        assert e["grids_in_band"] == in_band, e
        assert e["in_band_bound"] >= in_band, e
        assert (e["optimality"] == "proved") == (in_band == e["in_band_bound"]), e


def assert_plan_rules(plan: Plan, units_in: gpd.GeoDataFrame,
                      communities_in: gpd.GeoDataFrame | None = None) -> None:
    """Check every rule a plan obeys.

    ``units_in`` are the units given to :func:`gridplan.engine.pipeline.plan` (``unit_id``,
    ``households``, geometry); ``communities_in`` the prepared communities given to it
    (``community_id``, ``code``), or ``None`` to check against the plan's own
    communities (derived or repaired ones).
    """
    grids, units, params = plan.grids, plan.units, plan.params
    crs = grids.crs
    assert crs is not None and not crs.is_geographic, "plan must be in a metric CRS"
    assert set(GRID_COLUMNS) <= set(grids.columns), set(GRID_COLUMNS) - set(grids.columns)
    assert set(UNIT_COLUMNS) <= set(units.columns), set(UNIT_COLUMNS) - set(units.columns)
    comms = (plan.communities if communities_in is None else communities_in).to_crs(crs)
    comms = comms.set_index(comms["community_id"].astype(str))
    codes_of = {str(c): (None if v is None or (isinstance(v, float) and math.isnan(v))
                         or v == "" else str(v))
                for c, v in zip(comms.index, comms["code"], strict=True)}
    lo, hi = params.band

    # every unit with households lies in exactly one existing grid
    assert not units["unit_id"].duplicated().any(), "a unit appears twice"
    assert units["grid_code"].notna().all(), "a unit has no grid"
    assert units["grid_code"].isin(grids["grid_code"]).all(), "a unit's grid does not exist"
    grid_comm = dict(zip(grids["grid_code"], grids["community_id"].astype(str), strict=True))
    assert (units["grid_code"].map(grid_comm) == units["community_id"].astype(str)).all(), \
        "a unit's community differs from its grid's"

    # the units planned are exactly the input units inside communities (big ones split)
    inside, outside = expected_units(units_in, comms.reset_index(drop=True), crs)
    planned = units.set_index(units["unit_id"].astype(str))
    seen: set[str] = set()
    for uid, hh in zip(inside["unit_id"], inside["households"], strict=True):
        if hh > hi:
            n = math.ceil(hh / params.stairwell_households)
            subs = [f"{uid}#{i}" for i in range(1, n + 1)]
            assert uid not in planned.index, f"building {uid} ({hh}) should be split"
            missing = [s for s in subs if s not in planned.index]
            assert not missing, f"stairwell sub-units missing: {missing}"
            assert int(planned.loc[subs, "households"].sum()) == hh, uid
            assert (planned.loc[subs, "building_id"].astype(str) == uid).all(), uid
            assert len({planned.loc[s, "community_id"] for s in subs}) == 1, uid
            seen.update(subs)
        else:
            if hh > 0 or uid in planned.index:
                assert uid in planned.index, f"unit {uid} with {hh} households not planned"
                assert int(planned.loc[uid, "households"]) == hh, uid
                seen.add(uid)
    extra = set(planned.index) - seen
    assert not extra, f"units planned that are not input units inside communities: {extra}"

    # units outside every community are reported and left out
    inp = plan.report.get("input", {})
    if inp:
        assert inp["units_outside_communities"] == len(outside)
        assert inp["households_outside_communities"] == int(outside["households"].sum())

    # household totals conserved
    total_in = int(inside["households"].sum())
    assert int(units["households"].sum()) == total_in
    assert int(grids["households"].sum()) == total_in
    per_grid = units.groupby("grid_code")["households"].sum()
    n_units = units.groupby("grid_code").size()
    g = grids.set_index("grid_code")
    assert (g["households"] == per_grid.reindex(g.index, fill_value=0)).all()
    assert (g["units"] == n_units.reindex(g.index, fill_value=0)).all()
    pop = units.groupby("grid_code")["population"].sum().reindex(g.index, fill_value=0)
    assert np.allclose(g["population"], pop, atol=0.1 * len(g) + 0.1)
    if plan.report:
        assert plan.report["households"] == total_in
        assert plan.report["grids"] == len(grids)

    # codes: unique, of the plan's scheme, community code + 001.. in order (serials kept
    # from a previous plan need not run 1..n: they must be unique and in ascending order)
    assert not grids["grid_code"].duplicated().any(), "duplicate grid codes"
    scheme = get_scheme(params.code_scheme)
    kept = "previous_plan" in (plan.report or {})
    for cid, grp in grids.groupby(grids["community_id"].astype(str), sort=False):
        assert cid in comms.index, f"grid of unknown community {cid}"
        code = codes_of[cid]
        serials = [grid_serial(c, scheme.name) for c in grp["grid_code"]]
        if kept:
            assert serials == sorted(set(serials)), (cid, serials)
        else:
            want = [0] if len(grp) == 1 and scheme.whole_zero else list(range(1, len(grp) + 1))
            assert serials == want, (cid, list(grp["grid_code"]))
        rebuilt = [grid_code(code, cid, s, scheme=scheme.name, object_class=params.object_class)
                   for s in serials]
        assert list(grp["grid_code"]) == rebuilt, (cid, list(grp["grid_code"]), rebuilt)
        if code:
            assert all(scheme.pattern.fullmatch(c) for c in rebuilt), rebuilt
    assert set(grids["community_id"].astype(str)) == set(comms.index), \
        "every community gets at least one grid"

    # status and reasons
    # status knows the grid type: dedicated grids (专属网格) stay out of the band check
    hh = grids["households"]
    dedicated = (grids["grid_type"] == "dedicated").to_numpy() if "grid_type" in grids else \
        np.zeros(len(grids), dtype=bool)
    want_status = np.where(dedicated, "dedicated", np.where(
        hh == 0, "empty", np.where(hh < lo, "below_band", np.where(hh > hi, "above_band", "ok"))))
    assert list(grids["status"]) == list(want_status)
    bad = grids["status"] != "ok"
    has_reason = grids["reason"].map(lambda r: isinstance(r, str) and r.strip() != "")
    missing = grids.loc[bad & ~has_reason, ["grid_code", "status"]].values.tolist()
    assert not missing, f"out-of-band grids without reason: {missing}"
    if "reason_zh" in grids:  # empty grids included: offices read the Chinese one
        has_zh = grids["reason_zh"].map(lambda r: isinstance(r, str) and r.strip() != "")
        missing = grids.loc[bad & ~has_zh, ["grid_code", "status"]].values.tolist()
        assert not missing, f"out-of-band grids without reason_zh: {missing}"
    _assert_optimality_of_drawn_grids(plan)

    # geometry: inside one community, no overlap, full cover, one polygon, units inside
    assert grids.geometry.is_valid.all(), "invalid grid geometry"
    assert (grids["barrier_crossings"] >= 0).all()
    assert ((grids["polsby_popper"] >= 0) & (grids["polsby_popper"] <= 1.0001)).all()
    assert np.allclose(grids["area_m2"], grids.geometry.area, atol=0.1)
    unit_pts = _rep_points(units.geometry)
    for cid, grp in grids.groupby(grids["community_id"].astype(str)):
        comm = comms.loc[cid].geometry
        area_c = comm.area
        slack = 1e-4 * area_c
        geoms = grp.geometry.values
        assert shapely.within(geoms, comm.buffer(0.01)).all(), f"grid outside community {cid}"
        union = shapely.union_all(geoms)
        total = float(shapely.area(geoms).sum())
        assert abs(total - union.area) <= slack, f"grids of {cid} overlap"
        assert abs(union.area - area_c) <= slack, f"grids of {cid} do not cover it"
        if shapely.get_num_geometries(comm) == 1:
            kinds = set(shapely.get_type_id(geoms))
            assert kinds == {3}, f"grid of {cid} in more than one piece: {list(grp.grid_code)}"
    geom_of = dict(zip(grids["grid_code"], grids.geometry.values, strict=True))
    own = np.array([geom_of[c] for c in units["grid_code"]], dtype=object)
    dist = shapely.distance(unit_pts, own) if len(own) else np.zeros(0)
    # units sharing one location (several households geocoded to one entrance) cannot all
    # lie inside their own grid; every other unit must
    xy = np.round(shapely.get_coordinates(unit_pts), 1)
    shared = pd.DataFrame(xy).duplicated(keep=False).to_numpy() if len(xy) else dist > 0
    off = (dist > POINT_SLACK) & ~shared
    far = units.loc[off & (units["households"] > 0).to_numpy(), "unit_id"].tolist()
    assert not far, f"units with households lying outside their own grid: {far[:10]}"
    far = units.loc[off, "unit_id"].tolist()
    assert not far, f"units without households lying outside their own grid: {far[:10]}"


def assert_same_plan(a: Plan, b: Plan) -> None:
    """Two plans are identical: grids (codes, counts, WKB geometry) and unit table."""
    cols = ["grid_code", "community_id", "households", "units", "status", "reason"]
    pd.testing.assert_frame_equal(a.grids[cols].reset_index(drop=True),
                                  b.grids[cols].reset_index(drop=True))
    assert list(shapely.to_wkb(a.grids.geometry.values)) == list(
        shapely.to_wkb(b.grids.geometry.values))
    pd.testing.assert_frame_equal(a.units[UNIT_COLUMNS].reset_index(drop=True),
                                  b.units[UNIT_COLUMNS].reset_index(drop=True))
    assert list(shapely.to_wkb(a.units.geometry.values)) == list(
        shapely.to_wkb(b.units.geometry.values))


# --- files and the command line -------------------------------------------------------------

def run_cli(*args: object) -> Result:
    """Invoke ``gridplan`` in-process; stdout and stderr kept apart."""
    return CliRunner().invoke(main, [str(a) for a in args])


def load_plan_dir(out: Path) -> Plan:
    """Rebuild a :class:`Plan` from the ``plan.gpkg`` and ``report.json`` in ``out``."""
    gpkg = out / "plan.gpkg"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    p = dict(report["params"])
    p["barrier_highways"] = tuple(p["barrier_highways"])
    grids = gpd.read_file(gpkg, layer="grids")
    units = gpd.read_file(gpkg, layer="units")
    comms = gpd.read_file(gpkg, layer="communities")
    comms["code"] = comms["code"].where(comms["code"].fillna("") != "", None)
    for df in (grids, units, comms):
        df["community_id"] = df["community_id"].astype(str)
    units["unit_id"] = units["unit_id"].astype(str)
    units["building_id"] = units["building_id"].astype(str)
    grids["reason"] = grids["reason"].fillna("")
    return Plan(grids=grids, units=units, communities=comms, params=PlanParams(**p),
                report=report)


def write_layer(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """Write a layer (driver by suffix) and return its path."""
    driver = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".shp": "ESRI Shapefile"}[path.suffix]
    pyogrio.write_dataframe(gdf, path, driver=driver)
    return path


def no_outputs(out: Path) -> bool:
    """Whether ``out`` holds none of a plan's files (nor leftover temporary folders)."""
    if not out.exists():
        return True
    names = {p.name for p in out.iterdir()}
    plan_files = {"grids.geojson", "units.csv", "plan.gpkg", "report.json", "grids.xlsx",
                  "map.html"}
    return not (names & plan_files) and not any(n.startswith(".gridplan-") for n in names)


def snapshot(out: Path) -> dict[str, bytes]:
    """File name → bytes of every file in ``out``."""
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def cli_inputs(tmp: Path, units: gpd.GeoDataFrame, communities: gpd.GeoDataFrame,
               suffix: str = ".gpkg") -> tuple[Path, Path]:
    """Write a population and a community layer for the CLI."""
    return (write_layer(units, tmp / f"units{suffix}"),
            write_layer(communities, tmp / f"communities{suffix}"))


def plan_args(units_path: Path, comm_path: Path, out: Path,
              extra: Sequence[object] = ()) -> list[object]:
    return ["plan", "--communities", comm_path, "--community-id", "id", "--community-code",
            "code", "--population", units_path, "--unit-id", "unit_id", "--households",
            "households", "--out", out, "--quiet", "--no-map", *extra]


PLAN_FILES = {"grids.geojson", "units.csv", "plan.gpkg", "report.json", "grids.xlsx"}
REPORT_KEYS = {"share_in_band", "max_deviation", "contiguous_share", "mean_polsby_popper",
               "barrier_crossings", "stage_seconds", "runtime_seconds"}


def signed_area(ring) -> float:
    """Shoelace signed area of a ring: positive when counter-clockwise."""
    xy = np.asarray(ring, dtype=float)
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]))


def geojson_polygons(geometry: dict) -> list:
    """The polygons (lists of rings) of a GeoJSON Polygon or MultiPolygon."""
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    assert geometry["type"] == "MultiPolygon", geometry["type"]
    return geometry["coordinates"]


def assert_output_files(out: Path, plan: Plan) -> None:
    """The four plan files are there and hold what the plan holds, in their formats."""
    assert {p.name for p in out.iterdir()} >= PLAN_FILES
    doc = json.loads((out / "grids.geojson").read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    assert len(doc["features"]) == len(plan.grids)
    lon0, lat0, lon1, lat1 = plan.grids.to_crs(4326).total_bounds
    for f in doc["features"]:
        assert set(f["properties"]) == set(GRID_COLUMNS)
        for exterior, *holes in geojson_polygons(f["geometry"]):
            xy = np.asarray(exterior)
            assert (xy[:, 0] >= lon0 - 1e-6).all() and (xy[:, 0] <= lon1 + 1e-6).all()
            assert (xy[:, 1] >= lat0 - 1e-6).all() and (xy[:, 1] <= lat1 + 1e-6).all()
            assert signed_area(exterior) > 0
            assert all(signed_area(h) < 0 for h in holes)
    assert [f["properties"]["grid_code"] for f in doc["features"]] == list(
        plan.grids["grid_code"])
    with open(out / "units.csv", encoding="utf-8") as fh:
        assert fh.readline().rstrip("\r\n") == "unit_id,grid_code,community_id,households"
        assert sum(1 for _ in fh) == len(plan.units)
    layers = {str(n) for n in pyogrio.list_layers(out / "plan.gpkg")[:, 0]}
    assert {"grids", "units", "communities"} <= layers
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert set(report) >= REPORT_KEYS


# figures of the real-data runs, printed at the end of the session
REALDATA_FIGURES: list[dict] = []


def pytest_terminal_summary(terminalreporter) -> None:
    if not REALDATA_FIGURES:
        return
    terminalreporter.section("gridplan real data")
    for f in REALDATA_FIGURES:
        terminalreporter.write_line(
            f"{f['dataset']:<24} grids {f['grids']:>4}  households {f['households']:>6}  "
            f"in band {100 * f['share_in_band']:5.1f}%  contiguous "
            f"{100 * f['contiguous_share']:5.1f}%  plan {f['runtime_seconds']:5.1f} s  "
            f"CLI {f['wall_seconds']:5.1f} s")


@pytest.fixture
def small_inputs() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A 6×4 lattice of 50-household buildings in one 300 × 200 m community (no code)."""
    units = units_frame(lattice(6, 4))
    comms = communities_frame([("C1", None, shapely.box(X0, Y0, X0 + 300, Y0 + 200))])
    return units, comms


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for a module's browser tests (skipped without Playwright)."""
    from browser import chromium

    with chromium() as b:
        yield b
