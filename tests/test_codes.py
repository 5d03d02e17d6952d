"""Code schemes (nbs12+3, cjt349-20, cjt213-14) and serials kept across re-plans."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import (
    DATA,
    REALDATA_FIGURES,
    X0,
    Y0,
    assert_plan_rules,
    cli_inputs,
    communities_frame,
    lattice,
    load_plan_dir,
    plan_args,
    prep_units,
    run_cli,
    units_frame,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from gridplan.codes import (
    CODE_SCHEMES,
    check_community_code,
    check_object_class,
    get_scheme,
    grid_code,
    grid_serial,
    is_grid_code,
    stable_serials,
)
from gridplan.engine.pipeline import plan
from gridplan.errors import InputError
from gridplan.layers.prepare import prepare_communities
from gridplan.params import PlanParams

COMM = "370102001001"


# --- schemes: exact codes -------------------------------------------------------------------

@pytest.mark.parametrize(("scheme", "serial", "code"), [
    ("nbs12+3", 1, "370102001001001"),
    ("nbs12+3", 999, "370102001001999"),
    ("cjt349-20", 7, "00000037010200100107"),
    ("cjt349-20", 0, "00000037010200100100"),
    ("cjt213-14", 12, "37010200100112"),
    ("cjt213-14", 0, "37010200100100"),
])
def test_scheme_codes(scheme, serial, code):
    assert grid_code(COMM, "C1", serial, scheme=scheme) == code
    assert len(code) == get_scheme(scheme).length
    assert is_grid_code(code, scheme)
    assert grid_serial(code, scheme) == serial


def test_object_class_opens_cjt349_codes():
    assert grid_code(COMM, "C1", 3, scheme="cjt349-20", object_class="010100") == \
        "01010037010200100103"
    # the other schemes have no object class
    assert grid_code(COMM, "C1", 3, scheme="cjt213-14", object_class="010100") == \
        "37010200100103"


@pytest.mark.parametrize(("code", "scheme"), [
    ("37010200100100", "nbs12+3"),          # 14 digits is not a 15-digit code
    ("370102001001001", "cjt213-14"),       # 15 digits is not a 14-digit code
    ("3701020010010A1", "nbs12+3"),         # letters
    ("37010200100107", "cjt349-20"),        # object class missing
])
def test_codes_of_other_schemes_are_refused(code, scheme):
    assert not is_grid_code(code, scheme)
    with pytest.raises(InputError, match="does not follow scheme"):
        grid_serial(code, scheme)


def test_uncoded_communities_get_id_and_serial():
    assert grid_code(None, "C1", 7) == "C1-007"
    assert grid_code(None, "C1", 7, scheme="cjt213-14") == "C1-07"
    assert grid_serial("C1-07", "cjt213-14") == 7


@pytest.mark.parametrize(("scheme", "serial"), [("cjt349-20", 100), ("cjt213-14", 100),
                                                ("nbs12+3", 1000), ("nbs12+3", 0)])
def test_serials_outside_the_scheme_are_input_errors(scheme, serial):
    with pytest.raises(InputError) as err:
        grid_code(COMM, "C9", serial, scheme=scheme)
    assert err.value.field == "--code-scheme" and "C9" in str(err.value)


@pytest.mark.parametrize("code", ["37010200100", "3701020010011", "37010200100A", "abc"])
@pytest.mark.parametrize("scheme", CODE_SCHEMES)
def test_community_codes_must_be_12_digits(code, scheme):
    with pytest.raises(InputError, match="not 12 digits") as err:
        check_community_code(code, "C1", scheme)
    assert "Fix:" in str(err.value)


@pytest.mark.parametrize("value", ["12345", "1234567", "01010A", ""])
def test_object_class_must_be_6_digits(value):
    with pytest.raises(InputError, match="object class"):
        check_object_class(value)
    with pytest.raises(InputError, match="object class"):
        PlanParams(code_scheme="cjt349-20", object_class=value)


def test_unknown_scheme():
    with pytest.raises(InputError, match="unknown code scheme") as err:
        PlanParams(code_scheme="gb15")
    assert "nbs12+3" in str(err.value)


# --- schemes in plans -----------------------------------------------------------------------

def _two_communities():
    units = units_frame(lattice(6, 4) + lattice(2, 3, households=40, x0=X0 + 300, prefix="v"))
    comms = communities_frame([
        ("A", "110108001001", shapely.box(X0, Y0, X0 + 300, Y0 + 200)),
        ("B", "110108001002", shapely.box(X0 + 300, Y0, X0 + 400, Y0 + 200)),
    ])
    return units, comms


@pytest.mark.parametrize(("scheme", "a_codes", "b_codes"), [
    ("nbs12+3", [f"110108001001{i:03d}" for i in range(1, 5)], ["110108001002001"]),
    ("cjt213-14", [f"110108001001{i:02d}" for i in range(1, 5)], ["11010800100200"]),
    ("cjt349-20", [f"990000110108001001{i:02d}" for i in range(1, 5)],
     ["99000011010800100200"]),
])
def test_plans_in_each_scheme(scheme, a_codes, b_codes):
    units, comms = _two_communities()
    u = prep_units(units)
    c = prepare_communities(comms, id_field="id", code_field="code", scheme=scheme)
    p = plan(u, c, params=PlanParams(code_scheme=scheme, object_class="990000"))
    assert_plan_rules(p, u, c)
    assert p.grids.loc[p.grids["community_id"] == "A", "grid_code"].tolist() == a_codes
    assert p.grids.loc[p.grids["community_id"] == "B", "grid_code"].tolist() == b_codes


def test_cli_scheme_and_bad_object_class(tmp_path):
    units, comms = _two_communities()
    up, cp = cli_inputs(tmp_path, units, comms)
    out = tmp_path / "out"
    r = run_cli(*plan_args(up, cp, out, ["--code-scheme", "cjt213-14"]))
    assert r.exit_code == 0, r.output
    p = load_plan_dir(out)
    assert_plan_rules(p, prep_units(units))
    assert p.grids["grid_code"].str.len().eq(14).all()
    bad = run_cli(*plan_args(up, cp, tmp_path / "bad", ["--code-scheme", "cjt349-20",
                                                        "--object-class", "12345"]))
    assert bad.exit_code == 2
    assert "object class '12345' is not 6 digits" in bad.output
    assert not (tmp_path / "bad").exists()


# --- stable serials -------------------------------------------------------------------------

def test_stable_serials_one_to_one_and_next_free():
    old = [(1, shapely.box(0, 0, 10, 10)), (2, shapely.box(10, 0, 20, 10)),
           (5, shapely.box(20, 0, 30, 10))]
    # grid 0 covers old 1 and half of old 2; grid 1 the other half of 2; grid 2 is new ground
    new = [shapely.box(0, 0, 15, 10), shapely.box(15, 0, 20, 10), shapely.box(30, 0, 40, 10),
           shapely.box(20, 0, 30, 10)]
    assert stable_serials(new, np.array([0, 1, 3, 2]), old).tolist() == [1, 2, 6, 5]


def test_stable_serials_lone_grid_and_overflow():
    one = [shapely.box(0, 0, 10, 10)]
    assert stable_serials(one, np.array([0]), [(4, one[0])], "cjt213-14").tolist() == [0]
    old = [(99, shapely.box(0, 0, 10, 10))]
    new = [shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)]
    with pytest.raises(InputError, match="needs serial 100"):
        stable_serials(new, np.array([0, 1]), old, "cjt213-14")


def _lattice_with_extra(extra: bool):
    rows = lattice(6, 4, households=50)
    if extra:  # one more 20-household building in the middle of the community
        rows.append(("new", 20, shapely.box(X0 + 145, Y0 + 95, X0 + 155, Y0 + 105)))
    return units_frame(rows)


def test_replan_with_one_building_added_keeps_every_serial(tmp_path):
    comms = communities_frame([("A", "110108001001",
                                shapely.box(X0, Y0, X0 + 300, Y0 + 200))])
    first = tmp_path / "first"
    up, cp = cli_inputs(tmp_path, _lattice_with_extra(False), comms)
    assert run_cli(*plan_args(up, cp, first)).exit_code == 0
    old = load_plan_dir(first)
    units2 = _lattice_with_extra(True)
    up2 = tmp_path / "units2.gpkg"
    units2.to_file(up2)
    out = tmp_path / "second"
    r = run_cli(*plan_args(up2, cp, out, ["--previous", first]))
    assert r.exit_code == 0, r.output
    new = load_plan_dir(out)
    assert_plan_rules(new, prep_units(units2))
    assert sorted(new.grids["grid_code"]) == sorted(old.grids["grid_code"])
    for code, geom in zip(new.grids["grid_code"], new.grids.geometry, strict=True):
        overlap = shapely.area(shapely.intersection(geom, old.grids.geometry.values))
        assert old.grids["grid_code"].iloc[int(np.argmax(overlap))] == code
    rep = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert rep["previous_plan"] == {"grids": 4, "codes_kept": 4}
    # another seed draws other grids: kept codes cover at least as much of their old
    # ground as codes numbered afresh
    kept, fresh = tmp_path / "kept", tmp_path / "fresh"
    for folder, extra in ((kept, ["--previous", first]), (fresh, [])):
        assert run_cli(*plan_args(up2, cp, folder, ["--seed", 3, *extra])).exit_code == 0
    assert _same_code_overlap(load_plan_dir(kept), old) >= _same_code_overlap(
        load_plan_dir(fresh), old)


def _same_code_overlap(new, old) -> float:
    before = dict(zip(old.grids["grid_code"], old.grids.geometry, strict=True))
    return sum(shapely.area(shapely.intersection(g, before[c])) for c, g in
               zip(new.grids["grid_code"], new.grids.geometry, strict=True) if c in before)


def test_replan_with_more_grids_gives_new_serials_after_the_old(tmp_path):
    comms = communities_frame([("A", "110108001001",
                                shapely.box(X0, Y0, X0 + 300, Y0 + 200))])
    up, cp = cli_inputs(tmp_path, _lattice_with_extra(False), comms)
    first = tmp_path / "first"
    assert run_cli(*plan_args(up, cp, first)).exit_code == 0
    out = tmp_path / "second"
    r = run_cli(*plan_args(up, cp, out, ["--previous", first, "--target", "200"]))
    assert r.exit_code == 0, r.output
    new = load_plan_dir(out)
    assert_plan_rules(new, prep_units(_lattice_with_extra(False)))
    serials = sorted(grid_serial(c) for c in new.grids["grid_code"])
    assert len(serials) == 6 and serials[:4] == [1, 2, 3, 4] and serials[4:] == [5, 6]


def test_previous_folder_without_a_plan_is_an_input_error(tmp_path):
    units, comms = _two_communities()
    up, cp = cli_inputs(tmp_path, units, comms)
    r = run_cli(*plan_args(up, cp, tmp_path / "out", ["--previous", tmp_path / "nothing"]))
    assert r.exit_code == 2 and "no plan here" in r.output


# --- real division codes and a real re-plan (../shared/data) ---------------------------------

JINAN = DATA / "divisions" / "villages_jinan_3701.csv"


@pytest.mark.realdata
@pytest.mark.parametrize("scheme", CODE_SCHEMES)
def test_every_jinan_division_code_builds_valid_grid_codes(scheme):
    """All 5,758 统计用区划代码 of 济南市 pass, and their grid codes read back."""
    if not JINAN.exists():
        pytest.skip(f"{JINAN} is absent (real data lives in ../shared/data)")
    codes = pd.read_csv(JINAN, dtype=str)["code"]
    assert len(codes) == 5758
    s = get_scheme(scheme)
    for code in codes:
        text = check_community_code(code, "x", scheme)
        full = grid_code(text, "x", 1, scheme=scheme, object_class="010100")
        assert s.pattern.fullmatch(full) and grid_serial(full, scheme) == 1
        assert full[6:18] == text if s.object_class else full.startswith(text)


@pytest.mark.realdata
def test_providence_replan_keeps_codes(tmp_path):
    """Precincts carrying 济南 community codes, planned in 20 digits, then re-planned."""
    blocks, precincts = DATA / "providence" / "blocks.zip", DATA / "providence" / "precincts.zip"
    if not (JINAN.exists() and blocks.exists()):
        pytest.skip("real data is absent (../shared/data)")
    comm = gpd.read_file(precincts)
    jinan = pd.read_csv(JINAN, dtype=str)
    comm["code"] = jinan.loc[jinan["name"].str.contains("社区"), "code"].head(len(comm)).values
    comm_path = tmp_path / "precincts.gpkg"
    comm.to_file(comm_path)
    base = ["plan", "--communities", comm_path, "--community-id", "NAME", "--community-code",
            "code", "--population", blocks, "--unit-id", "GEOID10", "--population-field",
            "TOTPOP", "--code-scheme", "cjt349-20", "--quiet", "--no-map"]
    first, second = tmp_path / "first", tmp_path / "second"
    assert run_cli(*base, "--out", first).exit_code == 0
    r = run_cli(*base, "--out", second, "--previous", first, "--target", "320")
    assert r.exit_code == 0, r.output
    units = gpd.read_file(blocks)
    units = gpd.GeoDataFrame({"unit_id": units["GEOID10"].astype(str),
                              "households": np.rint(units["TOTPOP"] / 2.6).astype(np.int64)},
                             geometry=units.geometry, crs=units.crs)
    old, new = load_plan_dir(first), load_plan_dir(second)
    for p in (old, new):
        assert_plan_rules(p, units)
        assert p.grids["grid_code"].str.fullmatch(r"\d{20}").all()
    kept = new.report["previous_plan"]
    REALDATA_FIGURES.append({"dataset": f"providence re-plan ({kept['codes_kept']} of "
                                        f"{kept['grids']} codes kept)", **{
        k: new.report[k] for k in ("grids", "households", "share_in_band", "contiguous_share",
                                   "runtime_seconds")}, "wall_seconds": 0.0})
    assert kept["codes_kept"] >= 0.8 * min(len(old.grids), len(new.grids))


# --- properties -----------------------------------------------------------------------------

@given(scheme=st.sampled_from(CODE_SCHEMES), data=st.data(),
       comm=st.from_regex(r"\A\d{12}\Z"), obj=st.from_regex(r"\A\d{6}\Z"))
def test_codes_round_trip(scheme, data, comm, obj):
    s = get_scheme(scheme)
    serial = data.draw(st.integers(0 if s.whole_zero else 1, s.max_serial))
    code = grid_code(comm, "C", serial, scheme=scheme, object_class=obj)
    assert is_grid_code(code, scheme) and grid_serial(code, scheme) == serial
    assert comm in code and (code.startswith(obj) if s.object_class else code.startswith(comm))


def _strips(cuts: list[int]) -> list:
    """Boxes cutting the strip 0–100 × 0–10 at ``cuts``."""
    edges = [0.0, *sorted(set(cuts)), 100.0]
    return [shapely.box(a, 0, b, 10) for a, b in zip(edges, edges[1:], strict=False) if b > a]


@settings(deadline=None)  # the first call imports scipy
@given(old_cuts=st.lists(st.integers(1, 99), max_size=6),  # strips of 10 m² or more
       new_cuts=st.lists(st.integers(1, 99), max_size=6),
       old_serials=st.lists(st.integers(1, 50), min_size=7, max_size=7, unique=True))
def test_stable_serials_properties(old_cuts, new_cuts, old_serials):
    old = list(zip(old_serials, _strips(old_cuts), strict=False))
    new = _strips(new_cuts)
    serials = stable_serials(new, np.arange(len(new)), old)
    assert len(set(serials.tolist())) == len(new)
    top = max(s for s, _ in old)
    for poly, s in zip(new, serials, strict=True):
        if s <= top:  # a kept serial: the grid shares ground with that old grid
            geom = dict(old)[s]
            assert shapely.area(shapely.intersection(poly, geom)) > 1.0
    fresh = sorted(s for s in serials.tolist() if s > top)
    assert fresh == list(range(top + 1, top + 1 + len(fresh)))
    if new_cuts == old_cuts:  # nothing changed: every grid keeps its serial
        assert serials.tolist() == [s for s, _ in old]


def test_edits_name_new_grids_in_the_plan_scheme():
    from gridplan.practice.editing import PlanState

    units, comms = _two_communities()
    u = prep_units(units)
    c = prepare_communities(comms, id_field="id", code_field="code", scheme="cjt349-20")
    p = plan(u, c, params=PlanParams(code_scheme="cjt349-20", object_class="990000"))
    state = PlanState.from_plan(p)
    assert state.next_code("A") == "99000011010800100105"
    assert state.next_code("B") == "99000011010800100202"
