"""Alembic environment: migrations run on the connection the store passes in."""

from alembic import context
from gridplan.api.store.schema import metadata
from sqlalchemy import create_engine

config = context.config


def run() -> None:
    """Run migrations online, on the given connection or a new engine from the URL."""
    conn = config.attributes.get("connection")
    if conn is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _migrate(conn)
    else:
        _migrate(conn)


def _migrate(conn) -> None:
    context.configure(connection=conn, target_metadata=metadata,
                      render_as_batch=conn.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


run()
