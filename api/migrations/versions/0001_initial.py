"""Initial schema: plans, versions, parcels, units, assignments, grids, layers, jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

The tables are spelled out as they were at this revision, not taken from
``gridplan.api.store.schema``: a later revision changes the schema, and a new store runs
this one first. Geometries are WKB blobs on SQLite and PostGIS geometries on PostgreSQL,
as in ``schema.py``.
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SRID = 4326


def _geom(nullable: bool = False) -> sa.Column:
    kind = sa.LargeBinary().with_variant(
        Geometry("GEOMETRY", srid=SRID, spatial_index=False), "postgresql")
    return sa.Column("geom", kind, nullable=nullable)


def _bbox(nullable: bool = False) -> list[sa.Column]:
    return [sa.Column(n, sa.Float, nullable=nullable) for n in ("minx", "miny", "maxx", "maxy")]


def _plan_fk() -> sa.Column:
    return sa.Column("plan_id", sa.String(64), sa.ForeignKey("plans.id", ondelete="CASCADE"),
                     primary_key=True)


def upgrade() -> None:
    """Create every table (and the PostGIS extension on PostgreSQL)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "plans",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("crs", sa.Text, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
        sa.Column("head", sa.Integer, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
    )
    op.create_table(
        "versions", _plan_fk(),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("op", sa.String(20), nullable=False),
        sa.Column("target", sa.Integer, nullable=True),
        sa.Column("summary", sa.JSON, nullable=False),
    )
    op.create_table(
        "communities", _plan_fk(),
        sa.Column("community_id", sa.String(100), primary_key=True),
        sa.Column("code", sa.String(40), nullable=True),
        sa.Column("households", sa.Integer, nullable=False),
        sa.Column("grids", sa.Integer, nullable=False),
        _geom(), *_bbox(),
    )
    op.create_table(
        "cells", _plan_fk(),
        sa.Column("cell_id", sa.String(200), primary_key=True),
        sa.Column("community_id", sa.String(100), nullable=False),
        sa.Column("block", sa.Integer, nullable=False),
        _geom(), *_bbox(),
    )
    op.create_table(
        "cell_edges", _plan_fk(),
        sa.Column("a", sa.String(200), primary_key=True),
        sa.Column("b", sa.String(200), primary_key=True),
        sa.Column("crossing", sa.Boolean, nullable=False),
    )
    op.create_table(  # visit_equivalents came with 0002
        "units", _plan_fk(),
        sa.Column("unit_id", sa.String(200), primary_key=True),
        sa.Column("building_id", sa.String(200), nullable=False),
        sa.Column("cell_id", sa.String(200), nullable=False),
        sa.Column("community_id", sa.String(100), nullable=False),
        sa.Column("households", sa.Integer, nullable=False),
        sa.Column("population", sa.Float, nullable=False),
        _geom(), *_bbox(),
    )
    op.create_table(
        "assignments", _plan_fk(),
        sa.Column("kind", sa.String(1), primary_key=True),
        sa.Column("member_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("grid_code", sa.String(60), nullable=False),
    )
    op.create_table(
        "assignments_head", _plan_fk(),
        sa.Column("kind", sa.String(1), primary_key=True),
        sa.Column("member_id", sa.String(200), primary_key=True),
        sa.Column("grid_code", sa.String(60), nullable=False),
    )
    op.create_table(
        "grid_versions", _plan_fk(),
        sa.Column("grid_code", sa.String(60), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("attrs", sa.JSON, nullable=True),
        _geom(nullable=True), *_bbox(nullable=True),
    )
    op.create_table(
        "grids_head", _plan_fk(),
        sa.Column("grid_code", sa.String(60), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("community_id", sa.String(100), nullable=False),
        sa.Column("attrs", sa.JSON, nullable=False),
        _geom(), *_bbox(),
    )
    op.create_index("ix_grids_head_bbox", "grids_head", ["plan_id", "minx", "maxx"])
    op.create_index("ix_units_cell", "units", ["plan_id", "cell_id"])
    op.create_table(
        "layers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("stage", sa.String(60), nullable=False),
        sa.Column("percent", sa.Float, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=True),
        sa.Column("error", sa.JSON, nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
    )


def downgrade() -> None:
    """Drop every table (the PostGIS extension stays)."""
    op.drop_index("ix_units_cell", table_name="units")
    op.drop_index("ix_grids_head_bbox", table_name="grids_head")
    for table in ("jobs", "layers", "grids_head", "grid_versions", "assignments_head",
                  "assignments", "units", "cell_edges", "cells", "communities", "versions",
                  "plans"):
        op.drop_table(table)
