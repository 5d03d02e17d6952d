"""Web API fuzzed from its own OpenAPI schema (schemathesis): no request gets a 5xx answer."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")

from apiutil import KEY, cached_demo_plan  # noqa: E402
from gridplan.api.app import create_app  # noqa: E402
from gridplan.api.settings import Settings  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402


def _app(tmp_dir):
    app = create_app(Settings(data_dir=tmp_dir, api_keys=f"fuzz:{KEY}", max_upload_mb=1))
    app.state.store.create_plan(cached_demo_plan(), name="demo", author="tests",
                                plan_id="demo")
    return app


APP = _app(Path(tempfile.mkdtemp(prefix="gridplan-fuzz-")))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


# starting plan jobs spawns planning processes: covered by tests/test_api.py instead
@pytest.mark.slow
@schema.exclude(path="/jobs", method="POST").parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    """Every generated request (valid or not, with or without the key) gets 2xx/4xx."""
    headers = {"X-API-Key": KEY, "If-Match": '"demo:1"'} if case.method != "GET" else {}
    if case.path_parameters and "plan_id" in case.path_parameters:
        case.path_parameters["plan_id"] = "demo"
    case.call_and_validate(headers=headers, checks=[not_a_server_error])
