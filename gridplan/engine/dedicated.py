"""Dedicated grids: schools, hospitals, markets, industrial parks each get a grid of their own."""

from __future__ import annotations

import functools
import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridplan.engine import region
from gridplan.engine.exact import Proof
from gridplan.engine.explain import feasible
from gridplan.engine.parcels import MIN_SHARED, region_parcels
from gridplan.layers.sites import SITE_COLUMNS
from gridplan.params import (
    PlanParams,
)

log = logging.getLogger(__name__)









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

    Units whose representative point lies in a site belong to its dedicated grid.
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
    mine = community_sites(geometry, sites, params.dedicated_min_area)
    if len(mine) == 0:
        return region.plan_region(geometry, units, barrier_lines, params, timer,
                                  target=params.target, band=params.band)
    site_polys = list(mine.geometry.values)
    rest = shapely.difference(geometry, shapely.union_all(site_polys))
    pieces = [p for p in shapely.get_parts(rest) if p.geom_type == "Polygon" and p.area > 0]
    pts = shapely.point_on_surface(units.geometry.values)
    where = _locate(pts, site_polys + pieces)
    hh = units["households"].to_numpy(float)
    piece_hh = np.bincount(where, weights=hh, minlength=len(site_polys) + len(pieces))
    planned = []
    for j, piece in enumerate(pieces):
        slot = len(site_polys) + j
        host = _touching_site(piece, site_polys) if piece_hh[slot] == 0 else None
        if host is None:
            planned.append((slot, piece))
            continue
        site_polys[host] = _merge(site_polys[host], piece)
        where[where == slot] = host
    return _combine(geometry, units, mine, site_polys, where, planned, barrier_lines, params,
                    timer, community_id)


def _locate(pts: np.ndarray, polys: list) -> np.ndarray:
    """Index of the first polygon holding each point (the nearest one for stray points)."""
    where = np.full(len(pts), -1, dtype=np.int64)
    for i, poly in enumerate(polys):
        free = where < 0
        hit = shapely.intersects(poly, pts[free])
        where[np.flatnonzero(free)[hit]] = i
    for u in np.flatnonzero(where < 0):
        where[u] = int(np.argmin(shapely.distance(np.asarray(polys, dtype=object), pts[u])))
    return where


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
