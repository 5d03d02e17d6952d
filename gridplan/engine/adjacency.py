"""Adjacency: tessellate a community around its units and link units whose cells touch."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely

log = logging.getLogger(__name__)

BARRIER_PENALTY = 25.0  # edge cost factor for crossing a road, railway or river
COMPOUND_PENALTY = 6.0  # edge cost factor for crossing a compound (小区) boundary
MAX_SAMPLES = 24  # boundary samples per footprint in footprint tessellation
GRID_SIZE = 0.01  # metres: precision of overlay operations (robust snap-rounding)
SNAP = 0.05  # metres: points closer than this are one tessellation seed
MIN_SHARED_EDGE = 0.05  # metres: cells meeting along less are not neighbours
TILING_SHARE = 0.6  # polygon units covering more of a community than this tile it


@dataclass
class CommunityGraph:
    """Units of one community, their tessellation cells and adjacency.

    Attributes
    ----------
    xy : ndarray (n, 2)
        Representative point of each unit (metric CRS).
    households : ndarray (n,)
        Households of each unit.
    edges : ndarray (m, 2)
        Unordered pairs of adjacent units (local indices, ``i < j``).
    cells : ndarray of shapely geometries
        Tessellation cells (several per unit in footprint mode), clipped to the community.
    cell_unit : ndarray
        Local unit index of each cell.
    block : ndarray (n,)
        Id of the barrier-bounded block (road/river enclosure) holding each unit.
    compound : ndarray (n,)
        Compound (小区) label of each unit, ``-1`` where none.
    n_units : int
        Number of real units; entries past it are filler points (0 households) that
        stand for blocks holding no unit, so that every block is covered by a grid.
    seed : ndarray (n,)
        First unit at each unit's location; co-located units share that unit's cell.
    """

    xy: np.ndarray
    households: np.ndarray
    edges: np.ndarray
    cells: np.ndarray
    cell_unit: np.ndarray
    block: np.ndarray
    compound: np.ndarray
    n_units: int = -1
    seed: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of units."""
        return len(self.xy)

    def edge_costs(self) -> np.ndarray:
        """Distance between unit points, multiplied up across barriers and compound walls."""
        if len(self.edges) == 0:
            return np.zeros(0)
        a, b = self.edges[:, 0], self.edges[:, 1]
        dist = np.hypot(*(self.xy[a] - self.xy[b]).T) + 1.0
        kind = self.edge_kind()
        return dist * (1 + BARRIER_PENALTY * (kind == 2)) * (1 + COMPOUND_PENALTY * (kind == 1))

    def edge_kind(self) -> np.ndarray:
        """Per edge: 2 across a barrier, 1 across a compound wall only, 0 otherwise."""
        a, b = self.edges[:, 0], self.edges[:, 1]
        wall = self.compound[a] != self.compound[b]
        return np.where(self.crossing_edges(), 2, np.where(wall, 1, 0))

    def crossing_edges(self) -> np.ndarray:
        """Whether each edge crosses a barrier."""
        if len(self.edges) == 0:
            return np.zeros(0, dtype=bool)
        return self.block[self.edges[:, 0]] != self.block[self.edges[:, 1]]


def build_community_graph(community, unit_geoms: np.ndarray, households: np.ndarray,
                          *, barriers=None, compound: np.ndarray | None = None,
                          mode: str = "auto") -> CommunityGraph:
    """Tessellate one community around its units and build their adjacency.

    Parameters
    ----------
    community : shapely Polygon or MultiPolygon
        The community boundary (metric CRS).
    unit_geoms : array of shapely geometries
        Unit footprints or points, all with a representative point inside ``community``.
    households : array of float
        What grids are balanced on, per unit: households, or workload in
        household-equivalents.
    barriers : shapely geometry, optional
        Lines (roads, railways, rivers) that bound blocks.
    compound : array of int, optional
        Compound label per unit (``-1`` for none).
    mode : {"auto", "footprint", "centroid"}
        ``footprint`` samples footprint outlines so cells follow buildings; ``centroid``
        uses one point per unit; ``auto`` picks footprint for polygons.
    """
    n = len(unit_geoms)
    xy = snap(shapely.get_coordinates(shapely.point_on_surface(unit_geoms)).reshape(n, 2))
    seed = colocated_seed(xy)
    blocks = block_polygons(community, barriers)
    unit_block = _locate(blocks, xy)
    empty = np.setdiff1d(np.arange(len(blocks)), unit_block)
    fillers = shapely.point_on_surface(blocks[empty])
    geoms = np.concatenate([np.asarray(unit_geoms, dtype=object), fillers])
    xy = np.vstack([xy, shapely.get_coordinates(fillers).reshape(-1, 2)])
    block = np.concatenate([unit_block, empty])
    pts, owner, is_seed = _sample_points(geoms, xy, resolve_mode(mode, unit_geoms, community))
    keep = is_seed | (_locate(blocks, pts) == block[owner])
    pts, owner = pts[keep], owner[keep]
    cells, edges = _tessellate_blocks(pts, owner, block[owner], blocks)
    dup = np.flatnonzero(seed != np.arange(n))
    if len(dup):
        edges = np.unique(np.vstack([edges, np.sort(np.column_stack([dup, seed[dup]]), axis=1)]),
                          axis=0)
    comp = np.full(n, -1) if compound is None else np.asarray(compound)
    return CommunityGraph(
        xy=xy, households=np.concatenate([np.asarray(households, dtype=float),
                                          np.zeros(len(empty))]),
        edges=edges, cells=cells, cell_unit=owner, block=block,
        compound=np.concatenate([comp, np.full(len(empty), -1)]), n_units=n,
        seed=np.concatenate([seed, n + np.arange(len(empty))]),
    )


def _tessellate_blocks(pts: np.ndarray, owner: np.ndarray, pt_block: np.ndarray,
                       blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi cells inside each block, and unit pairs whose cells touch (within or across)."""
    cells = np.empty(len(pts), dtype=object)
    edges = []
    for b, poly in enumerate(blocks):
        idx = np.flatnonzero(pt_block == b)
        if len(idx) == 0:
            continue
        c, raw, clipped = _voronoi_cells(pts[idx], poly)
        cells[idx] = c
        edges.append(_cell_edges(owner[idx], raw, clipped, poly))
    if len(blocks) > 1:
        edges.append(_cross_block_edges(cells, owner, pt_block))
    edges = [e for e in edges if len(e)]
    if not edges:
        return cells, np.empty((0, 2), dtype=np.int64)
    return cells, np.unique(np.vstack(edges), axis=0)


def _cross_block_edges(cells: np.ndarray, owner: np.ndarray, pt_block: np.ndarray) -> np.ndarray:
    """Unit pairs whose cells in neighbouring blocks share a stretch of boundary."""
    tree = shapely.STRtree(cells)
    i, j = tree.query(cells, predicate="intersects")
    keep = (i < j) & (pt_block[i] != pt_block[j])
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return np.empty((0, 2), dtype=np.int64)
    shared = shapely.length(shapely.intersection(shapely.boundary(cells[i]),
                                                 shapely.boundary(cells[j]))) > 0.05
    u = np.sort(np.column_stack([owner[i[shared]], owner[j[shared]]]), axis=1)
    return u[u[:, 0] != u[:, 1]]


def resolve_mode(mode: str, geoms: np.ndarray, community) -> str:
    """``auto``: footprints for buildings, centroids for polygons that tile the area.

    Units covering most of their community (census blocks, parcels) already are a
    tessellation; Voronoi cells of their points follow them closely, while outline
    samples of long shared edges interleave and cut cells into pieces.
    """
    if mode != "auto":
        return mode
    polys = shapely.get_type_id(geoms) >= 3
    if not polys.any():
        return "centroid"
    covered = float(shapely.area(geoms[polys]).sum()) / max(community.area, 1e-9)
    return "centroid" if covered > TILING_SHARE else "footprint"


def _sample_points(geoms: np.ndarray, xy: np.ndarray, mode: str
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points to tessellate around, the unit owning each, and which are unit points."""
    polys = shapely.get_type_id(geoms) >= 3
    use_footprint = mode == "footprint"
    pts, owner = [xy], [np.arange(len(xy))]
    if use_footprint and polys.any():
        for i in np.flatnonzero(polys):
            ring = _outline_samples(geoms[i])
            if len(ring):
                pts.append(ring)
                owner.append(np.full(len(ring), i))
    pts_all = snap(np.vstack(pts))
    owner_all = np.concatenate(owner)
    _, keep = np.unique(pts_all, axis=0, return_index=True)
    keep.sort()
    return pts_all[keep], owner_all[keep], keep < len(xy)


def snap(xy: np.ndarray) -> np.ndarray:
    """Snap coordinates to the ``SNAP`` grid, so points closer than that coincide exactly."""
    return np.round(xy / SNAP) * SNAP


def colocated_seed(xy: np.ndarray) -> np.ndarray:
    """For each unit, the first unit at the same (snapped) location: co-located units
    (e.g. address points of one building) share one cell and are kept in one grid."""
    _, first, inverse = np.unique(xy, axis=0, return_index=True, return_inverse=True)
    return first[inverse.ravel()]


def _outline_samples(geom) -> np.ndarray:
    """Up to ``MAX_SAMPLES`` points on a footprint's outline, pulled 0.5 m inside."""
    inner = geom.buffer(-0.5)
    if inner.is_empty:
        return np.empty((0, 2))
    coords = shapely.get_coordinates(shapely.segmentize(inner.boundary, 8.0))
    if len(coords) > MAX_SAMPLES:
        coords = coords[np.linspace(0, len(coords) - 1, MAX_SAMPLES).astype(int)]
    return coords


def _voronoi_cells(pts: np.ndarray, community) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voronoi cells of ``pts`` clipped to the community, the unclipped cells, and which
    cells needed clipping."""
    if len(pts) == 1:
        raw = np.array([shapely.envelope(community).buffer(1.0)])
    else:
        env = shapely.envelope(community).buffer(10.0)
        coll = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=env, ordered=True)
        raw = np.asarray(shapely.get_parts(coll))
    invalid = ~shapely.is_valid(raw)
    if invalid.any():
        raw[invalid] = shapely.make_valid(raw[invalid], method="structure",
                                          keep_collapsed=False)
    shapely.prepare(community)
    inside = shapely.within(raw, community)
    cells = raw.copy()
    cells[~inside] = [_clip(cell, community) for cell in raw[~inside]]
    return cells, raw, ~inside


def _clip(cell, community):
    """Clip one cell exactly, or on the 1 cm grid where floating-point overlay fails."""
    try:
        return shapely.intersection(cell, community)
    except shapely.errors.GEOSException:
        return shapely.intersection(cell, community, grid_size=GRID_SIZE)


def _cell_edges(owner: np.ndarray, raw: np.ndarray, clipped: np.ndarray,
                community) -> np.ndarray:
    """Pairs of units whose cells share a boundary inside the community."""
    pairs = _shared_edge_pairs(raw)
    if len(pairs) == 0:
        return np.empty((0, 2), dtype=np.int64)
    check = clipped[pairs[:, 0]] & clipped[pairs[:, 1]]
    if check.any():
        a, b = raw[pairs[check, 0]], raw[pairs[check, 1]]
        shared = shapely.intersection(shapely.boundary(a), shapely.boundary(b))
        inside = shapely.length(shapely.intersection(shared, community)) > 1e-3
        ok = np.ones(len(pairs), dtype=bool)
        ok[np.flatnonzero(check)] = inside
        pairs = pairs[ok]
    u = owner[pairs]
    u = u[u[:, 0] != u[:, 1]]
    u.sort(axis=1)
    return np.unique(u, axis=0) if len(u) else np.empty((0, 2), dtype=np.int64)


def _shared_edge_pairs(raw: np.ndarray) -> np.ndarray:
    """Pairs of Voronoi cells sharing an edge: cells with two or more vertices in common.

    Cells that meet at a single vertex (co-circular points, e.g. a square lattice of
    buildings) are not neighbours, which a Delaunay triangulation would make them.
    """
    if len(raw) < 2:
        return np.empty((0, 2), dtype=np.int64)
    coords, cell = shapely.get_coordinates(raw, return_index=True)
    _, vid = np.unique(np.round(coords, 6), axis=0, return_inverse=True)
    vid = vid.ravel()
    first = np.zeros(vid.max() + 1, dtype=np.int64)
    first[vid[::-1]] = np.arange(len(vid))[::-1]
    vxy = coords[first]  # one coordinate per vertex id
    vc = np.unique(np.column_stack([vid, cell]), axis=0)  # (vertex, cell), sorted
    pairs, verts = [], []
    for d in range(1, 8):  # a Voronoi vertex is shared by 3 cells, rarely more
        same = vc[d:, 0] == vc[:-d, 0]
        if not same.any():
            break
        pairs.append(np.column_stack([vc[:-d, 1][same], vc[d:, 1][same]]))
        verts.append(vc[d:, 0][same])
    if not pairs:
        return np.empty((0, 2), dtype=np.int64)
    p = np.sort(np.vstack(pairs), axis=1)
    v = np.concatenate(verts)
    order = np.lexsort((v, p[:, 1], p[:, 0]))
    p, v = p[order], v[order]
    new = np.ones(len(p), dtype=bool)
    new[1:] = np.any(p[1:] != p[:-1], axis=1)
    start = np.flatnonzero(new)
    counts = np.diff(np.append(start, len(p)))
    two = start[counts >= 2]
    # the shared edge runs between the pair's shared vertices: drop mere pinches
    length = np.hypot(*(vxy[v[two + 1]] - vxy[v[two]]).T)
    return p[two[length >= MIN_SHARED_EDGE]].astype(np.int64)


def block_polygons(community, barriers) -> np.ndarray:
    """Blocks (enclosures) of a community cut by barrier lines; the community if none."""
    whole = np.array([community], dtype=object)
    if barriers is None or shapely.is_empty(barriers):
        return whole
    lines = shapely.intersection(barriers, community.buffer(1.0))
    if shapely.is_empty(lines) or shapely.length(lines) == 0:
        return whole
    noded = shapely.union_all([community.boundary, lines], grid_size=GRID_SIZE)
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
    inside = shapely.within(shapely.point_on_surface(faces), community)
    faces = _merge_slivers(faces[inside])
    return faces if len(faces) > 1 else whole


def _merge_slivers(faces: np.ndarray, min_area: float = 1.0) -> np.ndarray:
    """Join faces under ``min_area`` (slivers where lines nearly meet) to the neighbouring
    face sharing the longest boundary, so that blocks still cover the community."""
    small = shapely.area(faces) < min_area
    if not small.any() or small.all():
        return faces
    big = list(faces[~small])
    for sliver in faces[small]:
        shared = [shapely.length(shapely.intersection(sliver.boundary, b.boundary))
                  for b in big]
        i = int(np.argmax(shared)) if max(shared) > 0 else int(np.argmin(
            [sliver.distance(b) for b in big]))
        merged = shapely.union(big[i], sliver)
        if merged.geom_type not in ("Polygon", "MultiPolygon"):
            merged = shapely.union_all([p for p in shapely.get_parts(merged)
                                        if p.geom_type in ("Polygon", "MultiPolygon")])
        big[i] = merged
    return np.asarray(big, dtype=object)


def _locate(blocks: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Index of the block containing (or nearest to) each point."""
    if len(blocks) == 1:
        return np.zeros(len(xy), dtype=np.int64)
    return np.asarray(shapely.STRtree(blocks).nearest(shapely.points(xy)), dtype=np.int64)
