"""README's "Safety" section stays true: every test it names exists, its case counts are the
suite's, and every setting and flag in its table of limits exists."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from gridplan.api.settings import Settings
from hostile_api import CASES
from hostile_cli import CLI_CASES

from gridplan.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def safety_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Safety\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_every_cited_test_exists():
    cited = re.findall(r"(tests/[\w/]+\.py)::(\w+)", safety_section())
    assert len(cited) >= 30
    for path, name in cited:
        source = ROOT / path
        assert source.is_file(), path
        assert re.search(rf"^def {name}\(", source.read_text(encoding="utf-8"), re.M), (
            f"{path}::{name} is cited in README's Safety section but does not exist")
    for path in re.findall(r"`(tests/[\w/]+\.py)`", safety_section()):
        assert (ROOT / path).is_file(), path


def test_the_case_counts_are_the_suites():
    section = safety_section()
    assert f"sends {len(CASES)} hostile requests and {len(CLI_CASES)} hostile command lines" \
        in section
    assert len(CASES) + len(CLI_CASES) >= 60


def test_every_setting_and_flag_exists():
    table = safety_section().split("### Limits", 1)[1].split("\n\n", 1)[0]
    settings = set(Settings.model_fields)
    for name in re.findall(r"`([A-Z_]+)`", table):
        assert name.lower() in settings, f"GRIDPLAN_{name} is not a setting"
    helps = {cmd: CliRunner().invoke(main, [cmd, "--help"]).output
             for cmd in ("plan", "staff", "replan", "merge")}
    for flag in re.findall(r"`(--[a-z0-9-]+)`", table):
        assert any(flag in h for h in helps.values()), f"{flag} is not an option"
