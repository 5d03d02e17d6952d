"""Hostile input to the command line (the table in ``hostile_cli.py``): ``gridplan plan``,
``staff``, ``replan`` and ``merge`` exit with code 2 within 10 s, say what is wrong and how
to fix it, print no traceback, and leave the plan already in ``--out`` untouched."""

from __future__ import annotations

import concurrent.futures
import shutil
import time

import pytest
from conftest import run_cli, snapshot, write_layer
from hostile_cli import CLI_CASES, CliCase, Good, good_communities, good_units, plan_cmd

SECONDS = 10

pytestmark = pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Good:
    tmp = tmp_path_factory.mktemp("hostile-cli-good")
    g = Good(write_layer(good_units(), tmp / "units.gpkg"),
             write_layer(good_communities(), tmp / "communities.gpkg"), tmp / "plan")
    result = run_cli(*plan_cmd(g, g.plan))
    assert result.exit_code == 0, result.output
    return g


def test_the_table_has_distinct_cases():
    ids = [c.id for c in CLI_CASES]
    assert len(ids) == len(set(ids))
    assert {i.split("-")[0] for i in ids} == {"plan", "staff", "replan", "merge"}


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_hostile_command(tmp_path, good, case: CliCase):
    out = tmp_path / "out"
    shutil.copytree(good.plan, out)  # an earlier plan the failed run must leave as it was
    before = snapshot(out)
    args = case.make(tmp_path, good, out)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        t0 = time.monotonic()
        try:
            result = pool.submit(run_cli, *args).result(timeout=SECONDS)
        except concurrent.futures.TimeoutError:
            pytest.fail(f"{case.id}: gridplan did not stop within {SECONDS} s")
    seconds = time.monotonic() - t0
    err = result.stderr.strip()
    assert result.exit_code == 2, (case.id, result.exit_code, result.output,
                                   repr(result.exception))
    assert "Traceback" not in result.output and "Traceback" not in err
    if err.startswith("error: "):  # gridplan's own: file or field, and the fix
        assert "Fix:" in err or "fix:" in err.lower(), err
    else:  # click's usage error names the option
        assert err.startswith("Usage:") and "Error: " in err, err
    for word in case.words:
        assert word in err, (word, err)
    assert seconds < SECONDS
    assert snapshot(out) == before, "the earlier plan in --out changed"
    assert not [p for p in out.iterdir() if p.name.startswith(".gridplan-")]
