"""Units keep their workload (visit-equivalents) so edits of workload plans stay balanced.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``units.visit_equivalents``.

    Skipped where the column exists: before 0001 was written out table by table it created
    the schema of the day, so a store stopped at 0001 by that code may have it already.
    """
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("units")}
    if "visit_equivalents" not in columns:
        op.add_column("units", sa.Column("visit_equivalents", sa.Float, nullable=True))


def downgrade() -> None:
    """Drop ``units.visit_equivalents``."""
    with op.batch_alter_table("units") as batch:
        batch.drop_column("visit_equivalents")
