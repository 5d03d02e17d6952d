"""Editing: a planner's changes to a plan (move, merge, split, lock), checked before they land."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from gridplan.codes import grid_code
from gridplan.engine.grids import outline, polsby_popper
from gridplan.engine.metrics import (
    BandShare,
    balanced_column,
    band_status,
    counts_in_band,
    is_dedicated,
)
from gridplan.engine.partition import partition_graph
from gridplan.errors import GridplanError

log = logging.getLogger(__name__)

GRID_ATTRS = ("grid_code", "community_id", "households", "population", "units", "area_m2",
              "polsby_popper", "barrier_crossings", "status", "reason", "reason_zh", "grid_type",
              "site_kind", "site_name", "locked", "workers", "contiguous")
BALANCE_ATTRS = ("visit_equivalents",)  # on a grid only when its plan is balanced on workload
LOCK_ATTRS = ("locked_by",)  # on a grid only while someone holds its lock


class LockHeld(GridplanError):
    """Unlocking a grid someone else locked (only they, or an admin, may unlock it)."""

    def __init__(self, problem: str, fix: str, grids: list[str]) -> None:
        super().__init__(problem, fix=fix)
        self.grids = grids


class EditRefused(GridplanError):
    """An edit that would break a plan rule; ``violations`` name each rule and grid."""

    def __init__(self, problem: str, fix: str, violations: list[dict] | None = None) -> None:
        super().__init__(problem, fix=fix)
        self.violations = violations or []


@dataclass
class Delta:
    """What an edit changes: parcel and unit holders, and grid rows (``None`` = removed)."""

    cell_grid: dict[str, str] = field(default_factory=dict)
    unit_grid: dict[str, str] = field(default_factory=dict)
    grids: dict[str, dict | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


class PlanState:
    """The editable state of one plan version: who holds each parcel and unit, and the grids.

    Parameters
    ----------
    cells : GeoDataFrame
        ``cell_id, community_id, block, geometry`` (metric CRS), from ``Plan.cells``.
    edges : DataFrame
        ``a, b`` neighbouring parcels, from ``Plan.cell_edges``.
    units : DataFrame
        ``unit_id, cell_id, community_id, households, population`` and, for a plan balanced
        on workload, ``visit_equivalents`` (each unit's workload in household-equivalents).
    unit_grid, cell_grid : dict
        Grid code of each unit and of each parcel.
    grids : dict
        Grid code → row (``GRID_ATTRS`` and ``geometry``).
    community_codes : dict
        Community id → division code (or ``None``).
    band : tuple of float
        Range the balanced quantity of a grid should fall in (see ``balanced_on``).

    Attributes
    ----------
    balanced_on : str
        ``"visit_equivalents"`` when the grids carry them (a plan balanced on workload),
        else ``"households"``: what the band, the share in band and the grids' status
        count, as in ``report.json`` (:func:`gridplan.engine.metrics.share_in_band`).
    unit_load : dict
        Each unit's share of the balanced quantity.

    Examples
    --------
    >>> state = PlanState.from_plan(plan)                          # doctest: +SKIP
    >>> delta = state.move(["u17"], to_grid="C001-002")              # doctest: +SKIP
    >>> state.apply(delta)                                          # doctest: +SKIP
    """

    def __init__(self, cells, edges, units, unit_grid: dict, cell_grid: dict, grids: dict,
                 community_codes: dict, band: tuple[float, float], *,
                 code_scheme: str = "nbs12+3", object_class: str = "000000") -> None:
        cell_ids, unit_ids = _list(cells["cell_id"]), _list(units["unit_id"])
        self.cell_geom = dict(zip(cell_ids, cells.geometry.values, strict=True))
        self.cell_comm = dict(zip(cell_ids, _list(cells["community_id"]), strict=True))
        self.cell_block = dict(zip(cell_ids, _list(cells["block"]), strict=True))
        self.nbrs: dict[str, set] = {c: set() for c in self.cell_geom}
        for a, b in zip(_list(edges["a"]), _list(edges["b"]), strict=True):
            self.nbrs[a].add(b)
            self.nbrs[b].add(a)
        self.unit_hh = dict(zip(unit_ids, units["households"].astype(int).tolist(), strict=True))
        self.unit_pop = dict(zip(unit_ids, units["population"].astype(float).tolist(),
                                 strict=True))
        self.cell_units: dict[str, list] = {c: [] for c in self.cell_geom}
        unit_cells = _list(units["cell_id"])
        for u, c in zip(unit_ids, unit_cells, strict=True):
            self.cell_units[c].append(u)
        self.unit_cell = dict(zip(unit_ids, unit_cells, strict=True))
        self.unit_grid, self.cell_grid = dict(unit_grid), dict(cell_grid)
        self.grids = {code: dict(row) for code, row in grids.items()}
        self.community_codes = dict(community_codes)
        self.band = band
        self.code_scheme, self.object_class = code_scheme, object_class
        self.grid_cells: dict[str, set] = {g: set() for g in self.grids}
        self.grid_units: dict[str, set] = {g: set() for g in self.grids}
        for c, g in self.cell_grid.items():
            self.grid_cells[g].add(c)
        for u, g in self.unit_grid.items():
            self.grid_units[g].add(u)
        self.balanced_on = balanced_column(pd.DataFrame(
            {c: [r.get(c) for r in self.grids.values()] for c in BALANCE_ATTRS}))
        self.unit_load = self._unit_load(units)
        self._tally = dict.fromkeys(("grids", "households", "counted", "in_band",
                                     "not_contiguous"), 0)
        for row in self.grids.values():
            self._count(row, 1)

    def _unit_load(self, units) -> dict[str, float]:
        """Each unit's share of the balanced quantity (households or visit-equivalents)."""
        if self.balanced_on == "households":
            return {u: float(h) for u, h in self.unit_hh.items()}
        given = units.get("visit_equivalents")
        if given is not None and given.notna().all():
            return dict(zip(_list(units["unit_id"]), given.astype(float).tolist(), strict=True))
        log.info("units carry no visit_equivalents: each unit gets its grid's workload per "
                 "household")
        per_hh = {}
        for code, row in self.grids.items():
            hh, ve = row.get("households") or 0, row.get("visit_equivalents")
            per_hh[code] = float(ve) / hh if hh and pd.notna(ve) else 1.0
        return {u: h * per_hh.get(self.unit_grid.get(u), 1.0) for u, h in self.unit_hh.items()}

    def _status(self, row: dict) -> str:
        """A grid row's band status on the balanced quantity (``dedicated`` kept)."""
        hh = row.get("households", 0)
        return band_status(row.get(self.balanced_on, hh), self.band, households=hh,
                           dedicated=is_dedicated(row))

    def _count(self, row: dict, sign: int) -> None:
        """Add (``sign=1``) or remove (``-1``) a grid row from the running totals."""
        counted, in_band = counts_in_band(self._status(row))
        t = self._tally
        t["grids"] += sign
        t["households"] += sign * int(row.get("households", 0))
        t["counted"] += sign * counted
        t["in_band"] += sign * in_band
        t["not_contiguous"] += sign * (row.get("contiguous", True) is False)

    def metrics(self) -> dict:
        """Counts of the current version: grids, households, share in band, broken grids.

        The share in band and the grids out of band are those of ``report.json``
        (:func:`gridplan.engine.metrics.share_in_band`), kept up to date edit by edit.
        """
        t = self._tally
        band = BandShare(self.balanced_on, t["counted"], t["in_band"])
        return {"grids": t["grids"], "households": t["households"],
                "balanced_on": band.column, "share_in_band": round(band.share, 4),
                "grids_out_of_band": band.out_of_band,
                "grids_not_contiguous": t["not_contiguous"], "band": list(self.band)}

    @classmethod
    def from_plan(cls, plan) -> PlanState:
        """Editable state of a freshly planned (or read) :class:`~gridplan.model.Plan`."""
        if plan.cells is None:
            raise EditRefused("this plan has no parcels to edit",
                              "plan it again with this version of gridplan (plan.gpkg needs the "
                              "'cells' and 'cell_edges' layers)")
        grids = {}
        for row in plan.grids.to_dict("records"):
            row.setdefault("locked", False)
            row.setdefault("workers", [])
            row.setdefault("contiguous", True)
            grids[row["grid_code"]] = row
        codes = dict(zip(plan.communities["community_id"], plan.communities["code"],
                         strict=True))
        return cls(plan.cells, plan.cell_edges, plan.units,
                   dict(zip(plan.units["unit_id"], plan.units["grid_code"], strict=True)),
                   dict(zip(plan.cells["cell_id"], plan.cells["grid_code"], strict=True)),
                   grids, codes, tuple(plan.params.band), code_scheme=plan.params.code_scheme,
                   object_class=plan.params.object_class)

    # ---- edits -------------------------------------------------------------------------
    def move(self, cells: list[str], to_grid: str, *, force: bool = False) -> Delta:
        """Move parcels (with the units on them that their grid holds) into ``to_grid``."""
        target = self._grid(to_grid)
        cells = self._cells(cells)
        self._same_community(cells, target["community_id"], to_grid)
        moving = [c for c in cells if self.cell_grid[c] != to_grid]
        if not moving:
            raise EditRefused(f"the parcels are already in grid {to_grid}",
                              "pick parcels of another grid")
        sources = {self.cell_grid[c] for c in moving}
        self._unlocked(sources | {to_grid})
        cg = dict.fromkeys(moving, to_grid)
        ug = {u: to_grid for c in moving for u in self.cell_units[c]
              if self.unit_grid[u] == self.cell_grid[c]}
        delta = self._delta(cg, ug, sources | {to_grid}, force)
        delta.summary = {"op": "move", "cells": moving, "to_grid": to_grid,
                         "from_grids": sorted(sources), "units": len(ug),
                         "households": int(sum(self.unit_hh[u] for u in ug))}
        return delta

    def move_units(self, units: list[str], to_grid: str, *, force: bool = False) -> Delta:
        """Move the parcels of ``units`` (a parcel moves whole, with all its units)."""
        missing = [u for u in units if u not in self.unit_cell]
        if missing:
            raise EditRefused(f"unknown unit(s): {', '.join(map(str, missing[:5]))}",
                              "use unit_id values of this plan's units")
        return self.move(sorted({self.unit_cell[u] for u in units}), to_grid, force=force)

    def merge(self, keep: str, other: str, *, force: bool = False) -> Delta:
        """Merge grid ``other`` into ``keep``; ``keep``'s code stays, ``other`` is removed."""
        a, b = self._grid(keep), self._grid(other)
        if keep == other:
            raise EditRefused("a grid cannot be merged with itself", "name two different grids")
        if a["community_id"] != b["community_id"]:
            raise EditRefused(f"grids {keep} and {other} lie in different communities",
                              "merge grids of one community only (grids never cross a "
                              "community boundary)",
                              [{"rule": "nesting", "grids": [keep, other]}])
        self._unlocked({keep, other})
        cg = dict.fromkeys(self.grid_cells[other], keep)
        ug = dict.fromkeys(self.grid_units[other], keep)
        delta = self._delta(cg, ug, {keep, other}, force)
        delta.summary = {"op": "merge", "grids": [keep, other],
                         "households": int(b["households"])}
        return delta

    def split(self, code: str, *, line=None, polygon=None, force: bool = False) -> Delta:
        """Split a grid by a drawn line or polygon (metric CRS), or into two balanced halves."""
        row = self._grid(code)
        self._unlocked({code})
        cells = sorted(self.grid_cells[code])
        if len(cells) < 2:
            raise EditRefused(f"grid {code} has a single parcel and cannot be split",
                              "merge it or move parcels into it first")
        if line is not None:
            part = self._side_of_line(code, cells, line)
        elif polygon is not None:
            pts = shapely.point_on_surface(np.asarray([self.cell_geom[c] for c in cells]))
            part = {c for c, p in zip(cells, pts, strict=True) if shapely.intersects(polygon, p)}
        else:
            part = self._balanced_half(cells)
        if not part or len(part) == len(cells):
            raise EditRefused(f"the drawing leaves every parcel of {code} on one side",
                              "draw the line across the grid, from edge to edge")
        new = self.next_code(row["community_id"])
        self.grids[new] = {"grid_code": new, "community_id": row["community_id"],
                           "locked": False, "workers": [], "reason": ""}
        try:
            cg = dict.fromkeys(part, new)
            ug = {u: new for c in part for u in self.cell_units[c] if self.unit_grid[u] == code}
            delta = self._delta(cg, ug, {code, new}, force)
        finally:
            del self.grids[new]
        delta.summary = {"op": "split", "grid": code, "new_grid": new, "cells": sorted(part),
                         "households": int(delta.grids[new]["households"])}
        return delta

    def lock(self, codes: list[str], locked: bool = True, *, by: str | None = None,
             admin: bool = True) -> Delta:
        """Lock grids (no edit may change them) or unlock them.

        A lock records who took it (``by``) in the grid's ``locked_by``; a grid locked by
        someone else is unlocked only by an ``admin`` (else :class:`LockHeld`). Locks
        without a holder (older plans, or taken without ``by``) anyone may lift.
        """
        if not locked:
            for code in codes:
                self._grid(code)
            self.check_unlocks(dict.fromkeys(codes), by, admin=admin)
        delta = Delta(summary={"op": "lock" if locked else "unlock", "grids": list(codes)})
        for code in codes:
            row = dict(self._grid(code), locked=bool(locked))
            if locked and by is not None:
                row["locked_by"] = by
            elif not locked:
                row.pop("locked_by", None)
            delta.grids[code] = row
        if by is not None:
            delta.summary["by"] = by
        return delta

    def check_unlocks(self, rows: dict[str, dict | None], by: str | None, *,
                      admin: bool) -> None:
        """Refuse (:class:`LockHeld`) rows that would lift a lock someone other than ``by``
        holds, unless ``admin``; also guards undo, redo and restore."""
        if admin:
            return
        held = sorted(c for c, r in rows.items() if c in self.grids
                      and self.grids[c].get("locked") and not (r or {}).get("locked")
                      and _holder(self.grids[c]) not in (None, by))
        if held:
            holders = sorted({_holder(self.grids[c]) for c in held})
            raise LockHeld(f"grid(s) {', '.join(held)} were locked by {', '.join(holders)}; "
                           "only they or an admin may unlock them",
                           "ask them (or an admin) to unlock", held)

    def set_workers(self, code: str, workers: list[str]) -> Delta:
        """Assign community workers (网格员) to a grid, replacing its list."""
        row = self._grid(code)
        return Delta(grids={code: dict(row, workers=[str(w) for w in workers])},
                     summary={"op": "workers", "grid": code, "workers": list(workers)})

    # ---- applying -----------------------------------------------------------------------
    def apply(self, delta: Delta) -> None:
        """Make ``delta`` the current state (after the store accepted it)."""
        for c, g in delta.cell_grid.items():
            self.grid_cells.get(self.cell_grid.get(c), set()).discard(c)
            self.cell_grid[c] = g
            self.grid_cells.setdefault(g, set()).add(c)
        for u, g in delta.unit_grid.items():
            self.grid_units.get(self.unit_grid.get(u), set()).discard(u)
            self.unit_grid[u] = g
            self.grid_units.setdefault(g, set()).add(u)
        for code, row in delta.grids.items():
            if code in self.grids:
                self._count(self.grids[code], -1)
            if row is not None:
                self._count(row, 1)
            if row is None:
                self.grids.pop(code, None)
                self.grid_cells.pop(code, None)
                self.grid_units.pop(code, None)
            else:
                self.grids[code] = dict(row)
                self.grid_cells.setdefault(code, set())
                self.grid_units.setdefault(code, set())

    def next_code(self, community_id: str) -> str:
        """The first free grid code of a community."""
        serial = sum(1 for r in self.grids.values() if r["community_id"] == community_id) + 1
        while True:
            code = grid_code(self.community_codes.get(community_id), community_id, serial,
                             scheme=self.code_scheme, object_class=self.object_class)
            if code not in self.grids:
                return code
            serial += 1

    # ---- checks -------------------------------------------------------------------------
    def _grid(self, code: str) -> dict:
        if code not in self.grids:
            raise EditRefused(f"no grid {code!r} in this plan version",
                              "use a grid_code from GET /plans/{id}/grids")
        return self.grids[code]

    def _cells(self, cells: list[str]) -> list[str]:
        missing = [c for c in cells if c not in self.cell_grid]
        if missing or not cells:
            raise EditRefused(f"unknown parcel(s): {', '.join(map(str, missing[:5])) or 'none'}",
                              "use cell_id values from GET /plans/{id}/cells")
        return list(dict.fromkeys(cells))

    def _same_community(self, cells: list[str], community: str, code: str) -> None:
        foreign = [c for c in cells if self.cell_comm[c] != community]
        if foreign:
            raise EditRefused(f"{len(foreign)} parcel(s) lie outside grid {code}'s community "
                              f"{community}", "move parcels between grids of one community only",
                              [{"rule": "nesting", "cells": foreign[:20]}])

    def _unlocked(self, codes: set[str]) -> None:
        locked = sorted(c for c in codes if self.grids[c].get("locked"))
        if locked:
            raise EditRefused(f"grid(s) {', '.join(locked)} are locked",
                              "unlock them first (POST .../edits/lock with locked=false)",
                              [{"rule": "locked", "grids": locked}])

    def _delta(self, cg: dict, ug: dict, affected: set[str], force: bool) -> Delta:
        """Grid rows after moving ``cg`` parcels and ``ug`` units; refuse or warn on rules."""
        delta = Delta(cell_grid=cg, unit_grid=ug)
        soft = []
        for code in sorted(affected):
            cells = {c for c in self.grid_cells.get(code, set()) if c not in cg}
            cells |= {c for c, g in cg.items() if g == code}
            units = {u for u in self.grid_units.get(code, set()) if u not in ug}
            units |= {u for u, g in ug.items() if g == code}
            if not cells and not units:
                delta.grids[code] = None
                delta.warnings.append(f"grid {code} no longer holds anything and is removed")
                continue
            row = self._row(code, cells, units)
            delta.grids[code] = row
            soft += self._soft_rules(code, row)
        if soft and not force:
            raise EditRefused("the edit breaks " + "; ".join(v["message"] for v in soft),
                              "change the edit, or send it again with \"force\": true to accept "
                              "it with warnings", soft)
        delta.warnings += [v["message"] for v in soft]
        return delta

    def _soft_rules(self, code: str, row: dict) -> list[dict]:
        """Band and contiguity rules an edit may break only when the planner insists."""
        out = []
        before = self.grids.get(code, {})
        if not row["contiguous"] and before.get("contiguous", True) is not False:
            out.append({"rule": "contiguity", "grid": code,
                        "message": f"grid {code} would fall into separate pieces"})
        lo, hi = self.band
        key = self.balanced_on
        gap = _band_gap(row[key], lo, hi)
        if gap > 0 and gap > _band_gap(before.get(key, (lo + hi) / 2), lo, hi):
            what = ("households" if key == "households"
                    else "household-equivalents of workload")
            out.append({"rule": "band", "grid": code, "households": row["households"],
                        key: row[key],
                        "message": f"grid {code} would hold {row[key]:g} {what}, "
                                   f"outside {lo:.0f}–{hi:.0f}"})
        return out

    def _row(self, code: str, cells: set[str], units: set[str]) -> dict:
        """A grid's row from its parcels and units."""
        base = self.grids[code]
        geom = outline([self.cell_geom[c] for c in cells]) if cells else shapely.Polygon()
        hh = int(sum(self.unit_hh[u] for u in units))
        balance = {}
        if self.balanced_on != "households":
            balance[self.balanced_on] = round(float(sum(self.unit_load[u] for u in units)), 1)
        status = self._status({"households": hh, "status": base.get("status"),
                               "grid_type": base.get("grid_type"), **balance})
        return {
            "grid_code": code, "community_id": base["community_id"], "households": hh,
            **balance,
            "population": round(float(sum(self.unit_pop[u] for u in units)), 1),
            "units": len(units), "area_m2": round(float(geom.area), 1),
            "polsby_popper": round(float(polsby_popper(np.array([geom]))[0]), 4),
            "barrier_crossings": max(len({self.cell_block[c] for c in cells}) - 1, 0),
            "status": status, "reason": "" if status == "ok" else "redrawn by a planner",
            "reason_zh": "" if status == "ok" else "规划员手动调整",
            "grid_type": base.get("grid_type") or "comprehensive",
            "site_kind": base.get("site_kind"), "site_name": base.get("site_name"),
            "locked": bool(base.get("locked", False)), "workers": list(base.get("workers", [])),
            "contiguous": self._connected(cells), "geometry": geom,
        }

    def _connected(self, cells: set[str]) -> bool:
        """Whether parcels form one connected piece through shared boundaries."""
        if len(cells) <= 1:
            return True
        start = next(iter(cells))
        seen, todo = {start}, deque([start])
        while todo:
            for nb in self.nbrs[todo.popleft()]:
                if nb in cells and nb not in seen:
                    seen.add(nb)
                    todo.append(nb)
        return len(seen) == len(cells)

    def _side_of_line(self, code: str, cells: list[str], line) -> set[str]:
        """Parcels on the side of ``line`` holding fewer households become the new grid."""
        from shapely.ops import split

        pieces = list(shapely.get_parts(split(self.grids[code]["geometry"], line)))
        if len(pieces) < 2:
            return set()
        pts = shapely.point_on_surface(np.asarray([self.cell_geom[c] for c in cells]))
        side = {}
        for c, p in zip(cells, pts, strict=True):
            dist = [piece.distance(p) for piece in pieces]
            side[c] = int(np.argmin(dist))
        hh = np.zeros(len(pieces))
        for c, s in side.items():
            hh[s] += sum(self.unit_hh[u] for u in self.cell_units[c])
        keep = int(np.argmax(hh))
        return {c for c, s in side.items() if s != keep}

    def _balanced_half(self, cells: list[str]) -> set[str]:
        """Two contiguous halves of about equal households (the planning engine with k=2)."""
        idx = {c: i for i, c in enumerate(cells)}
        pairs = np.array([(idx[c], idx[n]) for c in cells for n in self.nbrs[c]
                          if n in idx and idx[c] < idx[n]], dtype=np.int64).reshape(-1, 2)
        hh = np.array([sum(self.unit_load[u] for u in self.cell_units[c]) for c in cells],
                      float)
        xy = shapely.get_coordinates(shapely.point_on_surface(
            np.asarray([self.cell_geom[c] for c in cells])))
        total = max(hh.sum(), 1.0)
        costs = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T) + 1.0 if len(pairs) else \
            np.zeros(0)
        part = partition_graph(len(cells), pairs, costs, np.zeros(len(pairs), dtype=np.int64),
                               hh, xy, np.arange(len(cells)), target=total / 2,
                               band=(total * 0.35, total * 0.65), seed=0, attempts=12)
        labels = part.labels
        if labels.max() < 1:
            order = np.argsort(xy[:, 0])
            labels = np.zeros(len(cells), dtype=int)
            labels[order[np.searchsorted(np.cumsum(hh[order]), total / 2):]] = 1
        small = 1 if hh[labels == 1].sum() <= hh[labels == 0].sum() else 0
        return {c for c, lab in zip(cells, labels, strict=True) if lab == small}


def grid_attrs(row: dict) -> dict:
    """The attributes of a grid row that a plan store keeps (``BALANCE_ATTRS`` when set).

    Examples
    --------
    >>> grid_attrs({"grid_code": "a", "visit_equivalents": 280.5})["visit_equivalents"]
    280.5
    >>> "visit_equivalents" in grid_attrs({"grid_code": "a", "visit_equivalents": None})
    False
    """
    attrs = {k: row.get(k) for k in GRID_ATTRS}
    attrs.update({k: row[k] for k in BALANCE_ATTRS + LOCK_ATTRS if _given(row.get(k))})
    return attrs


def _given(value) -> bool:
    """Whether an optional attribute holds a value (not None or NaN)."""
    return value is not None and bool(pd.notna(value))


def _holder(row: dict) -> str | None:
    """Who holds a grid's lock (``None`` when nobody is recorded)."""
    by = row.get("locked_by")
    return by if _given(by) and by != "" else None


def _list(column) -> list:
    """A column as a plain Python list (fast to iterate, whatever the pandas dtype)."""
    return column.to_numpy(dtype=object).tolist()


def _band_gap(households: float, lo: float, hi: float) -> float:
    """How far ``households`` lies outside ``[lo, hi]`` (0 inside)."""
    return max(lo - households, households - hi, 0.0)
