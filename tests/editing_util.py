"""Helpers for tests that edit plans (the library's PlanState and the API alike)."""

from __future__ import annotations


def spoiling_move(state) -> tuple[str, str]:
    """A boundary parcel of an in-band grid whose move to an in-band neighbour of the same
    community takes the first grid below the band."""
    for code in sorted(state.grids):
        row = state.grids[code]
        if state._status(row) != "ok":
            continue
        for c in sorted(state.grid_cells[code]):
            hh = sum(state.unit_hh[u] for u in state.cell_units[c])
            for n in sorted(state.nbrs[c]):
                to = state.cell_grid[n]
                if (to != code and hh and state.grids[to]["community_id"] == row["community_id"]
                        and not state.grids[to]["locked"] and not row["locked"]
                        and state._status(state.grids[to]) == "ok"
                        and row["households"] - hh < state.band[0]):
                    return c, to
    raise AssertionError("no parcel move takes an in-band grid of the demo out of band")
