"""Input loading: read every layer the plan options name and prepare it for planning."""

from __future__ import annotations

import logging

import geopandas as gpd

from gridplan.errors import InputError
from gridplan.layers.population import prepare_units
from gridplan.layers.prepare import prepare_communities
from gridplan.layers.vector import InputNotes, read_vector
from gridplan.params import WorkloadParams, params_from

log = logging.getLogger(__name__)


def _read(path: str | None, what: str, crs: str | None) -> gpd.GeoDataFrame | None:
    """Read an optional layer, giving it ``crs`` when it declares none."""
    if path is None:
        return None
    gdf = read_vector(path, what=what)
    if gdf.crs is None and crs:
        gdf = gdf.set_crs(crs)
    return gdf


def load_inputs(kw: dict) -> dict:
    """Read every input the ``plan`` options name; returns arguments for :func:`plan`."""
    params = params_from(kw)
    notes = InputNotes()
    if not kw.get("population") and not kw.get("osm"):
        raise InputError("no population layer", field="--population",
                         fix="pass --population FILE (buildings, points or blocks) or --osm FILE")
    osm = None
    if kw.get("osm"):
        from gridplan.layers.osm import read_osm, study_area

        osm = read_osm(kw["osm"], barrier_highways=params.barrier_highways,
                       dwelling_area=kw.get("dwelling_area", 90.0),
                       dedicated_tags=params.dedicated_tags)
    if kw.get("population"):
        pop = _read(kw["population"], "population", kw.get("crs"))
        units = prepare_units(pop, unit_id=kw.get("unit_id", "unit_id"),
                              households=kw.get("households_field"),
                              population_field=kw.get("population_field"),
                              household_size=kw.get("household_size", 2.6))
    else:
        units = prepare_units(osm.buildings, unit_id="unit_id", households="households")
        units.attrs["source"] = str(kw["osm"])
    communities = _read(kw.get("communities"), "communities", kw.get("crs"))
    if communities is not None:
        communities = prepare_communities(communities, id_field=kw.get("community_id", "id"),
                                          code_field=kw.get("community_code"),
                                          scheme=params.code_scheme, notes=notes)
    compounds = _read(kw.get("compounds"), "compounds", kw.get("crs"))
    barriers = _read(kw.get("barriers"), "barriers", kw.get("crs"))
    if osm is not None:
        compounds = compounds if compounds is not None else osm.compounds
        barriers = barriers if barriers is not None else osm.barriers
    dedicated = _read(kw.get("dedicated_path"), "dedicated sites", kw.get("crs"))
    if dedicated is None and osm is not None and len(osm.dedicated):
        dedicated = osm.dedicated
    previous = None
    if kw.get("previous_dir"):
        from gridplan.export.folder import read_plan

        previous = read_plan(kw["previous_dir"])
    special = None
    if kw.get("special_path"):
        from gridplan.layers.special import read_special

        special = read_special(kw["special_path"], units["building_id"], WorkloadParams())
    return {"units": units, "communities": communities, "compounds": compounds,
            "barriers": barriers, "params": params, "notes": notes, "special": special,
            "dedicated": dedicated, "previous": previous,
            "study_area": study_area(osm) if osm is not None else None}
