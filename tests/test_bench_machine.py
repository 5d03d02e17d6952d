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


def test_steal_is_a_share_of_the_cpu_time_between_two_readings():
    before = machine.cpu_counters()
    machine.python_work(0)  # some CPU time between the readings
    share = machine.steal_share(before, machine.cpu_counters())
    if before is None:  # not Linux: no counters, no share
        assert share is None
    else:
        assert len(before) >= 8 and 0.0 <= share <= 1.0
    assert machine.steal_share(None, [1] * 8) is None
    assert machine.steal_share([0] * 8, [0] * 8) == 0.0  # no time passed


def test_bench_rows_carry_the_machines_state():
    from bench import run_bench

    probe = machine.speed_probe(rounds=1)
    assert set(probe) == {"one", "two"} and 0 < probe["one"] < 60 and 0 < probe["two"] < 60
    row = {"machine": {"probe_seconds": {"one": 0.234, "two": 0.3}, "steal_share": 0.0125}}
    assert run_bench._machine_text(row) == "; probe 0.234 s, 0.300 s on two, steal 1.2 %"
    row["machine"]["steal_share"] = None  # not Linux
    assert run_bench._machine_text(row) == "; probe 0.234 s, 0.300 s on two"
    assert run_bench._machine_text({}) == ""  # rows of older JSON files
