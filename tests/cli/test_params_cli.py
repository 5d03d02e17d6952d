"""Plan parameters on the command line: generated from PlanParams' metadata, so they can't drift."""

from __future__ import annotations

import pytest
from conftest import run_cli

from gridplan.cli.main import BESIDE_INPUTS, demo_cmd, plan_cmd
from gridplan.params import PlanParams, param_fields, params_from

FIELDS = param_fields()


def _options(command) -> dict[str, object]:
    """A command's options by flag."""
    return {opt: p for p in command.params for opt in p.opts}


@pytest.mark.parametrize("name", list(FIELDS))
def test_every_parameter_is_a_plan_option(name):
    f = FIELDS[name]
    option = _options(plan_cmd)[f.metadata["cli"]]
    assert option.name == name and option.help == f.metadata["help"] and option.show_default
    default = ",".join(f.default) if "list_sep" in f.metadata else f.default
    assert option.default == default
    if "choices" in f.metadata:
        assert tuple(option.type.choices) == f.metadata["choices"]


def test_demo_offers_every_parameter_but_those_beside_the_inputs():
    flags = set(_options(demo_cmd))
    for name, f in FIELDS.items():
        assert (f.metadata["cli"] in flags) == (name not in BESIDE_INPUTS), name


def test_option_defaults_are_the_default_parameters():
    ctx = plan_cmd.make_context("plan", ["--out", "x"])
    assert params_from(ctx.params) == PlanParams()


def test_options_reach_the_parameters_by_name():
    args = ["--out", "x", "--target", "250", "--tolerance", "0.2", "--seed", "7",
            "--stairwell-households", "80", "--community-households", "2000",
            "--community-tolerance", "0.25", "--code-scheme", "cjt349-20",
            "--object-class", "010100", "--dedicated-tags", "amenity=school,shop=mall",
            "--dedicated-min-area", "100", "--dedicated-residents", "site",
            "--tessellation", "centroid",
            "--barrier-highways", "primary, trunk", "--attempts", "3", "--balance", "workload",
            "--exact-seconds", "0.5"]
    assert {a for a in args if a.startswith("--")} - {"--out"} == {
        f.metadata["cli"] for f in FIELDS.values()}  # every parameter is given here
    p = params_from(plan_cmd.make_context("plan", args).params)
    assert p == PlanParams(target=250, tolerance=0.2, seed=7, stairwell_households=80,
                           community_households=2000, community_tolerance=0.25,
                           code_scheme="cjt349-20", object_class="010100",
                           dedicated_tags=("amenity=school", "shop=mall"),
                           dedicated_min_area=100.0, dedicated_residents="site",
                           tessellation="centroid",
                           barrier_highways=("primary", "trunk"), attempts=3,
                           balance="workload", exact_seconds=0.5)


@pytest.mark.parametrize("flag,value", [("--object-class", "12345"),
                                        ("--dedicated-tags", "amenity=school,school"),
                                        ("--attempts", "0"), ("--community-tolerance", "1"),
                                        ("--seed", "-1"), ("--dedicated-min-area", "nan")])
def test_bad_values_name_the_flag(tmp_path, flag, value):
    out = tmp_path / "out"
    result = run_cli("plan", "--population", tmp_path / "none.gpkg", "--out", out, flag, value)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: field {flag}: ") and "Fix:" in result.stderr
    assert not out.exists()
