"""Partitioned and distributed planning: same plans in-process and on Dask, resume, failures."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from conftest import (
    assert_output_files,
    assert_plan_rules,
    assert_same_plan,
    load_plan_dir,
    no_outputs,
    run_cli,
)

from gridplan.engine.pipeline import plan
from gridplan.export.folder import read_plan, write_plan
from gridplan.layers.population import prepare_units
from gridplan.layers.prepare import prepare_communities
from gridplan.params import PlanParams
from gridplan.scale import PartialPlanError, UnitOptions, driver, plan_partitioned, plans
from gridplan.scale.partitions import partitions_of, read_partition

DEMO = Path(__file__).resolve().parents[2] / "data" / "boundaries"
LAYERS = ["--communities", DEMO / "communities.geojson", "--community-code", "code",
          "--households", "households", "--compounds", DEMO / "compounds.geojson",
          "--barriers", DEMO / "barriers.geojson", "--quiet", "--no-map"]


def sorted_units(p):
    """The plan with its unit table in unit id order (files list units community by community)."""
    p.units = p.units.sort_values("unit_id").reset_index(drop=True)
    return p


@pytest.fixture(scope="module")
def demo_parts(tmp_path_factory) -> Path:
    """The demo buildings cut in row order into a GeoPackage and two GeoParquet files
    (the second with two row groups): four partitions, communities spanning them."""
    folder = tmp_path_factory.mktemp("parts")
    b = gpd.read_file(DEMO / "buildings.geojson")
    cuts = [0, 300, 650, 1003]
    b.iloc[cuts[0]:cuts[1]].to_file(folder / "p0.gpkg", driver="GPKG")
    b.iloc[cuts[1]:cuts[2]].to_parquet(folder / "p1.parquet")
    b.iloc[cuts[2]:cuts[3]].to_parquet(folder / "p2.parquet", row_group_size=200)
    return folder


@pytest.fixture(scope="module")
def demo_reference(tmp_path_factory):
    """The demo planned the ordinary way: whole file, one process."""
    out = tmp_path_factory.mktemp("reference")
    result = run_cli("plan", "--population", DEMO / "buildings.geojson", "--out", out, *LAYERS)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def cluster():
    """A local Dask cluster of two single-threaded worker processes."""
    distributed_ = pytest.importorskip("distributed")
    with distributed_.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                   dashboard_address=None) as c:
        yield c


def demo_units_in() -> gpd.GeoDataFrame:
    return gpd.read_file(DEMO / "buildings.geojson")


def demo_communities() -> gpd.GeoDataFrame:
    return prepare_communities(gpd.read_file(DEMO / "communities.geojson"), code_field="code")


def check_same_as_reference(out: Path, reference: Path) -> None:
    got, ref = sorted_units(load_plan_dir(out)), sorted_units(load_plan_dir(reference))
    assert_plan_rules(got, demo_units_in(), demo_communities())
    assert_same_plan(ref, got)
    pd.testing.assert_frame_equal(ref.communities, got.communities)
    assert_output_files(out, load_plan_dir(out))
    assert_same_parcels(out, reference)
    for name in ("grids.geojson", "units.csv"):  # same bytes, units in community order
        got_text, ref_text = ((p / name).read_text(encoding="utf-8") for p in (out, reference))
        if name == "units.csv":
            got_text, ref_text = (sorted(t.splitlines()) for t in (got_text, ref_text))
        assert got_text == ref_text, name
    got_xl, ref_xl = (pd.read_excel(p / "grids.xlsx", sheet_name="网格", dtype={"网格编码": str})
                      .sort_values("网格编码", ignore_index=True) for p in (out, reference))
    pd.testing.assert_frame_equal(got_xl, ref_xl)
    rep, ref_rep = (json.loads((p / "report.json").read_text()) for p in (out, reference))
    for key in ("grids", "units", "households", "share_in_band", "status", "contiguous_share",
                "mean_polsby_popper", "barrier_crossings", "households_per_grid",
                "explanations"):
        assert rep[key] == ref_rep[key], key


def assert_same_parcels(out: Path, reference: Path) -> None:
    """Same parcels (cells), parcel edges and unit → parcel table in both plan folders."""
    got, ref = read_plan(out), read_plan(reference)
    assert got.cells is not None and ref.cells is not None
    key = ["cell_id"]
    a = ref.cells.sort_values(key).reset_index(drop=True)
    b = got.cells.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")),
                                  pd.DataFrame(b.drop(columns="geometry")))
    assert list(a.geometry.to_wkb()) == list(b.geometry.to_wkb())
    edges = [e.sort_values(["a", "b"]).reset_index(drop=True)
             for e in (ref.cell_edges, got.cell_edges)]
    pd.testing.assert_frame_equal(*edges)
    cell_of = [dict(zip(p.units["unit_id"], p.units["cell_id"], strict=True)) for p in (ref, got)]
    assert cell_of[0] == cell_of[1]


def test_partitions_of_folder_and_row_groups(demo_parts):
    parts = partitions_of(demo_parts)
    assert [(Path(p.path).name, p.row_group) for p in parts] == [
        ("p0.gpkg", None), ("p1.parquet", None), ("p2.parquet", 0), ("p2.parquet", 1)]
    whole = gpd.read_parquet(demo_parts / "p2.parquet").reset_index(drop=True)
    pieces = pd.concat([read_partition(p) for p in parts[2:]], ignore_index=True)
    assert pieces.crs == whole.crs
    pd.testing.assert_frame_equal(pd.DataFrame(pieces.drop(columns="geometry")),
                                  pd.DataFrame(whole.drop(columns="geometry")))
    assert pieces.geometry.geom_equals_exact(whole.geometry, 0).all()


def test_partitioned_in_process_equals_plan(demo_parts, demo_reference, tmp_path):
    out = tmp_path / "out"
    result = run_cli("plan", "--population", demo_parts, "--out", out, *LAYERS)
    assert result.exit_code == 0, result.output
    check_same_as_reference(out, demo_reference)
    assert (out / "parts" / "run.json").exists()


@pytest.mark.slow
def test_local_cluster_equals_in_process(demo_parts, demo_reference, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    result = run_cli("plan", "--population", demo_parts, "--out", out, "--workers", 2, *LAYERS)
    assert result.exit_code == 0, result.output
    check_same_as_reference(out, demo_reference)


@pytest.mark.slow
def test_scheduler_equals_in_process(cluster, demo_parts, demo_reference, tmp_path):
    out = tmp_path / "out"
    result = run_cli("plan", "--population", demo_parts, "--out", out, "--scheduler",
                     cluster.scheduler_address, *LAYERS)
    assert result.exit_code == 0, result.output
    check_same_as_reference(out, demo_reference)


def test_failed_community_reported_rest_kept(cluster, demo_parts, tmp_path):
    """A unit id repeated across partitions in one community fails that community only."""
    parts = tmp_path / "parts"
    parts.mkdir()
    for f in demo_parts.iterdir():
        (parts / f.name).write_bytes(f.read_bytes())
    first = gpd.read_file(parts / "p0.gpkg")
    units = prepare_units(first, households="households")
    comms = demo_communities().to_crs(first.crs)
    joined = gpd.sjoin(units.set_geometry(units.representative_point()),
                       comms[["community_id", "geometry"]], predicate="within")
    victim = joined.iloc[0]
    copy = first[first["unit_id"] == victim["unit_id"]]
    copy.to_file(parts / "p9.gpkg", driver="GPKG")  # same id, same place: a later partition
    out = tmp_path / "out"
    result = run_cli("plan", "--population", parts, "--out", out, "--scheduler",
                     cluster.scheduler_address, "--retries", 1, *LAYERS)
    assert result.exit_code == 2  # bad input: every failure was an InputError
    assert f"1 community failed after retries:\n  {victim['community_id']}: InputError" \
        in result.output
    assert f"unit ids appear twice in community {victim['community_id']}" in result.output
    assert "run the same command again" in result.output
    assert no_outputs(out)
    markers = [json.loads(p.read_text()) for p in (out / "parts" / "plans").glob("*.json")]
    kept = {c for m in markers for c in m["communities"]}
    assert kept == set(comms["community_id"]) - {victim["community_id"]}
    assert {c for m in markers for c in m["failed"]} == {victim["community_id"]}


def synthetic_inputs(tmp_path: Path):
    from bench.synthetic import synthetic_city

    units, comm = synthetic_city(1500, seed=4)
    path = tmp_path / "units.parquet"
    units.to_parquet(path, row_group_size=400)
    return path, units, prepare_communities(comm, id_field="id")


def test_resume_after_failure_gives_the_same_plan(tmp_path, monkeypatch):
    path, units, comm = synthetic_inputs(tmp_path)
    params = PlanParams(seed=2, tessellation="centroid")
    options = UnitOptions(households="households")
    victim = comm["community_id"].iloc[1]
    real = plans.plan_community
    calls = []

    def flaky(community, *args):
        calls.append(community.community_id)
        if community.community_id == victim:
            raise RuntimeError("disk full")
        return real(community, *args)

    monkeypatch.setattr(plans, "plan_community", flaky)
    out = tmp_path / "out"
    with pytest.raises(PartialPlanError, match=f"{victim}: RuntimeError: disk full"):
        plan_partitioned(path, comm, out, params=params, options=options, retries=1)
    assert calls.count(victim) == 2  # tried, then retried once
    assert no_outputs(out)
    monkeypatch.setattr(plans, "plan_community", real)
    calls.clear()
    outcome = plan_partitioned(path, comm, out, params=params, options=options)
    assert outcome.resumed == len(comm) - 1
    expected = plan(prepare_units(units, households="households"), comm, params=params)
    write_plan(expected, tmp_path / "reference")
    got = sorted_units(load_plan_dir(out))
    assert_plan_rules(got, units, comm)
    assert_same_plan(sorted_units(load_plan_dir(tmp_path / "reference")), got)
    assert_same_parcels(out, tmp_path / "reference")
    assert outcome.report["grids"] == expected.report["grids"]


def test_batches_finishing_out_of_order_merge_in_order(tmp_path, monkeypatch):
    """Many small batches, finished last first: the files are still the in-process plan's."""
    path, units, comm = synthetic_inputs(tmp_path)
    params = PlanParams(seed=3, tessellation="centroid")
    monkeypatch.setattr(driver, "BATCH_UNITS", 200)
    monkeypatch.setattr(driver, "MIN_BATCH_UNITS", 1)
    real = driver.run_tasks

    def reversed_tasks(fn, jobs, *args, **kwargs):
        return real(fn, dict(reversed(list(jobs.items()))), *args, **kwargs)

    monkeypatch.setattr(driver, "run_tasks", reversed_tasks)
    out = tmp_path / "out"
    outcome = plan_partitioned(path, comm, out, params=params,
                               options=UnitOptions(households="households"))
    assert outcome.report["partitioned"]["batches"] == len(comm) > 2  # one each
    expected = plan(prepare_units(units, households="households"), comm, params=params)
    write_plan(expected, tmp_path / "reference")
    ref = tmp_path / "reference"
    assert (out / "grids.geojson").read_bytes() == (ref / "grids.geojson").read_bytes()
    lines = [sorted((p / "units.csv").read_text().splitlines()) for p in (out, ref)]
    assert lines[0] == lines[1]  # in-process lists units in input order, here by community
    assert_same_parcels(out, tmp_path / "reference")


def test_changed_parameters_start_afresh(tmp_path):
    path, _, comm = synthetic_inputs(tmp_path)
    options = UnitOptions(households="households")
    out = tmp_path / "out"
    plan_partitioned(path, comm, out, params=PlanParams(seed=0), options=options)
    again = plan_partitioned(path, comm, out, params=PlanParams(seed=0), options=options)
    assert again.resumed == len(comm)
    changed = plan_partitioned(path, comm, out, params=PlanParams(seed=1), options=options)
    assert changed.resumed == 0
    assert json.loads((out / "report.json").read_text())["params"]["seed"] == 1


def test_work_folder_of_an_earlier_layout_starts_afresh(tmp_path):
    """A work folder an earlier gridplan left (per-community markers) is cleared, not read."""
    path, _, comm = synthetic_inputs(tmp_path)
    options = UnitOptions(households="households")
    out = tmp_path / "out"
    plan_partitioned(path, comm, out, params=PlanParams(seed=0), options=options)
    run_file = out / "parts" / "run.json"
    stamp = json.loads(run_file.read_text())
    del stamp["layout"]
    run_file.write_text(json.dumps(stamp))
    (out / "parts" / "plans" / "C01.json").write_text('{"community_id": "C01", "grids": 3}')
    again = plan_partitioned(path, comm, out, params=PlanParams(seed=0), options=options)
    assert again.resumed == 0
    assert not (out / "parts" / "plans" / "C01.json").exists()


@pytest.mark.parametrize("extra, message", [
    (["--osm", DEMO / "buildings.geojson"], "--osm reads one extract in one process"),
    (["--balance", "workload"], "--balance workload needs every unit's visits at once"),
    (["--dedicated", DEMO / "communities.geojson"], "--dedicated is not supported with"),
    (["--previous", DEMO], "--previous is not supported with"),
])
def test_partitioned_refuses_whole_input_options(demo_parts, tmp_path, extra, message):
    result = run_cli("plan", "--population", demo_parts, "--out", tmp_path / "o", *LAYERS,
                     *extra)
    assert result.exit_code == 2
    assert message in result.output
    assert "Fix:" in result.output


def test_partitioned_needs_communities(demo_parts, tmp_path):
    result = run_cli("plan", "--population", demo_parts, "--out", tmp_path / "o", "--quiet",
                     "--households", "households")
    assert result.exit_code == 2
    assert "partitioned planning needs community boundaries" in result.output


def test_unreachable_scheduler_is_an_input_error(demo_parts, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("gridplan.scale.cluster.CONNECT_TIMEOUT", "2s")
    result = run_cli("plan", "--population", demo_parts, "--out", tmp_path / "o", *LAYERS,
                     "--scheduler", "tcp://127.0.0.1:9", "--retries", 0)
    assert result.exit_code == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.output
