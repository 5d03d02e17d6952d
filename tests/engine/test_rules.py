"""Tiny exact fixtures whose right plan is known, each checked against every plan rule."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from conftest import (
    METRIC_CRS,
    X0,
    Y0,
    assert_plan_rules,
    assert_same_plan,
    communities_frame,
    lattice,
    prep_communities,
    prep_units,
    units_frame,
)

from gridplan.engine.pipeline import plan
from gridplan.errors import InputError
from gridplan.params import PlanParams

PARAMS = PlanParams(target=300, tolerance=0.15, seed=0)


def _plan(units, comms, *, params=PARAMS, **kw):
    u, c = prep_units(units), prep_communities(comms)
    p = plan(u, c, params=params, **kw)
    assert_plan_rules(p, u, c)
    return p


def _grid_of(p) -> dict[str, str]:
    return dict(zip(p.units["unit_id"], p.units["grid_code"], strict=True))


# (a) a 6 × 4 lattice of 50-household buildings: four grids of exactly 300 -----------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lattice_four_grids_of_300(small_inputs, seed):
    units, comms = small_inputs
    p = _plan(units, comms, params=PlanParams(target=300, tolerance=0.15, seed=seed))
    assert len(p.grids) == 4
    assert p.grids["households"].tolist() == [300] * 4
    assert (p.grids["status"] == "ok").all()
    assert (p.grids["units"] == 6).all()
    assert p.report["share_in_band"] == 1.0
    assert p.report["contiguous_share"] == 1.0


@pytest.mark.parametrize("seed", [0, 1])
def test_lattice_obeys_rules_whatever_the_balance(small_inputs, seed):
    units, comms = small_inputs
    p = _plan(units, comms, params=PlanParams(target=300, tolerance=0.15, seed=seed))
    assert len(p.grids) == 4
    assert p.grids["grid_code"].tolist() == ["C1-001", "C1-002", "C1-003", "C1-004"]


def test_lattice_point_units(small_inputs):
    units, comms = small_inputs
    units = units.copy()
    units.geometry = units.geometry.centroid
    p = _plan(units, comms)
    assert len(p.grids) == 4
    assert p.grids["households"].sum() == 1200


def test_same_seed_same_plan(small_inputs):
    units, comms = small_inputs
    a = _plan(units, comms, params=PlanParams(seed=3))
    b = _plan(units, comms, params=PlanParams(seed=3))
    assert_same_plan(a, b)


# (b) a community too small for the band -----------------------------------------------------

def test_small_community_is_one_grid_below_band():
    units = units_frame([("a", 70, shapely.Point(X0 + 20, Y0 + 20)),
                         ("b", 50, shapely.Point(X0 + 60, Y0 + 70))])
    comms = communities_frame([("S", None, shapely.box(X0, Y0, X0 + 100, Y0 + 100))])
    p = _plan(units, comms)
    assert len(p.grids) == 1
    g = p.grids.iloc[0]
    assert g["grid_code"] == "S-001"
    assert g["households"] == 120
    assert g["status"] == "below_band"
    assert "120" in g["reason"]
    assert g.geometry.equals(comms.geometry.iloc[0]) or abs(g.geometry.area - 1e4) < 1e-2


# (c) one tower above the band: split into stairwell sub-units -------------------------------

def test_tower_split_into_stairwells():
    rows = [r for r in lattice(5, 4, households=20) if r[0] not in ("u2_1", "u2_2")]
    tower = shapely.box(X0 + 105, Y0 + 60, X0 + 145, Y0 + 140)  # 40 × 80 m slab
    rows.append(("B", 700, tower))
    units = units_frame(rows)
    comms = communities_frame([("T", None, shapely.box(X0, Y0, X0 + 250, Y0 + 200))])
    p = _plan(units, comms)
    subs = p.units[p.units["building_id"] == "B"]
    assert sorted(subs["unit_id"]) == [f"B#{i}" for i in range(1, 8)]
    assert subs["households"].sum() == 700
    assert "B" not in set(p.units["unit_id"])
    # the strips tile the tower footprint
    strips = shapely.union_all(subs.geometry.values)
    assert abs(strips.area - tower.area) < 1e-3 * tower.area
    holding = p.grids[p.grids["grid_code"].isin(subs["grid_code"])]
    for reason in holding["reason"]:
        assert "stairwell" in reason and "B" in reason
    assert p.grids["households"].sum() == 700 + 18 * 20


def test_point_tower_split_into_stairwells():
    units = units_frame([("B", 450, shapely.Point(X0 + 50, Y0 + 50)),
                         ("s", 10, shapely.Point(X0 + 20, Y0 + 80))])
    comms = communities_frame([("T", None, shapely.box(X0, Y0, X0 + 100, Y0 + 100))])
    p = _plan(units, comms)
    subs = p.units[p.units["building_id"] == "B"].sort_values("unit_id")
    assert subs["unit_id"].tolist() == [f"B#{i}" for i in range(1, 6)]
    assert subs["households"].tolist() == [90] * 5


def test_point_tower_at_community_edge():
    """Regression: stairwell points laid out eastwards left the community (no grid)."""
    units = units_frame([("B", 113, shapely.Point(X0 + 79.8, Y0 + 40)),
                         ("s", 0, shapely.Point(X0, Y0))])
    comms = communities_frame([("T", None, shapely.box(X0, Y0, X0 + 80, Y0 + 80))])
    p = _plan(units, comms, params=PlanParams(target=100, tolerance=0.1))
    assert sorted(p.units["unit_id"]) == ["B#1", "B#2", "s"]


# (d) a compound that fits one grid is never split -------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_compound_kept_whole(small_inputs, seed):
    units, comms = small_inputs
    members = ["u0_0", "u1_0", "u2_0", "u0_1", "u1_1"]  # 250 households in the SW corner
    compound = shapely.box(X0 + 1, Y0 + 1, X0 + 149, Y0 + 49).union(
        shapely.box(X0 + 1, Y0 + 1, X0 + 99, Y0 + 99))
    compounds = gpd.GeoDataFrame({"compound_id": ["K1"]}, geometry=[compound], crs=METRIC_CRS)
    p = _plan(units, comms, compounds=compounds, params=PlanParams(seed=seed))
    grid = _grid_of(p)
    assert len({grid[m] for m in members}) == 1
    assert p.grids["households"].sum() == 1200


# (e) a barrier splitting a community in two ---------------------------------------------------

@pytest.mark.parametrize("orientation", ["vertical", "horizontal"])
def test_barrier_halves(orientation):
    units = units_frame(lattice(6, 4, households=25))
    comms = communities_frame([("R", None, shapely.box(X0, Y0, X0 + 300, Y0 + 200))])
    if orientation == "vertical":
        line = shapely.LineString([(X0 + 150, Y0 - 20), (X0 + 150, Y0 + 220)])
    else:  # against compactness: halves are 300 × 100 strips
        line = shapely.LineString([(X0 - 20, Y0 + 100), (X0 + 320, Y0 + 100)])
    barriers = gpd.GeoDataFrame({"kind": ["primary"]}, geometry=[line], crs=METRIC_CRS)
    p = _plan(units, comms, barriers=barriers)
    assert len(p.grids) == 2
    assert p.grids["households"].tolist() == [300, 300]
    assert (p.grids["barrier_crossings"] == 0).all()
    assert p.report["barrier_crossings"] == 0
    for _, g in p.grids.iterrows():
        mine = p.units[p.units["grid_code"] == g["grid_code"]]
        c = mine.geometry.centroid
        side = (c.x < X0 + 150) if orientation == "vertical" else (c.y < Y0 + 100)
        assert side.all() or (~side).all(), f"grid {g['grid_code']} spans the barrier"
        # the grid polygon stays on one side of the line too
        assert shapely.length(shapely.intersection(g.geometry.buffer(-0.5), line)) < 1e-6


# (f) 12-digit community codes ----------------------------------------------------------------

def test_twelve_digit_codes():
    rows = lattice(6, 4) + lattice(2, 3, households=40, x0=X0 + 300, prefix="v")
    units = units_frame(rows)
    comms = communities_frame([
        ("A", "110108001001", shapely.box(X0, Y0, X0 + 300, Y0 + 200)),
        ("B", "110108001002", shapely.box(X0 + 300, Y0, X0 + 400, Y0 + 200)),
    ])
    p = _plan(units, comms)
    a = p.grids[p.grids["community_id"] == "A"]["grid_code"].tolist()
    b = p.grids[p.grids["community_id"] == "B"]["grid_code"].tolist()
    assert a == [f"110108001001{i:03d}" for i in range(1, 5)]
    assert b == ["110108001002001"]
    assert p.units["grid_code"].str.len().eq(15).all()


def test_mixed_coded_and_uncoded_communities():
    """Regression: a missing code next to a present one gave grid codes 'nan001'."""
    units = units_frame(lattice(6, 4) + lattice(2, 3, households=40, x0=X0 + 300, prefix="v"))
    comms = communities_frame([
        ("A", "110108001001", shapely.box(X0, Y0, X0 + 300, Y0 + 200)),
        ("B", None, shapely.box(X0 + 300, Y0, X0 + 400, Y0 + 200)),
    ])
    p = _plan(units, comms)
    assert p.grids[p.grids["community_id"] == "B"]["grid_code"].tolist() == ["B-001"]


def test_code_read_as_number_is_accepted():
    comms = communities_frame([("A", "110108001001.0", shapely.box(X0, Y0, X0 + 300, Y0 + 200))])
    p = _plan(units_frame(lattice(6, 4)), comms)
    assert p.grids["grid_code"].iloc[0] == "110108001001001"


# (g) units outside every community ---------------------------------------------------------------

def test_units_outside_reported_and_excluded(small_inputs):
    units, comms = small_inputs
    far = units_frame([("far1", 40, shapely.Point(X0 + 1000, Y0 + 1000)),
                       ("far2", 15, shapely.box(X0 - 80, Y0, X0 - 40, Y0 + 30))])
    both = gpd.GeoDataFrame(list(units.itertuples(index=False)) + list(
        far.itertuples(index=False)), columns=units.columns, crs=METRIC_CRS)
    p = _plan(both, comms)
    assert p.report["input"]["units_outside_communities"] == 2
    assert p.report["input"]["households_outside_communities"] == 55
    assert not p.units["unit_id"].isin(["far1", "far2"]).any()
    assert p.grids["households"].sum() == 1200
    assert any("outside every community" in w for w in p.report["input"]["warnings"])


def test_unit_on_shared_boundary_is_planned():
    """Regression: a point exactly on a shared boundary was dropped as outside."""
    units = units_frame([("a", 100, shapely.Point(X0 + 30, Y0 + 50)),
                         ("edge", 100, shapely.Point(X0 + 100, Y0 + 50)),
                         ("b", 100, shapely.Point(X0 + 170, Y0 + 50))])
    comms = communities_frame([("L", None, shapely.box(X0, Y0, X0 + 100, Y0 + 100)),
                               ("R", None, shapely.box(X0 + 100, Y0, X0 + 200, Y0 + 100))])
    p = _plan(units, comms)
    assert "edge" in set(p.units["unit_id"])
    assert p.report["input"]["units_outside_communities"] == 0


def test_no_unit_inside_any_community_is_an_input_error(small_inputs):
    units, _ = small_inputs
    comms = communities_frame([("X", None, shapely.box(X0 + 5000, Y0, X0 + 5100, Y0 + 100))])
    with pytest.raises(InputError, match="no unit lies inside any community"):
        plan(prep_units(units), prep_communities(comms), params=PARAMS)


# (h) a community without units ------------------------------------------------------------------

def test_empty_community_gets_one_empty_grid(small_inputs):
    units, comms = small_inputs
    comms = communities_frame([("C1", None, comms.geometry.iloc[0]),
                               ("E", None, shapely.box(X0 + 300, Y0, X0 + 400, Y0 + 200))])
    p = _plan(units, comms)
    e = p.grids[p.grids["community_id"] == "E"]
    assert len(e) == 1
    row = e.iloc[0]
    assert row["grid_code"] == "E-001"
    assert row["status"] == "empty" and row["households"] == 0 and row["units"] == 0
    assert row["reason"]
    assert abs(row.geometry.area - 20_000) < 1e-3


def test_zero_household_units_only_give_empty_grid(small_inputs):
    units, comms = small_inputs
    zero = units_frame([("z", 0, shapely.Point(X0 + 350, Y0 + 100))])
    both = gpd.GeoDataFrame(list(units.itertuples(index=False)) + list(
        zero.itertuples(index=False)), columns=units.columns, crs=METRIC_CRS)
    comms = communities_frame([("C1", None, comms.geometry.iloc[0]),
                               ("E", None, shapely.box(X0 + 300, Y0, X0 + 400, Y0 + 200))])
    p = _plan(both, comms)
    e = p.grids[p.grids["community_id"] == "E"].iloc[0]
    assert e["status"] == "empty" and e["reason"]


# more shapes ------------------------------------------------------------------------------------

def test_two_part_community(small_inputs):
    units, _ = small_inputs
    island = lattice(2, 2, households=30, x0=X0 + 500, prefix="i")
    both = units_frame([*units.itertuples(index=False, name=None), *island])
    shape = shapely.MultiPolygon([shapely.box(X0, Y0, X0 + 300, Y0 + 200),
                                  shapely.box(X0 + 500, Y0, X0 + 600, Y0 + 100)])
    p = _plan(both, communities_frame([("M", None, shape)]))
    assert p.grids["households"].sum() == 1320


def test_concave_community_grids_stay_whole():
    """An L-shaped community whose Voronoi cells get clipped in two by the inner corner."""
    shape = shapely.box(X0, Y0, X0 + 300, Y0 + 300).difference(
        shapely.box(X0 + 100, Y0 + 100, X0 + 300, Y0 + 300))
    rows = [r for r in lattice(6, 6, households=25) if shape.contains(r[2])]
    p = _plan(units_frame(rows), communities_frame([("L", None, shape)]))
    assert len(p.grids) >= 2


def test_community_with_hole(small_inputs):
    units, _ = small_inputs
    outer = shapely.box(X0 - 100, Y0 - 100, X0 + 400, Y0 + 300)
    ring = shapely.Polygon(outer.exterior.coords, [shapely.box(X0, Y0, X0 + 300, Y0 + 200)
                                                   .exterior.coords])
    rows = lattice(10, 1, households=40, x0=X0 - 100, y0=Y0 - 100, prefix="s")
    p = _plan(units_frame(rows), communities_frame([("H", None, ring)]))
    assert p.grids["households"].sum() == 400


def test_units_millimetres_apart():
    """Regression: points 6 mm apart crashed GEOS ('No cell found for input coordinate')."""
    units = units_frame([("a", 100, shapely.Point(X0 + 50.049, Y0 + 50.0)),
                         ("b", 100, shapely.Point(X0 + 50.0545, Y0 + 49.9978)),
                         ("c", 100, shapely.Point(X0 + 50.385, Y0 + 50.925))])
    comms = communities_frame([("P", None, shapely.box(X0, Y0, X0 + 100, Y0 + 100))])
    p = _plan(units, comms)
    assert p.grids["households"].sum() == 300


def test_four_points_voronoi_tolerance():
    """Regression: voronoi_polygons(tolerance=0.01) crashed on these four points."""
    units = units_frame([("a", 0, shapely.Point(X0 + 40, Y0 + 72)),
                         ("b", 0, shapely.Point(X0 + 1, Y0 + 69)),
                         ("c", 0, shapely.Point(X0 + 40, Y0 + 77)),
                         ("d", 0, shapely.Point(X0 + 79, Y0 + 78.5))])
    comms = communities_frame([("A", None, shapely.box(X0, Y0, X0 + 80, Y0 + 80))])
    p = _plan(units, comms)
    assert len(p.grids) == 1 and p.grids["status"].iloc[0] == "empty"


@pytest.mark.parametrize("n,x,y", [(5, 79, 79), (150, 40, 40)])
def test_duplicates_near_edge(n, x, y):
    """Regression: co-located units nudged apart could leave the community (no grid)."""
    rows = [(f"h{i}", 10, shapely.Point(X0 + x, Y0 + y)) for i in range(n)]
    comms = communities_frame([("A", None, shapely.box(X0, Y0, X0 + 80, Y0 + 80))])
    p = _plan(units_frame(rows), comms)
    assert p.grids["households"].sum() == 10 * n


CORNER_MAP = """
61 0 20 . 14 59
42 55 1 . . 50
0 5 24 . . 100
42 45 81 . . 12
100 14 28 . . 95
54 92 16 . . 35
"""  # households of 3.6 m buildings on a 12 m lattice, north row first


def test_lattice_footprints_touching_at_corners():
    """Regression: Voronoi cells meeting at one corner counted as neighbours; a grid ended
    in two pieces and plan() raised PlanInvariantError."""
    lines = CORNER_MAP.strip().splitlines()
    rows = []
    for r, line in enumerate(lines):
        j = len(lines) - 1 - r
        for i, v in enumerate(line.split()):
            if v != ".":
                x, y = X0 + 1 + 12 * i, Y0 + 1 + 12 * j
                rows.append((f"b{i}_{j}", int(v), shapely.box(x, y, x + 3.6, y + 3.6)))
    comms = communities_frame([("C1", None, shapely.box(X0, Y0, X0 + 80, Y0 + 80))])
    p = _plan(units_frame(rows), comms, params=PlanParams(target=100, tolerance=0.1, seed=0))
    assert p.grids["households"].sum() == 1045


def test_colocated_units_out_of_band_grids_have_reasons():
    """Regression: an empty grid had no reason; the reason blamed the largest unit (120)
    although units at one address (150) are kept whole."""
    units = units_frame([("a", 30, shapely.Point(X0, Y0)), ("b", 120, shapely.Point(X0, Y0)),
                         ("z", 0, shapely.Point(X0, Y0 + 40))])
    comms = communities_frame([("A", None, shapely.box(X0, Y0, X0 + 80, Y0 + 80))])
    p = _plan(units, comms, params=PlanParams(target=100, tolerance=0.25))
    assert p.grids["households"].sum() == 150
    over = p.grids[p.grids["status"] == "above_band"]
    assert len(over) == 1 and "150" in over["reason"].iloc[0]


NECK_POINTS = [("p172", 9, 173.41390072589274, 183.5), ("p248", 79, 163.46483885031193, 183.5),
               ("p265", 103, 170.80237048317213, 222.2517781658098),
               ("p267", 45, 99.80138574086595, 0.0), ("p274", 95, 199.0, 298.4780118847266),
               ("p276", 72, 99.5, 183.5), ("p302", 111, 183.82188334316015, 190.19888115674257),
               ("p317", 104, 0.0, 367.0), ("p318", 83, 198.19419479125645, 367.0)]


def test_grid_joined_by_a_centimetre_edge():
    """Regression (found by hypothesis): two cells sharing a 1 cm edge were joined in one
    grid, and snapping to 1 cm then split the grid in two (PlanInvariantError)."""
    units = units_frame([(i, h, shapely.Point(X0 + x, Y0 + y)) for i, h, x, y in NECK_POINTS])
    comms = communities_frame([("C1", None, shapely.box(X0, Y0, X0 + 199, Y0 + 367))])
    line = shapely.LineString([(X0 + 68.66696697549196, Y0 - 30.0),
                               (X0 + 64.6556358812959, Y0 + 397.0)])
    barriers = gpd.GeoDataFrame({"kind": ["primary"]}, geometry=[line], crs=METRIC_CRS)
    params = PlanParams(target=155, tolerance=0.10151868130936147, seed=31)
    p = _plan(units, comms, barriers=barriers, params=params)
    assert p.grids["households"].sum() == 701


def test_road_cutting_a_corner():
    """Regression: snapping the cells of a block cut off by a road left a sliver gap."""
    rows = [("b2", 10, shapely.box(X0 + 250, Y0 + 21, X0 + 257.5, Y0 + 31)),
            ("b12", 10, shapely.box(X0 + 250, Y0 + 81, X0 + 265.3125, Y0 + 91)),
            ("b13", 10, shapely.box(X0 + 290, Y0 + 81, X0 + 300, Y0 + 91))]
    comms = communities_frame([("C2", None, shapely.box(X0 + 249, Y0, X0 + 329, Y0 + 421))])
    line = shapely.LineString([(X0 + 272.1837741693598, Y0 - 30), (X0 + 156.1875, Y0 + 451)])
    barriers = gpd.GeoDataFrame({"kind": ["primary"]}, geometry=[line], crs=METRIC_CRS)
    p = _plan(units_frame(rows), comms, barriers=barriers,
              params=PlanParams(target=100, tolerance=0.25))
    assert len(p.grids) == 1 and p.grids.geometry.iloc[0].geom_type == "Polygon"


def test_many_units_at_one_address():
    """Households geocoded to one building entrance: identical points."""
    rows = [(f"h{i}", 12, shapely.Point(X0 + 50, Y0 + 50)) for i in range(60)]
    rows += [(f"o{i}", 12, shapely.Point(X0 + 20 + 3 * i, Y0 + 150)) for i in range(20)]
    comms = communities_frame([("A", None, shapely.box(X0, Y0, X0 + 200, Y0 + 200))])
    p = _plan(units_frame(rows), comms)
    assert p.grids["households"].sum() == 960
    assert set(p.units["unit_id"]) == {r[0] for r in rows}


def test_geographic_input_is_projected(small_inputs):
    """Regression: footprints reprojected from EPSG:4326 crashed the Voronoi step."""
    units, comms = small_inputs
    p = _plan(units.to_crs(4326), comms.to_crs(4326))
    assert p.crs.to_epsg() == 32650
    assert p.grids["households"].sum() == 1200
