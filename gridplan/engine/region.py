"""Region: plan one community (or one study area) from its units: graph, partition, polygons."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridplan.codes import grid_code, serial_order, spatial_serials, stable_serials
from gridplan.engine.adjacency import CommunityGraph, build_community_graph
from gridplan.engine.exact import Proof
from gridplan.engine.explain import Explainer
from gridplan.engine.grids import grid_polygons, polsby_popper
from gridplan.engine.metrics import community_optimality
from gridplan.engine.parcels import region_parcels
from gridplan.engine.partition import partition_graph
from gridplan.params import PlanParams


@dataclass
class RegionResult:
    """Grid label per unit of a region, one polygon per grid, and notes per grid."""

    geometry: object
    labels: np.ndarray
    polygons: list
    graph: CommunityGraph | None
    notes: dict[int, str | tuple[str, str]] = field(default_factory=dict)  # en or (en, zh)
    all_labels: np.ndarray | None = None  # labels of units and of filler points of empty blocks
    atoms: np.ndarray | None = None  # per unit: units with one atom label stay in one grid
    grid_types: np.ndarray | None = None  # per grid: "comprehensive" (default) or "dedicated"
    crossings: np.ndarray | None = None  # per grid barrier crossings, when known beforehand
    sites: list[dict] | None = None  # site_id, kind, name of dedicated grids 0..len-1
    fragments: list = field(default_factory=list)  # (part, from, to) cell fragments handed over
    drawn_labels: np.ndarray | None = None  # labels the cells were drawn with, before hand-overs
    codes: np.ndarray | None = None  # grid code per label, once describe_grids has named them
    parcels: object = None  # (cells, unit_cell, edges) when made up from several regions
    proof: Proof | None = None  # grids in band, their upper bound, how it is known


def atom_labels(compound_ids: pd.Series, households: np.ndarray, upper: float,
                seed: np.ndarray | None = None) -> np.ndarray:
    """Label units so that each compound fitting under ``upper`` is one atom.

    Units sharing a location (``seed``) are one atom too.

    Examples
    --------
    >>> atom_labels(pd.Series(["A", "A", None, "B", "B"]), np.array([100, 100, 50, 300, 300]),
    ...             345).tolist()
    [0, 0, 1, 2, 3]
    """
    seed = np.arange(len(households)) if seed is None else seed
    keys = compound_ids.astype(object).where(compound_ids.notna(), None).tolist()
    totals: dict[str, float] = {}
    for key, h in zip(keys, households, strict=True):
        if key is not None:
            totals[key] = totals.get(key, 0.0) + float(h)
    labels = [f"x:{k}" if k is not None and totals[k] <= upper else f"u:{seed[i]}"
              for i, k in enumerate(keys)]
    _, codes = np.unique(labels, return_inverse=True)
    # renumber by first appearance so labels follow unit order
    _, first = np.unique(codes, return_index=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[codes]


def balance_weights(units: pd.DataFrame) -> np.ndarray:
    """What grids are balanced on: households, or workload in household-equivalents."""
    column = "weight" if "weight" in units else "households"
    return units[column].to_numpy(float)


def plan_region(geometry, units: gpd.GeoDataFrame, barrier_lines, params: PlanParams, timer,
                *, target: float, band: tuple[float, float]) -> RegionResult:
    """Partition the units of one region into contiguous grids and draw their polygons."""
    if len(units) == 0:
        return RegionResult(geometry, np.zeros(0, dtype=np.int64), [geometry], None,
                            {0: "no units (buildings) with households lie in this community"})
    geoms = units.geometry.values
    compound = pd.factorize(units["compound_id"])[0] if "compound_id" in units else None
    with timer.stage("adjacency"):
        graph = build_community_graph(geometry, geoms, balance_weights(units),
                                      barriers=barrier_lines, compound=compound,
                                      mode=params.tessellation)
    # the exact stage aims at the plan's own band (not at derived communities' or microgrids')
    exact_seconds = params.exact_seconds if tuple(band) == tuple(params.band) else 0.0
    with timer.stage("partition"):
        atoms = atom_labels(units.get("compound_id", pd.Series([None] * len(units))),
                            graph.households[:len(units)], band[1], graph.seed[:len(units)])
        fillers = graph.n - graph.n_units
        atoms = np.concatenate([atoms, atoms.max(initial=-1) + 1 + np.arange(fillers)])
        part = partition_graph(graph.n, graph.edges, graph.edge_costs(), graph.edge_kind(),
                               graph.households, graph.xy, atoms, target=target, band=band,
                               seed=params.seed, attempts=params.attempts,
                               zones=graph.block * (graph.compound.max(initial=0) + 2)
                               + graph.compound + 1, exact_seconds=exact_seconds)
    _move_seconds(timer, "partition", "exact", part.proof.seconds if part.proof else 0.0)
    with timer.stage("grids"):
        k = int(part.labels.max()) + 1  # labels of filler points included
        polys, labels, moves = grid_polygons(graph.cells, graph.cell_unit, part.labels, graph.xy,
                                      graph.households, k)
    return RegionResult(geometry, labels[:len(units)], polys, graph, part.notes,
                        all_labels=labels, atoms=atoms[:len(units)], fragments=moves,
                        drawn_labels=part.labels, proof=part.proof)


def _move_seconds(timer, source: str, stage: str, seconds: float) -> None:
    """Book ``seconds`` timed under ``source`` to ``stage`` (a stage run inside another)."""
    timer.seconds.setdefault(stage, 0.0)
    if seconds > 0:
        timer.seconds[source] = max(round(timer.seconds.get(source, 0.0) - seconds, 3), 0.0)
        timer.seconds[stage] = round(timer.seconds.get(stage, 0.0) + seconds, 3)


def serial_order_of(result: RegionResult) -> np.ndarray:
    """Grid labels in code order (north→south rows, west→east)."""
    xy = shapely.get_coordinates(shapely.point_on_surface(np.asarray(result.polygons,
                                                                     dtype=object)))
    return serial_order(xy, shapely.area(result.geometry))


def describe_grids(result: RegionResult, community, units: gpd.GeoDataFrame,
                   params: PlanParams, previous: list | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Grid rows (code, type, counts, shape, status, reasons) and the unit → grid code table.

    ``previous`` lists (serial, polygon) of the community's grids in an earlier plan:
    grids that overlap one keep its serial (:func:`gridplan.codes.stable_serials`).
    The rows carry the community's explanation (or None) in ``rows.attrs["explanation"]``
    and its proof (:func:`gridplan.engine.metrics.community_optimality`) in
    ``rows.attrs["optimality"]``.
    """
    k = len(result.polygons)
    order = serial_order_of(result)
    serials = (stable_serials(result.polygons, order, previous, params.code_scheme)
               if previous else spatial_serials(order, params.code_scheme))
    codes = np.array([grid_code(community.code, community.community_id, int(s),
                                scheme=params.code_scheme, object_class=params.object_class)
                      for s in serials], dtype=object)
    result.codes = codes
    lab = result.labels
    bal = np.bincount(lab, weights=balance_weights(units), minlength=k) if len(lab) else \
        np.zeros(k)
    hh = np.bincount(lab, weights=units["households"].values, minlength=k) if len(lab) else \
        np.zeros(k)
    pop = np.bincount(lab, weights=units["population"].values, minlength=k) if len(lab) else \
        np.zeros(k)
    n_units = np.bincount(lab, minlength=k) if len(lab) else np.zeros(k, dtype=int)
    polys = np.asarray(result.polygons, dtype=object)
    types = (result.grid_types if result.grid_types is not None
             else np.full(k, "comprehensive", dtype=object))
    lo, hi = params.band
    sites = result.sites or []
    households = hh.astype(np.int64)
    status = np.where(types == "dedicated", "dedicated",
                      np.where(households == 0, "empty",
                               np.where(bal < lo, "below_band",
                                        np.where(bal > hi, "above_band", "ok"))))
    optimality = community_optimality(community.community_id, status, types, result.proof)
    explainer = Explainer(units, lab, result.atoms, bal, params)
    reason, reason_zh = explainer.grid_reasons(
        status, result.notes, dict(enumerate(sites)),
        proved=optimality["optimality"] == "proved")
    columns = {  # built in one go: a column added to a frame costs more than a whole frame
        "grid_code": codes,
        "community_id": community.community_id,
        "grid_type": types,
        "households": households,
        "population": np.round(pop, 1),
        "units": n_units.astype(np.int64),
        "area_m2": np.round(shapely.area(polys), 1),
        "polsby_popper": np.round(polsby_popper(polys), 4),
        "barrier_crossings": barrier_crossings(result, k),
        "geometry": polys,
    }
    if "weight" in units:
        columns["visit_equivalents"] = np.round(bal, 1)
    columns.update(site_kind=[sites[g]["kind"] if g < len(sites) else "" for g in range(k)],
                   site_name=[sites[g]["name"] if g < len(sites) else "" for g in range(k)],
                   status=status, reason=reason, reason_zh=reason_zh)
    rows = pd.DataFrame(columns)
    unit_grid = pd.DataFrame({"unit_id": units["unit_id"].values, "grid_code": codes[lab]})
    explanation = explainer.community(community.community_id,
                                      str(getattr(community, "name", "") or ""), rows)
    rows = rows.iloc[np.argsort(serials, kind="stable")].reset_index(drop=True)
    rows.attrs["explanation"] = explanation
    rows.attrs["optimality"] = optimality
    return rows, unit_grid


def grid_codes(result: RegionResult, community, order: np.ndarray | None = None) -> np.ndarray:
    """Grid code of each grid label of a planned community (serials in reading order).

    The codes :func:`describe_grids` gave (in the plan's scheme, serials possibly kept
    from a previous plan) once it has run; else the default scheme's spatial serials.
    """
    if result.codes is not None:
        return result.codes
    order = serial_order_of(result) if order is None else order
    codes = np.empty(len(result.polygons), dtype=object)
    for serial, g in enumerate(order, start=1):
        codes[g] = grid_code(community.code, community.community_id, serial)
    return codes


def describe_parcels(result: RegionResult, community, units: gpd.GeoDataFrame
                     ) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Parcels of a planned community, the parcel of each unit and parcel adjacency."""
    if result.parcels is not None:
        return result.parcels(grid_codes(result, community))
    return region_parcels(result, community.community_id, units["unit_id"].to_numpy(object),
                          grid_codes(result, community))


def barrier_crossings(result: RegionResult, k: int) -> np.ndarray:
    """Road/river-bounded blocks each grid spans (empty blocks included), minus one."""
    if result.crossings is not None:
        return result.crossings
    if result.graph is None or result.all_labels is None:
        return np.zeros(k, dtype=np.int64)
    labels, blocks = np.asarray(result.all_labels), np.asarray(result.graph.block)
    mine = (labels >= 0) & (labels < k)
    pairs = np.unique(np.stack([labels[mine], blocks[mine]]), axis=1)  # (grid, block) once
    spans = np.bincount(pairs[0], minlength=k)
    return np.where(spans > 0, spans - 1, 0).astype(np.int64)
