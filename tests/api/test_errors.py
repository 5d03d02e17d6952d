"""Domain errors: problem/source/field/fix on every error, one table of HTTP answers."""

from __future__ import annotations

import importlib
import pickle
import pkgutil

import pytest
from apiutil import make_client
from gridplan.api.errors import ANSWERS, HTTPProblem, answer
from gridplan.api.store import NotFound, VersionConflict
from gridplan.api.uploads import UploadError

import gridplan
from gridplan.errors import GridplanError, InputError, PlanInvariantError
from gridplan.practice.editing import EditRefused
from gridplan.scale.driver import PartialPlanError


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


def test_every_gridplan_error_class_has_an_answer():
    for pkg in (gridplan, importlib.import_module("gridplan.api"),
                importlib.import_module("gridplan.maps")):
        for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if not mod.name.endswith(".__main__"):
                importlib.import_module(mod.name)
    ours = {c for c in _subclasses(GridplanError) if c.__module__.startswith("gridplan.")}
    assert len(ours) >= 8
    missing = sorted(f"{c.__module__}.{c.__name__}" for c in ours - set(ANSWERS))
    assert not missing, f"add these to gridplan.api.errors.ANSWERS: {missing}"


ERRORS = {
    "input": (InputError("negative households", source="b.gpkg", field="hh",
                         fix="use 0 or more"), 422),
    "refused": (EditRefused("grid a is locked", "unlock it first",
                            [{"rule": "locked", "grids": ["a"]}]), 422),
    "missing": (NotFound("no plan 'x'"), 404),
    "conflict": (VersionConflict("p", 3), 412),
    "bug": (PlanInvariantError("plan broke its rules: a unit appears twice"), 500),
    "upload": (UploadError(415, "a .vrt file is not accepted", source="x.vrt",
                           fix="upload the data itself"), 415),
    "route": (HTTPProblem(409, "there is no edit to undo", "make an edit first"), 409),
    "partial": (PartialPlanError({"c1": "ValueError: boom"}, "communities", 2, "/tmp/w"),
                400),
    "plain": (GridplanError("the plan has no parcels"), 400),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    c = make_client("sqlite", tmp_path_factory.mktemp("errors"))

    def boom(kind: str):
        raise ERRORS[kind][0]

    c.app.add_api_route("/boom/{kind}", boom)
    with c:
        yield c


@pytest.mark.parametrize("kind", sorted(ERRORS))
def test_each_error_answers_its_status_with_a_problem_body(client, kind):
    exc, status = ERRORS[kind]
    assert answer(exc).status == status
    r = client.get(f"/boom/{kind}")
    assert r.status_code == status
    detail = r.json()["detail"]
    assert {"problem", "fix", "field", "source"} <= set(detail)
    assert detail["problem"] and isinstance(detail["fix"], str)


def test_bodies_keep_what_each_error_adds(client):
    d = client.get("/boom/input").json()["detail"]
    assert (d["problem"], d["source"], d["field"], d["fix"]) == (
        "negative households", "b.gpkg", "hh", "use 0 or more")
    assert client.get("/boom/refused").json()["detail"]["violations"][0]["rule"] == "locked"
    r = client.get("/boom/conflict")
    assert r.headers["ETag"] == '"p:3"' and r.json()["detail"]["etag"] == '"p:3"'
    assert "If-Match" in r.json()["detail"]["fix"]
    assert "GET /plans" in client.get("/boom/missing").json()["detail"]["fix"]


def test_a_broken_plan_rule_is_a_server_error_not_bad_input(client):
    r = client.get("/boom/bug")
    assert r.status_code == 500
    d = r.json()["detail"]
    assert d["problem"].startswith("plan broke its rules") and "report" in d["fix"]


def test_every_error_carries_problem_field_fix_and_survives_pickling():
    for exc, _ in ERRORS.values():
        assert {"problem", "source", "field", "fix"} <= set(vars(exc))
        again = pickle.loads(pickle.dumps(exc))
        assert type(again) is type(exc) and str(again) == str(exc)
        assert vars(again) == vars(exc)
    assert str(ERRORS["refused"][0]) == "grid a is locked. Fix: unlock it first"
