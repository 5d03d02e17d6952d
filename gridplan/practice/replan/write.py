"""Writing a re-plan: the plan folder with ``changes.csv``, and a readable summary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gridplan.export.folder import write_plan

if TYPE_CHECKING:
    from gridplan.practice.replan import ReplanResult


def write_replan(result: ReplanResult, out_dir,
                 maps: dict[str, Callable[[Path], None]] | None = None) -> dict:
    """Write the re-planned plan, ``changes.csv`` and any ``maps``, all or nothing.

    ``maps`` maps file names to writers of that path (the CLI adds ``diff_map.html``).

    Examples
    --------
    >>> write_replan(result, "out/replan")                     # doctest: +SKIP
    """
    extra = {"changes.csv": lambda p: result.changes.to_csv(p, index=False, encoding="utf-8")}
    extra.update(maps or {})
    return write_plan(result.plan, out_dir, extra=extra)


def summary_text(result: ReplanResult, out_dir) -> str:
    """A readable summary of a re-plan against planning from scratch."""
    s = result.summary
    r = s["replan"]
    budget = "no limit" if s["max_moved"] is None else f"{s['max_moved']}"
    kinds = result.changes["change"].value_counts().to_dict()
    lines = ["", f"gridplan replan: {r['grids']} grids ({r['grids_kept']} kept, "
             f"{r['grids_redrawn']} redrawn, {r['grids_new']} new, {r['grids_retired']} "
             f"retired, {len(s['locked'])} locked)",
             f"  households moved to another grid: {r['households_moved']} "
             f"({r['units_moved']} units; budget {budget}); grids changed: "
             f"{r['grids_changed']}; out of band: {r['grids_out_of_band']}",
             "  units: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))]
    if "fresh" in s:
        f = s["fresh"]
        lines.append(f"  planning from scratch instead: {f['households_moved']} households "
                     f"moved ({f['units_moved']} units), {f['grids_changed']} grids changed, "
                     f"{f['grids_out_of_band']} out of band")
    lines += [f"  note: {m}" for m in s["notes"]]
    lines.append(f"  wrote {out_dir}/: grids.geojson units.csv plan.gpkg report.json "
                 "changes.csv" + (" diff_map.html" if (out_dir / "diff_map.html").exists()
                                  else ""))
    return "\n".join(lines)
