"""Settings: the service's configuration, from ``GRIDPLAN_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridplan.layers.vector import GeometryLimits


class Settings(BaseSettings):
    """Service settings; every field can be set as ``GRIDPLAN_<NAME>`` in the environment.

    Examples
    --------
    >>> Settings(data_dir="/tmp/gp").store_url
    'sqlite:////tmp/gp/plans.sqlite'
    """

    model_config = SettingsConfigDict(env_prefix="GRIDPLAN_", extra="ignore")

    data_dir: Path = Field(Path("gridplan-data"), description="Folder for the default "
                           "SQLite store, uploaded layers and exports.")
    database_url: str | None = Field(None, description="SQLAlchemy URL of a PostgreSQL/PostGIS "
                                     "store, e.g. postgresql+psycopg://user:pass@host/db; the "
                                     "SQLite file in data_dir when unset.")
    api_keys: str = Field("", description="Keys allowed to write, as name:key pairs separated "
                          "by commas (the name is recorded as the author of each version). "
                          "When unset, one key is generated into data_dir/api-key.txt.")
    open_reads: bool = Field(True, description="Whether reads need no key.")
    api_key_role: Literal["editor", "admin"] = Field(
        "admin", description="Role of every API key: admin (also manages users) or editor.")
    session_hours: float = Field(12.0, gt=0, le=24 * 90, description="Hours a sign-in "
                                 "token (POST /auth/login) stays valid.")
    suggest_seconds: float = Field(5.0, gt=0, le=120, description="Budget of the exact "
                                   "solver for one 'suggest fix' (POST /plans/{id}/suggest).")
    max_upload_mb: float = Field(200.0, gt=0, description="Largest layer upload accepted.")
    max_unpacked_mb: float = Field(800.0, gt=0, description="Largest size an upload may "
                                   "unpack to (a zip, or compressed OSM XML: .osm.bz2, "
                                   ".osm.gz); refused while unpacking, with 400.")
    max_feature_vertices: int = Field(100_000, ge=4, description="Most vertices of one "
                                      "feature of an uploaded or planned layer (422 beyond).")
    max_layer_vertices: int = Field(20_000_000, ge=4, description="Most vertices of one "
                                    "uploaded or planned layer (422 beyond).")
    max_repair_vertices: int = Field(4_000, ge=4, description="Most vertices of an invalid "
                                     "(e.g. self-intersecting) polygon that is repaired; "
                                     "larger ones are refused (422): their repair takes "
                                     "seconds to hours.")
    read_seconds: float = Field(120.0, gt=0, description="Longest time an upload's read may "
                                "take; it runs in a process of its own, stopped at this "
                                "limit (413).")
    read_workers: int = Field(2, ge=1, description="Uploads read at the same time, each in "
                              "a process of its own; POST /layers answers 429 (with "
                              "Retry-After) beyond.")
    max_body_kb: int = Field(2048, gt=0, description="Largest JSON request body accepted.")
    read_processes: int = Field(1, ge=0, le=64, description="Processes that make the answers "
                                "to plan reads (GeoJSON of grids, parcels, units, feature "
                                "pages, metrics, staffing, maps) at a lower priority, so "
                                "that readers do not slow edits down; 0 makes them in the "
                                "service's process.")
    read_cache_mb: float = Field(256.0, ge=0, description="Memory for answers to plan reads "
                                 "kept per plan version (compressed as sent); 0 keeps none.")
    job_workers: int = Field(1, ge=1, description="Plan jobs run at the same time.")
    max_jobs: int = Field(4, ge=1, description="Plan jobs running or queued at most; "
                          "POST /jobs answers 429 (with Retry-After) beyond.")

    @property
    def geometry_limits(self) -> GeometryLimits:
        """The vertex limits every layer the service reads is held to."""
        return GeometryLimits(feature_vertices=self.max_feature_vertices,
                              layer_vertices=self.max_layer_vertices,
                              repair_vertices=self.max_repair_vertices)

    @property
    def store_url(self) -> str:
        """The store's SQLAlchemy URL."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).resolve()}/plans.sqlite"
