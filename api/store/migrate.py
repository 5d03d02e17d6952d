"""Migrate: bring a store's schema to the latest alembic revision on open."""

from __future__ import annotations

import logging

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# package resource (package data of gridplan.api), so a wheel install finds it like a checkout
MIGRATIONS = "gridplan.api:migrations"


def alembic_config(engine: Engine) -> Config:
    """Alembic configuration for ``engine`` (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run pending migrations inside one connection (SQLite or PostgreSQL)."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
