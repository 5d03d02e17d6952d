"""Plan parameters: one description per field (metadata), validation driven by it, params_from."""

from __future__ import annotations

import json
import math

import pytest

from gridplan.codes import CODE_SCHEMES
from gridplan.params import (
    BOUNDS,
    DEFAULT_BARRIER_HIGHWAYS,
    DEFAULT_DEDICATED_TAGS,
    ParamError,
    PlanParams,
    param_fields,
    params_from,
)

FIELDS = param_fields()
BOUNDED = [(n, k) for n, f in FIELDS.items() for k in BOUNDS if k in f.metadata]


def _outside(kind: str, bound: float) -> float:
    """A value just outside ``bound`` of kind gt/ge/lt/le."""
    return {"gt": bound, "ge": bound - 1, "lt": bound, "le": bound + 1}[kind]


def test_to_dict_is_unchanged():
    """report.json's params: the same keys, order and values as before the metadata."""
    expected = {"target": 300, "tolerance": 0.15, "seed": 0, "stairwell_households": 100,
                "community_households": 3000, "community_tolerance": 0.3,
                "code_scheme": "nbs12+3", "object_class": "000000",
                "dedicated_tags": list(DEFAULT_DEDICATED_TAGS), "dedicated_min_area": 5000.0,
                "dedicated_residents": "comprehensive",
                "tessellation": "auto", "barrier_highways": list(DEFAULT_BARRIER_HIGHWAYS),
                "attempts": 12, "balance": "households", "exact_seconds": 2.0}
    assert json.dumps(PlanParams().to_dict()) == json.dumps(expected)


@pytest.mark.parametrize("name", list(FIELDS))
def test_every_field_is_described(name):
    meta = FIELDS[name].metadata
    assert meta["help"].strip() and meta["label_zh"].strip()
    assert meta["cli"] == "--" + name.replace("_", "-")
    if isinstance(FIELDS[name].default, tuple):
        assert meta["list_sep"] == ","


def test_choices_come_from_their_sources():
    assert FIELDS["code_scheme"].metadata["choices"] == CODE_SCHEMES
    assert FIELDS["tessellation"].metadata["choices"] == ("auto", "footprint", "centroid")
    assert FIELDS["balance"].metadata["choices"] == ("households", "workload")


@pytest.mark.parametrize("name,kind", BOUNDED)
def test_values_out_of_bounds_name_the_field(name, kind):
    bound = FIELDS[name].metadata[kind]
    with pytest.raises(ParamError) as err:
        PlanParams(**{name: _outside(kind, bound)})
    assert err.value.field == name and err.value.fix
    if kind in ("ge", "le"):  # a closed bound is itself allowed
        assert getattr(PlanParams(**{name: bound}), name) == bound


@pytest.mark.parametrize("name", [n for n, _ in BOUNDED])
def test_nan_and_text_are_refused(name):
    for bad in (math.nan, math.inf, "300", True):
        with pytest.raises(ParamError) as err:
            PlanParams(**{name: bad})
        assert err.value.field == name


@pytest.mark.parametrize("name", [n for n, f in FIELDS.items() if "choices" in f.metadata])
def test_unknown_choices_name_the_field(name):
    with pytest.raises(ParamError) as err:
        PlanParams(**{name: "no-such-choice"})
    assert err.value.field == name
    assert all(c in err.value.fix for c in FIELDS[name].metadata["choices"])


@pytest.mark.parametrize("name,value", [("object_class", "12345"),
                                        ("dedicated_tags", ("amenity=school", "school"))])
def test_format_checks_name_the_field(name, value):
    with pytest.raises(ParamError) as err:
        PlanParams(**{name: value})
    assert err.value.field == name


def test_errors_are_spelled_by_each_front_end():
    with pytest.raises(ParamError) as err:
        PlanParams(tolerance=1.5)
    assert str(err.value).startswith("field tolerance: tolerance must be more than 0 and less")
    assert str(err.value.spelled("--tolerance")).startswith("field --tolerance: tolerance")
    assert err.value.spelled("params.tolerance").field == "params.tolerance"


def test_params_from_takes_every_field_by_name():
    values = {"target": 250, "tolerance": 0.2, "seed": 7, "stairwell_households": 80,
              "community_households": 2000, "community_tolerance": 0.25,
              "code_scheme": "cjt349-20", "object_class": "010100",
              "dedicated_tags": ("amenity=school",), "dedicated_min_area": 100.0,
              "dedicated_residents": "site",
              "tessellation": "centroid", "barrier_highways": ("primary",), "attempts": 3,
              "balance": "workload", "exact_seconds": 0.5}
    assert set(values) == set(FIELDS)  # a new field must be added here, and so tested
    p = params_from({**values, "out_dir": "x", "crs": None})
    assert {k: getattr(p, k) for k in values} == values


def test_params_from_reads_command_line_lists_and_skips_none():
    p = params_from({"dedicated_tags": " amenity=school, shop=mall ,", "barrier_highways": "",
                     "target": None})
    assert p.dedicated_tags == ("amenity=school", "shop=mall")
    assert p.barrier_highways == () and p.target == 300
    assert params_from({"barrier_highways": ["primary", "trunk"]}).barrier_highways == (
        "primary", "trunk")
    assert params_from({}) == PlanParams()


def test_stored_lists_come_back_as_tuples():
    p = PlanParams(**PlanParams(seed=3).to_dict())
    assert p == PlanParams(seed=3) and isinstance(p.barrier_highways, tuple)
