"""Plan parameters in the web API: the job model is generated from PlanParams, so every
parameter is accepted, documented and checked; the dedicated-sites layer kind."""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import pytest
from apiutil import WRITE, make_client
from gridplan.api.routes.jobs import PlanOptions

from gridplan.params import BOUNDS, param_fields
from gridplan.run import demo_files

FIELDS = param_fields()
BOUNDED = [(n, k) for n, f in FIELDS.items() for k in BOUNDS if k in f.metadata]
SCHEMA_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum",
                 "le": "maximum"}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    c = make_client("sqlite", tmp_path_factory.mktemp("api-params"))
    with c:
        yield c


def _upload(client, path: Path, kind: str, **form):
    r = client.post("/layers", files={"file": (path.name, path.read_bytes())},
                    data={"kind": kind, **form}, headers=WRITE)
    assert r.status_code == 201, r.json()
    return r.json()


def _job(client, body: dict) -> dict:
    r = client.post("/jobs", json=body, headers=WRITE)
    assert r.status_code == 202, r.json()
    for _ in range(600):
        row = client.get(f"/jobs/{r.json()['id']}").json()
        if row["status"] not in ("queued", "running"):
            assert row["status"] == "done", row
            return row
        time.sleep(0.25)
    raise AssertionError("job did not finish")


def _refused(client, params: dict) -> dict:
    r = client.post("/jobs", json={"demo": True, "params": params}, headers=WRITE)
    assert r.status_code == 422, r.json()
    return r.json()["detail"]


@pytest.mark.parametrize("name", list(FIELDS))
def test_every_parameter_is_a_job_field_in_the_schema(client, name):
    meta = FIELDS[name].metadata
    assert name in PlanOptions.model_fields
    schema = client.get("/openapi.json").json()["components"]["schemas"]["PlanOptions"]
    prop = schema["properties"][name]
    assert prop["description"] == meta["help"] and prop["x-label-zh"] == meta["label_zh"]
    assert prop["x-cli"] == meta["cli"]
    for kind, key in SCHEMA_BOUNDS.items():
        assert prop.get(key) == meta.get(kind), (name, kind)
    if "choices" in meta:
        assert tuple(prop["enum"]) == meta["choices"]
    if "list_sep" in meta:
        assert prop["type"] == "array" and prop["default"] == list(FIELDS[name].default)


@pytest.mark.parametrize("name,kind", BOUNDED)
def test_out_of_bounds_is_422_naming_the_field(client, name, kind):
    bound = FIELDS[name].metadata[kind]
    bad = {"gt": bound, "ge": bound - 1, "lt": bound, "le": bound + 1}[kind]
    detail = _refused(client, {name: bad})
    assert any(e["loc"][-1] == name and e["loc"][-2] == "params" for e in detail), detail


@pytest.mark.parametrize("name,value", [("code_scheme", "gb15"), ("tessellation", "hex"),
                                        ("balance", "speed"), ("object_class", "12345"),
                                        ("barrier_highways", "primary"), ("attempts", 2.5),
                                        ("dedicated_residents", "campus")])
def test_bad_values_are_422_naming_the_field(client, name, value):
    detail = _refused(client, {name: value})
    assert any(e["loc"][-2:] == ["params", name] for e in detail), detail


def test_a_bad_tag_is_422_naming_the_parameter(client):
    """Checks beyond bounds (here key=value tags) answer before a job starts."""
    detail = _refused(client, {"dedicated_tags": ["amenity=school", "school"]})
    assert detail["field"] == "params.dedicated_tags" and "school" in detail["problem"]
    assert detail["fix"]


def test_job_takes_the_parameters_the_old_model_refused(client):
    params = {"code_scheme": "cjt349-20", "object_class": "010100",
              "dedicated_tags": ["amenity=school", "amenity=hospital"],
              "dedicated_min_area": 1e9, "barrier_highways": ["primary", "trunk"],
              "attempts": 6, "community_tolerance": 0.2, "dedicated_residents": "site"}
    row = _job(client, {"demo": True, "name": "params", "params": params})
    stored = client.get(f"/plans/{row['plan_id']}").json()["params"]
    assert {k: stored[k] for k in params} == params
    grids = client.app.state.store.plan_at(row["plan_id"]).grids
    assert grids["grid_code"].str.match(r"^010100\d{14}$").all()
    assert not (grids["grid_type"] == "dedicated").any()  # no site is 1000 km²


def test_dedicated_layer_through_a_job(client):
    files = demo_files()
    sites = gpd.read_file(files["dedicated"])
    layer = _upload(client, files["dedicated"], "dedicated")
    assert layer["kind"] == "dedicated" and layer["summary"]["features"] == len(sites)
    comm = _upload(client, files["communities"], "communities", id_field="id", code_field="code")
    pop = _upload(client, files["buildings"], "population", households="households")
    row = _job(client, {"name": "sites", "layers": {"communities": comm["id"],
                                                     "population": pop["id"],
                                                     "dedicated": layer["id"]}})
    grids = client.app.state.store.plan_at(row["plan_id"]).grids
    dedicated = grids[grids["grid_type"] == "dedicated"]
    assert len(dedicated) > 0 and set(dedicated["site_name"]) <= set(sites["name"])


def test_a_dedicated_layer_of_points_is_refused(client, tmp_path):
    points = gpd.read_file(demo_files()["dedicated"])
    points["geometry"] = points.geometry.representative_point()
    path = tmp_path / "points.geojson"
    points.to_file(path)
    r = client.post("/layers", files={"file": (path.name, path.read_bytes())},
                    data={"kind": "dedicated"}, headers=WRITE)
    assert r.status_code == 422, r.json()
    assert r.json()["detail"]["source"] == "points.geojson"
    assert "polygons" in r.json()["detail"]["problem"]
