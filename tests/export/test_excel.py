"""Workbooks for officials: grids.xlsx in every plan folder, staffing.xlsx from staff."""

from __future__ import annotations

import zipfile
from types import SimpleNamespace

import pandas as pd
import pytest
import shapely
from conftest import (
    X0,
    Y0,
    communities_frame,
    lattice,
    prep_communities,
    prep_units,
    run_cli,
    units_frame,
)

from gridplan.engine.pipeline import plan
from gridplan.export.excel import (
    FIELDS_SHEET,
    GRID_COLUMNS,
    ROSTER_COLUMNS,
    STATUS_ZH,
    GridsWorkbook,
    write_grids_xlsx,
)
from gridplan.export.folder import write_plan
from gridplan.params import PlanParams

NAMES = {"A": "荷花池社区", "H": "湖畔社区"}


@pytest.fixture(scope="module")
def planned():
    units = units_frame(lattice(6, 4))
    comms = communities_frame([("A", "110108001001", shapely.box(X0, Y0, X0 + 300, Y0 + 200)),
                               ("H", None, shapely.box(X0 + 300, Y0, X0 + 600, Y0 + 200))])
    c = prep_communities(comms)
    c["name"] = comms["id"].map(NAMES).values
    return plan(prep_units(units), c, params=PlanParams(seed=0))


def test_grids_xlsx_one_row_per_grid(planned, tmp_path):
    write_plan(planned, tmp_path)
    table = pd.read_excel(tmp_path / "grids.xlsx", sheet_name="网格", dtype={"网格编码": str})
    assert list(table.columns) == list(GRID_COLUMNS)
    g = planned.grids
    assert table["网格编码"].tolist() == g["grid_code"].tolist()
    assert table["户数"].sum() == g["households"].sum()
    assert table["人口"].tolist() == g["population"].round().astype(int).tolist()
    assert table["状态"].tolist() == g["status"].map(STATUS_ZH).tolist()
    assert set(table["社区"]) <= set(NAMES.values()) | set(g["community_id"])
    fields = pd.read_excel(tmp_path / "grids.xlsx", sheet_name=FIELDS_SHEET)
    assert dict(zip(fields["列 column"], fields["field"], strict=True))["户数"] == "households"


def _sheets(path):
    """The workbook's parts but its properties (which carry the time it was written)."""
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if not n.startswith("docProps/")}


def test_grids_xlsx_written_in_parts_is_the_whole_plans(planned, tmp_path):
    whole, parts = tmp_path / "whole.xlsx", tmp_path / "parts.xlsx"
    write_grids_xlsx(planned, whole)
    g, c = planned.grids, planned.communities
    with GridsWorkbook(parts) as book:
        for cid in c["community_id"]:  # a community at a time, as a partitioned run merges
            book.add(SimpleNamespace(grids=g[g["community_id"] == cid],
                                     communities=c[c["community_id"] == cid]))
        book.add(SimpleNamespace(grids=g.iloc[:0], communities=c.iloc[:0]))  # adds nothing
    assert g["community_id"].nunique() == 2
    assert _sheets(parts) == _sheets(whole)
    table = pd.read_excel(parts, sheet_name="网格", dtype={"网格编码": str})
    assert table["网格编码"].tolist() == g["grid_code"].tolist()


@pytest.mark.slow
def test_demo_writes_staffing_xlsx(tmp_path):
    r = run_cli("demo", "--out", tmp_path, "--quiet")
    assert r.exit_code == 0, r.output
    roster = pd.read_excel(tmp_path / "staffing.xlsx", sheet_name="网格员花名册")
    workers = pd.read_csv(tmp_path / "workers.csv")
    assert list(roster.columns) == list(ROSTER_COLUMNS)
    assert len(roster) == len(workers)
    assert roster["户数"].sum() == workers["households"].round().sum()
    held = roster["网格"].fillna("").str.split("、").map(lambda g: [c for c in g if c])
    assert (held.map(len) == roster["网格数"]).all()
    grids = pd.read_excel(tmp_path / "grids.xlsx", sheet_name="网格", dtype={"网格编码": str})
    assert set(c for cs in held for c in cs) <= set(grids["网格编码"])
    staffing = pd.read_excel(tmp_path / "staffing.xlsx", sheet_name="人员配备")
    assert len(staffing) == len(pd.read_csv(tmp_path / "staffing.csv"))


def test_grids_workbook_refuses_rows_it_cannot_write_and_keeps_the_error(planned, tmp_path):
    path = tmp_path / "grids.xlsx"
    write_grids_xlsx(planned, path)
    before = path.read_bytes()
    with pytest.raises(KeyError):  # a plan without households: the old file stays
        write_grids_xlsx(SimpleNamespace(grids=planned.grids.drop(columns="households"),
                                         communities=planned.communities), path)
    assert path.read_bytes() == before
    book = GridsWorkbook(tmp_path / "other.xlsx")
    with pytest.raises(ValueError, match="columns"):
        book.add_table(pd.DataFrame({"网格编码": ["g1"]}))
    book.close()
    with pytest.raises(ValueError, match="closed"):
        book.add(planned)
    unwritable = tmp_path / "no-folder" / "grids.xlsx"  # closing it fails too
    with pytest.raises(RuntimeError, match="on its way out"), GridsWorkbook(unwritable):
        raise RuntimeError("on its way out")
