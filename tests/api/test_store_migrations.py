"""Store migrations: a fresh store has exactly the schema of ``schema.py``; an old one upgrades.

PostGIS cases run in databases of their own, made and dropped here, on the server
``GRIDPLAN_TEST_DATABASE_URL`` names (skipped without one).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from apiutil import BACKENDS, cached_demo_plan, new_database, server_admin, store_url
from gridplan.api.store import schema as s
from gridplan.api.store.migrate import upgrade
from gridplan.api.store.store import Store
from sqlalchemy import MetaData, create_engine, insert, inspect, select, text
from sqlalchemy.engine import make_url

SERVER_TABLES = {"spatial_ref_sys"}  # PostGIS's own, in every database with the extension


def _fresh_url(backend: str, folder: Path, name: str) -> str:
    """An empty database: a new SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        return f"sqlite:///{folder}/{name}.sqlite"
    return new_database(store_url(backend, folder), f"gridplan_mig_{name}_{uuid.uuid4().hex[:8]}")


def _drop(url: str) -> None:
    u = make_url(url)
    if u.get_backend_name() != "postgresql":
        return
    with server_admin(url) as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def fresh(request, tmp_path):
    """A factory of empty databases on one backend, dropped after the test."""
    made = []

    def make(name: str) -> str:
        made.append(_fresh_url(request.param, tmp_path, name))
        return made[-1]

    yield make
    for url in made:
        _drop(url)


def _schema_diff(engine) -> list:
    def include_name(name, type_, _parent):
        return not (type_ == "table" and name in SERVER_TABLES)

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                      "include_name": include_name})
        return compare_metadata(ctx, s.metadata)


def test_a_fresh_store_has_the_schema_of_the_metadata(fresh):
    engine = create_engine(fresh("head"))
    upgrade(engine)
    assert _schema_diff(engine) == []
    assert set(inspect(engine).get_table_names()) - SERVER_TABLES == set(s.metadata.tables) | {
        "alembic_version"}
    engine.dispose()


def _changes(diff) -> set[tuple]:
    """What a schema diff adds: (kind, table, name) triples."""
    out = set()
    for d in diff:
        if d[0] == "add_table":
            out.add(("add_table", d[1].name, d[1].name))
        elif d[0] == "add_index":
            out.add(("add_index", d[1].table.name, d[1].name))
        else:
            out.add((d[0], d[3].table.name, d[3].name))
    return out


REVISION_0003 = {("add_table", "users", "users"), ("add_table", "sessions", "sessions"),
                 ("add_index", "sessions", "ix_sessions_user"),
                 ("add_column", "plans", "owner")}


def test_revision_0001_is_the_schema_before_0002(fresh):
    engine = create_engine(fresh("r0001"))
    upgrade(engine, "0001")
    assert _changes(_schema_diff(engine)) == {
        ("add_column", "units", "visit_equivalents")} | REVISION_0003
    engine.dispose()


def test_revision_0002_is_the_schema_before_users(fresh):
    engine = create_engine(fresh("r0002"))
    upgrade(engine, "0002")
    assert _changes(_schema_diff(engine)) == REVISION_0003
    engine.dispose()


def _rows(engine, name: str) -> list[tuple]:
    """Every row of table ``name`` (as the database has it), in a stable order."""
    table = _reflect(engine, name)
    with engine.connect() as conn:
        rows = conn.execute(select(table)).mappings().all()
    out = [tuple(sorted((k, _plain(v)) for k, v in r.items())) for r in rows]
    return sorted(out, key=repr)


def _reflect(engine, name: str):
    md = MetaData()
    md.reflect(engine, only=[name])
    return md.tables[name]


def _plain(value):
    """Stored geometries as bytes (PostGIS answers WKB elements)."""
    if hasattr(value, "data"):
        return bytes(value.data)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def _edited_demo(url: str) -> tuple[Store, str]:
    """A store at head holding the demo plan with one parcel moved (versions 1 and 2)."""
    store = Store(url)
    plan_id = "old"
    store.create_plan(cached_demo_plan(), name="demo", author="tests", plan_id=plan_id)
    head, state = store.state(plan_id)
    for cell in sorted(state.cell_grid):
        others = sorted({state.cell_grid[n] for n in state.nbrs[cell]} - {state.cell_grid[cell]})
        if others and state.cell_units[cell]:
            break
    store.commit(plan_id, head, state.move([cell], others[0], force=True), author="tests",
                 op="move")
    return store, plan_id


def test_a_store_at_0001_opens_upgraded_with_its_plans_intact(fresh):
    source, plan_id = _edited_demo(fresh("src"))
    old_url = fresh("old")
    old = create_engine(old_url)
    upgrade(old, "0001")
    old_tables = MetaData()
    old_tables.reflect(old)
    assert "visit_equivalents" not in old_tables.tables["units"].c
    src = MetaData()
    src.reflect(source.engine, only=list(s.metadata.tables))
    with source.engine.connect() as read, old.begin() as write:
        for table in s.metadata.sorted_tables:  # copy each row in the shape 0001 has
            if table.name not in old_tables.tables:
                continue  # came later (users, sessions: empty in the source)
            keep = [c.name for c in old_tables.tables[table.name].c]
            rows = [dict(r) for r in read.execute(
                select(*[src.tables[table.name].c[k] for k in keep])).mappings()]
            if rows:
                write.execute(insert(old_tables.tables[table.name]), rows)
    old.dispose()

    store = Store(old_url)  # upgrades to head
    assert "visit_equivalents" in {c["name"] for c in inspect(store.engine).get_columns("units")}
    assert _schema_diff(store.engine) == []
    for table in s.metadata.sorted_tables:
        assert _rows(store.engine, table.name) == _rows(source.engine, table.name), table.name
    assert store.plan_info(plan_id) == source.plan_info(plan_id)
    assert store.plan_info(plan_id)["owner"] == "tests"  # 0003 made the author its owner
    assert store.versions(plan_id) == source.versions(plan_id)
    for version in (1, 2):
        new, was = store.plan_at(plan_id, version), source.plan_at(plan_id, version)
        assert new.grids.drop(columns="geometry").equals(was.grids.drop(columns="geometry"))
        assert new.grids.geometry.geom_equals_exact(was.grids.geometry, 1e-6).all()
        assert new.units.drop(columns="geometry").equals(was.units.drop(columns="geometry"))
        assert new.cells["grid_code"].equals(was.cells["grid_code"])
    assert len(store.plan_at(plan_id, 1).grids) == len(cached_demo_plan().grids)
    # and it takes edits as a new store would
    head, state = store.state(plan_id)
    assert head == 2
    assert state.metrics() == source.state(plan_id)[1].metrics()
    cell = next(c for c in sorted(state.cell_grid) if state.cell_units[c] and (
        {state.cell_grid[n] for n in state.nbrs[c]} - {state.cell_grid[c]}))
    to = sorted({state.cell_grid[n] for n in state.nbrs[cell]} - {state.cell_grid[cell]})[0]
    assert store.commit(plan_id, head, state.move([cell], to, force=True), author="tests",
                        op="move") == 3
    store.engine.dispose()
    source.engine.dispose()


def test_a_store_at_0002_gets_users_and_plan_owners(fresh):
    """0003 on a store with plans: owners from authors, then accounts and sessions work."""
    from gridplan.api.store.users import Users

    url = fresh("r0002plans")
    engine = create_engine(url)
    upgrade(engine, "0002")
    old = MetaData()
    old.reflect(engine)
    assert "users" not in old.tables and "owner" not in old.tables["plans"].c
    with engine.begin() as conn:
        conn.execute(insert(old.tables["plans"]), [{
            "id": "p1", "name": "old plan", "crs": "EPSG:3857", "params": {}, "report": {},
            "head": 1, "created": datetime(2026, 11, 30, tzinfo=UTC), "author": "ana"}])
    engine.dispose()

    store = Store(url)  # upgrades to head
    assert _schema_diff(store.engine) == []
    assert store.plan_info("p1")["owner"] == "ana"
    users = Users(store)
    users.add("ana", "editor", "a long secret")
    token, _ = users.sign_in("ana", "a long secret", hours=1)
    assert users.session(token)["role"] == "editor"
    users.remove("ana")
    assert users.session(token) is None
    store.engine.dispose()


def test_sqlite_store_syncs_every_commit(tmp_path):
    """WAL with ``synchronous=FULL``: an acknowledged edit survives a power loss."""
    store = Store(f"sqlite:///{tmp_path}/plans.sqlite")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    store.engine.dispose()
