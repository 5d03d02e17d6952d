"""User accounts, sign-in sessions and plan owners.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

``users`` holds accounts (name, role, scrypt password hash), ``sessions`` the bearer
tokens handed out at sign-in (only their SHA-256 is kept, with an expiry), and
``plans.owner`` the user (or API key name) a plan belongs to; stores made before this
revision get their plans' author as owner.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``users`` and ``sessions``; add ``plans.owner`` (filled from ``author``)."""
    op.create_table(
        "users",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("password", sa.String(300), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(100),
                  sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sessions_user", "sessions", ["user_name"])
    op.add_column("plans", sa.Column("owner", sa.String(100), nullable=True))
    op.execute("UPDATE plans SET owner = author")


def downgrade() -> None:
    """Drop ``plans.owner``, ``sessions`` and ``users``."""
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("owner")
    op.drop_index("ix_sessions_user", table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("users")
