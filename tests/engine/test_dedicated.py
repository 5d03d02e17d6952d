"""Dedicated grids (专属网格): exact small fixtures, OSM tags, the demo and real extracts."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely
from conftest import (
    DATA,
    METRIC_CRS,
    REALDATA_FIGURES,
    X0,
    Y0,
    assert_plan_rules,
    cli_inputs,
    communities_frame,
    lattice,
    load_plan_dir,
    plan_args,
    prep_communities,
    prep_units,
    run_cli,
    units_frame,
    write_layer,
)
from gridplan.maps.coverage import DEDICATED_COLOUR, save_plan_map
from osm_xml import _square, _way

from gridplan.demo.district import generate_demo
from gridplan.engine.metrics import validate_plan
from gridplan.engine.pipeline import plan
from gridplan.errors import InputError
from gridplan.layers.osm import read_osm
from gridplan.layers.sites import prepare_sites
from gridplan.params import DEFAULT_DEDICATED_TAGS, PlanParams, parse_tags

COMMUNITY = shapely.box(X0, Y0, X0 + 300, Y0 + 200)


def _sites(*rows) -> gpd.GeoDataFrame:
    """Site layer from ``(site_id, kind, name, geometry)`` rows."""
    return gpd.GeoDataFrame({"site_id": [r[0] for r in rows], "kind": [r[1] for r in rows],
                             "name": [r[2] for r in rows]},
                            geometry=[r[3] for r in rows], crs=METRIC_CRS)


# the fixtures below model sites holding lattice buildings with households and no type,
# which are residents' homes by default: they test the sites' own mechanics with every unit
# staying on its site (today's ``--dedicated-residents site``)
PARAMS = PlanParams(dedicated_residents="site")


def _plan(sites, *, units=None, params=PARAMS):
    u = prep_units(units if units is not None else units_frame(lattice(6, 4)))
    c = prep_communities(communities_frame([("A", "110108001001", COMMUNITY)]))
    p = plan(u, c, dedicated=sites, params=params)
    assert_plan_rules(p, u, c)
    return p


def test_school_in_the_north_east_is_one_dedicated_grid():
    """6 × 4 buildings of 50: the school takes 3 × 2 of them, 3 grids of 300 share the rest."""
    school = shapely.box(X0 + 150, Y0 + 100, X0 + 300, Y0 + 200)
    p = _plan(_sites(("S1", "school", "一中", school)))
    g = p.grids
    ded = g[g["grid_type"] == "dedicated"]
    assert len(ded) == 1 and ded["status"].tolist() == ["dedicated"]
    assert ded["households"].tolist() == [300] and ded["units"].tolist() == [6]
    assert shapely.equals(ded.geometry.iloc[0], school)
    assert ded["site_kind"].tolist() == ["school"] and ded["site_name"].tolist() == ["一中"]
    assert "dedicated grid (专属网格) for school 一中 (S1)" in ded["reason"].iloc[0]
    assert ded["reason_zh"].iloc[0].startswith("专属网格：学校一中（S1）")
    inside = p.units[p.units["grid_code"] == ded["grid_code"].iloc[0]]["unit_id"]
    assert sorted(inside) == sorted(f"u{i}_{j}" for i in (3, 4, 5) for j in (2, 3))
    comp = g[g["grid_type"] == "comprehensive"]
    assert comp["households"].tolist() == [300, 300, 300]
    assert (comp["status"] == "ok").all()
    assert p.report["share_in_band"] == 1.0
    assert p.report["dedicated"] == {"grids": 1, "households": 300, "by_kind": {"school": 1}}
    # the site is one parcel, its units lie on it, and it neighbours the parcels around it
    code = ded["grid_code"].iloc[0]
    assert p.cells.loc[p.cells["grid_code"] == code, "cell_id"].tolist() == ["~A/site1"]
    assert (p.units.loc[p.units["grid_code"] == code, "cell_id"] == "~A/site1").all()
    touching = p.cell_edges[(p.cell_edges["a"] == "~A/site1") | (p.cell_edges["b"] == "~A/site1")]
    assert {"u2_2", "u2_3", "u3_1", "u4_1", "u5_1"} <= set(touching["a"]) | set(touching["b"])
    # the school is the north-east grid: serials run north→south, west→east over all grids
    assert g["grid_code"].tolist() == [f"110108001001{i:03d}" for i in range(1, 5)]


def test_dedicated_grids_stay_out_of_the_balance():
    """A 400-household site is not an above-band grid and does not lower the in-band share."""
    school = shapely.box(X0 + 200, Y0, X0 + 300, Y0 + 200)
    p = _plan(_sites(("S1", "school", "", school)))
    ded = p.grids[p.grids["grid_type"] == "dedicated"]
    assert ded["households"].tolist() == [400] and ded["status"].tolist() == ["dedicated"]
    comp = p.grids[p.grids["grid_type"] == "comprehensive"]
    in_band = comp["households"].between(*p.params.band).mean()
    assert p.report["share_in_band"] == pytest.approx(in_band)
    assert p.report["households_per_grid"]["max"] == comp["households"].max()


def test_sites_below_the_minimum_area_stay_comprehensive():
    school = shapely.box(X0 + 200, Y0, X0 + 300, Y0 + 200)  # 20,000 m²
    p = _plan(_sites(("S1", "school", "", school)), params=PlanParams(dedicated_min_area=20001,
                                                                 dedicated_residents="site"))
    assert (p.grids["grid_type"] == "comprehensive").all()
    assert len(p.grids) == 4 and p.report["dedicated"]["grids"] == 0


def test_site_cutting_the_community_in_two():
    """A hospital across the middle: each side is planned apart, grids stay whole."""
    hospital = shapely.box(X0 + 100, Y0, X0 + 200, Y0 + 200)
    p = _plan(_sites(("H", "hospital", "医院", hospital)))
    comp = p.grids[p.grids["grid_type"] == "comprehensive"]
    assert sorted(comp["households"]) == [400, 400]  # each side alone: 400 cannot split
    assert (comp["status"] == "above_band").all()
    for reason in comp["reason"]:
        assert "cut off by dedicated grids, has 400 households" in reason
    assert all("被专属网格隔开" in r for r in comp["reason_zh"])
    assert p.cells["cell_id"].is_unique and len(p.cells) >= 17
    west = comp[comp.geometry.centroid.x < X0 + 100]
    assert shapely.equals(west.geometry.iloc[0], shapely.box(X0, Y0, X0 + 100, Y0 + 200))


def test_empty_sliver_beside_a_site_joins_it():
    """A 3 m strip between the site and the boundary holds no unit: it joins the site."""
    site = shapely.box(X0 + 200, Y0, X0 + 297, Y0 + 200)
    p = _plan(_sites(("M", "marketplace", "菜市场", site)))
    ded = p.grids[p.grids["grid_type"] == "dedicated"]
    assert len(ded) == 1
    assert ded.geometry.iloc[0].area == pytest.approx(20_000, abs=0.01)
    assert not (p.grids["status"] == "empty").any()


def test_overlapping_sites_resolved_largest_first():
    """A school inside a university campus is part of the campus; a second site elsewhere."""
    campus = shapely.box(X0 + 150, Y0, X0 + 300, Y0 + 200)
    school = shapely.box(X0 + 200, Y0 + 50, X0 + 250, Y0 + 150)
    park = shapely.box(X0 - 500, Y0, X0 - 400, Y0 + 100)  # in no community
    p = _plan(_sites(("U", "university", "大学", campus), ("S", "school", "附中", school),
                     ("P", "industrial", "", park)))
    ded = p.grids[p.grids["grid_type"] == "dedicated"]
    assert ded["site_kind"].tolist() == ["university"]
    assert shapely.equals(ded.geometry.iloc[0], campus)


def test_units_on_a_site_edge_and_colocated_units():
    """Units whose point lies on the site outline go to the site; the rules hold."""
    rows = lattice(6, 4) + [("edge", 30, shapely.Point(X0 + 200, Y0 + 100))]
    site = shapely.box(X0 + 200, Y0, X0 + 300, Y0 + 200)
    p = _plan(_sites(("S1", "school", "", site)), units=units_frame(rows))
    code = p.units.set_index("unit_id").loc["edge", "grid_code"]
    assert p.grids.set_index("grid_code").loc[code, "grid_type"] == "dedicated"


def test_bad_dedicated_inputs():
    with pytest.raises(InputError, match="not key=value"):
        parse_tags(["amenity"])
    with pytest.raises(InputError, match="not key=value"):
        PlanParams(dedicated_tags=("amenity=",))
    pts = gpd.GeoDataFrame({"kind": ["school"]}, geometry=[shapely.Point(X0, Y0)], crs=METRIC_CRS)
    with pytest.raises(InputError):
        prepare_sites(pts)
    dup = _sites(("S", "school", "", COMMUNITY), ("S", "school", "", COMMUNITY))
    with pytest.raises(InputError, match="duplicate ids"):
        prepare_sites(dup)
    with pytest.raises(InputError, match="dedicated_min_area"):
        PlanParams(dedicated_min_area=-1)


def test_cli_dedicated_layer(tmp_path):
    units = units_frame(lattice(6, 4))
    comms = communities_frame([("A", "110108001001", COMMUNITY)])
    up, cp = cli_inputs(tmp_path, units, comms)
    site = write_layer(_sites(("S1", "hospital", "清河医院",
                               shapely.box(X0 + 200, Y0, X0 + 300, Y0 + 200))),
                       tmp_path / "sites.geojson")
    out = tmp_path / "out"
    args = plan_args(up, cp, out, ["--dedicated", site, "--code-scheme", "cjt213-14",
                                   "--dedicated-residents", "site"])
    r = run_cli(*[a for a in args if a != "--quiet"])
    assert r.exit_code == 0, r.output
    assert "dedicated grids (专属网格): 1 (hospital 1) with 400 households" in r.output
    p = load_plan_dir(out)
    assert_plan_rules(p, prep_units(units))
    doc = json.loads((out / "grids.geojson").read_text(encoding="utf-8"))
    types = sorted(f["properties"]["grid_type"] for f in doc["features"])
    assert types == ["comprehensive"] * 3 + ["dedicated"]
    html = save_plan_map(p, tmp_path / "map.html").read_text(encoding="utf-8")
    assert "专属网格" in html and DEDICATED_COLOUR in html
    missing = run_cli(*plan_args(up, cp, tmp_path / "o2", ["--dedicated",
                                                           tmp_path / "none.geojson"]))
    assert missing.exit_code == 2


# --- OSM tags -------------------------------------------------------------------------------

def _osm_with_sites() -> str:
    parts, ways = [], []
    for first, (x, y, size), tags in (
            (1, (0, 0, 10), {"amenity": "school", "name": "实验小学"}),
            (11, (20, 0, 10), {"landuse": "industrial"}),
            (21, (40, 0, 10), {"amenity": "cafe"}),
            (31, (2, 2, 2), {"building": "school"}),
            (41, (60, 0, 2), {"building": "yes"})):
        nodes, refs = _square(first, x, y, size)
        parts += nodes
        ways.append(_way(100 + first, refs, tags))
    parts.append('<node id="90" lat="39.9951" lon="116.3101"><tag k="amenity" v="school"/>'
                 "</node>")
    return ('<?xml version="1.0" encoding="UTF-8"?><osm version="0.6">'
            + "".join(parts + ways) + "</osm>")


def test_osm_sites_by_tag(tmp_path):
    path = tmp_path / "sites.osm"
    path.write_text(_osm_with_sites(), encoding="utf-8")
    with_sites = read_osm(path, dedicated_tags=DEFAULT_DEDICATED_TAGS)
    sites = with_sites.dedicated.sort_values("site_id")
    assert sites[["site_id", "kind", "name"]].values.tolist() == [
        ["way/101", "school", "实验小学"], ["way/111", "industrial", ""]]
    assert set(sites.geom_type) == {"Polygon"} and sites.crs == "EPSG:4326"
    plain = read_osm(path)
    assert len(plain.dedicated) == 0
    assert with_sites.buildings["unit_id"].tolist() == plain.buildings["unit_id"].tolist()


# --- the demo -------------------------------------------------------------------------------

def test_demo_schools_colleges_and_hospital_are_dedicated_grids():
    layers = generate_demo()
    u = prep_units(layers["buildings"])
    c = prep_communities(layers["communities"])
    p = plan(u, c, compounds=layers["compounds"], barriers=layers["barriers"],
             dedicated=layers["dedicated"])
    assert_plan_rules(p, u, c)
    ded = p.grids[p.grids["grid_type"] == "dedicated"]
    assert sorted(ded["site_name"]) == sorted(layers["dedicated"]["name"])
    assert (ded["households"] == 0).all() and (ded["status"] == "dedicated").all()
    b = layers["buildings"].set_index("unit_id")["building"]
    kinds = set(b.reindex(p.units.loc[p.units["grid_code"].isin(ded["grid_code"]),
                                      "building_id"]))
    assert kinds <= {"school", "kindergarten", "hospital", "university", "dormitory", "civic"}
    base = plan(u, c, compounds=layers["compounds"], barriers=layers["barriers"])
    REALDATA_FIGURES.append({"dataset": "demo (no dedicated)", **_figures(base)})
    REALDATA_FIGURES.append({"dataset": "demo (dedicated)", **_figures(p)})
    assert p.report["share_in_band"] >= base.report["share_in_band"]


def _figures(p) -> dict:
    r = p.report
    return {"grids": r["grids"], "households": r["households"],
            "share_in_band": r["share_in_band"], "contiguous_share": r["contiguous_share"],
            "runtime_seconds": r["runtime_seconds"], "wall_seconds": r["runtime_seconds"]}


# --- real extracts --------------------------------------------------------------------------

@pytest.mark.realdata
@pytest.mark.parametrize("name", ["beijing_wudaokou", "beijing_bnu"])
def test_real_campuses_become_dedicated_grids(tmp_path, name):
    path = DATA / f"{name}.osm.bz2"
    if not path.exists():
        pytest.skip(f"{path} is absent (real data lives in ../shared/data)")
    out = tmp_path / "out"
    r = run_cli("plan", "--osm", path, "--out", out, "--quiet", "--no-map")
    assert r.exit_code == 0, r.output
    p = load_plan_dir(out)
    buildings = read_osm(path).buildings[["unit_id", "households", "geometry"]]
    assert_plan_rules(p, buildings)
    ded = p.grids[p.grids["grid_type"] == "dedicated"]
    assert "university" in set(ded["site_kind"])
    assert p.report["dedicated"]["grids"] == len(ded) > 0
    assert (ded.geometry.area >= 5000 - 1).all()
    REALDATA_FIGURES.append({"dataset": f"{name} (dedicated)", **_figures(p)})


def test_demo_parcels_are_single_polygons_and_edits_keep_grids_whole():
    """Around sites the rest of a community is concave: a cell cut in two is two parcels,
    so a move the parcel graph calls contiguous leaves one polygon."""
    import random

    from gridplan.practice.editing import EditRefused, PlanState

    layers = generate_demo()
    u, c = prep_units(layers["buildings"]), prep_communities(layers["communities"])
    p = plan(u, c, compounds=layers["compounds"], barriers=layers["barriers"],
             dedicated=layers["dedicated"])
    assert set(p.cells.geometry.geom_type) == {"Polygon"}
    state = PlanState.from_plan(p)
    rng = random.Random(4)
    cells, moves = sorted(state.cell_grid), 0
    while moves < 60:
        cell = rng.choice(cells)
        others = sorted({state.cell_grid[n] for n in state.nbrs[cell]} - {state.cell_grid[cell]})
        if not others:
            continue
        try:
            delta = state.move([cell], rng.choice(others))
        except EditRefused:
            continue
        state.apply(delta)
        moves += 1
        for code, row in delta.grids.items():
            if row is not None and row["contiguous"]:
                assert row["geometry"].geom_type == "Polygon", (moves, cell, code)


def test_replan_keeps_dedicated_grids_and_the_code_scheme():
    """A re-plan for a new compound leaves the 8 dedicated grids as they were and names new
    grids in the plan's 14-digit scheme."""
    from gridplan.codes import grid_serial
    from gridplan.demo.changes import add_compound
    from gridplan.practice.replan import replan

    layers = generate_demo()
    u, c = prep_units(layers["buildings"]), prep_communities(layers["communities"])
    # the heuristic's plan (exact stage off), whose re-plan here adds grids to be named
    params = PlanParams(code_scheme="cjt213-14", exact_seconds=0)
    old = plan(u, c, compounds=layers["compounds"], barriers=layers["barriers"],
               dedicated=layers["dedicated"], params=params)
    new_layers = add_compound(layers)
    new_units = prep_units(new_layers["buildings"])
    res = replan(old, new_units, compounds=new_layers["compounds"],
                 barriers=new_layers["barriers"], compare=False)
    p = res.plan
    validate_plan(p)
    before = old.grids[old.grids["grid_type"] == "dedicated"].set_index("grid_code")
    after = p.grids[p.grids["grid_type"] == "dedicated"].set_index("grid_code")
    assert sorted(after.index) == sorted(before.index)
    assert (after["status"] == "dedicated").all() and (after["change"] == "kept").all()
    assert after["site_name"].sort_index().tolist() == before["site_name"].sort_index().tolist()
    for code in before.index:
        assert shapely.equals_exact(after.geometry[code], before.geometry[code], 1e-6)
    assert p.grids["grid_code"].str.fullmatch(r"\d{14}").all()
    assert not p.grids["grid_code"].duplicated().any()
    new_codes = set(p.grids["grid_code"]) - set(old.grids["grid_code"])
    assert new_codes and all(grid_serial(x, "cjt213-14") > 1 for x in new_codes)
    assert p.report["share_in_band"] > 0 and p.report["dedicated"]["grids"] == 8


# --- residents inside a site ----------------------------------------------------------------

CAMPUS = shapely.box(X0 + 150, Y0, X0 + 300, Y0 + 200)
FLATS = shapely.box(X0 + 155, Y0 + 150, X0 + 195, Y0 + 195)  # 教工住宅 by the campus's west edge
DORM = shapely.box(X0 + 230, Y0 + 100, X0 + 290, Y0 + 140)
LAB = shapely.box(X0 + 230, Y0 + 20, X0 + 290, Y0 + 60)


def _campus_units(flats=FLATS, types=True):
    """600 households west of the campus; on it flats (300), a dormitory (200) and a lab."""
    rows = lattice(3, 4) + [("flats", 300, flats), ("dorm", 200, DORM), ("lab", 0, LAB)]
    u = units_frame(rows)
    if types:
        u["building"] = ["residential"] * 12 + ["apartments", "dormitory", "university"]
    return u


def _grid_of(p, unit_id):
    code = p.units.set_index("unit_id").loc[unit_id, "grid_code"]
    return p.grids.set_index("grid_code").loc[code]


def test_residents_on_a_campus_join_comprehensive_grids():
    """The flats and their ground leave the campus; the dormitory and the lab stay."""
    sites = _sites(("U", "university", "大学", CAMPUS))
    p = _plan(sites, units=_campus_units(), params=PlanParams())
    g = p.grids
    ded = g[g["grid_type"] == "dedicated"]
    assert len(ded) == 1 and ded["households"].tolist() == [200]
    assert _grid_of(p, "flats")["grid_type"] == "comprehensive"
    assert _grid_of(p, "dorm")["grid_type"] == _grid_of(p, "lab")["grid_type"] == "dedicated"
    comp = g[g["grid_type"] == "comprehensive"]
    assert sorted(comp["households"]) == [300, 300, 300] and (comp["status"] == "ok").all()
    site = ded.geometry.iloc[0]
    assert site.geom_type == "Polygon" and site.within(CAMPUS.buffer(0.01))
    assert not site.intersects(FLATS) and site.area > 0.8 * CAMPUS.area
    assert p.report["dedicated"]["households"] == 200 and p.report["share_in_band"] == 1.0


def test_flag_keeps_residents_on_the_site():
    """``dedicated_residents="site"``: today's plan, every unit on the campus in its grid."""
    sites = _sites(("U", "university", "大学", CAMPUS))
    p = _plan(sites, units=_campus_units(), params=PlanParams(dedicated_residents="site"))
    ded = p.grids[p.grids["grid_type"] == "dedicated"]
    assert ded["households"].tolist() == [500] and shapely.equals(ded.geometry.iloc[0], CAMPUS)
    assert _grid_of(p, "flats")["grid_type"] == "dedicated"
    assert sorted(p.grids.loc[p.grids["grid_type"] == "comprehensive", "households"]) == [300,
                                                                                          300]


def test_households_field_without_types_and_homes_cut_off_by_the_site():
    """No ``building`` column: units with households are homes (the dormitory too), the lab
    (0) stays. Homes in the middle of the campus cannot reach the rest: their ground is a
    part of the community of its own, planned into grids of its own."""
    middle = shapely.box(X0 + 200, Y0 + 150, X0 + 240, Y0 + 190)
    sites = _sites(("U", "university", "大学", CAMPUS))
    p = _plan(sites, units=_campus_units(flats=middle, types=False), params=PlanParams())
    ded = p.grids[p.grids["grid_type"] == "dedicated"]
    assert len(ded) == 1 and ded["households"].tolist() == [0]
    assert _grid_of(p, "lab")["grid_type"] == "dedicated"
    flats, dorm = _grid_of(p, "flats"), _grid_of(p, "dorm")
    assert flats["grid_type"] == dorm["grid_type"] == "comprehensive"
    assert flats.name != dorm.name and flats["households"] == 300
    assert flats.geometry.geom_type == "Polygon" and flats.geometry.within(CAMPUS.buffer(0.01))
    assert "cut off by dedicated grids, has 500 households" in dorm["reason"]


def test_site_covered_by_homes_is_no_dedicated_grid():
    """A 6,400 m² compound tagged as a site, all of it within 25 m of its flats, keeps no
    ground of at least --dedicated-min-area: no dedicated grid, four comprehensive grids."""
    site = shapely.box(X0 + 200, Y0, X0 + 280, Y0 + 80)
    p = _plan(_sites(("S", "school", "", site)), params=PlanParams())
    assert (p.grids["grid_type"] == "comprehensive").all() and len(p.grids) == 4
    assert p.report["dedicated"]["grids"] == 0
