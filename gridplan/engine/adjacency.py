"""Adjacency: tessellate a community around its units and link units whose cells touch."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gridplan.engine.processes import auto_processes, ordered_map

log = logging.getLogger(__name__)

BARRIER_PENALTY = 25.0  # edge cost factor for crossing a road, railway or river
COMPOUND_PENALTY = 6.0  # edge cost factor for crossing a compound (小区) boundary
PARALLEL_POINTS = 40_000  # sample points: fewer are tessellated in one process
MAX_SAMPLES = 24  # boundary samples per footprint in footprint tessellation
GRID_SIZE = 0.01  # metres: precision of overlay operations (robust snap-rounding)
SNAP = 0.05  # metres: points closer than this are one tessellation seed
MIN_SHARED_EDGE = 0.05  # metres: cells meeting along less are not neighbours
TILING_SHARE = 0.6  # polygon units covering more of a community than this tile it
PIECE_REACH = 1e-4  # metres: a shared Voronoi edge lies on a clipped piece's outline within this


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
        stand for blocks holding no unit, so that every block is covered by a grid, then
        loose pieces of cells a concave boundary cut off from their point
        (:class:`LoosePieces`).
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
    keep = is_seed | _in_own_block(blocks, pts, block[owner])
    pts, owner = pts[keep], owner[keep]
    cells, edges, loose = _tessellate_blocks(pts, owner, block[owner], blocks, len(xy))
    dup = np.flatnonzero(seed != np.arange(n))
    if len(dup):
        edges = unique_pairs(np.vstack([edges,
                                        np.sort(np.column_stack([dup, seed[dup]]), axis=1)]))
    comp = np.full(n, -1) if compound is None else np.asarray(compound)
    extra = len(empty) + len(loose.geoms)
    return CommunityGraph(
        xy=np.vstack([xy, loose.xy]),
        households=np.concatenate([np.asarray(households, dtype=float), np.zeros(extra)]),
        edges=edges, cells=np.concatenate([cells, loose.geoms]),
        cell_unit=np.concatenate([owner, len(xy) + np.arange(len(loose.geoms))]),
        block=np.concatenate([block, loose.block]),
        compound=np.concatenate([comp, np.full(extra, -1)]), n_units=n,
        seed=np.concatenate([seed, n + np.arange(extra)]),
    )


@dataclass
class LoosePieces:
    """Pieces of clipped cells cut off from their point: nodes of their own.

    A concave boundary can clip a cell into pieces. A piece that does not hold the
    cell's point joins a grid only through what it touches: when grids are drawn
    (:func:`gridplan.engine.grids.grid_polygons`) it is not tied to its unit. So it is
    a node without households (like the filler of an empty block), and units are
    linked through it only as far as it touches both.
    """

    geoms: np.ndarray  # the pieces
    xy: np.ndarray  # a point on each piece
    block: np.ndarray  # the block of each piece
    point: np.ndarray  # the tessellation point whose cell each piece was cut from

    @staticmethod
    def none() -> LoosePieces:
        """No loose pieces."""
        return LoosePieces(np.empty(0, dtype=object), np.empty((0, 2)),
                           np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))


def _tessellate_blocks(pts: np.ndarray, owner: np.ndarray, pt_block: np.ndarray,
                       blocks: np.ndarray, n_nodes: int
                       ) -> tuple[np.ndarray, np.ndarray, LoosePieces]:
    """Voronoi cells inside each block, node pairs whose cells touch, and loose pieces.

    A cell clipped into pieces keeps the piece holding its point (else its largest);
    the other pieces become nodes ``n_nodes, n_nodes + 1, …`` (:class:`LoosePieces`),
    except pieces touching no other node, which stay with their cell. Blocks are
    independent: a large tessellation (a whole city) spreads them over processes.
    """
    members = [np.flatnonzero(pt_block == b) for b in range(len(blocks))]
    todo = [b for b in range(len(blocks)) if len(members[b])]
    cells = np.empty(len(pts), dtype=object)
    edges, loose = [], []
    offset = 0  # loose pieces of the blocks before: each block numbers its own from n_nodes
    n_proc = auto_processes(len(todo), len(pts), min_units=PARALLEL_POINTS)

    def one(i: int) -> tuple:
        idx = members[todo[i]]
        return _tessellate_block(pts[idx], owner[idx], blocks[todo[i]], n_nodes)

    # cells cross processes as one WKB array: pickled one by one they took 6 times longer
    results = ordered_map(one, len(todo), n_proc, what="blocks",
                          send=lambda r: (shapely.to_wkb(r[0]), *r[1:]),
                          receive=lambda r: (shapely.from_wkb(r[0]), *r[1:]))
    for b, (core, cut, pairs) in zip(todo, results, strict=True):
        idx = members[b]
        cells[idx] = core
        loose.append((idx, cut))
        pairs[pairs >= n_nodes] += offset
        offset += sum(len(parts) for _, parts in cut)
        edges.append(pairs)
    geoms, point = _loose_lists(loose)
    piece_geoms = np.concatenate([cells, geoms])
    piece_node = np.concatenate([owner, n_nodes + np.arange(len(geoms))])
    if len(blocks) > 1:
        edges.append(_cross_block_edges(piece_geoms, piece_node,
                                        np.concatenate([pt_block, pt_block[point]]), blocks))
    edges = [e for e in edges if len(e)]
    edges = unique_pairs(np.vstack(edges)) if edges else np.empty((0, 2), dtype=np.int64)
    return _settle_loose(cells, edges, geoms, point, pt_block, n_nodes)


def _tessellate_block(pts: np.ndarray, owner: np.ndarray, block, n_nodes: int
                      ) -> tuple[np.ndarray, list, np.ndarray]:
    """One block's cells (their cores), loose pieces and node pairs; the pieces are
    numbered ``n_nodes, n_nodes + 1, …`` within the block."""
    c, raw, clipped = _voronoi_cells(pts, block)
    core, cut = _split_cells(c, pts, clipped)
    pieces, next_node = {}, n_nodes
    for i, parts in cut:
        pieces[i] = [(next_node + j, g) for j, g in enumerate(parts)]
        next_node += len(parts)
    return core, cut, _cell_edges(owner, raw, clipped, block, core, pieces)


def _loose_lists(loose: list) -> tuple[np.ndarray, np.ndarray]:
    """Loose pieces of every block in node order, and the point each was cut from."""
    geoms, point = [], []
    for idx, cut in loose:
        for i, parts in cut:
            geoms.extend(parts)
            point.extend([int(idx[i])] * len(parts))
    return np.asarray(geoms, dtype=object), np.asarray(point, dtype=np.int64)


def _split_cells(cells: np.ndarray, pts: np.ndarray, clipped: np.ndarray
                 ) -> tuple[np.ndarray, list]:
    """Each clipped cell's piece holding its point (else its largest), and the others.

    Examples
    --------
    >>> from shapely.geometry import MultiPolygon, box
    >>> two = MultiPolygon([box(0, 0, 1, 1), box(2, 0, 3, 1)])
    >>> core, cut = _split_cells(np.array([two]), np.array([[2.5, 0.5]]), np.array([True]))
    >>> core[0].bounds, [(i, [p.bounds for p in parts]) for i, parts in cut]
    ((2.0, 0.0, 3.0, 1.0), [(0, [(0.0, 0.0, 1.0, 1.0)])])
    """
    core = cells.copy()
    cut = []
    multi = np.flatnonzero(clipped & (shapely.get_num_geometries(cells) > 1))
    for i in multi:
        parts = [p for p in shapely.get_parts(cells[i]) if p.geom_type == "Polygon"]
        if len(parts) < 2:
            continue
        hit = shapely.intersects_xy(np.asarray(parts, dtype=object), *pts[i])
        keep = int(np.argmax(hit)) if hit.any() else int(np.argmax([p.area for p in parts]))
        core[i] = parts[keep]
        cut.append((int(i), [p for n, p in enumerate(parts) if n != keep]))
    return core, cut


def _settle_loose(cells: np.ndarray, edges: np.ndarray, geoms: np.ndarray, point: np.ndarray,
                  pt_block: np.ndarray, n_nodes: int
                  ) -> tuple[np.ndarray, np.ndarray, LoosePieces]:
    """Give loose pieces reaching no unit or filler back to their cells; number the rest.

    A piece of a community's island with no unit on it would otherwise be a part of
    its own, and a grid of its own.
    """
    if len(geoms) == 0:
        return cells, edges, LoosePieces.none()
    total = n_nodes + len(geoms)
    n_comp, comp = connected_components(_sparse(total, edges), directed=False)
    reached = np.zeros(n_comp, dtype=bool)
    reached[comp[:n_nodes]] = True
    keep = reached[comp[n_nodes:]]
    for j in np.flatnonzero(~keep):
        cells[point[j]] = shapely.union(cells[point[j]], geoms[j])
    new_id = np.arange(total)
    new_id[n_nodes:][keep] = n_nodes + np.arange(int(keep.sum()))
    alive = np.concatenate([np.ones(n_nodes, dtype=bool), keep])
    edges = new_id[edges[alive[edges].all(axis=1)]] if len(edges) else edges
    geoms, point = geoms[keep], point[keep]
    xy = shapely.get_coordinates(shapely.point_on_surface(geoms)).reshape(-1, 2)
    return cells, edges, LoosePieces(geoms, xy, pt_block[point], point)


def _sparse(n: int, pairs: np.ndarray):
    return coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)) \
        if len(pairs) else coo_matrix((n, n))


def _cross_block_edges(geoms: np.ndarray, node: np.ndarray, block: np.ndarray,
                       blocks: np.ndarray) -> np.ndarray:
    """Node pairs whose cells (or pieces) in neighbouring blocks share a stretch of boundary.

    A stretch shared by cells of two blocks lies on both blocks' boundaries, so only
    cells near a block boundary are compared (within ``SNAP``: clipped cells may lie a
    rounding error, or the 1 cm grid of a robust clip, off it).
    """
    near = np.unique(shapely.STRtree(geoms).query(_segments(shapely.boundary(blocks)),
                                                   predicate="dwithin", distance=SNAP)[1])
    geoms, node, block = geoms[near], node[near], block[near]
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    keep = (i < j) & (block[i] != block[j])
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return np.empty((0, 2), dtype=np.int64)
    shared = shapely.length(shapely.intersection(shapely.boundary(geoms[i]),
                                                 shapely.boundary(geoms[j]))) > 0.05
    u = np.sort(np.column_stack([node[i[shared]], node[j[shared]]]), axis=1)
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
    polys = np.flatnonzero(shapely.get_type_id(geoms) >= 3)
    pts, owner = [xy], [np.arange(len(xy))]
    if mode == "footprint" and len(polys):
        ring, which = _outline_samples(geoms[polys])
        pts.append(ring)
        owner.append(polys[which])
    pts_all = snap(np.vstack(pts))
    owner_all = np.concatenate(owner)
    keep, _ = first_of_rows(pts_all)
    keep.sort()
    return pts_all[keep], owner_all[keep], keep < len(xy)


def snap(xy: np.ndarray) -> np.ndarray:
    """Snap coordinates to the ``SNAP`` grid, so points closer than that coincide exactly."""
    return np.round(xy / SNAP) * SNAP


def first_of_rows(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a 2-column array in lexicographic order: the first index of each,
    and each row's rank among them (as ``np.unique(axis=0, return_index=True,
    return_inverse=True)``, several times faster).

    Examples
    --------
    >>> first_of_rows(np.array([[1.0, 2.0], [0.0, 5.0], [1.0, 2.0]]))
    (array([1, 0]), array([1, 0, 1]))
    """
    order = np.lexsort((xy[:, 1], xy[:, 0]))  # stable: equal rows keep their order
    s = xy[order]
    new = np.ones(len(s), dtype=bool)
    new[1:] = (s[1:, 0] != s[:-1, 0]) | (s[1:, 1] != s[:-1, 1])
    rank = np.empty(len(s), dtype=np.int64)
    rank[order] = np.cumsum(new) - 1
    return order[new], rank


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Distinct rows of an integer (m, 2) array, sorted (``np.unique(axis=0)``, faster).

    Examples
    --------
    >>> unique_pairs(np.array([[2, 1], [0, 3], [2, 1]]))
    array([[0, 3],
           [2, 1]])
    """
    pairs = np.asarray(pairs, dtype=np.int64)
    if len(pairs) == 0:
        return pairs.reshape(0, 2)
    lo = pairs.min(axis=0)
    width = int(pairs[:, 1].max() - lo[1]) + 1
    key = np.unique((pairs[:, 0] - lo[0]) * width + (pairs[:, 1] - lo[1]))
    return np.column_stack([key // width + lo[0], key % width + lo[1]])


def colocated_seed(xy: np.ndarray) -> np.ndarray:
    """For each unit, the first unit at the same (snapped) location: co-located units
    (e.g. address points of one building) share one cell and are kept in one grid."""
    first, inverse = first_of_rows(xy)
    return first[inverse]


def _outline_samples(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``MAX_SAMPLES`` points on each footprint's outline, pulled 0.5 m inside, and
    the index (into ``geoms``) of the footprint each point samples."""
    inner = shapely.buffer(geoms, -0.5)
    coords, which = shapely.get_coordinates(
        shapely.segmentize(shapely.boundary(inner), 8.0), return_index=True)
    counts = np.bincount(which, minlength=len(geoms))
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    take = np.ones(len(coords), dtype=bool)
    for g in np.flatnonzero(counts > MAX_SAMPLES):  # thin long outlines evenly
        keep = np.linspace(0, counts[g] - 1, MAX_SAMPLES).astype(int)
        take[start[g]:start[g] + counts[g]] = False
        take[start[g] + keep] = True
    return coords[take], which[take]


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
    inside = shapely.contains(community, raw)  # = within(raw, community), on the prepared side
    cells = raw.copy()
    cells[~inside] = _clip(raw[~inside], community)
    return cells, raw, ~inside


def _clip(cells: np.ndarray, community) -> np.ndarray:
    """Clip cells exactly, or on the 1 cm grid those where floating-point overlay fails."""
    try:
        return shapely.intersection(cells, community)
    except shapely.errors.GEOSException:
        return np.array([_clip_one(cell, community) for cell in cells], dtype=object)


def _clip_one(cell, community):
    """Clip one cell exactly, or on the 1 cm grid where floating-point overlay fails."""
    try:
        return shapely.intersection(cell, community)
    except shapely.errors.GEOSException:
        return shapely.intersection(cell, community, grid_size=GRID_SIZE)


def _cell_edges(owner: np.ndarray, raw: np.ndarray, clipped: np.ndarray, community,
                core: np.ndarray, pieces: dict) -> np.ndarray:
    """Node pairs whose cells share a boundary inside the community.

    ``pieces`` maps a cell cut into pieces to its loose pieces ``[(node, piece)]``
    (:func:`_split_cells`); ``core`` is each cell's piece holding its point. Such a cell
    links its unit only along its core, and each loose piece along its own outline.
    """
    pairs, ends = _shared_edges(raw)
    if len(pairs) == 0:
        return np.empty((0, 2), dtype=np.int64)
    a, b = pairs[:, 0], pairs[:, 1]
    cut = np.zeros(len(raw), dtype=bool)
    cut[list(pieces)] = True
    check = clipped[a] & clipped[b] & ~cut[a] & ~cut[b]
    ok = np.ones(len(pairs), dtype=bool)
    if check.any():
        shared = _shared_lines(raw, pairs[check], ends[check])
        ok[check] = shapely.length(shapely.intersection(shared, community)) > 1e-3
    split = cut[a] | cut[b]
    ok[split] = False
    u = [owner[pairs[ok]], _piece_pairs(pairs[split], owner, raw, core, pieces)]
    u = np.vstack(u)
    u = u[u[:, 0] != u[:, 1]]
    u.sort(axis=1)
    return unique_pairs(u)


def _piece_pairs(pairs: np.ndarray, owner: np.ndarray, raw: np.ndarray, core: np.ndarray,
                 pieces: dict) -> np.ndarray:
    """Node pairs of the pieces along which cells ``pairs`` (one cut into pieces) meet."""
    out = []
    for a, b in pairs.tolist():
        shared = shapely.intersection(shapely.boundary(raw[a]), shapely.boundary(raw[b]))
        side_a = [(int(owner[a]), core[a]), *pieces.get(a, [])]
        side_b = [(int(owner[b]), core[b]), *pieces.get(b, [])]
        for na, ga in side_a:
            along = shapely.intersection(shared, shapely.buffer(ga, PIECE_REACH))
            if shapely.length(along) <= 1e-3:
                continue
            for nb, gb in side_b:
                if shapely.length(shapely.intersection(
                        along, shapely.buffer(gb, PIECE_REACH))) > 1e-3:
                    out.append((na, nb))
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def _shared_edges(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of Voronoi cells sharing an edge (cells with two or more vertices in common),
    and the edge's ends ``x0, y0, x1, y1`` where they share exactly two (else NaN).

    Cells that meet at a single vertex (co-circular points, e.g. a square lattice of
    buildings) are not neighbours, which a Delaunay triangulation would make them.
    """
    none = np.empty((0, 2), dtype=np.int64), np.empty((0, 4))
    if len(raw) < 2:
        return none
    coords, cell = shapely.get_coordinates(raw, return_index=True)
    _, vid = first_of_rows(np.round(coords, 6))
    first = np.zeros(vid.max() + 1, dtype=np.int64)
    first[vid[::-1]] = np.arange(len(vid))[::-1]
    vxy = coords[first]  # one coordinate per vertex id
    vc = unique_pairs(np.column_stack([vid, cell]))  # (vertex, cell), sorted
    pairs, verts = [], []
    for d in range(1, 8):  # a Voronoi vertex is shared by 3 cells, rarely more
        same = vc[d:, 0] == vc[:-d, 0]
        if not same.any():
            break
        pairs.append(np.column_stack([vc[:-d, 1][same], vc[d:, 1][same]]))
        verts.append(vc[d:, 0][same])
    if not pairs:
        return none
    p = np.sort(np.vstack(pairs), axis=1)
    v = np.concatenate(verts)
    order = np.lexsort((v, p[:, 1], p[:, 0]))
    p, v = p[order], v[order]
    new = np.ones(len(p), dtype=bool)
    new[1:] = np.any(p[1:] != p[:-1], axis=1)
    start = np.flatnonzero(new)
    counts = np.diff(np.append(start, len(p)))
    two = counts >= 2
    # the shared edge runs between the pair's shared vertices: drop mere pinches
    ends = np.hstack([vxy[v[start[two]]], vxy[v[start[two] + 1]]])
    edge = np.hypot(ends[:, 2] - ends[:, 0], ends[:, 3] - ends[:, 1]) >= MIN_SHARED_EDGE
    ends[counts[two] > 2] = np.nan  # three or more shared vertices: no single segment
    return p[start[two][edge]].astype(np.int64), ends[edge]


def _shared_lines(raw: np.ndarray, pairs: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The boundary each pair of Voronoi cells shares: the segment between their two
    shared vertices, or where they share more (``ends`` NaN) their outlines' intersection.
    """
    lines = np.empty(len(pairs), dtype=object)
    more = np.isnan(ends[:, 0])
    lines[~more] = shapely.linestrings(ends[~more].reshape(-1, 2, 2))
    if more.any():
        a, b = pairs[more, 0], pairs[more, 1]
        lines[more] = shapely.intersection(shapely.boundary(raw[a]), shapely.boundary(raw[b]))
    return lines


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


def _segments(lines: np.ndarray) -> np.ndarray:
    """The straight segments of ``lines``, each a LineString of two points.

    A long boundary's bounding box covers its whole block; its segments' boxes are
    small, so a tree query by segments tests only the cells along it.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> [s.wkt for s in _segments(np.array([LineString([(0, 0), (1, 0), (1, 1)])]))]
    ['LINESTRING (0 0, 1 0)', 'LINESTRING (1 0, 1 1)']
    """
    coords, which = shapely.get_coordinates(shapely.get_parts(lines), return_index=True)
    same = which[1:] == which[:-1]
    return shapely.linestrings(np.stack([coords[:-1][same], coords[1:][same]], axis=1))


def _in_own_block(blocks: np.ndarray, xy: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Whether :func:`_locate` puts each point in block ``own``, without asking it of most.

    Blocks do not overlap, so a point inside its own block (not on its outline) is in
    no other one; only the rest go through :func:`_locate`.
    """
    if len(blocks) == 1:
        return np.ones(len(xy), dtype=bool)
    inside = np.zeros(len(xy), dtype=bool)
    for b in np.unique(own):
        idx = np.flatnonzero(own == b)
        shapely.prepare(blocks[b])
        inside[idx] = shapely.contains_xy(blocks[b], xy[idx, 0], xy[idx, 1])
    rest = np.flatnonzero(~inside)
    if len(rest):
        inside[rest] = _locate(blocks, xy[rest]) == own[rest]
    return inside


def _locate(blocks: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Index of the block containing (or nearest to) each point."""
    if len(blocks) == 1:
        return np.zeros(len(xy), dtype=np.int64)
    tree, points = shapely.STRtree(blocks), shapely.points(xy)
    pt, blk = tree.query(points, predicate="intersects")
    hits = np.bincount(pt, minlength=len(xy))
    out = np.full(len(xy), -1, dtype=np.int64)
    one = hits[pt] == 1  # inside exactly one block: that block is the nearest
    out[pt[one]] = blk[one]
    rest = np.flatnonzero(out < 0)
    if len(rest):
        out[rest] = tree.nearest(points[rest])
    return out
