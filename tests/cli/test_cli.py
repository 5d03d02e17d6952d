"""The command line: help texts, ``gridplan demo`` end to end, the installed entry point."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_plan_rules, load_plan_dir, run_cli

from gridplan.layers.population import prepare_units
from gridplan.layers.prepare import prepare_communities
from gridplan.layers.vector import read_vector

DEMO_DIR = Path(__file__).resolve().parents[2] / "data" / "boundaries"
DEMO_LAYERS = ("communities", "buildings", "compounds", "barriers")
PLAN_OPTIONS = ["--communities", "--community-id", "--community-code", "--population",
                "--unit-id", "--households", "--population-field", "--household-size",
                "--osm", "--compounds", "--barriers", "--crs", "--out", "--target",
                "--tolerance", "--seed", "--stairwell-households"]


def test_main_help():
    result = run_cli("--help")
    assert result.exit_code == 0
    for word in ("plan", "demo", "300"):
        assert word in result.stdout


def test_plan_help_mentions_options():
    result = run_cli("plan", "--help")
    assert result.exit_code == 0
    for opt in PLAN_OPTIONS:
        assert opt in result.stdout, opt
    assert "Fix" not in result.stdout


def test_demo_help():
    result = run_cli("demo", "--help")
    assert result.exit_code == 0
    assert "--out" in result.stdout and "--seed" in result.stdout


def test_version():
    result = run_cli("--version")
    assert result.exit_code == 0
    assert "0." in result.stdout


def test_plan_requires_out():
    result = run_cli("plan", "--population", "x.gpkg")
    assert result.exit_code == 2
    assert "--out" in result.output


def test_unknown_option():
    result = run_cli("plan", "--no-such-option", "--out", "x")
    assert result.exit_code == 2


@pytest.mark.slow
@pytest.mark.skipif(not all((DEMO_DIR / f"{n}.geojson").exists() for n in DEMO_LAYERS),
                    reason="demo data data/boundaries/*.geojson not generated yet")
def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    result = run_cli("demo", "--out", out)
    assert result.exit_code == 0, (result.output, result.exception)
    names = {p.name for p in out.iterdir()}
    assert {"grids.geojson", "units.csv", "plan.gpkg", "report.json", "map.html"} <= names
    assert "grids" in result.stdout and "in band" in result.stdout
    assert (out / "map.html").stat().st_size > 1000
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["grids"] > 0 and 0 <= report["share_in_band"] <= 1
    units = prepare_units(read_vector(DEMO_DIR / "buildings.geojson", what="population"),
                          unit_id="unit_id", households="households")
    comms = prepare_communities(read_vector(DEMO_DIR / "communities.geojson",
                                            what="communities"), id_field="id",
                                code_field="code")
    assert_plan_rules(load_plan_dir(out), units, comms)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gridplan", path=str(Path(sys.executable).parent)) is None,
                    reason="gridplan entry point not installed in the venv")
def test_entry_point_subprocess(tmp_path):
    exe = shutil.which("gridplan", path=str(Path(sys.executable).parent))
    ok = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "plan" in ok.stdout
    bad = subprocess.run([exe, "plan", "--population", str(tmp_path / "none.gpkg"),
                          "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and "Fix:" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not (tmp_path / "out").exists()
