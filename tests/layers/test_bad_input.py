"""Bad input through the command line: exit code 2, a message naming file/field with a fix,
and nothing written (an earlier plan in the output folder left as it was)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from conftest import (
    X0,
    Y0,
    assert_plan_rules,
    communities_frame,
    lattice,
    load_plan_dir,
    no_outputs,
    plan_args,
    prep_units,
    run_cli,
    snapshot,
    units_frame,
    write_layer,
)

pytestmark = pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")


def _units():
    return units_frame(lattice(6, 4))


def _comms():
    return communities_frame([("C1", None, shapely.box(X0, Y0, X0 + 300, Y0 + 200))])


def _swapped_units():
    return units_frame([("a", 50, shapely.Point(40.0, 116.0)),
                        ("b", 50, shapely.Point(40.001, 116.001))], crs=4326)


def _swapped_comms():
    return communities_frame([("C1", None, shapely.box(39.99, 115.99, 40.01, 116.01))],
                             crs=4326)


def _with(gdf, **changes):
    """A copy with ``column=(row, value)`` changes."""
    out = gdf.copy()
    for col, (row, value) in changes.items():
        if isinstance(value, float) and np.isnan(value):
            out[col] = out[col].astype(float)
        out.loc[row, col] = value
    return out


# name → (population layer, community layer, which file is bad, words the message must hold)
CASES = {
    "empty population layer": (lambda: _units().iloc[0:0], _comms, "units", ["empty"]),
    "empty community layer": (_units, lambda: _comms().iloc[0:0], "communities", ["empty"]),
    "population without CRS": (lambda: _units().set_crs(None, allow_override=True), _comms,
                               "units", ["CRS", "--crs"]),
    "communities without CRS": (_units, lambda: _comms().set_crs(None, allow_override=True),
                                "communities", ["CRS", "--crs"]),
    "latitude/longitude swapped": (_swapped_units, _swapped_comms, "communities",
                                   ["swapped", "longitude"]),
    "missing households field": (lambda: _units().rename(columns={"households": "hh"}),
                                 _comms, "units", ["households"]),
    "negative households": (lambda: _with(_units(), households=(3, -5)), _comms, "units",
                            ["households", "negative", "u0_3"]),
    "NaN households": (lambda: _with(_units(), households=(3, float("nan"))), _comms, "units",
                       ["households", "u0_3"]),
    "text households": (lambda: _with(_units().astype({"households": object}),
                                      households=(2, "many")), _comms, "units",
                        ["households", "not numbers"]),
    "duplicate unit ids": (lambda: _with(_units(), unit_id=(3, "u1_0")), _comms, "units",
                           ["unit_id", "duplicate", "u1_0"]),
    "duplicate community ids": (_units, lambda: communities_frame([
        ("C1", None, shapely.box(X0, Y0, X0 + 300, Y0 + 200)),
        ("C1", None, shapely.box(X0 + 300, Y0, X0 + 400, Y0 + 200))]), "communities",
                                ["id", "duplicate", "C1"]),
    "11-digit community code": (_units, lambda: communities_frame([
        ("C1", "11010800100", shapely.box(X0, Y0, X0 + 300, Y0 + 200))]), "communities",
                                ["code", "12 digits", "11010800100"]),
    "duplicate community codes": (_units, lambda: communities_frame([
        ("C1", "110108001001", shapely.box(X0, Y0, X0 + 300, Y0 + 200)),
        ("C2", "110108001001", shapely.box(X0 + 300, Y0, X0 + 400, Y0 + 200))]),
                                  "communities", ["code", "duplicate"]),
    "overlapping communities": (_units, lambda: communities_frame([
        ("C1", None, shapely.box(X0, Y0, X0 + 300, Y0 + 200)),
        ("C2", None, shapely.box(X0 + 100, Y0, X0 + 400, Y0 + 200))]), "communities",
                                ["overlap", "C1", "C2"]),
    "point communities": (_units, lambda: communities_frame([
        ("C1", None, shapely.Point(X0, Y0))]), "communities", ["polygons"]),
    "projected CRS on degrees": (lambda: _units().to_crs(4326).set_crs(
        "EPSG:32650", allow_override=True), _comms, "units", ["longitude/latitude"]),
}


def _write_inputs(tmp: Path, case: str) -> tuple[Path, Path]:
    units, comms, _, _ = CASES[case]
    suffix = ".geojson" if "swapped" in case else ".gpkg"
    return (write_layer(units(), tmp / f"units{suffix}"),
            write_layer(comms(), tmp / f"communities{suffix}"))


def _assert_input_error(result, out: Path, words: list[str]) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    err = result.stderr.strip()
    assert err.startswith("error: "), err
    assert "Fix:" in err, err
    for w in words:
        assert w in err, (w, err)
    assert "Traceback" not in result.output
    assert no_outputs(out), sorted(p.name for p in out.iterdir())
    return err


@pytest.mark.parametrize("case", list(CASES))
def test_input_error(tmp_path, case):
    up, cp = _write_inputs(tmp_path, case)
    out = tmp_path / "out"
    result = run_cli(*plan_args(up, cp, out))
    err = _assert_input_error(result, out, CASES[case][3])
    bad = up if CASES[case][2] == "units" else cp
    assert bad.name in err or "field" in err, err


@pytest.mark.parametrize("case", list(CASES))
def test_input_error_names_the_file(tmp_path, case):
    up, cp = _write_inputs(tmp_path, case)
    result = run_cli(*plan_args(up, cp, tmp_path / "out"))
    assert result.exit_code == 2
    bad = up if CASES[case][2] == "units" else cp
    assert f"error: {bad}: " in result.stderr, result.stderr


@pytest.mark.parametrize("case", ["negative households", "duplicate community ids",
                                  "population without CRS"])
def test_failed_run_leaves_earlier_plan_intact(tmp_path, case):
    good = tmp_path / "good"
    good.mkdir()
    up, cp = write_layer(_units(), good / "units.gpkg"), write_layer(_comms(),
                                                                     good / "comms.gpkg")
    out = tmp_path / "out"
    first = run_cli(*plan_args(up, cp, out))
    assert first.exit_code == 0, first.output
    before = snapshot(out)
    assert {"grids.geojson", "units.csv", "plan.gpkg", "report.json"} <= set(before)
    bad = tmp_path / "bad"
    bad.mkdir()
    up2, cp2 = _write_inputs(bad, case)
    second = run_cli(*plan_args(up2, cp2, out))
    assert second.exit_code == 2
    assert snapshot(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".gridplan-")]


def test_missing_file(tmp_path):
    up = write_layer(_units(), tmp_path / "units.gpkg")
    missing = tmp_path / "nowhere" / "communities.gpkg"
    out = tmp_path / "out"
    err = _assert_input_error(run_cli(*plan_args(up, missing, out)), out, ["not found"])
    assert str(missing) in err


def test_unreadable_file(tmp_path):
    up = write_layer(_units(), tmp_path / "units.gpkg")
    junk = tmp_path / "communities.geojson"
    junk.write_text("this is not GeoJSON", encoding="utf-8")
    out = tmp_path / "out"
    err = _assert_input_error(run_cli(*plan_args(up, junk, out)), out, ["cannot be read"])
    assert str(junk) in err


def test_no_population_layer(tmp_path):
    cp = write_layer(_comms(), tmp_path / "communities.gpkg")
    out = tmp_path / "out"
    result = run_cli("plan", "--communities", cp, "--community-id", "id", "--out", out)
    _assert_input_error(result, out, ["--population"])


@pytest.mark.parametrize("option,value", [("--tolerance", "1.5"), ("--target", "0"),
                                          ("--stairwell-households", "0")])
def test_bad_parameters(tmp_path, option, value):
    up, cp = write_layer(_units(), tmp_path / "u.gpkg"), write_layer(_comms(), tmp_path / "c.gpkg")
    out = tmp_path / "out"
    _assert_input_error(run_cli(*plan_args(up, cp, out, [option, value])), out, [option])


def test_missing_unit_id_field(tmp_path):
    up = write_layer(_units().rename(columns={"unit_id": "bid"}), tmp_path / "u.gpkg")
    cp = write_layer(_comms(), tmp_path / "c.gpkg")
    out = tmp_path / "out"
    args = plan_args(up, cp, out)
    args[args.index("--unit-id") + 1] = "building_no"
    _assert_input_error(run_cli(*args), out, ["building_no", "--unit-id"])


def test_missing_crs_given_on_command_line(tmp_path):
    units, comms = _units(), _comms()
    up = write_layer(units.set_crs(None, allow_override=True), tmp_path / "u.gpkg")
    cp = write_layer(comms, tmp_path / "c.gpkg")
    out = tmp_path / "out"
    result = run_cli(*plan_args(up, cp, out, ["--crs", "EPSG:32650"]))
    assert result.exit_code == 0, result.output
    assert_plan_rules(load_plan_dir(out), prep_units(units))


def test_self_intersecting_community_repaired_and_reported(tmp_path):
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 300, Y0 + 200), (X0 + 300, Y0), (X0, Y0 + 200)])
    assert not bowtie.is_valid
    up = write_layer(_units(), tmp_path / "u.gpkg")
    cp = write_layer(communities_frame([("C1", None, bowtie)]), tmp_path / "c.gpkg")
    out = tmp_path / "out"
    result = run_cli(*plan_args(up, cp, out))
    if result.exit_code == 2:  # refusing is allowed, with a reason and a fix
        _assert_input_error(result, out, ["C1"])
        return
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["input"]["repaired_geometries"] == {"communities": 1}
    assert any("self-intersecting" in w or "repaired" in w for w in report["input"]["warnings"])
    p = load_plan_dir(out)
    repaired = p.communities.geometry.iloc[0]
    assert repaired.is_valid and abs(repaired.area - 300 * 200 / 2) < 1.0
    assert_plan_rules(p, prep_units(_units()))  # against the repaired boundary


def test_units_outside_every_community(tmp_path):
    units = units_frame(lattice(6, 4) + [("far", 30, shapely.Point(X0 + 2000, Y0)),
                                         ("far2", 12, shapely.Point(X0 - 500, Y0 - 500))])
    up, cp = write_layer(units, tmp_path / "u.gpkg"), write_layer(_comms(), tmp_path / "c.gpkg")
    out = tmp_path / "out"
    result = run_cli(*plan_args(up, cp, out)[:-2])  # without --quiet: summary printed
    assert result.exit_code == 0, result.output
    assert "outside every community" in result.stdout
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["input"]["units_outside_communities"] == 2
    assert report["input"]["households_outside_communities"] == 42
    assert sorted(report["input"]["units_outside_sample"]) == ["far", "far2"]
    p = load_plan_dir(out)
    assert_plan_rules(p, prep_units(units))
    assert p.grids["households"].sum() == 1200
