"""Grids: dissolve tessellation cells into one polygon per grid, inside its community."""

from __future__ import annotations

import logging

import numpy as np
import shapely

from gridplan.engine.adjacency import GRID_SIZE

log = logging.getLogger(__name__)

MIN_HOLE = 1.0  # m²: holes smaller than this are overlay slivers, not real holes
SLIVER_SHARE = 1e-6  # a grid's part under this share of its area is an overlay sliver
SLIVER_M2 = 0.01  # m²: so is a part under this (a 10 cm square), below the 1 cm snapping's reach


def grid_polygons(cells: np.ndarray, cell_unit: np.ndarray, unit_labels: np.ndarray,
                  unit_xy: np.ndarray, weights: np.ndarray, k: int
                 ) -> tuple[list, np.ndarray, list]:
    """One polygon per grid label ``0..k-1`` from the cells of its units.

    Cell fragments cut off from their grid (where a concave community boundary
    clips a cell in two) are handed to the neighbouring grid that shares the
    longest boundary with them, so each grid ends as one polygon wherever the
    community itself is in one piece; units inside a handed-over fragment follow
    it. Returns the polygons (on a 1 cm grid, without sliver holes), the possibly
    updated unit labels and the hand-overs ``(fragment, from grid, to grid)``.
    """
    cell_label = unit_labels[cell_unit]
    keep = ~shapely.is_empty(cells)
    geoms = []
    for g in range(k):
        mine = cells[keep & (cell_label == g)]
        geoms.append(_union(mine))
    anchors = [unit_xy[unit_labels == g] for g in range(k)]
    anchor_w = [weights[unit_labels == g] for g in range(k)]
    moves: list = []
    geoms = _absorb_fragments(geoms, anchors, anchor_w, moves)
    labels = unit_labels.copy()
    for part, src, dst in moves:
        mine = np.flatnonzero(labels == src)
        inside = shapely.intersects_xy(part, unit_xy[mine, 0], unit_xy[mine, 1])
        labels[mine[inside]] = dst
    return [_tidy(g) for g in geoms], labels, moves


def outline(parts) -> object:
    """The polygon of a grid from its parcels: their union, tidied like a planned grid's.

    Examples
    --------
    >>> outline([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]).area
    2.0
    """
    return _tidy(_union(np.asarray(parts, dtype=object)))


def _tidy(geom):
    """Snap to the 1 cm grid and drop holes under 1 m² (overlay slivers between cells).

    Snapping is skipped where it would cut a thin neck and split the grid.
    """
    snapped = polygonal(shapely.set_precision(geom, GRID_SIZE))
    if shapely.get_num_geometries(snapped) <= shapely.get_num_geometries(geom):
        geom = snapped
    # rebuilt even without holes to drop: a part of the snapped geometry keeps its 1 cm
    # precision model, which would round what is derived from it (e.g. point_on_surface,
    # which orders grid codes)
    polys = [shapely.Polygon(p.exterior, [r for r in p.interiors
                                          if shapely.Polygon(r).area >= MIN_HOLE])
             for p in drop_slivers(shapely.get_parts(geom))]
    if not polys:
        return geom
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def drop_slivers(parts) -> list:
    """Polygon parts without zero-area slivers (the largest part always stays).

    A part under :data:`SLIVER_SHARE` of the total area or under :data:`SLIVER_M2` is
    left out; what is dropped is far below the tiling check's slack.

    Examples
    --------
    >>> parts = [shapely.box(0, 0, 100, 100), shapely.box(200, 0, 200.001, 5)]
    >>> [p.area for p in drop_slivers(parts)]
    [10000.0]
    """
    parts = list(parts)
    if len(parts) < 2:
        return parts
    areas = np.array([p.area for p in parts])
    keep = areas >= max(SLIVER_SHARE * areas.sum(), SLIVER_M2)
    keep[int(np.argmax(areas))] = True
    return [p for p, k in zip(parts, keep, strict=True) if k]


def _union(parts: np.ndarray):
    """Union of polygon cells, polygonal parts only."""
    if len(parts) == 0:
        return shapely.Polygon()
    merged = None
    for union in (shapely.coverage_union_all, shapely.union_all):
        try:
            merged = union(parts)
        except shapely.errors.GEOSException:
            continue
        if merged.is_valid and merged.geom_type == "Polygon":
            return merged
    # cells clipped along a boundary may not form an exact coverage: snap-round them
    snapped = shapely.union_all(parts, grid_size=GRID_SIZE)
    if merged is None or not merged.is_valid or (
            shapely.get_num_geometries(snapped) <= shapely.get_num_geometries(merged)):
        merged = snapped
    return polygonal(merged)


def polygonal(geom):
    """Drop points and lines that overlay operations can leave behind."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else shapely.Polygon()


def _absorb_fragments(geoms: list, anchors: list, anchor_w: list, moves: list,
                      passes: int = 3) -> list:
    """Give each detached fragment of a grid to the neighbour sharing most boundary."""
    for _ in range(passes):
        moved = False
        for g, geom in enumerate(geoms):
            if geom.geom_type != "MultiPolygon":
                continue
            parts = list(shapely.get_parts(geom))
            main = _main_part(parts, anchors[g], anchor_w[g])
            rest = []
            for i, part in enumerate(parts):
                if i == main:
                    continue
                nb = _best_neighbour(part, geoms, g)
                if nb is None:
                    rest.append(part)
                    continue
                geoms[nb] = polygonal(shapely.union(geoms[nb], part))
                moves.append((part, g, nb))
                moved = True
            geoms[g] = polygonal(shapely.union_all([parts[main], *rest]))
        if not moved:
            break
    return geoms


def _main_part(parts: list, xy: np.ndarray, w: np.ndarray) -> int:
    """Index of the part holding most of the grid's units (by households, then count)."""
    if len(xy) == 0:
        return int(np.argmax([p.area for p in parts]))
    pts = shapely.points(xy)
    score = [(float(w[shapely.contains_xy(p, xy[:, 0], xy[:, 1])].sum()),
              int(shapely.contains(p, pts).sum()), p.area) for p in parts]
    return max(range(len(parts)), key=lambda i: score[i])


def _best_neighbour(part, geoms: list, own: int) -> int | None:
    """Grid (other than ``own``) sharing the longest boundary with ``part``, else the nearest."""
    best, best_len = None, 1e-6
    nearest, nearest_d = None, 0.5  # metres: a fragment this close still counts as touching
    for h, other in enumerate(geoms):
        if h == own or other.is_empty:
            continue
        d = part.distance(other)
        if d < nearest_d:
            nearest, nearest_d = h, d
        if d > 0:
            continue
        length = shapely.length(shapely.intersection(part.boundary, other.boundary))
        if length > best_len:
            best, best_len = h, length
    return best if best is not None else nearest


def polsby_popper(geoms: np.ndarray) -> np.ndarray:
    """Polsby-Popper compactness 4πA/P² (1 for a circle)."""
    area = shapely.area(geoms)
    perim = shapely.length(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        pp = 4 * np.pi * area / perim ** 2
    return np.where(perim > 0, pp, 0.0)


def block_edges(cells: np.ndarray, block: np.ndarray, community: np.ndarray,
                margin: float = 0.5) -> tuple[list, list]:
    """Where parcels of different blocks meet: the roads and rivers a plan follows.

    ``cells`` are the plan's parcels (metric CRS), ``block`` the barrier-bounded block of
    each and ``community`` its community. Lines along a community's own outline (within
    ``margin`` metres) are left out: the outline is drawn already.

    Returns
    -------
    communities, lines : list, list
        One (Multi)LineString per community with more than one block.

    Examples
    --------
    >>> a, b = shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)
    >>> _, lines = block_edges(np.array([a, b]), np.array([0, 1]), np.array(["C1", "C1"]))
    >>> shapely.normalize(lines[0]).wkt
    'LINESTRING (10 0.5, 10 9.5)'
    """
    cells, block, community = np.asarray(cells, dtype=object), np.asarray(block), \
        np.asarray(community)
    out_comm, out_lines = [], []
    for comm in np.unique(community):
        inside = community == comm
        blocks = np.unique(block[inside])
        if len(blocks) < 2:
            continue
        parts = [shapely.union_all(cells[inside & (block == b)], grid_size=GRID_SIZE)
                 for b in blocks]
        edges = shapely.union_all(shapely.boundary(np.asarray(parts, dtype=object)),
                                  grid_size=GRID_SIZE)
        outline = shapely.boundary(shapely.union_all(parts, grid_size=GRID_SIZE))
        lines = shapely.difference(edges, shapely.buffer(outline, margin))
        if not lines.is_empty:
            out_comm.append(comm)
            out_lines.append(shapely.line_merge(lines) if lines.geom_type != "LineString"
                             else lines)
    return out_comm, out_lines
