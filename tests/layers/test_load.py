"""The one input loader: every front-end reads a population file through it, and an upload
of a bad file is refused with the same problem, field and fix as the command line gives."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import (
    X0,
    Y0,
    communities_frame,
    lattice,
    plan_args,
    run_cli,
    units_frame,
    write_layer,
)
from gridplan.api.uploads import read_upload, save_upload

from gridplan.errors import InputError
from gridplan.layers.load import KINDS, LayerOptions, read_layer

pytestmark = pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")


def _units(households: int = 50) -> gpd.GeoDataFrame:
    return units_frame(lattice(6, 4, households=households))


def _comms() -> gpd.GeoDataFrame:
    return communities_frame([("C1", None, shapely.box(X0, Y0, X0 + 300, Y0 + 200))])


@pytest.fixture
def reads(monkeypatch) -> list[tuple[Path, list[str]]]:
    """Every vector file read while the test runs, with the functions on the stack then."""
    seen: list[tuple[Path, list[str]]] = []

    def spy(original):
        def read(path, *args, **kwargs):
            frame, stack = sys._getframe(1), []
            while frame is not None:
                stack.append(f"{frame.f_globals.get('__name__')}.{frame.f_code.co_name}")
                frame = frame.f_back
            seen.append((Path(path).resolve(), stack))
            return original(path, *args, **kwargs)
        return read

    monkeypatch.setattr(gpd, "read_file", spy(gpd.read_file))
    monkeypatch.setattr(gpd, "read_parquet", spy(gpd.read_parquet))
    return seen


def _population_reads(reads, path: Path) -> list[list[str]]:
    return [stack for p, stack in reads if p == path.resolve()]


def test_plan_partitioned_run_and_replan_read_population_through_the_loader(tmp_path, reads):
    comms = write_layer(_comms(), tmp_path / "communities.gpkg")
    population = write_layer(_units(), tmp_path / "units.gpkg")
    parts = tmp_path / "parts"
    parts.mkdir()
    partition = write_layer(_units(), parts / "p0.gpkg")
    changed = write_layer(_units(households=60), tmp_path / "units_new.gpkg")
    runs = {
        population: plan_args(population, comms, tmp_path / "plan"),
        partition: plan_args(parts, comms, tmp_path / "partitioned"),
        changed: ["replan", "--plan", tmp_path / "plan", "--population", changed,
                  "--households", "households", "--out", tmp_path / "replan", "--no-compare",
                  "--no-map", "--quiet"],
    }
    for path, args in runs.items():
        result = run_cli(*args)
        assert result.exit_code == 0, (args[0], result.output, result.exception)
        stacks = _population_reads(reads, path)
        assert stacks, f"{path.name} was never read"
        for stack in stacks:
            assert "gridplan.layers.load.read_frame" in stack, (path.name, stack[:8])


BAD = {  # name → (kind, layer, upload options, extra CLI arguments)
    "negative households": ("population", lambda: _with_households(-5), {}, ()),
    "population without CRS": ("population",
                               lambda: _units().set_crs(None, allow_override=True), {}, ()),
    "duplicate community ids": ("communities", lambda: communities_frame([
        ("C1", None, shapely.box(X0, Y0, X0 + 300, Y0 + 200)),
        ("C1", None, shapely.box(X0 + 300, Y0, X0 + 400, Y0 + 200))]), {}, ()),
    "missing code field": ("communities", lambda: _comms().drop(columns="code"), {}, ()),
    "point compounds": ("compounds", lambda: gpd.GeoDataFrame(
        {"compound_id": ["k1"]}, geometry=[shapely.Point(X0 + 10, Y0 + 10)],
        crs=_comms().crs), {}, ("--compounds",)),
}
UPLOAD_OPTIONS = {"population": {"unit_id": "unit_id", "households": "households"},
                  "communities": {"id_field": "id", "code_field": "code"}, "compounds": {}}


def _with_households(value: int) -> gpd.GeoDataFrame:
    units = _units()
    units.loc[3, "households"] = value
    return units


async def _body(data: bytes):
    yield data


@pytest.mark.parametrize("case", list(BAD))
def test_upload_and_cli_refuse_a_bad_file_alike(tmp_path, case):
    kind, layer, _, extra = BAD[case]
    bad = write_layer(layer(), tmp_path / f"{kind}.gpkg")
    good_units = write_layer(_units(), tmp_path / "units_ok.gpkg")
    good_comms = write_layer(_comms(), tmp_path / "communities_ok.gpkg")
    units = bad if kind == "population" else good_units
    comms = bad if kind == "communities" else good_comms
    cli = run_cli(*plan_args(units, comms, tmp_path / "out", [*extra, bad] if extra else []))
    assert cli.exit_code == 2, (cli.output, cli.exception)
    saved = asyncio.run(save_upload(_body(bad.read_bytes()), bad.name, tmp_path / "uploads"))
    with pytest.raises(InputError) as info:
        read_upload(saved, kind, **UPLOAD_OPTIONS[kind])
    err = info.value
    assert err.source == bad.name
    same = InputError(err.problem, source=str(bad), field=err.field, fix=err.fix)
    assert cli.stderr.strip() == f"error: {same}", (cli.stderr, str(err))


def test_unknown_kind_names_the_kinds(tmp_path):
    with pytest.raises(InputError, match="unknown layer kind 'roads'") as info:
        read_layer(tmp_path / "x.gpkg", "roads")
    assert all(k in info.value.fix for k in KINDS)


def test_tables_accept_their_own_ids_unless_given_the_plans(tmp_path):
    path = tmp_path / "workers.csv"
    path.write_text("worker_id,name,community_id\nW1,A,C1\nW2,B,C2\n", encoding="utf-8")
    assert len(read_layer(path, "workers")) == 2
    with pytest.raises(InputError, match="unknown community ids: C2") as info:
        read_layer(path, "workers", LayerOptions(community_ids=["C1"]))
    assert info.value.field == "community_id"


def _counting_checks(monkeypatch) -> list[str]:
    """Patch ``check_layer`` where the loader and ``plan()`` call it; the layers it checks."""
    import gridplan.engine.pipeline as pipeline
    import gridplan.layers.load as load
    import gridplan.layers.vector as vector

    seen: list[str] = []

    def counted(gdf, *, what, **kw):
        seen.append(what)
        return vector.check_layer(gdf, what=what, **kw)

    for module in (load, pipeline):
        monkeypatch.setattr(module, "check_layer", counted)
    return seen


def _raster(path: Path) -> Path:
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_bounds

    with rasterio.open(path, "w", driver="GTiff", height=2, width=3, count=1, dtype="float32",
                       crs=str(_comms().crs), transform=from_bounds(
                           X0, Y0, X0 + 300, Y0 + 200, 3, 2)) as ds:
        ds.write(np.full((2, 3), 600.0, dtype="float32"), 1)
    return path


def _osm(path: Path) -> Path:
    from test_osm import synthetic_osm  # tests/layers/test_osm.py

    path.write_text(synthetic_osm(), encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["vector", "raster", "osm"])
def test_population_is_checked_once_and_planned_the_same(tmp_path, monkeypatch, kind):
    """load_inputs checks the population layer (each path: vector, raster, OSM) and tells
    plan() so; plan() checking it again would give the same plan."""
    from gridplan.engine.pipeline import plan
    from gridplan.layers.load import load_inputs

    if kind == "osm":
        kw = {"osm": str(_osm(tmp_path / "tiny.osm"))}
    else:
        comms = write_layer(_comms(), tmp_path / "communities.gpkg")
        population = (write_layer(_units(), tmp_path / "units.gpkg") if kind == "vector"
                      else _raster(tmp_path / "population.tif"))
        kw = {"communities": str(comms), "community_id": "id", "community_code": "code",
              "population": str(population), "unit_id": "unit_id",
              "households_field": "households" if kind == "vector" else None}
    seen = _counting_checks(monkeypatch)
    inputs = load_inputs(kw)
    assert inputs["units_checked"] is True
    once = plan(**inputs)
    assert seen.count("population") == 1
    twice = plan(**dict(inputs, units_checked=False))
    assert seen.count("population") == 2
    assert once.units["grid_code"].tolist() == twice.units["grid_code"].tolist()
    assert once.grids.geometry.to_wkb().tolist() == twice.grids.geometry.to_wkb().tolist()


def test_plan_still_checks_a_layer_it_is_not_told_about():
    """Called directly, plan() repairs and normalises the population itself."""
    from gridplan.engine.pipeline import plan
    from gridplan.layers.population import prepare_units
    from gridplan.layers.prepare import prepare_communities

    units = _units()
    bow = shapely.Polygon([(X0 + 5, Y0 + 5), (X0 + 45, Y0 + 45), (X0 + 45, Y0 + 5),
                           (X0 + 5, Y0 + 45)])  # self-intersecting
    units.loc[0, "geometry"] = bow
    result = plan(prepare_units(units, households="households"),
                  prepare_communities(_comms(), id_field="id", code_field="code"))
    assert result.report["input"]["repaired_geometries"] == {"population": 1}
    assert result.units["unit_id"].tolist().count("u0_0") == 1
