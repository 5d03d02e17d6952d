"""Plan storage: one interface over SQLite (default) and PostgreSQL/PostGIS."""

from gridplan.api.store.store import NotFound, Store, VersionConflict, etag

__all__ = ["NotFound", "Store", "VersionConflict", "etag"]
