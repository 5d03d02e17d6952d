"""Parcels: the tessellation cells a planner moves between grids, and which of them touch."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import shapely

from gridplan.engine.adjacency import unique_pairs
from gridplan.engine.grids import polygonal as _polygonal

log = logging.getLogger(__name__)

MIN_SHARED = 0.05  # metres of common boundary for two parcels to count as neighbours
MIN_PIECE = 1.0  # m²: overlay pieces smaller than this are slivers, not parcels


def region_parcels(result, community_id: str, unit_ids: np.ndarray, codes: np.ndarray
                   ) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Parcels of one planned region, the parcel of each unit, and parcel adjacency.

    A parcel is the tessellation cell of one location: the cells of a unit, shared by
    every unit at that location (stairwell sub-units, co-located addresses), or of an
    empty block. Each parcel belongs to the grid whose polygon holds it; where a
    grid's polygon took over a fragment of a neighbour's cell, the fragment is a
    parcel of its own. The grids of a region are exactly the unions of their parcels.

    Parameters
    ----------
    result : region.RegionResult
        The planned region (its graph, final labels and fragment hand-overs).
    community_id : str
        Community the region is.
    unit_ids : array of str
        Unit ids in the order of the region's units.
    codes : array of str
        Grid code of each grid label.

    Returns
    -------
    parcels : DataFrame
        ``cell_id, community_id, grid_code, block, geometry`` (metric CRS).
    unit_cell : ndarray
        ``cell_id`` of each unit.
    edges : DataFrame
        ``a, b, crossing``: neighbouring parcels, and whether a road or river lies between.

    Examples
    --------
    >>> from gridplan.demo.district import load_demo                  # doctest: +SKIP
    >>> from gridplan.engine.pipeline import plan                   # doctest: +SKIP
    >>> plan(**load_demo()).cells.columns.tolist()[:3]       # doctest: +SKIP
    ['cell_id', 'community_id', 'grid_code']
    """
    graph = result.graph
    if graph is None:
        cells = pd.DataFrame({"cell_id": [f"~{community_id}/0"], "community_id": [community_id],
                              "grid_code": [codes[0]], "block": [0],
                              "geometry": [result.geometry]})
        return cells, np.array([], dtype=object), _no_edges()
    ids = np.concatenate([np.asarray(unit_ids, dtype=object),
                          [f"~{community_id}/{i}" for i in range(graph.n - graph.n_units)]])
    owner = graph.seed[graph.cell_unit]
    keep = ~shapely.is_empty(graph.cells)
    index, geoms = _dissolve(owner[keep], graph.cells[keep])
    labels = result.drawn_labels[index]
    block = graph.block[index]
    pid = ids[index]
    edges = _node_edges(graph, ids)
    if result.fragments:
        pid, geoms, labels, block, edges = _apply_fragments(pid, geoms, labels, block, edges,
                                                            result.fragments)
    pid, geoms, labels, block, edges = _split_multipart(
        pid, geoms, labels, block, edges, dict(zip(ids, map(tuple, graph.xy), strict=True)))
    cells = pd.DataFrame({"cell_id": pid, "community_id": community_id,
                          "grid_code": codes[labels], "block": block, "geometry": geoms})
    return cells, ids[graph.seed[:graph.n_units]], edges


def _dissolve(owner: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One geometry per owner: the union of its cells."""
    order = np.argsort(owner, kind="stable")
    owner, cells = owner[order], cells[order]
    uniq, start, count = np.unique(owner, return_index=True, return_counts=True)
    out = cells[start].copy()
    for i in np.flatnonzero(count > 1):
        parts = cells[start[i]:start[i] + count[i]]
        try:
            out[i] = shapely.coverage_union_all(parts)
        except shapely.errors.GEOSException:
            out[i] = shapely.union_all(parts)
    bad = ~shapely.is_valid(out)
    out[bad] = [_polygonal(shapely.make_valid(g)) for g in out[bad]]
    return uniq, out


def _node_edges(graph, ids: np.ndarray) -> pd.DataFrame:
    """Graph edges between locations (co-located units are one parcel)."""
    if len(graph.edges) == 0:
        return _no_edges()
    a, b = graph.seed[graph.edges[:, 0]], graph.seed[graph.edges[:, 1]]
    keep = a != b
    pairs = unique_pairs(np.sort(np.column_stack([a[keep], b[keep]]), axis=1))
    if len(pairs) == 0:
        return _no_edges()
    return pd.DataFrame({"a": ids[pairs[:, 0]], "b": ids[pairs[:, 1]],
                         "crossing": graph.block[pairs[:, 0]] != graph.block[pairs[:, 1]]})


def _no_edges() -> pd.DataFrame:
    return pd.DataFrame({"a": pd.Series(dtype=object), "b": pd.Series(dtype=object),
                         "crossing": pd.Series(dtype=bool)})


def _apply_fragments(pid, geoms, labels, block, edges, fragments):
    """Split parcels by the fragments grids handed to a neighbour; re-derive their edges."""
    pid, geoms, labels, block = list(pid), list(geoms), list(labels), list(block)
    touched: set[int] = set()
    for part, src, dst in fragments:
        for i in range(len(geoms)):
            if labels[i] != src or not shapely.intersects(geoms[i], part):
                continue
            inside = _polygonal(shapely.intersection(geoms[i], part))
            if inside.area < MIN_PIECE:
                continue
            rest = _polygonal(shapely.difference(geoms[i], part))
            if rest.area < MIN_PIECE:
                labels[i] = dst
                touched.add(i)
                continue
            geoms[i] = rest
            pid.append(f"{pid[i]}~{len(pid)}")
            geoms.append(inside)
            labels.append(dst)
            block.append(block[i])
            touched.update((i, len(pid) - 1))
    pid_arr, geom_arr = np.asarray(pid, dtype=object), np.asarray(geoms, dtype=object)
    edges = _touching_edges(pid_arr, geom_arr, np.asarray(block), sorted(touched), edges)
    return pid_arr, geom_arr, np.asarray(labels), np.asarray(block), edges


def _split_multipart(pid, geoms, labels, block, edges, anchor: dict):
    """One parcel per piece of a cell that a concave boundary cut in two; re-derive edges.

    The piece holding the location (``anchor``) keeps the parcel id and its units; other
    pieces become parcels ``<id>~<n>`` of the same grid, so parcel adjacency is adjacency of
    polygons (a parcel in two pieces could join a grid through a piece it lost).
    """
    multi = np.flatnonzero(
        shapely.get_num_geometries(np.asarray(geoms, dtype=object)) > 1).tolist()
    if not multi:
        return pid, geoms, labels, block, edges
    pid, geoms, labels, block = list(pid), list(geoms), list(labels), list(block)
    touched: list[int] = []
    for i in multi:
        parts = list(shapely.get_parts(geoms[i]))
        xy = anchor.get(pid[i])
        hits = [n for n, part in enumerate(parts) if xy is not None
                and shapely.intersects_xy(part, *xy)]
        keep = hits[0] if hits else int(np.argmax([part.area for part in parts]))
        geoms[i] = parts[keep]
        touched.append(i)
        for n, part in enumerate(parts):
            if n != keep:
                pid.append(f"{pid[i]}~{len(pid)}")
                geoms.append(part)
                labels.append(labels[i])
                block.append(block[i])
                touched.append(len(pid) - 1)
    pid_arr, geom_arr = np.asarray(pid, dtype=object), np.asarray(geoms, dtype=object)
    edges = _touching_edges(pid_arr, geom_arr, np.asarray(block), touched, edges)
    return pid_arr, geom_arr, np.asarray(labels), np.asarray(block), edges


def _touching_edges(pid, geoms, block, touched: list[int], edges: pd.DataFrame) -> pd.DataFrame:
    """Replace the edges of ``touched`` parcels by the neighbours their geometry has now."""
    names = set(pid[touched])
    edges = edges[~edges["a"].isin(names) & ~edges["b"].isin(names)]
    tree = shapely.STRtree(geoms)
    rows = []
    for i in touched:
        for j in tree.query(geoms[i], predicate="intersects"):
            if j == i:
                continue
            shared = shapely.intersection(shapely.boundary(geoms[i]), shapely.boundary(geoms[j]))
            if shapely.length(shared) > MIN_SHARED:
                a, b = sorted((pid[i], pid[j]))
                rows.append((a, b, bool(block[i] != block[j])))
    extra = pd.DataFrame(rows, columns=["a", "b", "crossing"])
    return pd.concat([edges, extra], ignore_index=True).drop_duplicates(["a", "b"])
