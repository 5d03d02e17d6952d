"""Checks of the machine bench (bench/machine.py): its figures measure what they name."""

from __future__ import annotations

import json

from bench import machine  # the repository root is on pytest's pythonpath


def test_the_child_copies_every_page_it_writes():
    costs = machine.page_costs(4)
    assert costs["pages"] == 4 * 2**20 // machine.PAGE
    # one write per page of memory shared with the parent: at least one fault per page
    assert costs["copy_faults"] >= costs["pages"]
    assert costs["copy_on_write_us"] > 0 and costs["first_touch_us"] > 0


def test_the_work_is_the_same_on_one_and_two_processes():
    assert machine.python_work(0) == machine.python_work(1)
    assert machine.numpy_work(0) == machine.numpy_work(1)


def test_the_bench_prints_and_writes_its_figures(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(machine, "TASKS", 2)
    out = tmp_path / "machine.json"
    assert machine.main(["--rounds", "1", "--megabytes", "4", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "speed-up" in printed and "copy on write" in printed
    rows = json.loads(out.read_text())["rows"]
    assert [r["work"] for r in rows] == ["python loop", "numpy", "pages"]
