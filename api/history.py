"""History: undo, redo, restore and diff over a plan's append-only versions."""

from __future__ import annotations

from collections.abc import Callable

from gridplan.api.errors import HTTPProblem
from gridplan.api.store import Store

from gridplan.practice.editing import Delta

Guard = Callable[[Delta], None] | None  # checks a delta before it is committed (lock holders)


def stacks(versions: list[dict]) -> tuple[list[int], list[int]]:
    """Versions that can be undone and redone (last = next), replayed from the history.

    Examples
    --------
    >>> stacks([{"version": 1, "op": "plan"}, {"version": 2, "op": "move"},
    ...         {"version": 3, "op": "undo", "target": 2}])
    ([], [2])
    """
    undo_stack: list[int] = []
    redo_stack: list[int] = []
    for v in versions:
        if v["op"] == "plan":
            continue
        if v["op"] == "undo":
            undo_stack.remove(v["target"])
            redo_stack.append(v["target"])
        elif v["op"] == "redo":
            redo_stack.remove(v["target"])
            undo_stack.append(v["target"])
        else:
            undo_stack.append(v["version"])
            redo_stack.clear()
    return undo_stack, redo_stack


def _back_to(store: Store, plan_id: str, after: int, upto: int, at: int) -> Delta:
    """A delta putting what versions ``after+1..upto`` changed back to its state at ``at``."""
    cells, units, codes = store.changed_in(plan_id, after, upto)
    return store.state_delta(plan_id, at, cells, units, codes)


def undo(store: Store, plan_id: str, head: int, author: str, guard: Guard = None
         ) -> tuple[int, Delta]:
    """Undo the latest edit still in force."""
    todo, _ = stacks(store.versions(plan_id))
    if not todo:
        raise HTTPProblem(409, "there is no edit to undo", "make an edit first")
    t = todo[-1]
    delta = _back_to(store, plan_id, t - 1, t, t - 1)
    delta.summary = {"op": "undo", "undoes": t}
    if guard:
        guard(delta)
    return store.commit(plan_id, head, delta, author=author, op="undo", target=t), delta


def redo(store: Store, plan_id: str, head: int, author: str, guard: Guard = None
         ) -> tuple[int, Delta]:
    """Redo the edit undone last (if no new edit came after the undo)."""
    _, todo = stacks(store.versions(plan_id))
    if not todo:
        raise HTTPProblem(409, "there is no undone edit to redo", "undo an edit first")
    t = todo[-1]
    delta = _back_to(store, plan_id, t - 1, t, t)
    delta.summary = {"op": "redo", "redoes": t}
    if guard:
        guard(delta)
    return store.commit(plan_id, head, delta, author=author, op="redo", target=t), delta


def restore(store: Store, plan_id: str, head: int, version: int, author: str,
            guard: Guard = None) -> tuple[int, Delta]:
    """Make ``version``'s state current again, as a new version."""
    if version == head:
        raise HTTPProblem(409, f"version {version} is already the current one",
                          "pick an earlier version")
    delta = _back_to(store, plan_id, version, head, version)
    delta.summary = {"op": "restore", "restores": version}
    if guard:
        guard(delta)
    return store.commit(plan_id, head, delta, author=author, op="restore",
                        target=version), delta


def diff(store: Store, plan_id: str, a: int, b: int) -> dict:
    """Grids changed, units moved and households moved from version ``a`` to ``b``."""
    lo, hi = min(a, b), max(a, b)
    cells, units, codes = store.changed_in(plan_id, lo, hi)
    ua = store.members_at(plan_id, a, "u", units) if units else {}
    ub = store.members_at(plan_id, b, "u", units) if units else {}
    moved = [u for u in units if ua.get(u) != ub.get(u)]
    info = store.unit_rows(plan_id, moved)
    rows_a = store.grid_rows_at(plan_id, a, codes) if codes else {}
    rows_b = store.grid_rows_at(plan_id, b, codes) if codes else {}
    changed = [c for c in codes if not _same_row(rows_a.get(c), rows_b.get(c))]
    out = [{"unit_id": u, "cell_id": info[u][0], "from": ua.get(u), "to": ub.get(u),
            "households": info[u][1]} for u in sorted(moved)]
    return {"from": a, "to": b, "grids_changed": sorted(changed),
            "grids_added": sorted(c for c in changed if rows_a.get(c) is None),
            "grids_removed": sorted(c for c in changed if rows_b.get(c) is None),
            "units_moved": out, "households_moved": sum(r["households"] for r in out)}


def _same_row(a: dict | None, b: dict | None) -> bool:
    """Same attributes and the same outline (to 1e-7°, about 1 cm)."""
    if a is None or b is None:
        return a is b
    keys = set(a) | set(b)
    keys.discard("geometry")
    return all(str(a.get(k)) == str(b.get(k)) for k in keys) and a["geometry"].equals_exact(
        b["geometry"], 1e-7)
