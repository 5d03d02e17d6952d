"""Demo people: synthetic special populations and community workers for the demo district.

Special populations (独居老人, 低保, 残疾, 流动人口...) are drawn per residential
building with rates that are higher in old low-rise housing and in the urban
village, so that household counts alone misjudge the work. Workers follow the
staffing norm (18 per 10,000 residents), except that one community is left short
so the staffing report has a gap to show. Everything is seeded and synthetic.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

log = logging.getLogger(__name__)

PEOPLE_SEED = 20261126
HOUSEHOLD_SIZE = 2.6
# expected cases per household: (apartments, low-rise houses, village)
RATES = {
    "elderly_alone": (0.02, 0.08, 0.10),
    "high_risk_elderly": (0.004, 0.02, 0.03),
    "disabled": (0.01, 0.02, 0.03),
    "dibao": (0.005, 0.03, 0.06),
    "floating": (0.03, 0.10, 0.35),
}
SHORT_COMMUNITY = "C04"  # staffed below the norm on purpose


def demo_special(buildings: gpd.GeoDataFrame, communities: gpd.GeoDataFrame,
                 seed: int = PEOPLE_SEED) -> pd.DataFrame:
    """Special-population counts (unit_id, category, count) per residential building."""
    rng = np.random.default_rng(seed)
    village = set(communities.loc[communities["name"].str.contains("村"), "id"])
    comm = _community_of(buildings, communities)
    rows = []
    for (uid, hh, kind), cid in zip(buildings[["unit_id", "households", "building"]]
                                    .itertuples(index=False, name=None), comm, strict=True):
        if hh <= 0:
            continue
        style = 2 if cid in village else (1 if kind in ("house", "residential") else 0)
        for cat, rates in RATES.items():
            n = int(rng.poisson(hh * rates[style]))
            if n:
                rows.append((uid, cat, n))
    return pd.DataFrame(rows, columns=["unit_id", "category", "count"])


def demo_workers(buildings: gpd.GeoDataFrame, communities: gpd.GeoDataFrame,
                 seed: int = PEOPLE_SEED) -> pd.DataFrame:
    """Workers (worker_id, name, community_id, lon, lat, capacity_hours) per community."""
    rng = np.random.default_rng(seed + 1)
    comm = _community_of(buildings, communities)
    hh = buildings["households"].groupby(comm).sum()
    metric = communities.to_crs(communities.estimate_utm_crs())
    rows = []
    for cid, geom in zip(metric["id"], metric.geometry, strict=True):
        need = math.ceil(hh.get(cid, 0) * HOUSEHOLD_SIZE / 10000 * 18)
        n = max(1, need - 4) if cid == SHORT_COMMUNITY else need
        homes = _points_in(geom, n, rng)
        lonlat = gpd.GeoSeries(shapely.points(homes), crs=metric.crs).to_crs(4326)
        for i, p in enumerate(lonlat, start=1):
            rows.append((f"{cid}-W{i:02d}", f"{cid}网格员{i:02d}", cid, round(p.x, 6),
                         round(p.y, 6), 160.0))
    return pd.DataFrame(rows, columns=["worker_id", "name", "community_id", "lon", "lat",
                                       "capacity_hours"])


def _community_of(buildings: gpd.GeoDataFrame, communities: gpd.GeoDataFrame) -> np.ndarray:
    pts = gpd.GeoDataFrame(geometry=buildings.geometry.representative_point(),
                           crs=buildings.crs)
    joined = gpd.sjoin(pts, communities[["id", "geometry"]].to_crs(buildings.crs),
                       how="left", predicate="intersects")
    return joined[~joined.index.duplicated()]["id"].to_numpy()


def _points_in(geom, n: int, rng: np.random.Generator) -> np.ndarray:
    minx, miny, maxx, maxy = geom.bounds
    out: list[np.ndarray] = []
    while len(out) < n:
        p = rng.uniform((minx, miny), (maxx, maxy))
        if geom.contains(shapely.Point(p)):
            out.append(np.round(p, 1))
    return np.array(out).reshape(-1, 2)


def write_people(directory: str | Path, seed: int = PEOPLE_SEED) -> dict[str, Path]:
    """Write ``special.csv`` and ``workers.csv`` beside the demo layers in ``directory``."""
    directory = Path(directory)
    buildings = gpd.read_file(directory / "buildings.geojson")
    communities = gpd.read_file(directory / "communities.geojson")
    paths = {"special": directory / "special.csv", "workers": directory / "workers.csv"}
    demo_special(buildings, communities, seed).to_csv(paths["special"], index=False,
                                                      lineterminator="\n")
    demo_workers(buildings, communities, seed).to_csv(paths["workers"], index=False,
                                                      lineterminator="\n")
    for path in paths.values():
        log.info("wrote %s", path)
    return paths
