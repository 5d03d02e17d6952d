"""Store: plans, their append-only version history, layers and jobs in SQLite or PostGIS."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from gridplan.api.store import schema as s
from pyproj import CRS, Transformer
from sqlalchemy import and_, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import Engine

from gridplan.errors import GridplanError
from gridplan.model import Plan
from gridplan.params import PlanParams, param_fields
from gridplan.practice.editing import GRID_ATTRS, Delta, PlanState, grid_attrs

log = logging.getLogger(__name__)

CHUNK = 5000  # rows per executemany batch


class NotFound(GridplanError):
    """A plan, version, grid, layer or job that does not exist."""


class VersionConflict(GridplanError):
    """An edit made against a version that is no longer the plan's head."""

    def __init__(self, plan_id: str, head: int) -> None:
        super().__init__(f"plan {plan_id} is at version {head} now")
        self.plan_id, self.head = plan_id, head


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def etag(plan_id: str, version: int) -> str:
    """The entity tag of a plan version (a strong, quoted ETag)."""
    return f'"{plan_id}:{version}"'


class Store:
    """One storage interface over SQLite (default, WAL mode) and PostgreSQL with PostGIS.

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``sqlite:///path/plans.sqlite`` or
        ``postgresql+psycopg://user:pass@host/db``.

    Examples
    --------
    >>> store = Store("sqlite:///plans.sqlite")                     # doctest: +SKIP
    >>> info = store.create_plan(plan, name="demo", author="me")    # doctest: +SKIP
    >>> store.plan_info(info["id"])["version"]                       # doctest: +SKIP
    1
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, future=True, pool_pre_ping=True)
        self.is_pg = self.engine.dialect.name == "postgresql"
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.write_lock = threading.Lock()
        self._states: dict[str, tuple[int, PlanState]] = {}
        self._crs: dict[str, tuple[CRS, Transformer, Transformer]] = {}
        self._state_lock = threading.Lock()
        self._edit_locks: dict[str, threading.Lock] = {}
        from gridplan.api.store.migrate import upgrade

        upgrade(self.engine)

    # ---- geometry helpers ----------------------------------------------------------------
    def plan_crs(self, plan_id: str) -> tuple[CRS, Transformer, Transformer]:
        """A plan's metric CRS with transformers to and from longitude/latitude (cached)."""
        if plan_id not in self._crs:
            crs = CRS.from_wkt(self.plan_info(plan_id)["crs"])
            self._crs[plan_id] = (
                crs, Transformer.from_crs(crs, s.SRID, always_xy=True),
                Transformer.from_crs(s.SRID, crs, always_xy=True))
        return self._crs[plan_id]

    def to_lonlat(self, plan_id: str, geoms) -> np.ndarray:
        """Geometries from the plan's metric CRS to longitude/latitude."""
        fwd = self.plan_crs(plan_id)[1]
        return shapely.transform(np.asarray(geoms, dtype=object),
                                 lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))

    def to_metric(self, plan_id: str, geoms) -> np.ndarray:
        """Geometries from longitude/latitude to the plan's metric CRS."""
        back = self.plan_crs(plan_id)[2]
        return shapely.transform(np.asarray(geoms, dtype=object),
                                 lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))

    def _geom_in(self, geoms) -> list:
        geoms = np.asarray(geoms, dtype=object)
        if self.is_pg:
            return list(shapely.to_wkb(shapely.set_srid(geoms, s.SRID), hex=True,
                                       include_srid=True))
        return list(shapely.to_wkb(geoms))

    @staticmethod
    def geom_out(values) -> np.ndarray:
        """Shapely geometries from stored WKB (bytes, memoryview or PostGIS elements)."""
        raw = [bytes(v.data) if hasattr(v, "data") else bytes(v) for v in values]
        return shapely.from_wkb(raw) if raw else np.array([], dtype=object)

    def _insert(self, conn, table, rows: list[dict]) -> None:
        for i in range(0, len(rows), CHUNK):
            conn.execute(insert(table), rows[i:i + CHUNK])

    def _feature_rows(self, plan_id: str, gdf: gpd.GeoDataFrame, columns: list[str]) -> list[dict]:
        """Rows for a geometry table: attributes, EPSG:4326 WKB and bounds."""
        g4326 = gdf.geometry.to_crs(s.SRID).values
        bounds = shapely.bounds(g4326)
        df = pd.DataFrame({c: gdf[c].to_numpy() for c in columns})
        df["plan_id"] = plan_id
        df["geom"] = self._geom_in(g4326)
        df[["minx", "miny", "maxx", "maxy"]] = bounds
        return df.to_dict("records")

    # ---- plans ---------------------------------------------------------------------------
    def create_plan(self, plan, *, name: str, author: str, plan_id: str | None = None) -> dict:
        """Store a plan as version 1 of a new history; returns its info."""
        if plan.cells is None:
            raise GridplanError("the plan has no parcels (cells), so it cannot be edited")
        plan_id = plan_id or uuid.uuid4().hex[:12]
        crs = plan.grids.crs
        stamp = now()
        units = plan.units.copy()
        units["unit_id"] = units["unit_id"].astype(str)
        units["building_id"] = units["building_id"].astype(str)
        if "visit_equivalents" not in units:
            units["visit_equivalents"] = None
        grids = plan.grids.copy()
        for col, default in (("locked", False), ("workers", None), ("contiguous", True)):
            if col not in grids:
                grids[col] = [default if default is not None else [] for _ in range(len(grids))]
        grid_rows = self._grid_rows(plan_id, grids.drop(columns="geometry").to_dict("records"),
                                    grids.geometry.to_crs(s.SRID).values, 1)
        with self.write_lock, self.engine.begin() as conn:
            conn.execute(insert(s.plans).values(
                id=plan_id, name=name, crs=crs.to_wkt(), params=_jsonable(plan.params.to_dict()),
                report=_jsonable(plan.report), head=1, created=stamp, author=author,
                owner=author))
            conn.execute(insert(s.versions).values(
                plan_id=plan_id, version=1, author=author, created=stamp, op="plan",
                summary={"grids": len(grids), "households": int(grids["households"].sum())}))
            comm = plan.communities.copy()
            comm["code"] = comm["code"].astype(object).where(comm["code"].notna(), None)
            self._insert(conn, s.communities, self._feature_rows(
                plan_id, comm, ["community_id", "code", "households", "grids"]))
            self._insert(conn, s.cells, self._feature_rows(
                plan_id, plan.cells, ["cell_id", "community_id", "block"]))
            edges = plan.cell_edges.drop_duplicates(["a", "b"])
            self._insert(conn, s.cell_edges, [
                {"plan_id": plan_id, "a": a, "b": b, "crossing": bool(c)}
                for a, b, c in zip(edges["a"], edges["b"], edges["crossing"], strict=True)])
            self._insert(conn, s.units, self._feature_rows(
                plan_id, units, ["unit_id", "building_id", "cell_id", "community_id",
                                 "households", "population", "visit_equivalents"]))
            members = [("u", u, g) for u, g in zip(units["unit_id"], units["grid_code"],
                                                   strict=True)]
            members += [("c", c, g) for c, g in zip(plan.cells["cell_id"],
                                                    plan.cells["grid_code"], strict=True)]
            self._insert(conn, s.assignments, [
                {"plan_id": plan_id, "kind": k, "member_id": m, "version": 1, "grid_code": g}
                for k, m, g in members])
            self._insert(conn, s.assignments_head, [
                {"plan_id": plan_id, "kind": k, "member_id": m, "grid_code": g}
                for k, m, g in members])
            self._insert(conn, s.grid_versions, grid_rows)
            self._insert(conn, s.grids_head, [_head_row(r) for r in grid_rows])
        log.info("stored plan %s (%d grids, %d units)", plan_id, len(grids), len(units))
        return self.plan_info(plan_id)

    def _grid_rows(self, plan_id: str, rows: list[dict], g4326, version: int) -> list[dict]:
        """grid_versions rows from grid rows and their longitude/latitude outlines."""
        bounds = shapely.bounds(g4326)
        wkb = self._geom_in(g4326)
        attrs = [_jsonable(grid_attrs(row)) for row in rows]
        return [{"plan_id": plan_id, "grid_code": a["grid_code"], "version": version,
                 "deleted": False, "attrs": a, "geom": w, "minx": b[0], "miny": b[1],
                 "maxx": b[2], "maxy": b[3]}
                for a, w, b in zip(attrs, wkb, bounds, strict=True)]

    def list_plans(self) -> list[dict]:
        """Every stored plan, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.plans).order_by(s.plans.c.created.desc())).mappings()
            return [_info(r) for r in rows]

    def plan_info(self, plan_id: str) -> dict:
        """Id, name, head version, ETag, parameters and report of a plan."""
        with self.engine.connect() as conn:
            row = conn.execute(select(s.plans).where(s.plans.c.id == plan_id)).mappings().first()
        if row is None:
            raise NotFound(f"no plan {plan_id!r}")
        return _info(row)

    def head(self, plan_id: str) -> int:
        """The plan's current version number (one column read: every edit and plan read
        asks for it)."""
        with self.engine.connect() as conn:
            head = conn.execute(select(s.plans.c.head).where(s.plans.c.id == plan_id)
                                ).scalar_one_or_none()
        if head is None:
            raise NotFound(f"no plan {plan_id!r}")
        return int(head)

    def check_version(self, plan_id: str, version: int | None) -> int:
        """``version`` if the plan has it (the head when ``None``)."""
        head = self.head(plan_id)
        if version is None:
            return head
        if not 1 <= version <= head:
            raise NotFound(f"plan {plan_id!r} has versions 1–{head}, not {version}")
        return version

    # ---- editing ---------------------------------------------------------------------------
    def state(self, plan_id: str, head: int | None = None) -> tuple[int, PlanState]:
        """The editable state of the plan's head version (cached while it stays the head).

        With ``head`` (just read by the caller) a cached state at that version or later
        is returned without asking the database again; an edit computed on it commits
        only if ``head`` is still the plan's head.
        """
        with self._state_lock:
            cached = self._states.get(plan_id)
            if cached and head is not None and cached[0] >= head:
                return cached
        head = self.head(plan_id)
        with self._state_lock:
            cached = self._states.get(plan_id)
            if cached and cached[0] == head:
                return cached
        state = self._load_state(plan_id)
        with self._state_lock:
            self._states[plan_id] = (head, state)
        return head, state

    @contextmanager
    def edit_lock(self, plan_id: str) -> Iterator[None]:
        """Edits of one plan run one at a time in this process (the head's compare-and-swap
        guards across processes)."""
        with self._state_lock:
            lock = self._edit_locks.setdefault(plan_id, threading.Lock())
        with lock:
            yield

    def _load_state(self, plan_id: str) -> PlanState:
        info = self.plan_info(plan_id)
        crs = CRS.from_wkt(info["crs"])
        with self.engine.connect() as conn:
            cells = pd.DataFrame(_tuples(conn.execute(select(
                s.cells.c.cell_id, s.cells.c.community_id, s.cells.c.block, s.cells.c.geom
            ).where(s.cells.c.plan_id == plan_id))),
                columns=["cell_id", "community_id", "block", "geom"])
            edges = pd.DataFrame(_tuples(conn.execute(select(s.cell_edges.c.a, s.cell_edges.c.b)
                                                      .where(s.cell_edges.c.plan_id == plan_id))),
                                 columns=["a", "b"])
            units = pd.DataFrame(_tuples(conn.execute(select(
                s.units.c.unit_id, s.units.c.cell_id, s.units.c.community_id,
                s.units.c.households, s.units.c.population, s.units.c.visit_equivalents).where(
                s.units.c.plan_id == plan_id))),
                columns=["unit_id", "cell_id", "community_id", "households", "population",
                         "visit_equivalents"])
            assign = conn.execute(select(s.assignments_head.c.kind, s.assignments_head.c.member_id,
                                         s.assignments_head.c.grid_code).where(
                s.assignments_head.c.plan_id == plan_id)).all()
            comm = dict(conn.execute(select(s.communities.c.community_id, s.communities.c.code)
                                     .where(s.communities.c.plan_id == plan_id)).all())
        grids = self.grid_frame(plan_id).to_crs(crs)
        cell_gdf = gpd.GeoDataFrame(cells.drop(columns="geom"),
                                    geometry=self.geom_out(cells["geom"]), crs=s.SRID).to_crs(crs)
        unit_grid = {m: g for k, m, g in assign if k == "u"}
        cell_grid = {m: g for k, m, g in assign if k == "c"}
        rows = {r["grid_code"]: r for r in grids.to_dict("records")}
        params = _stored_params(info)
        return PlanState(cell_gdf, edges, units, unit_grid, cell_grid, rows, comm, params.band,
                         code_scheme=params.code_scheme, object_class=params.object_class)

    def commit(self, plan_id: str, expected: int, delta: Delta, *, author: str, op: str,
               target: int | None = None) -> int:
        """Append ``delta`` as the version after ``expected``; refuse if that is not the head."""
        version = expected + 1
        rows = self._delta_grid_rows(plan_id, delta, version)
        stamp = now()
        with self.write_lock, self.engine.begin() as conn:
            moved = conn.execute(update(s.plans).where(and_(
                s.plans.c.id == plan_id, s.plans.c.head == expected)).values(head=version))
            if moved.rowcount != 1:
                raise VersionConflict(plan_id, self._head_in(conn, plan_id))
            conn.execute(insert(s.versions).values(
                plan_id=plan_id, version=version, author=author, created=stamp, op=op,
                target=target, summary=_jsonable(dict(delta.summary, warnings=delta.warnings))))
            self._write_members(conn, plan_id, version, delta)
            if rows:
                self._insert(conn, s.grid_versions, rows)
                codes = [r["grid_code"] for r in rows]
                conn.execute(delete(s.grids_head).where(and_(
                    s.grids_head.c.plan_id == plan_id, s.grids_head.c.grid_code.in_(codes))))
                live = [_head_row(r) for r in rows if not r["deleted"]]
                if live:
                    self._insert(conn, s.grids_head, live)
        with self._state_lock:
            cached = self._states.get(plan_id)
            if cached and cached[0] == expected:
                cached[1].apply(delta)
                self._states[plan_id] = (version, cached[1])
        return version

    @staticmethod
    def _head_in(conn, plan_id: str) -> int:
        return conn.execute(select(s.plans.c.head).where(s.plans.c.id == plan_id)).scalar_one()

    def _write_members(self, conn, plan_id: str, version: int, delta: Delta) -> None:
        members = [("c", m, g) for m, g in delta.cell_grid.items()]
        members += [("u", m, g) for m, g in delta.unit_grid.items()]
        if not members:
            return
        self._insert(conn, s.assignments, [
            {"plan_id": plan_id, "kind": k, "member_id": m, "version": version, "grid_code": g}
            for k, m, g in members])
        for kind in ("c", "u"):
            ids = [m for k, m, _ in members if k == kind]
            for i in range(0, len(ids), CHUNK):
                conn.execute(delete(s.assignments_head).where(and_(
                    s.assignments_head.c.plan_id == plan_id, s.assignments_head.c.kind == kind,
                    s.assignments_head.c.member_id.in_(ids[i:i + CHUNK]))))
        self._insert(conn, s.assignments_head, [
            {"plan_id": plan_id, "kind": k, "member_id": m, "grid_code": g}
            for k, m, g in members])

    def _delta_grid_rows(self, plan_id: str, delta: Delta, version: int) -> list[dict]:
        live = {c: r for c, r in delta.grids.items() if r is not None}
        rows = [{"plan_id": plan_id, "grid_code": c, "version": version, "deleted": True,
                 "attrs": None, "geom": None, "minx": None, "miny": None, "maxx": None,
                 "maxy": None} for c, r in delta.grids.items() if r is None]
        if live:
            g4326 = self.to_lonlat(plan_id, [r["geometry"] for r in live.values()])
            rows += self._grid_rows(plan_id, list(live.values()), g4326, version)
        return rows

    # ---- history -------------------------------------------------------------------------
    def versions(self, plan_id: str) -> list[dict]:
        """The plan's history, oldest first: who, when, what."""
        self.plan_info(plan_id)
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.versions).where(s.versions.c.plan_id == plan_id)
                                .order_by(s.versions.c.version)).mappings().all()
        return [{"version": r["version"], "author": r["author"], "created": r["created"],
                 "op": r["op"], "target": r["target"], "summary": r["summary"],
                 "etag": etag(plan_id, r["version"])} for r in rows]

    def members_at(self, plan_id: str, version: int, kind: str,
                   ids: list[str] | None = None) -> dict[str, str]:
        """Grid of each unit (``kind="u"``) or parcel (``"c"``) as of ``version``."""
        a = s.assignments
        cond = [a.c.plan_id == plan_id, a.c.kind == kind, a.c.version <= version]
        latest = select(a.c.member_id, func.max(a.c.version).label("v")).where(*cond)
        if ids is not None:
            latest = latest.where(a.c.member_id.in_(ids))
        latest = latest.group_by(a.c.member_id).subquery()
        q = select(a.c.member_id, a.c.grid_code).join(latest, and_(
            a.c.member_id == latest.c.member_id, a.c.version == latest.c.v)).where(
            a.c.plan_id == plan_id, a.c.kind == kind)
        with self.engine.connect() as conn:
            return dict(conn.execute(q).all())

    def grid_rows_at(self, plan_id: str, version: int, codes: list[str] | None = None
                     ) -> dict[str, dict | None]:
        """Grid rows as of ``version`` (``None`` where a listed grid did not exist)."""
        g = s.grid_versions
        latest = select(g.c.grid_code, func.max(g.c.version).label("v")).where(
            g.c.plan_id == plan_id, g.c.version <= version)
        if codes is not None:
            latest = latest.where(g.c.grid_code.in_(codes))
        latest = latest.group_by(g.c.grid_code).subquery()
        q = select(g).join(latest, and_(g.c.grid_code == latest.c.grid_code,
                                        g.c.version == latest.c.v)).where(g.c.plan_id == plan_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        out: dict[str, dict | None] = dict.fromkeys(codes or [])
        geoms = self.geom_out([r["geom"] for r in rows if not r["deleted"]])
        it = iter(geoms)
        for r in rows:
            out[r["grid_code"]] = None if r["deleted"] else dict(r["attrs"], geometry=next(it))
        return out

    def changed_in(self, plan_id: str, after: int, upto: int
                   ) -> tuple[list[str], list[str], list[str]]:
        """Parcels, units and grids that versions ``after+1 .. upto`` changed."""
        a, g = s.assignments, s.grid_versions
        with self.engine.connect() as conn:
            rows = conn.execute(select(a.c.kind, a.c.member_id).distinct().where(
                a.c.plan_id == plan_id, a.c.version > after, a.c.version <= upto)).all()
            codes = conn.execute(select(g.c.grid_code).distinct().where(
                g.c.plan_id == plan_id, g.c.version > after, g.c.version <= upto)).scalars()
            codes = list(codes)
        cells = [m for k, m in rows if k == "c"]
        units = [m for k, m in rows if k == "u"]
        return cells, units, codes

    def state_delta(self, plan_id: str, version: int, cells: list[str], units: list[str],
                    codes: list[str]) -> Delta:
        """A delta setting the listed parcels, units and grids to their state at ``version``."""
        rows = self.grid_rows_at(plan_id, version, codes)
        live = {c: r for c, r in rows.items() if r is not None}
        if live:
            geoms = self.to_metric(plan_id, [r["geometry"] for r in live.values()])
            for r, geom in zip(live.values(), geoms, strict=True):
                r["geometry"] = geom
        return Delta(cell_grid=self.members_at(plan_id, version, "c", cells) if cells else {},
                     unit_grid=self.members_at(plan_id, version, "u", units) if units else {},
                     grids=rows)

    # ---- reading features ----------------------------------------------------------------
    def grid_frame(self, plan_id: str, version: int | None = None, *, bbox=None,
                   limit: int | None = None, offset: int = 0) -> gpd.GeoDataFrame:
        """Grids of a version (the head by default) in EPSG:4326, ordered by code."""
        head = self.head(plan_id)
        version = head if version is None else version
        if version != head:
            rows = [r for r in self.grid_rows_at(plan_id, version).values() if r is not None]
            gdf = _grids_gdf(rows)
            if bbox is not None:
                gdf = gdf[gdf.intersects(shapely.box(*bbox))]
            gdf = gdf.sort_values("grid_code")
            end = None if limit is None else offset + limit
            return gdf.iloc[offset:end].reset_index(drop=True)
        g = s.grids_head
        q = select(g.c.attrs, g.c.geom).where(g.c.plan_id == plan_id)
        if bbox is not None:
            page = _page(self.bbox_keys(g, "grid_code", plan_id, bbox), offset, limit)
            q = q.where(g.c.grid_code.in_(page)).order_by(g.c.grid_code)
        else:
            q = q.order_by(g.c.grid_code).offset(offset)
            if limit is not None:
                q = q.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        geoms = self.geom_out([r[1] for r in rows])
        return _grids_gdf([dict(r[0], geometry=geom) for r, geom in zip(rows, geoms,
                                                                       strict=True)])

    def count_grids(self, plan_id: str, version: int | None = None, bbox=None) -> int:
        """Number of grids (matching ``bbox``) in a version."""
        head = self.head(plan_id)
        if version is not None and version != head:
            return len(self.grid_frame(plan_id, version, bbox=bbox))
        g = s.grids_head
        if bbox is not None:
            return len(self.bbox_keys(g, "grid_code", plan_id, bbox))
        q = select(func.count()).select_from(g).where(g.c.plan_id == plan_id)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def bbox_keys(self, table, key: str, plan_id: str, bbox) -> list[str]:
        """Keys (in order) of a plan's features whose geometry intersects ``bbox``: the
        stored envelopes pick candidates, their geometries decide."""
        q = _bbox_filter(select(table.c[key], table.c.geom).where(table.c.plan_id == plan_id),
                         table, bbox).order_by(table.c[key])
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        if not rows:
            return []
        hit = shapely.intersects(self.geom_out([r[1] for r in rows]), shapely.box(*bbox))
        return [r[0] for r, h in zip(rows, hit, strict=True) if h]

    def layer_frame(self, plan_id: str, layer: str, version: int | None = None, *, bbox=None,
                    limit: int | None = None, offset: int = 0) -> tuple[gpd.GeoDataFrame, int]:
        """Units, parcels or communities (EPSG:4326) with grid codes as of ``version``."""
        self.plan_info(plan_id)
        table, key, cols = _layer_table(layer)
        q = select(*cols, table.c.geom).where(table.c.plan_id == plan_id)
        if bbox is not None:
            keys = self.bbox_keys(table, key, plan_id, bbox)
            total = len(keys)
            q = q.where(table.c[key].in_(_page(keys, offset, limit))).order_by(table.c[key])
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
        else:
            q = q.order_by(table.c[key]).offset(offset)
            if limit is not None:
                q = q.limit(limit)
            count_q = select(func.count()).select_from(table).where(table.c.plan_id == plan_id)
            with self.engine.connect() as conn:
                total = int(conn.execute(count_q).scalar_one())
                rows = conn.execute(q).all()
        df = pd.DataFrame([r[:-1] for r in rows], columns=[c.name for c in cols])
        df = _drop_empty(df)
        gdf = gpd.GeoDataFrame(df, geometry=self.geom_out([r[-1] for r in rows]), crs=s.SRID)
        if layer in ("units", "cells") and len(gdf):
            kind = "u" if layer == "units" else "c"
            ids = gdf[key].tolist()
            version = self.check_version(plan_id, version)
            grid = self.members_at(plan_id, version, kind, ids) if len(ids) <= CHUNK else \
                self.members_at(plan_id, version, kind)
            gdf["grid_code"] = gdf[key].map(grid)
        return gdf, total

    def extent(self, plan_id: str) -> list[float]:
        """Longitude/latitude bounds of a plan's communities."""
        c = s.communities
        with self.engine.connect() as conn:
            row = conn.execute(select(func.min(c.c.minx), func.min(c.c.miny), func.max(c.c.maxx),
                                      func.max(c.c.maxy)).where(c.c.plan_id == plan_id)).first()
        return [float(v) for v in row] if row and row[0] is not None else [-180, -90, 180, 90]

    def feature(self, plan_id: str, layer: str, feature_id: str, version: int | None = None
                ) -> gpd.GeoDataFrame:
        """One unit, parcel or community (EPSG:4326), with its grid as of ``version``."""
        table, key, cols = _layer_table(layer)
        with self.engine.connect() as conn:
            row = conn.execute(select(*cols, table.c.geom).where(
                table.c.plan_id == plan_id, table.c[key] == feature_id)).first()
        if row is None:
            raise NotFound(f"no {layer[:-1]} {feature_id!r} in plan {plan_id}")
        gdf = gpd.GeoDataFrame(_drop_empty(pd.DataFrame(
            [dict(zip([c.name for c in cols], row[:-1], strict=True))])),
            geometry=self.geom_out([row[-1]]), crs=s.SRID)
        if layer != "communities":
            v = self.check_version(plan_id, version)
            grid = self.members_at(plan_id, v, layer[0], [feature_id])
            gdf["grid_code"] = grid.get(feature_id)
        return gdf

    def cell_units(self, plan_id: str, cell_ids: list[str]) -> dict[str, list[tuple[str, int]]]:
        """Units (id, households) on each listed parcel, in unit id order (no geometry read)."""
        u = s.units
        out: dict[str, list[tuple[str, int]]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(cell_ids), CHUNK):
                rows = conn.execute(select(u.c.cell_id, u.c.unit_id, u.c.households).where(
                    u.c.plan_id == plan_id, u.c.cell_id.in_(cell_ids[i:i + CHUNK]))
                    .order_by(u.c.unit_id))
                for cell, unit, hh in rows:
                    out.setdefault(cell, []).append((unit, int(hh)))
        return out

    def unit_rows(self, plan_id: str, ids: list[str]) -> dict[str, tuple[str, int]]:
        """Parcel and households of the listed units (no geometry read)."""
        u = s.units
        out = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), CHUNK):
                out.update({r[0]: (r[1], int(r[2])) for r in conn.execute(select(
                    u.c.unit_id, u.c.cell_id, u.c.households).where(
                    u.c.plan_id == plan_id, u.c.unit_id.in_(ids[i:i + CHUNK])))})
        return out

    def plan_at(self, plan_id: str, version: int | None = None):
        """The whole plan as of ``version``, as a :class:`gridplan.model.Plan`."""
        info = self.plan_info(plan_id)
        version = self.check_version(plan_id, version)
        crs = CRS.from_wkt(info["crs"])
        grids = self.grid_frame(plan_id, version).to_crs(crs)
        units, _ = self.layer_frame(plan_id, "units", version)
        cells, _ = self.layer_frame(plan_id, "cells", version)
        comm, _ = self.layer_frame(plan_id, "communities")
        with self.engine.connect() as conn:
            edges = pd.DataFrame(_tuples(conn.execute(select(
                s.cell_edges.c.a, s.cell_edges.c.b, s.cell_edges.c.crossing).where(
                s.cell_edges.c.plan_id == plan_id))), columns=["a", "b", "crossing"])
        hh = units.groupby("community_id")["households"].sum()
        comm["households"] = comm["community_id"].map(hh).fillna(0).astype(int)
        comm["grids"] = comm["community_id"].map(grids.groupby("community_id").size())
        comm["grids"] = comm["grids"].fillna(0).astype(int)
        params = dict(info["params"])
        params["barrier_highways"] = tuple(params.get("barrier_highways", ()))
        report = dict(info["report"], version=version, plan_id=plan_id)
        return Plan(grids=grids, units=units.to_crs(crs), communities=comm.to_crs(crs),
                    params=PlanParams(**_param_fields(params)), report=report,
                    cells=cells.to_crs(crs), cell_edges=edges)

    # ---- layers and jobs -----------------------------------------------------------------
    def add_row(self, table: str, row: dict) -> dict:
        """Insert a layer or job row."""
        t = {"layers": s.layers, "jobs": s.jobs}[table]
        with self.write_lock, self.engine.begin() as conn:
            conn.execute(insert(t).values(**_jsonable_row(row)))
        return row

    def update_job(self, job_id: str, **values) -> None:
        """Update a job's status, stage, percent, plan or error."""
        values["updated"] = now()
        with self.write_lock, self.engine.begin() as conn:
            conn.execute(update(s.jobs).where(s.jobs.c.id == job_id).values(
                **_jsonable_row(values)))

    def get_row(self, table: str, row_id: str) -> dict:
        """A layer or job by id."""
        t = {"layers": s.layers, "jobs": s.jobs}[table]
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == row_id)).mappings().first()
        if row is None:
            raise NotFound(f"no {table[:-1]} {row_id!r}")
        return dict(row)

    def list_rows(self, table: str) -> list[dict]:
        """All layers or jobs, newest first."""
        t = {"layers": s.layers, "jobs": s.jobs}[table]
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(
                select(t).order_by(t.c.created.desc())).mappings()]


LAYER_KEYS = {"units": "unit_id", "cells": "cell_id", "communities": "community_id"}
OPTIONAL_COLUMNS = ("visit_equivalents",)  # left out of a layer where every value is null


def _layer_table(layer: str):
    """Table, key column and attribute columns (no geometry or bounds) of a feature layer."""
    table = {"units": s.units, "cells": s.cells, "communities": s.communities}[layer]
    cols = [c for c in table.c if c.name not in ("plan_id", "geom", "minx", "miny", "maxx",
                                                  "maxy")]
    return table, LAYER_KEYS[layer], cols


def _drop_empty(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without the optional columns (``OPTIONAL_COLUMNS``) that hold only nulls."""
    return df.drop(columns=[c for c in OPTIONAL_COLUMNS if c in df and df[c].isna().all()])


def _tuples(result) -> list[tuple]:
    """Rows as plain tuples (pandas inspects Row objects slowly, attribute by attribute)."""
    return [tuple(r) for r in result]


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    """WAL journal (readers never block the writer), a busy timeout, foreign keys on.

    ``synchronous=FULL`` syncs the WAL at every commit, so an acknowledged edit survives a
    power loss or an OS crash too (``NORMAL`` survives a killed process only).
    """
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _page(keys: list, offset: int, limit: int | None) -> list:
    return keys[offset:None if limit is None else offset + limit]


def _bbox_filter(q, table, bbox):
    if bbox is None:
        return q
    x0, y0, x1, y1 = bbox
    return q.where(table.c.maxx >= x0, table.c.minx <= x1, table.c.maxy >= y0,
                   table.c.miny <= y1)


def _head_row(r: dict) -> dict:
    return {"plan_id": r["plan_id"], "grid_code": r["grid_code"], "version": r["version"],
            "community_id": r["attrs"]["community_id"], "attrs": r["attrs"], "geom": r["geom"],
            "minx": r["minx"], "miny": r["miny"], "maxx": r["maxx"], "maxy": r["maxy"]}


def _grids_gdf(rows: list[dict]) -> gpd.GeoDataFrame:
    if not rows:
        return gpd.GeoDataFrame({k: [] for k in GRID_ATTRS}, geometry=[], crs=s.SRID)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=s.SRID)


def _info(row) -> dict:
    return {"id": row["id"], "name": row["name"], "version": row["head"],
            "etag": etag(row["id"], row["head"]), "created": row["created"],
            "author": row["author"], "owner": row.get("owner") or row["author"],
            "params": row["params"], "report": row["report"],
            "crs": row["crs"]}


def _stored_params(info: dict):
    """A stored plan's :class:`~gridplan.params.PlanParams` (its band, code scheme...)."""
    return PlanParams(**_param_fields(info["params"]))


def _param_fields(params: dict) -> dict:
    """The stored values that are :class:`~gridplan.params.PlanParams` fields."""
    return {k: v for k, v in params.items() if k in param_fields()}


def _jsonable(value):
    """Plain JSON types (numpy scalars, tuples, paths and NaN made JSON-safe)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        v = float(value)
        return None if not np.isfinite(v) else v
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path | datetime):
        return str(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _jsonable_row(row: dict) -> dict:
    return {k: (_jsonable(v) if isinstance(v, dict | list) else v) for k, v in row.items()}
