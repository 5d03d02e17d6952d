"""Hostile input to the command line, one table: each case writes its bad files into a
folder and returns the ``gridplan`` arguments; every one must exit with code 2 and a message
naming the file or the option and the fix (or click's usage error naming the option), never
a traceback, and leave the plan already in ``--out`` as it was.

The population and community layers of ``tests/layers/test_bad_input.py`` (empty layers,
no CRS, swapped axes, missing, negative, NaN or text counts, duplicate ids and codes...) are
that file's cases; these are the others: broken files, hostile archives and XML, bad tables
of points, and ``staff``, ``replan`` and ``merge``.
"""

from __future__ import annotations

import bz2
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import shapely
from conftest import X0, Y0, communities_frame, lattice, units_frame, write_layer
from hostile_api import BILLION_LAUGHS, XXE

LON, LAT = 116.30, 39.93


@dataclass
class Good:
    """A good plan's inputs and its folder (the ``--out`` every case must leave intact)."""

    units: Path
    communities: Path
    plan: Path


def good_units() -> gpd.GeoDataFrame:
    """24 buildings of 50 households (two grids) in one 300 × 200 m community."""
    return units_frame(lattice(6, 4))


def good_communities() -> gpd.GeoDataFrame:
    return communities_frame([("C1", None, shapely.box(X0, Y0, X0 + 300, Y0 + 200))])


def plan_cmd(good: Good, out: Path, population: Path | str | None = None,
             communities: Path | str | None = None, *extra: object) -> list:
    """``gridplan plan`` on the good inputs, with one of them replaced."""
    return ["plan", "--communities", communities or good.communities, "--community-id", "id",
            "--population", population or good.units, "--households", "households",
            "--out", out, "--quiet", "--no-map", *extra]


@dataclass(frozen=True)
class CliCase:
    """``make(tmp, good, out)`` writes the bad input into ``tmp`` and returns the arguments;
    ``words`` must appear in the message."""

    id: str
    make: Callable[[Path, Good, Path], list]
    words: tuple[str, ...] = ()


def _write(tmp: Path, name: str, data: bytes | str) -> Path:
    path = tmp / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _pop(name: str, data: Callable[[Good], bytes | str], *extra: object,
         words: tuple[str, ...] = ()) -> Callable[[Path, Good, Path], list]:
    """A case whose population file is ``data``."""
    return lambda tmp, good, out: plan_cmd(good, out, _write(tmp, name, data(good)), None,
                                           *extra)


def _comm(name: str, data: Callable[[Good], bytes | str], *extra: object):
    """A case whose communities file is ``data``."""
    return lambda tmp, good, out: plan_cmd(good, out, None, _write(tmp, name, data(good)),
                                           *extra)


def _opts(*extra: object):
    """A case of the good inputs with bad options."""
    return lambda tmp, good, out: plan_cmd(good, out, None, None, *extra)


def _points_csv(rows: list[tuple], encoding: str = "utf-8",
                header: str = "unit_id,households,lon,lat") -> bytes:
    lines = [header] + [",".join(str(v) for v in r) for r in rows]
    return "\n".join(lines).encode(encoding)


def _csv_points(n: int = 6) -> list[tuple]:
    return [(f"p{i}", 50, round(LON + 0.0003 * i, 6), LAT) for i in range(n)]


def _zip_of(members: dict[str, bytes]) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _shapefile(good: Good, drop: str) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        gpd.read_file(good.units).to_file(Path(tmp) / "u.shp")
        return _zip_of({p.name: p.read_bytes() for p in Path(tmp).iterdir()
                        if not p.name.endswith(drop)})


def _staff(workers: str | bytes | None, *extra: object, special: str | None = None,
           plan: Callable[[Path, Good], Path] | None = None):
    """``gridplan staff`` with a workers CSV (and a special CSV) of the given text."""
    def make(tmp: Path, good: Good, out: Path) -> list:
        w = _write(tmp, "workers.csv", workers) if workers is not None else tmp / "none.csv"
        args = ["staff", "--plan", plan(tmp, good) if plan else good.plan, "--workers", w,
                "--out", out, "--no-map", "--quiet", *extra]
        if special is not None:
            args += ["--special", _write(tmp, "special.csv", special)]
        return args
    return make


WORKERS = "worker_id,name,community_id\nW1,张三,C1\nW2,李四,C1\n"


def _replan(population: Callable[[Good], gpd.GeoDataFrame | bytes] | None, *extra: object,
            plan: Callable[[Path, Good], Path] | None = None):
    def make(tmp: Path, good: Good, out: Path) -> list:
        if population is None:
            pop = good.units
        else:
            data = population(good)
            pop = (_write(tmp, "new.geojson", data) if isinstance(data, bytes)
                   else write_layer(data, tmp / "new.gpkg"))
        return ["replan", "--plan", plan(tmp, good) if plan else good.plan, "--population",
                pop, "--households", "households", "--out", out, "--no-map", "--quiet",
                "--no-compare", *extra]
    return make


def _merge(layers: Callable[[Path, Good], list], *extra: object, with_plan: bool = True):
    def make(tmp: Path, good: Good, out: Path) -> list:
        args = ["merge", *[a for p in layers(tmp, good) for a in ("--layers", p)], *extra,
                "--out", out, "--quiet"]
        return args + (["--plan", good.plan] if with_plan else [])
    return make


def _dept(rows: list[tuple[str, object]], crs=32650) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"grid_code": [r[0] for r in rows]},
                            geometry=[r[1] for r in rows], crs=crs)


HALVES = [("A", shapely.box(X0, Y0, X0 + 150, Y0 + 200)),
          ("B", shapely.box(X0 + 150, Y0, X0 + 300, Y0 + 200))]


def _dept_file(rows, name: str = "dept.gpkg", crs=32650):
    return lambda tmp, good: [write_layer(_dept(rows, crs), tmp / name)]


def _empty_dir(tmp: Path, good: Good) -> Path:
    (tmp / "empty").mkdir(exist_ok=True)
    return tmp / "empty"


def _plan_without_units(tmp: Path, good: Good) -> Path:
    import shutil

    copy = tmp / "broken-plan"
    shutil.copytree(good.plan, copy)
    (copy / "units.csv").unlink()
    (copy / "plan.gpkg").write_bytes((copy / "plan.gpkg").read_bytes()[:4096])
    return copy


def _plan_report_broken(tmp: Path, good: Good) -> Path:
    import shutil

    copy = tmp / "broken-report"
    shutil.copytree(good.plan, copy)
    (copy / "report.json").write_text('{"params": {', encoding="utf-8")
    return copy


def _gpkg_bytes(good: Good) -> bytes:
    return good.units.read_bytes()


CLI_CASES: list[CliCase] = [
    # gridplan plan: broken files
    CliCase("plan-missing-file", lambda tmp, good, out: plan_cmd(good, out, tmp / "no.gpkg"),
            ("not found",)),
    CliCase("plan-empty-file", _pop("u.geojson", lambda g: b"")),
    CliCase("plan-truncated-gpkg", _pop("u.gpkg", lambda g: _gpkg_bytes(g)[:20_000])),
    CliCase("plan-gpkg-of-zeros", _pop("u.gpkg", lambda g: b"\x00" * 4096)),
    CliCase("plan-shp-without-dbf", _pop("u.zip", lambda g: _shapefile(g, ".dbf"))),
    CliCase("plan-shp-without-shx", _pop("u.zip", lambda g: _shapefile(g, ".shx"))),
    CliCase("plan-zero-byte-zip", _pop("u.zip", lambda g: b"")),
    CliCase("plan-zip-traversal", _pop("u.zip", lambda g: _zip_of(
        {"../../evil.geojson": b'{"type":"FeatureCollection","features":[]}'}))),
    CliCase("plan-geojson-deep", _comm("c.geojson", lambda g: "[" * 5000 + "]" * 5000)),
    CliCase("plan-geojson-not-geojson", _comm("c.geojson", lambda g: '{"a": 1}')),
    CliCase("plan-geojson-infinite-coordinate", _comm("c.geojson", lambda g: json.dumps(
        {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {
            "id": "C1"}, "geometry": {"type": "Polygon", "coordinates": [[
                [LON, LAT], [1e999, LAT], [LON, LAT + 0.01], [LON, LAT]]]}}]}))),
    CliCase("plan-layer-not-in-file", lambda tmp, good, out: plan_cmd(
        good, out, f"{good.units}:nolayer"), ("nolayer",)),
    # gridplan plan: tables of points
    CliCase("plan-csv-gbk-nan-coordinates", _pop("p.csv", lambda g: _points_csv(
        [*_csv_points(), ("p9", 50, "nan", "")], "gbk"))),
    CliCase("plan-csv-text-coordinates", _pop("p.csv", lambda g: _points_csv(
        [*_csv_points(), ("p9", 50, "东经116", "北纬39")]))),
    CliCase("plan-csv-swapped-lat-lon", _pop("p.csv", lambda g: _points_csv(
        [(u, h, y, x) for u, h, x, y in _csv_points()]))),
    CliCase("plan-csv-no-coordinates", _pop("p.csv", lambda g: _points_csv(
        [("p1", 50, 1, 2)], header="unit_id,households,a,b"))),
    CliCase("plan-csv-negative-households", _pop("p.csv", lambda g: _points_csv(
        [*_csv_points(), ("p9", -50, LON, LAT)])), ("negative",)),
    CliCase("plan-csv-binary", _pop("p.csv", lambda g: b"\x00\x01\x02" * 1000)),
    CliCase("plan-xlsx-not-a-workbook", _pop("p.xlsx", lambda g: b"PK\x03\x04junk")),
    # gridplan plan: OSM extracts
    CliCase("plan-osm-billion-laughs", lambda tmp, good, out: [
        "plan", "--osm", _write(tmp, "a.osm", BILLION_LAUGHS), "--out", out, "--quiet",
        "--no-map"]),
    CliCase("plan-osm-external-entity", lambda tmp, good, out: [
        "plan", "--osm", _write(tmp, "a.osm", XXE), "--out", out, "--quiet", "--no-map"]),
    CliCase("plan-osm-truncated-bz2", lambda tmp, good, out: [
        "plan", "--osm", _write(tmp, "a.osm.bz2", bz2.compress(
            b'<?xml version="1.0"?><osm version="0.6">' + b'<node id="1" lat="39.9" '
            b'lon="116.3"/>' * 2000 + b"</osm>")[:-60]), "--out", out, "--quiet",
        "--no-map"]),
    CliCase("plan-osm-geojson-inside", lambda tmp, good, out: [
        "plan", "--osm", _write(tmp, "a.osm", '{"type": "FeatureCollection"}'), "--out", out,
        "--quiet", "--no-map"]),
    # gridplan plan: options
    CliCase("plan-tolerance-nan", _opts("--tolerance", "nan"), ("--tolerance",)),
    CliCase("plan-target-infinite", _opts("--target", "inf"), ("--target",)),
    CliCase("plan-exact-seconds-negative", _opts("--exact-seconds", "-1"),
            ("--exact-seconds",)),
    CliCase("plan-seed-huge", _opts("--seed", "9" * 40), ("--seed",)),
    CliCase("plan-code-scheme-unknown", _opts("--code-scheme", "x"), ("--code-scheme",)),
    CliCase("plan-crs-unknown", lambda tmp, good, out: plan_cmd(good, out, write_layer(
        good_units().set_crs(None, allow_override=True), tmp / "u.gpkg"), None, "--crs",
        "EPSG:999999"), ("EPSG:999999",)),
    CliCase("plan-datum-unknown", _opts("--datum", "mars"), ("mars",)),
    CliCase("plan-encoding-unknown", _pop("p.csv", lambda g: _points_csv(_csv_points()),
                                          "--encoding", "klingon"), ("klingon",)),
    CliCase("plan-households-field-unknown", _opts("--households", "户数"), ("户数",)),
    CliCase("plan-population-folder-empty", lambda tmp, good, out: plan_cmd(
        good, out, _empty_dir(tmp, good))),
    # gridplan staff
    CliCase("staff-missing-workers-file", _staff(None), ("not found",)),
    CliCase("staff-empty-workers", _staff("")),
    CliCase("staff-workers-missing-columns", _staff("id,姓名\nW1,张三\n")),
    CliCase("staff-workers-duplicate-ids", _staff(WORKERS + "W1,王五,C1\n"), ("W1",)),
    CliCase("staff-workers-gbk-declared-utf8",
            _staff(WORKERS.encode("gbk"), "--encoding", "utf-8")),
    CliCase("staff-workers-capacity-negative", _staff(
        "worker_id,name,community_id,capacity_hours\nW1,a,C1,-5\n")),
    CliCase("staff-workers-capacity-infinite", _staff(
        "worker_id,name,community_id,capacity_hours\nW1,a,C1,inf\n"), ("capacity_hours",)),
    CliCase("staff-workers-capacity-text", _staff(
        "worker_id,name,community_id,capacity_hours\nW1,a,C1,全职\n"), ("capacity_hours",)),
    CliCase("staff-special-negative-count", _staff(
        WORKERS, special="unit_id,category,count\nu0_0,disabled,-3\n"), ("count",)),
    CliCase("staff-special-unknown-category", _staff(
        WORKERS, special="unit_id,category,count\nu0_0,vampires,3\n"), ("vampires",)),
    CliCase("staff-per-10k-negative", _staff(WORKERS, "--workers-per-10k", "-1"),
            ("--workers-per-10k",)),
    CliCase("staff-per-10k-nan", _staff(WORKERS, "--workers-per-10k", "nan"),
            ("--workers-per-10k",)),
    CliCase("staff-plan-report-not-json", _staff(WORKERS, plan=_plan_report_broken),
            ("report.json",)),
    CliCase("staff-plan-folder-empty", _staff(WORKERS, plan=_empty_dir)),
    CliCase("staff-plan-folder-broken", _staff(WORKERS, plan=_plan_without_units),
            ("plan.gpkg",)),
    # gridplan replan
    CliCase("replan-plan-folder-empty", _replan(None, plan=_empty_dir)),
    CliCase("replan-missing-households", _replan(
        lambda g: good_units().rename(columns={"households": "hh"})), ("households",)),
    CliCase("replan-negative-households", _replan(
        lambda g: good_units().assign(households=[-1] + [50] * 23)), ("negative",)),
    CliCase("replan-duplicate-ids", _replan(
        lambda g: good_units().assign(unit_id=["u"] * 24)), ("duplicate",)),
    CliCase("replan-no-crs", _replan(
        lambda g: good_units().set_crs(None, allow_override=True)), ("CRS",)),
    CliCase("replan-lock-unknown-grid", _replan(None, "--lock", "NOPE"), ("NOPE",)),
    CliCase("replan-max-moved-negative", _replan(None, "--max-moved", "-5"),
            ("--max-moved",)),
    CliCase("replan-population-empty-file", _replan(lambda g: b"")),
    # gridplan merge
    CliCase("merge-no-layers", _merge(lambda tmp, good: [])),
    CliCase("merge-missing-layer", _merge(lambda tmp, good: [tmp / "none.gpkg"]),
            ("not found",)),
    CliCase("merge-points-not-polygons", _merge(_dept_file(
        [("A", shapely.Point(X0 + 10, Y0 + 10))]))),
    CliCase("merge-duplicate-ids", _merge(_dept_file([("A", HALVES[0][1]),
                                                      ("A", HALVES[1][1])])), ("A",)),
    CliCase("merge-without-crs", _merge(_dept_file(HALVES, crs=None)), ("CRS",)),
    CliCase("merge-names-mismatch", _merge(_dept_file(HALVES), "--names", "a,b,c"),
            ("--names",)),
    CliCase("merge-no-plan", _merge(_dept_file(HALVES), with_plan=False), ("--plan",)),
    CliCase("merge-id-field-unknown", _merge(_dept_file(HALVES), "--id-field", "编号"),
            ("编号",)),
    CliCase("merge-empty-layer", _merge(lambda tmp, good: [
        write_layer(_dept(HALVES).iloc[0:0], tmp / "empty.gpkg")]), ("empty",)),
]
