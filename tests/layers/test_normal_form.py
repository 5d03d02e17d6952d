"""Plans do not depend on where input rings start or which way they run (issue #13).

Input preparation (:func:`gridplan.layers.vector.check_layer`) puts every geometry in
normal form; these tests give the same shapes digitised from another vertex, the other
way round and with multi-parts in another order, and expect the same plan.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import (
    DATA,
    METRIC_CRS,
    X0,
    Y0,
    communities_frame,
    prep_communities,
    prep_units,
    run_cli,
    units_frame,
)
from shapely.affinity import rotate

from gridplan.engine.pipeline import plan
from gridplan.layers.vector import normalised
from gridplan.params import PlanParams


def _ring(coords: np.ndarray, k: int) -> np.ndarray:
    """A closed ring started ``k`` vertices later and run the other way."""
    ring = coords[:-1]
    ring = np.vstack([ring[k % len(ring):], ring[:k % len(ring)]])[::-1]
    return np.vstack([ring, ring[:1]])


def scrambled(geom, k: int = 3):
    """The same shape from another start vertex, reversed, multi-parts in reverse order."""
    if geom.geom_type == "Polygon":
        return shapely.Polygon(_ring(np.asarray(geom.exterior.coords), k),
                               [_ring(np.asarray(h.coords), k + 1) for h in geom.interiors])
    if geom.geom_type == "MultiPolygon":
        return shapely.MultiPolygon([scrambled(p, k + i) for i, p in enumerate(geom.geoms)][::-1])
    if geom.geom_type == "LineString":
        return shapely.LineString(np.asarray(geom.coords)[::-1])
    if geom.geom_type == "MultiLineString":
        return shapely.MultiLineString([np.asarray(p.coords)[::-1] for p in geom.geoms][::-1])
    return geom


def _scramble(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf.set_geometry([scrambled(g, i) for i, g in enumerate(gdf.geometry)])


def _fixture():
    """A round community of 24 long slanted blocks (outlines sampled at more than 24 points),
    one L-shaped building with a courtyard, a compound and a road."""
    centre = shapely.Point(X0 + 200, Y0 + 200)
    community = centre.buffer(230, quad_segs=16)
    rows = []
    for i in range(6):
        for j in range(4):
            block = shapely.box(0, 0, 70, 22)
            block = rotate(block, 15 + 4 * i - 3 * j, origin=(0, 0))
            rows.append((f"b{i}_{j}", 55 + 5 * ((i + j) % 4),
                         shapely.affinity.translate(block, X0 + 30 + 60 * i, Y0 + 40 + 85 * j)))
    court = shapely.Polygon([(0, 0), (60, 0), (60, 20), (20, 20), (20, 60), (0, 60)],
                            [[(5, 5), (15, 5), (15, 15), (5, 15)]])
    rows.append(("court", 90, shapely.affinity.translate(court, X0 + 330, Y0 + 330)))
    units = units_frame(rows)
    comms = communities_frame([("A", "110108001001", community)])
    compounds = gpd.GeoDataFrame({"compound_id": ["c1"]},
                                 geometry=[shapely.box(X0 + 20, Y0 + 30, X0 + 160, Y0 + 200)],
                                 crs=METRIC_CRS)
    road = shapely.LineString([(X0 - 50, Y0 + 215), (X0 + 180, Y0 + 205), (X0 + 450, Y0 + 230)])
    barriers = gpd.GeoDataFrame({"kind": ["primary"]}, geometry=[road], crs=METRIC_CRS)
    return units, comms, compounds, barriers


def _plan(units, comms, compounds, barriers):
    params = PlanParams(exact_seconds=0)
    return plan(prep_units(units), prep_communities(comms), compounds=compounds,
                barriers=barriers, params=params)


def _same_plan(a, b) -> None:
    ua = a.units.set_index("unit_id")[["grid_code", "cell_id"]].sort_index()
    ub = b.units.set_index("unit_id")[["grid_code", "cell_id"]].sort_index()
    assert ua.equals(ub)
    ga, gb = a.grids.set_index("grid_code"), b.grids.set_index("grid_code")
    assert ga.index.equals(gb.index)
    assert ga.geometry.to_wkb().equals(gb.geometry.to_wkb())  # the very same coordinates
    assert ga["households"].equals(gb["households"])


def test_rotated_and_reversed_rings_give_the_same_plan():
    units, comms, compounds, barriers = _fixture()
    before = _plan(units, comms, compounds, barriers)
    after = _plan(_scramble(units), _scramble(comms), _scramble(compounds), _scramble(barriers))
    assert len(before.grids) >= 4
    _same_plan(before, after)


def test_normal_form_is_one_coordinate_sequence():
    units = _fixture()[0]
    a, b = normalised(units), normalised(_scramble(units))
    assert a.geometry.to_wkb().equals(b.geometry.to_wkb())
    assert units.geometry.iloc[0].wkt != a.geometry.iloc[0].wkt  # the input is left alone
    assert normalised(a).geometry.to_wkb().equals(a.geometry.to_wkb())


@pytest.mark.realdata
@pytest.mark.slow
def test_bnu_extract_planned_the_same_from_scrambled_rings(tmp_path):
    """The real BNU extract's buildings, compounds, roads and sites written to files as
    read and scrambled, planned by the command line: the same units.csv and grids."""
    from gridplan.layers.load import load_inputs

    path = DATA / "beijing_bnu.osm.bz2"
    if not path.exists():
        pytest.skip(f"{path} is absent (real data lives in ../shared/data)")
    kw = load_inputs({"osm": path})
    outputs = []
    for name, change in (("as_read", lambda g: g), ("scrambled", _scramble)):
        args = []
        for key, option in (("units", "--population"), ("compounds", "--compounds"),
                            ("barriers", "--barriers"), ("dedicated", "--dedicated")):
            file = tmp_path / f"{name}-{key}.gpkg"
            change(kw[key].drop(columns=["building_id"], errors="ignore")).to_file(file)
            args += [option, file]
        out = tmp_path / name
        r = run_cli("plan", *args, "--households", "households", "--exact-seconds", "0",
                    "--quiet", "--no-map", "--out", out)
        assert r.exit_code == 0, r.output
        outputs.append([(out / f).read_bytes() for f in ("units.csv", "grids.geojson")])
    assert outputs[0] == outputs[1]
