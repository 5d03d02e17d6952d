"""Initial schema: plans, versions, parcels, units, assignments, grids, layers, jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from alembic import op
from gridplan.api.store.schema import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table (and the PostGIS extension on PostgreSQL)."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    metadata.create_all(bind=bind)


def downgrade() -> None:
    """Drop every table."""
    metadata.drop_all(bind=op.get_bind())
