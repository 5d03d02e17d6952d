"""Population layers: buildings, points or blocks normalised to units with households."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np

from gridplan.errors import InputError
from gridplan.layers.vector import check_counts, check_ids, require_field, source_of

log = logging.getLogger(__name__)


UNIT_COLUMNS = ["unit_id", "building_id", "households", "population", "geometry"]


def prepare_units(population: gpd.GeoDataFrame, *, unit_id: str = "unit_id",
                  households: str | None = None, population_field: str | None = None,
                  household_size: float = 2.6) -> gpd.GeoDataFrame:
    """Normalise a population layer to units with ``unit_id``, ``households``, ``population``.

    Households come from ``households`` when given; else from ``population_field``
    divided by ``household_size`` (rounded); else from a ``households`` column. A
    ``building`` column (the OSM building type: ``apartments``, ``dormitory``,
    ``university``...) is kept, as text (``""`` where missing): it tells residents'
    homes from an institution's buildings inside dedicated sites
    (:func:`gridplan.layers.households.resident_units`).

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> g = gpd.GeoDataFrame({"id": ["a", "b"], "pop": [26, 13]},
    ...                      geometry=[Point(0, 0), Point(1, 0)], crs=32650)
    >>> prepare_units(g, unit_id="id", population_field="pop")["households"].tolist()
    [10, 5]
    """
    if household_size <= 0:
        raise InputError("household size must be positive", field="--household-size",
                         fix="pass e.g. 2.6")
    what = "population"
    if unit_id not in population.columns:
        population = population.copy()
        unit_id = _fallback_id(population, unit_id)
    id_field = unit_id
    ids = check_ids(population, id_field, what=what, option="--unit-id")
    hh_field = households or ("households" if population_field is None else None)
    if hh_field is not None:
        if hh_field not in population.columns and households is None:
            raise InputError(
                "no household counts: the population layer has no 'households' field",
                source=source_of(population, what), field="households",
                fix="name the household field with --households FIELD, or give "
                    "--population-field FIELD (and --household-size)")
        hh = check_counts(population, hh_field, what=what, option="--households", ids=ids)
        pop = (check_counts(population, population_field, what=what,
                            option="--population-field", ids=ids)
               if population_field else hh * household_size)
    else:
        pop = check_counts(population, population_field, what=what,
                           option="--population-field", ids=ids)
        hh = pop / household_size
    out = gpd.GeoDataFrame({
        "unit_id": ids.values,
        "building_id": ids.values,
        "households": np.rint(hh.values).astype(np.int64),
        "population": pop.values.astype(float),
    }, geometry=population.geometry.values, crs=population.crs)
    if "building" in population.columns:
        kinds = population["building"].astype(object)
        out.insert(4, "building", [v.strip() if isinstance(v, str) else "" for v in kinds])
    out.attrs.update(population.attrs)
    return out


def _fallback_id(gdf: gpd.GeoDataFrame, wanted: str) -> str:
    """A common id column when ``unit_id`` is absent, else ids from the row order.

    Adds the ``unit_id`` column to ``gdf`` (a copy made by the caller) in the last case.
    """
    for name in ("unit_id", "id", "osm_id", "GEOID10", "GEOID20", "GEOID"):
        if name in gdf.columns:
            log.info("population id field %r not found; using %r", wanted, name)
            return name
    if wanted != "unit_id":
        require_field(gdf, wanted, what="population", option="--unit-id")
    gdf["unit_id"] = [f"u{i}" for i in range(len(gdf))]
    return "unit_id"
