"""Shared helpers for the web API tests: the demo plan, stores on both backends, clients."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from editing_util import spoiling_move  # noqa: F401  (the API tests use it from here)
from fastapi.testclient import TestClient
from gridplan.api.app import create_app
from gridplan.api.demo import demo_plan
from gridplan.api.settings import Settings
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

KEY = "test-key"
WRITE = {"X-API-Key": KEY}
BACKENDS = ["sqlite", "postgis"]


@functools.cache
def cached_demo_plan():
    """The demo district planned once per test session."""
    return demo_plan()


def store_url(backend: str, folder: Path) -> str:
    """A store URL for ``backend``; PostGIS tests skip when no server was started."""
    if backend == "sqlite":
        return f"sqlite:///{folder}/plans.sqlite"
    url = os.environ.get("GRIDPLAN_TEST_DATABASE_URL")
    if not url:
        pytest.skip("no PostGIS server: run `eval \"$(.ci/postgis.sh)\"` first")
    return _own_database(url, os.environ.get("PYTEST_XDIST_WORKER", ""))


@functools.cache
def _own_database(url: str, worker: str) -> str:
    """``url``, or under pytest-xdist a database of this worker's own on the same server
    (made on first use), so that two workers never migrate one database at once."""
    return new_database(url, f"{make_url(url).database}_{worker}") if worker else url


@contextmanager
def server_admin(url: str) -> Iterator[Connection]:
    """An autocommit connection to the ``postgres`` database of ``url``'s server, to make
    or drop databases."""
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            yield conn
    finally:
        admin.dispose()


def new_database(url: str, name: str) -> str:
    """The URL of database ``name`` on ``url``'s server, made unless it exists."""
    with server_admin(url) as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                        {"n": name}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def make_client(backend: str, folder: Path, **settings) -> TestClient:
    """A test client of a fresh app on ``backend`` (key ``test-key`` may write)."""
    folder.mkdir(parents=True, exist_ok=True)
    s = Settings(data_dir=folder, database_url=store_url(backend, folder),
                 api_keys=f"tester:{KEY},other:other-key", **settings)
    return TestClient(create_app(s))


def add_demo(client: TestClient) -> str:
    """Store the demo plan under a new id; returns the id."""
    plan_id = "t" + uuid.uuid4().hex[:10]
    client.app.state.store.create_plan(cached_demo_plan(), name="demo", author="tests",
                                       plan_id=plan_id)
    return plan_id
