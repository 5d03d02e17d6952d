"""The OpenAPI description says what the service does: ``If-Match`` required on every edit,
each route's 4xx answers, and the error bodies as they are really sent."""

from __future__ import annotations

import json

import pytest
from apiutil import WRITE, add_demo, make_client
from openapi_check import undeclared

EDITS = ["edits/move", "edits/merge", "edits/split", "edits/lock", "edits/workers", "undo",
         "redo", "restore"]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return make_client("sqlite", tmp_path_factory.mktemp("openapi"))


@pytest.fixture(scope="module")
def schema(client) -> dict:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


@pytest.mark.parametrize("edit", EDITS)
def test_if_match_is_required_on_every_edit(schema, edit):
    op = schema["paths"][f"/plans/{{plan_id}}/{edit}"]["post"]
    header = next(p for p in op["parameters"] if p["name"] == "If-Match")
    assert header["in"] == "header" and header["required"] is True
    assert "412" in header["description"] and "428" in header["description"]
    assert {"401", "404", "412", "413", "422", "428"} <= set(op["responses"])


def test_every_route_lists_its_4xx_answers(schema):
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert {"400", "422"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if method == "post":
                assert {"401", "413"} <= codes, (method, path)
            for code, answer in op["responses"].items():
                if code.startswith("4"):
                    ref = json.dumps(answer["content"]["application/json"]["schema"])
                    assert "Problem" in ref or "InvalidFields" in ref, (method, path, code)
                    assert answer["description"], (method, path, code)
    assert "429" in schema["paths"]["/jobs"]["post"]["responses"]
    assert {"413", "415", "429"} <= set(schema["paths"]["/layers"]["post"]["responses"])
    assert "409" in schema["paths"]["/plans/{plan_id}/undo"]["post"]["responses"]


def test_the_error_bodies_are_those_described(schema):
    text = json.dumps(schema)
    assert "HTTPValidationError" not in text  # FastAPI's body, which the service never sends
    problem = schema["components"]["schemas"]["Problem"]["properties"]["detail"]
    assert {"problem", "fix"} <= set(problem["required"])
    fields = schema["components"]["schemas"]["InvalidFields"]["properties"]["detail"]
    assert {"field", "problem", "fix"} <= set(fields["items"]["required"])


def test_real_answers_match_the_description(client, schema):
    plan = add_demo(client)
    tag = client.get(f"/plans/{plan}").headers["ETag"]
    move = f"/plans/{plan}/edits/move"
    sent = [
        ("POST", move, client.post(move, json={"cells": ["x"], "to_grid": "y"},
                                   headers=WRITE), 428),
        ("POST", move, client.post(move, json={"cells": ["x"], "to_grid": "y"},
                                   headers={**WRITE, "If-Match": '"x:9"'}), 412),
        ("POST", move, client.post(move, json={"cells": ["x"], "to_grid": "y"},
                                   headers={"If-Match": tag}), 401),
        ("POST", move, client.post(move, json={"cells": ["x"]},
                                   headers={**WRITE, "If-Match": tag}), 422),
        ("POST", move, client.post(move, json={"cells": ["x"], "to_grid": "y"},
                                   headers={**WRITE, "If-Match": tag}), 422),
        ("POST", move, client.post(move, content=b"{", headers={
            **WRITE, "If-Match": tag, "Content-Type": "application/json"}), 400),
        ("GET", "/plans/nope", client.get("/plans/nope"), 404),
        ("POST", f"/plans/{plan}/undo", client.post(f"/plans/{plan}/undo",
                                                    headers={**WRITE, "If-Match": tag}), 409),
    ]
    for method, url, r, status in sent:
        assert r.status_code == status, (url, r.text)
        assert not undeclared(schema, method, url, r.status_code, r.json()), (url, r.text)
    assert sent[0][2].json()["detail"]["etag"] == tag
