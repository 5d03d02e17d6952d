"""Dedicated grids: schools, hospitals, markets, industrial parks each get a grid of their own."""

from __future__ import annotations

import functools
import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridplan.engine import region
from gridplan.engine.adjacency import GRID_SIZE, build_community_graph
from gridplan.engine.exact import Proof
from gridplan.engine.explain import feasible
from gridplan.engine.parcels import MIN_SHARED, region_parcels
from gridplan.layers.households import resident_units
from gridplan.layers.sites import SITE_COLUMNS
from gridplan.params import (
    PlanParams,
)

log = logging.getLogger(__name__)

HOME_REACH = 25.0  # metres of a site's ground around residents' homes that go with them
MIN_PART = 1.0  # m²: a leftover of a site smaller than this is a sliver, not ground


def community_sites(geometry, sites: gpd.GeoDataFrame | None, min_area: float
                    ) -> gpd.GeoDataFrame:
    """The sites of one community: clipped to it, overlaps resolved, at least ``min_area``.

    Larger sites keep ground they share with smaller ones (a school inside a
    university campus is part of the campus); a site falling into several pieces
    gives one site per piece of at least ``min_area`` m².

    Examples
    --------
    >>> s = gpd.GeoDataFrame({"site_id": ["a", "b"], "kind": ["university", "school"],
    ...     "name": ["", ""]},
    ...     geometry=[shapely.box(0, 0, 200, 200), shapely.box(150, 0, 300, 100)])
    >>> community_sites(shapely.box(0, 0, 400, 400), s, 5000).area.round().tolist()
    [40000.0, 10000.0]
    """
    empty = gpd.GeoDataFrame({c: [] for c in SITE_COLUMNS[:-1]}, geometry=[],
                             crs=None if sites is None else sites.crs)
    if sites is None or len(sites) == 0:
        return empty
    idx = sites.sindex.query(geometry, predicate="intersects")
    if len(idx) == 0:
        return empty
    mine = sites.iloc[np.sort(idx)]
    clipped = shapely.intersection(mine.geometry.values, geometry)
    order = np.argsort(-shapely.area(clipped), kind="stable")
    taken = shapely.Polygon()
    rows, geoms = [], []
    for i in order:
        own = shapely.difference(clipped[i], taken)
        for part in shapely.get_parts(own):
            if part.geom_type == "Polygon" and part.area >= max(min_area, 1.0):
                rows.append(mine.iloc[i][["site_id", "kind", "name"]].to_dict())
                geoms.append(part)
        taken = shapely.union(taken, clipped[i])
    if not rows:
        return empty
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=sites.crs)


def plan_community(geometry, units: gpd.GeoDataFrame, sites: gpd.GeoDataFrame | None,
                   barrier_lines, params: PlanParams, timer, community_id: str = ""
                   ) -> region.RegionResult:
    """Plan one community: a dedicated grid per site, comprehensive grids elsewhere.

    Units whose representative point lies in a site belong to its dedicated grid, except,
    with ``params.dedicated_residents == "comprehensive"``, residents' homes
    (:func:`gridplan.layers.households.resident_units`): they and the ground around them
    (:func:`home_ground`) leave the site and are planned with the rest of the community.
    Homes whose ground cannot reach the rest (it lies wholly inside sites) form grids of
    their own, unless they hold fewer households than the band's lower bound: those
    stay with the site they touch (a few houses inside a campus are no grid).
    The rest of the community (without the sites) is planned piece by piece with
    :func:`gridplan.engine.region.plan_region`; a piece without households that touches a
    site joins that site's grid, so grids still tile the community. Without sites
    this is :func:`gridplan.engine.region.plan_region` itself.

    Returns
    -------
    RegionResult
        With ``grid_types`` (``"dedicated"`` / ``"comprehensive"``), ``sites``
        (site row per dedicated grid) and ``crossings`` filled in.
    """
    mine = (community_sites(geometry, sites, params.dedicated_min_area)
            if sites is not None and len(sites) else ())  # no frame to build when no site
    if len(mine) == 0:
        return region.plan_region(geometry, units, barrier_lines, params, timer,
                                  target=params.target, band=params.band)
    pts = shapely.point_on_surface(units.geometry.values)
    owner = _locate(pts, list(mine.geometry.values), stray=False)  # the site of each unit
    sites_area = shapely.union_all(mine.geometry.values)
    homes = np.zeros(len(units), dtype=bool)
    if params.dedicated_residents == "comprehensive" and len(units):
        homes = resident_units(units) & (owner >= 0)
    if homes.any():
        with timer.stage("adjacency"):  # a tessellation of each site around its units
            mine = _without_homes(mine, units, owner, homes, params)
    if len(mine) == 0:  # no site kept ground enough for a dedicated grid
        return region.plan_region(geometry, units, barrier_lines, params, timer,
                                  target=params.target, band=params.band)
    site_polys = list(mine.geometry.values)
    rest = shapely.difference(geometry, shapely.union_all(site_polys))
    pieces = [p for p in shapely.get_parts(rest) if p.geom_type == "Polygon" and p.area > 0]
    where = _locate(pts, site_polys + pieces)
    if homes.any():
        where = _settle(where, pts, homes, len(site_polys), pieces)
    hh = units["households"].to_numpy(float)
    piece_hh = np.bincount(where, weights=hh, minlength=len(site_polys) + len(pieces))
    weight = np.bincount(where, weights=region.balance_weights(units),
                         minlength=len(site_polys) + len(pieces))
    planned = []
    for j, piece in enumerate(pieces):
        slot = len(site_polys) + j
        stray = homes.any() and weight[slot] < params.band[0] and _on_sites(piece, sites_area)
        host = (_touching_site(piece, site_polys) if piece_hh[slot] == 0 or stray
                else None)
        if host is None:
            planned.append((slot, piece))
            continue
        site_polys[host] = _merge(site_polys[host], piece)
        where[where == slot] = host
    return _combine(geometry, units, mine, site_polys, where, planned, barrier_lines, params,
                    timer, community_id)


def _locate(pts: np.ndarray, polys: list, stray: bool = True) -> np.ndarray:
    """Index of the first polygon holding each point; for stray points the nearest one
    (``stray``) or -1."""
    where = np.full(len(pts), -1, dtype=np.int64)
    for i, poly in enumerate(polys):
        free = where < 0
        hit = shapely.intersects(poly, pts[free])
        where[np.flatnonzero(free)[hit]] = i
    if stray and len(polys):
        for u in np.flatnonzero(where < 0):
            where[u] = int(np.argmin(shapely.distance(np.asarray(polys, dtype=object), pts[u])))
    return where


def home_ground(site, geoms: np.ndarray, homes: np.ndarray, mode: str = "auto"):
    """The ground of a site that goes with the residents' homes on it.

    The site is tessellated around its units as a community is
    (:func:`gridplan.engine.adjacency.build_community_graph`); the homes' cells, within
    :data:`HOME_REACH` metres of a home, are their ground. Every other unit (a
    dormitory, a lab) keeps its own cell, so it stays on the site's ground.

    Parameters
    ----------
    site : shapely Polygon
        The site (metric CRS).
    geoms : ndarray of shapely geometries
        Footprints or points of the units inside the site.
    homes : ndarray of bool
        Which of them are residents' homes.
    mode : str
        Tessellation mode (``params.tessellation``).

    Examples
    --------
    >>> site = shapely.box(0, 0, 200, 100)
    >>> geoms = np.array([shapely.box(10, 10, 30, 30), shapely.box(150, 40, 190, 60)])
    >>> ground = home_ground(site, geoms, np.array([True, False]))
    >>> ground.bounds
    (0.0, 0.0, 55.0, 55.0)
    """
    graph = build_community_graph(site, geoms, np.ones(len(geoms)), mode=mode)
    owner = graph.cell_unit
    mine = (owner < len(geoms)) & homes[np.minimum(owner, len(geoms) - 1)]
    cells = shapely.union_all(graph.cells[mine], grid_size=GRID_SIZE)
    reach = shapely.buffer(shapely.union_all(geoms[homes]), HOME_REACH)
    return shapely.intersection(cells, shapely.intersection(reach, site), grid_size=GRID_SIZE)


def _without_homes(mine: gpd.GeoDataFrame, units: gpd.GeoDataFrame, owner: np.ndarray,
                   homes: np.ndarray, params: PlanParams) -> gpd.GeoDataFrame:
    """Sites less the ground of the homes on them (:func:`home_ground`).

    What a site keeps may fall into parts: as for any site, each part of at least
    ``params.dedicated_min_area`` m² is a dedicated grid of the site, and smaller ones (a
    lab enclosed by flats) go with the homes around them. A site left without such a
    part is no dedicated grid.

    ``owner`` is the site (row of ``mine``) each unit's point lies in, -1 for none.

    Returns
    -------
    GeoDataFrame
        The parts kept, one row each (the site's row repeated for a site in parts).
    """
    polys = list(mine.geometry.values)
    geoms = units.geometry.values
    hh = units["households"].to_numpy()
    origin, parts_kept = [], []
    for s, site in enumerate(polys):
        inside = np.flatnonzero(owner == s)
        if not homes[inside].any():
            origin.append(s)
            parts_kept.append(site)
            continue
        ground = home_ground(site, geoms[inside], homes[inside], params.tessellation)
        left = shapely.difference(site, ground, grid_size=GRID_SIZE)
        kept = [p for p in shapely.get_parts(left) if p.geom_type == "Polygon"
                 and p.area >= max(params.dedicated_min_area, MIN_PART)]
        origin += [s] * len(kept)
        parts_kept += kept
        log.debug("site %s: %d home(s) with %d households leave it; %d part(s) of it stay",
                  mine["site_id"].iloc[s], int(homes[inside].sum()),
                  int(hh[inside[homes[inside]]].sum()), len(kept))
    return gpd.GeoDataFrame(mine.drop(columns="geometry").iloc[origin].reset_index(drop=True),
                            geometry=list(parts_kept), crs=mine.crs)


def _settle(where: np.ndarray, pts: np.ndarray, homes: np.ndarray, n_sites: int,
            pieces: list) -> np.ndarray:
    """Homes in the community's pieces, never on a site (a home's point on the edge of its
    ground goes to the nearest piece)."""
    where = where.copy()
    idx = np.flatnonzero(homes)
    if pieces and len(idx):
        where[idx] = n_sites + _locate(pts[idx], pieces)
    return where


def _on_sites(piece, sites_area) -> bool:
    """Whether ``piece`` is wholly sites' ground (homes' ground cut off inside a site)."""
    return shapely.area(shapely.difference(piece, sites_area, grid_size=GRID_SIZE)) < MIN_PART


def _touching_site(piece, site_polys: list) -> int | None:
    """The site sharing the longest boundary with ``piece`` (None if none touches it)."""
    shared = [shapely.length(shapely.intersection(piece.boundary, s.boundary))
              for s in site_polys]
    best = int(np.argmax(shared))
    return best if shared[best] > 0 else None


def _merge(site, piece):
    merged = shapely.union(site, piece)
    if merged.geom_type != "Polygon":
        merged = shapely.union_all([site, piece], grid_size=0.01)
    return merged


def _join_notes(first: tuple[str, str], other) -> tuple[str, str]:
    """Two notes as one (English, Chinese) pair; ``other`` may be English text or None."""
    if not other:
        return first
    en, zh = other if isinstance(other, tuple) else (other, "")
    return f"{first[0]}; {en}", "；".join(p for p in (first[1], zh) if p)


def _combine(geometry, units, mine, site_polys, where, planned, barrier_lines, params,
             timer, cid: str) -> region.RegionResult:
    """One region result from the dedicated grids and the planned pieces around them."""
    n_sites = len(site_polys)
    labels = np.full(len(units), -1, dtype=np.int64)
    atoms = np.full(len(units), -1, dtype=np.int64)
    polygons = list(site_polys)
    notes: dict[int, str] = {}
    crossings = [0] * n_sites
    runs = []  # (unit positions, region result, first grid label) of each planned piece
    for s in range(n_sites):
        inside = np.flatnonzero(where == s)
        labels[inside] = s
        atoms[inside] = np.arange(len(inside)) + atoms.max(initial=-1) + 1
    for slot, piece in planned:
        idx = np.flatnonzero(where == slot)
        sub = units.iloc[idx]
        res = region.plan_region(piece, sub, barrier_lines, params, timer,
                                 target=params.target, band=params.band)
        k0 = len(polygons)
        runs.append((idx, res, k0))
        labels[idx] = res.labels + k0
        if res.atoms is not None:
            atoms[idx] = res.atoms + atoms.max(initial=-1) + 1
        polygons.extend(res.polygons)
        notes.update({k0 + g: text for g, text in res.notes.items()})
        total = float(region.balance_weights(sub).sum())
        if not feasible(total, params.band):
            lo, hi = params.band
            cut = (f"this part of the community, cut off by dedicated grids, has {total:.0f} "
                   f"households and cannot form whole grids of {lo:.0f}–{hi:.0f}",
                   f"该部分被专属网格隔开，有{total:.0f}户，无法均分为{lo:.0f}–{hi:.0f}户的网格")
            for g in range(len(res.polygons)):
                notes[k0 + g] = _join_notes(cut, notes.get(k0 + g))
        crossings.extend(region.barrier_crossings(res, len(res.polygons)).tolist())
    k = len(polygons)
    types = np.array(["dedicated"] * n_sites + ["comprehensive"] * (k - n_sites), dtype=object)
    log.debug("community with %d dedicated grid(s) and %d comprehensive", n_sites, k - n_sites)
    result = region.RegionResult(geometry, labels, polygons, None, notes, atoms=atoms,
                                 grid_types=types,
                                 crossings=np.asarray(crossings, dtype=np.int64),
                                 sites=mine.drop(columns="geometry").to_dict("records"))
    result.proof = Proof.combine([res.proof or Proof(len(res.polygons), 0, 0, "proved")
                                  for _, res, _ in runs]) or Proof(0, 0, 0, "proved")
    result.parcels = functools.partial(_parcels, cid, units["unit_id"].to_numpy(object),
                                       site_polys, where, runs)
    return result


def _parcels(cid: str, unit_ids: np.ndarray, site_polys: list, where: np.ndarray, runs: list,
             codes: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Parcels of a community with dedicated grids: one per site, the pieces' own elsewhere.

    Filler parcels of piece ``j`` are named ``~<community>/<j>.<n>`` so that names stay
    unique across pieces; a site's parcel is ``~<community>/site<s>`` (block -1).
    """
    cells = [pd.DataFrame({"cell_id": [f"~{cid}/site{s + 1}" for s in range(len(site_polys))],
                           "community_id": cid, "grid_code": codes[:len(site_polys)],
                           "block": -1, "geometry": site_polys})]
    unit_cell = np.empty(len(unit_ids), dtype=object)
    for s in range(len(site_polys)):
        unit_cell[where == s] = f"~{cid}/site{s + 1}"
    edges = []
    for j, (idx, res, k0) in enumerate(runs, start=1):
        c, uc, e = region_parcels(res, cid, unit_ids[idx], codes[k0:k0 + len(res.polygons)])
        prefix = f"~{cid}/"

        def rename(v, j=j, prefix=prefix):
            return f"{prefix}{j}.{v[len(prefix):]}" if str(v).startswith(prefix) else v
        c["cell_id"] = c["cell_id"].map(rename)
        e = e.assign(a=e["a"].map(rename), b=e["b"].map(rename))
        unit_cell[idx] = [rename(v) for v in uc]
        cells.append(c)
        edges.append(e)
    cells_df = pd.concat(cells, ignore_index=True)
    edges.append(_site_edges(cells_df, len(site_polys)))
    return cells_df, unit_cell, pd.concat(edges, ignore_index=True)


def _site_edges(cells: pd.DataFrame, n_sites: int) -> pd.DataFrame:
    """Parcels touching each site parcel along more than ``MIN_SHARED`` metres."""
    geoms = cells["geometry"].to_numpy(object)
    ids = cells["cell_id"].to_numpy(object)
    tree = shapely.STRtree(geoms)
    rows = set()
    for i in range(n_sites):
        for j in tree.query(geoms[i], predicate="intersects"):
            shared = shapely.intersection(shapely.boundary(geoms[i]), shapely.boundary(geoms[j]))
            if j != i and shapely.length(shared) > MIN_SHARED:
                rows.add((*sorted((ids[i], ids[j])), False))
    return pd.DataFrame(sorted(rows), columns=["a", "b", "crossing"])
