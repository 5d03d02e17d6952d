"""Schema: the tables of a plan store, the same on SQLite and on PostgreSQL/PostGIS.

Geometries are EPSG:4326 WKB in a ``geom`` column (PostGIS ``geometry(Geometry, 4326)``
on PostgreSQL), with a longitude/latitude bounding box beside them for ``bbox`` filters.
Everything a version changes is appended (``versions``, ``assignments``,
``grid_versions``); ``*_head`` tables hold the current version for fast reads.
"""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

SRID = 4326
metadata = MetaData()


def geom_column() -> Column:
    """WKB geometry: a BLOB on SQLite, a PostGIS geometry on PostgreSQL."""
    kind = LargeBinary().with_variant(
        Geometry("GEOMETRY", srid=SRID, spatial_index=False), "postgresql")
    return Column("geom", kind, nullable=False)


def bbox_columns() -> list[Column]:
    """Longitude/latitude bounds of a feature's geometry."""
    return [Column(n, Float, nullable=False) for n in ("minx", "miny", "maxx", "maxy")]


def _plan_fk() -> Column:
    return Column("plan_id", String(64), ForeignKey("plans.id", ondelete="CASCADE"),
                  primary_key=True)


plans = Table(
    "plans", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("crs", Text, nullable=False),  # metric CRS edits are computed in
    Column("params", JSON, nullable=False),
    Column("report", JSON, nullable=False),
    Column("head", Integer, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("author", String(100), nullable=False),
    Column("owner", String(100), nullable=True),  # since 0003: user or key name owning it
)

versions = Table(
    "versions", metadata, _plan_fk(),
    Column("version", Integer, primary_key=True),
    Column("author", String(100), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("op", String(20), nullable=False),
    Column("target", Integer, nullable=True),  # version an undo/redo/restore refers to
    Column("summary", JSON, nullable=False),
)

communities = Table(
    "communities", metadata, _plan_fk(),
    Column("community_id", String(100), primary_key=True),
    Column("code", String(40), nullable=True),
    Column("households", Integer, nullable=False),
    Column("grids", Integer, nullable=False),
    geom_column(), *bbox_columns(),
)

cells = Table(
    "cells", metadata, _plan_fk(),
    Column("cell_id", String(200), primary_key=True),
    Column("community_id", String(100), nullable=False),
    Column("block", Integer, nullable=False),
    geom_column(), *bbox_columns(),
)

cell_edges = Table(
    "cell_edges", metadata, _plan_fk(),
    Column("a", String(200), primary_key=True),
    Column("b", String(200), primary_key=True),
    Column("crossing", Boolean, nullable=False),
)

units = Table(
    "units", metadata, _plan_fk(),
    Column("unit_id", String(200), primary_key=True),
    Column("building_id", String(200), nullable=False),
    Column("cell_id", String(200), nullable=False),
    Column("community_id", String(100), nullable=False),
    Column("households", Integer, nullable=False),
    Column("population", Float, nullable=False),
    # workload in household-equivalents, for plans balanced on workload (else null)
    Column("visit_equivalents", Float, nullable=True),
    geom_column(), *bbox_columns(),
)

assignments = Table(
    "assignments", metadata, _plan_fk(),
    Column("kind", String(1), primary_key=True),  # "u" unit, "c" parcel (cell)
    Column("member_id", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("grid_code", String(60), nullable=False),
)

assignments_head = Table(
    "assignments_head", metadata, _plan_fk(),
    Column("kind", String(1), primary_key=True),
    Column("member_id", String(200), primary_key=True),
    Column("grid_code", String(60), nullable=False),
)

grid_versions = Table(
    "grid_versions", metadata, _plan_fk(),
    Column("grid_code", String(60), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("deleted", Boolean, nullable=False),
    Column("attrs", JSON, nullable=True),
    Column("geom", LargeBinary().with_variant(
        Geometry("GEOMETRY", srid=SRID, spatial_index=False), "postgresql"), nullable=True),
    *[Column(n, Float, nullable=True) for n in ("minx", "miny", "maxx", "maxy")],
)

grids_head = Table(
    "grids_head", metadata, _plan_fk(),
    Column("grid_code", String(60), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("community_id", String(100), nullable=False),
    Column("attrs", JSON, nullable=False),
    geom_column(), *bbox_columns(),
)
Index("ix_grids_head_bbox", grids_head.c.plan_id, grids_head.c.minx, grids_head.c.maxx)
Index("ix_units_cell", units.c.plan_id, units.c.cell_id)

layers = Table(
    "layers", metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("path", Text, nullable=False),
    Column("summary", JSON, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("author", String(100), nullable=False),
)

jobs = Table(
    "jobs", metadata,
    Column("id", String(64), primary_key=True),
    Column("status", String(20), nullable=False),  # queued running done failed cancelled
    Column("stage", String(60), nullable=False),
    Column("percent", Float, nullable=False),
    Column("params", JSON, nullable=False),
    Column("plan_id", String(64), nullable=True),
    Column("error", JSON, nullable=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    Column("author", String(100), nullable=False),
)

# since 0003: accounts that sign in (roles viewer, editor, admin) and their sessions
users = Table(
    "users", metadata,
    Column("name", String(100), primary_key=True),
    Column("role", String(10), nullable=False),
    Column("password", String(300), nullable=False),  # scrypt$n$r$p$salt$hash (hex)
    Column("created", DateTime(timezone=True), nullable=False),
)

sessions = Table(
    "sessions", metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 of the bearer token
    Column("user_name", String(100), ForeignKey("users.name", ondelete="CASCADE"),
           nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("expires", DateTime(timezone=True), nullable=False),
)
Index("ix_sessions_user", sessions.c.user_name)
