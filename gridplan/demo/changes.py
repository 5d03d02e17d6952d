"""Demo changes: a new compound for re-planning, and department grid layers for merging.

Everything here is derived deterministically from the demo district (or any plan),
so tests and README figures can be rebuilt exactly.

Run ``python -m gridplan.demo.changes --plan out/demo --out DIR`` to write
``buildings_new.geojson`` and ``compounds_new.geojson`` (the demo plus a new compound) and three
department layers ``dept_*.gpkg`` derived from the plan.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridplan.demo.district import OUTPUT_CRS, _geojson_text, generate_demo
from gridplan.export.folder import read_plan

logger = logging.getLogger(__name__)

NEW_COMPOUND = "X_NEW"
FENCE = 8.0  # metres between the compound fence and its buildings
CLEARANCE = {"building": 10.0, "barrier": 30.0, "compound": 6.0, "edge": 12.0}


def add_compound(layers: dict[str, gpd.GeoDataFrame], *, households: Sequence[int] = (
        110, 110, 110, 110), slab: tuple[float, float] = (60.0, 14.0), levels: int = 18,
        name: str = "新建家园", step: float = 10.0) -> dict[str, gpd.GeoDataFrame]:
    """The demo layers with one new gated compound of slab buildings on free land.

    The compound (two rows of two slabs inside a fence) is placed at the free spot
    nearest the district's centre: clear of buildings, roads, the river, other
    compounds and community edges. New buildings are numbered ``N001``...

    Parameters
    ----------
    layers : dict
        Demo layers from :func:`gridplan.demo.district.generate_demo` (``buildings``,
        ``compounds``, ``communities``, ``barriers``).
    households : sequence of int
        Households per new building (four buildings by default, 440 in all).
    slab, levels, name
        Footprint (length, depth) and storeys of each building; the compound's name.
    step : float
        Metres between candidate spots tried.

    Examples
    --------
    >>> from gridplan.demo.district import generate_demo
    >>> new = add_compound(generate_demo())
    >>> int(new["buildings"]["unit_id"].str.startswith("N").sum())
    4
    """
    n = len(households)
    cols = 2
    rows = int(np.ceil(n / cols))
    width = cols * slab[0] + (cols - 1) * 20.0 + 2 * FENCE
    depth = rows * slab[1] + (rows - 1) * 24.0 + 2 * FENCE
    fence = _free_spot(layers, width, depth, step)
    x0, y0 = fence.bounds[:2]
    rects = [shapely.box(x0 + FENCE + (i % cols) * (slab[0] + 20.0),
                         y0 + FENCE + (i // cols) * (slab[1] + 24.0),
                         x0 + FENCE + (i % cols) * (slab[0] + 20.0) + slab[0],
                         y0 + FENCE + (i // cols) * (slab[1] + 24.0) + slab[1])
             for i in range(n)]
    crs = layers["buildings"].crs
    new_b = gpd.GeoDataFrame({"unit_id": [f"N{i:03d}" for i in range(1, n + 1)],
                              "households": np.asarray(households, dtype=np.int64),
                              "building": "apartments", "levels": levels,
                              "name": [f"{name}{i}号楼" for i in range(1, n + 1)]},
                             geometry=rects, crs=crs)
    new_c = gpd.GeoDataFrame({"compound_id": [NEW_COMPOUND], "name": [name]},
                             geometry=[fence], crs=crs)
    out = dict(layers)
    out["buildings"] = pd.concat([layers["buildings"], new_b.to_crs(layers["buildings"].crs)],
                                 ignore_index=True)
    out["compounds"] = pd.concat([layers["compounds"], new_c.to_crs(layers["compounds"].crs)],
                                 ignore_index=True)
    logger.info("new compound %s: %d buildings, %d households", name, n, sum(households))
    return out


def _free_spot(layers: dict[str, gpd.GeoDataFrame], width: float, depth: float,
               step: float):
    """The ``width`` × ``depth`` rectangle on free land nearest the district's centre."""
    crs = layers["buildings"].crs
    comm = layers["communities"].to_crs(crs)
    blocked = shapely.union_all([
        *layers["buildings"].to_crs(crs).geometry.buffer(CLEARANCE["building"]).values,
        *layers["barriers"].to_crs(crs).geometry.buffer(CLEARANCE["barrier"]).values,
        *layers["compounds"].to_crs(crs).geometry.buffer(CLEARANCE["compound"]).values])
    inner = shapely.union_all([g.buffer(-CLEARANCE["edge"]) for g in comm.geometry.values])
    free = shapely.difference(inner, blocked)
    minx, miny, maxx, maxy = comm.total_bounds
    xs = np.arange(minx, maxx - width, step)
    ys = np.arange(miny, maxy - depth, step)
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    rects = shapely.box(gx, gy, gx + width, gy + depth)
    ok = shapely.contains(free, rects)
    if not ok.any():
        raise RuntimeError(f"no free {width:.0f} × {depth:.0f} m spot for a new compound")
    centre = shapely.centroid(shapely.union_all(comm.geometry.values))
    dist = shapely.distance(shapely.centroid(rects[ok]), centre)
    return rects[ok][int(np.argmin(dist))]


def department_layers(plan, *, cell: float = 500.0, shift: tuple[float, float] = (30.0, -20.0),
                      grow: float = 6.0, shrink: float = 8.0) -> dict[str, gpd.GeoDataFrame]:
    """Three departments' grid layers derived from a plan, each with its own flaws.

    - ``governance`` (综治): the plan's grids shifted by ``shift`` metres and grown by
      ``grow`` — overlaps between neighbours, gaps at the edges, grids crossing
      community boundaries;
    - ``urban`` (城管): a regular grid of ``cell`` metre squares over the district —
      crossing community boundaries everywhere;
    - ``civil`` (民政): one grid per community, shrunk by ``shrink`` metres — gaps
      along every boundary.

    All in EPSG:4326 with a ``grid_id`` field, as a department would hand them over.

    Examples
    --------
    >>> layers = department_layers(read_plan("out/demo"))    # doctest: +SKIP
    >>> sorted(layers)                                        # doctest: +SKIP
    ['civil', 'governance', 'urban']
    """
    g = plan.grids
    gov = gpd.GeoDataFrame({"grid_id": [f"ZZ{i:03d}" for i in range(1, len(g) + 1)]},
                           geometry=g.geometry.translate(*shift).buffer(grow, join_style="mitre"),
                           crs=plan.crs)
    minx, miny, maxx, maxy = plan.communities.total_bounds
    xs = np.arange(minx, maxx, cell)
    ys = np.arange(maxy, miny, -cell)
    squares = [(f"CG-{r + 1:02d}-{c + 1:02d}", shapely.box(x, y - cell, x + cell, y))
               for r, y in enumerate(ys) for c, x in enumerate(xs)]
    area = shapely.union_all(plan.communities.geometry.values)
    squares = [(i, s) for i, s in squares if s.intersects(area)]
    urban = gpd.GeoDataFrame({"grid_id": [i for i, _ in squares]},
                             geometry=[s for _, s in squares], crs=plan.crs)
    civil = gpd.GeoDataFrame({"grid_id": [f"MZ-{c}" for c in plan.communities["community_id"]]},
                             geometry=plan.communities.geometry.buffer(-shrink).values,
                             crs=plan.crs)
    return {name: layer.to_crs(4326) for name, layer in
            (("governance", gov), ("urban", urban), ("civil", civil))}


def write_changes(plan_dir: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Write the demo buildings with a new compound and the department layers of a plan."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    new = add_compound(generate_demo())
    paths = {}
    for name in ("buildings", "compounds"):  # written like the demo's own files
        paths[f"{name}_new"] = out / f"{name}_new.geojson"
        paths[f"{name}_new"].write_bytes(
            _geojson_text(new[name].to_crs(OUTPUT_CRS), name).encode("utf-8"))
    for name, layer in department_layers(read_plan(plan_dir)).items():
        paths[name] = out / f"dept_{name}.gpkg"
        pyogrio.write_dataframe(layer, paths[name], driver="GPKG")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gridplan.demo.changes --plan out/demo --out DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", default="out/demo", help="plan folder (gridplan demo's --out)")
    parser.add_argument("--out", default="out/demo_changes", help="folder to write into")
    args = parser.parse_args(argv)
    for name, path in write_changes(args.plan, args.out).items():
        print(f"{name}: {path}")  # noqa: T201 - a command's output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
