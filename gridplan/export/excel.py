"""Excel workbooks for officials: the grid list (grids.xlsx) and the worker roster.

Each workbook has a first sheet with Chinese column headers, as offices file them, and a
sheet ``字段 fields`` giving each header's English field name and meaning, so a script can
map the columns back. Written row by row with XlsxWriter in constant-memory mode, values
only (bold headers, no other styling): 8,000 rows take about 0.3 s, a third of what pandas
with openpyxl took. Text is always written as text (a name starting with ``=`` is not a
formula); missing values are empty cells.

=================  ==========================  =======================================
file               first sheet                 columns
=================  ==========================  =======================================
grids.xlsx         网格 (one row per grid)     网格编码, 社区, 社区编号, 户数, 人口, 状态,
                                               说明
staffing.xlsx      网格员花名册 (one row per   网格员编号, 姓名, 社区编号, 网格, 网格数,
                   worker); sheet 人员配备      户数, 工时
                   (per community)
=================  ==========================  =======================================
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd
import xlsxwriter

STATUS_ZH = {"ok": "达标", "below_band": "低于区间", "above_band": "高于区间", "empty": "无住户",
             "dedicated": "专属网格"}

# Chinese header → (field in the plan, meaning in English)
GRID_COLUMNS = {
    "网格编码": ("grid_code", "grid code"),
    "社区": ("community", "community name (its id where it has no name)"),
    "社区编号": ("community_id", "community id"),
    "户数": ("households", "households"),
    "人口": ("population", "residents"),
    "状态": ("status", "in band or not: " + ", ".join(f"{v} = {k}"
                                                      for k, v in STATUS_ZH.items())),
    "说明": ("reason_zh", "why a grid is off band"),
}
ROSTER_COLUMNS = {
    "网格员编号": ("worker_id", "worker id"),
    "姓名": ("name", "worker's name"),
    "社区编号": ("community_id", "community id"),
    "网格": ("grids", "grid codes the worker holds, separated by 、"),
    "网格数": ("grid_count", "number of grids held"),
    "户数": ("households", "households in those grids"),
    "工时": ("hours", "monthly workload hours"),
}
STAFFING_SHEET = "人员配备"
FIELDS_SHEET = "字段 fields"


def grid_table(plan) -> pd.DataFrame:
    """One row per grid with Chinese headers (see :data:`GRID_COLUMNS`)."""
    g = plan.grids
    names = plan.communities.set_index("community_id")
    name = names["name"] if "name" in names.columns else pd.Series(dtype=object)
    community = g["community_id"].map(name.astype(object)).astype(object)
    community = community.where(community.notna() & (community != ""), g["community_id"])
    reason = g["reason_zh"] if "reason_zh" in g.columns else pd.Series("", index=g.index)
    table = pd.DataFrame({
        "网格编码": g["grid_code"].astype(str),
        "社区": community.astype(str),
        "社区编号": g["community_id"].astype(str),
        "户数": g["households"].astype("int64"),
        "人口": g["population"].round().astype("int64"),
        "状态": g["status"].map(STATUS_ZH).fillna(g["status"]),
        "说明": reason.fillna("").astype(str),
    })
    return table.reset_index(drop=True)


def write_grids_xlsx(plan, path: Path) -> None:
    """Write ``grids.xlsx``: sheet 网格 (one row per grid) and the field sheet."""
    table = grid_table(plan)  # first: a plan it cannot read leaves the file as it was
    with GridsWorkbook(path) as book:
        book.add_table(table)


class GridsWorkbook:
    """``grids.xlsx`` written part by part: the 网格 sheet grows by one plan's grids at a
    time, and the field sheet follows when it is closed.

    Parts added in the plan's order give the file one :func:`write_grids_xlsx` of the
    whole plan gives, so a plan merged batch by batch (``gridplan.scale``) writes its
    rows as each batch comes instead of all of them at the end.

    Examples
    --------
    >>> import tempfile
    >>> from types import SimpleNamespace
    >>> comm = pd.DataFrame({"community_id": ["c1"], "name": ["学院路社区"]})
    >>> grids = pd.DataFrame({"grid_code": ["g1"], "community_id": ["c1"], "households": [300],
    ...                       "population": [780.0], "status": ["ok"]})
    >>> path = Path(tempfile.mkdtemp()) / "grids.xlsx"
    >>> with GridsWorkbook(path) as book:
    ...     book.add(SimpleNamespace(grids=grids, communities=comm))
    >>> pd.read_excel(path, sheet_name="网格")["状态"].tolist()
    ['达标']
    """

    def __init__(self, path: Path) -> None:
        self._book, self._header = _open_workbook(path)
        self._sheet = self._book.add_worksheet("网格")
        self._sheet.write_row(0, 0, list(GRID_COLUMNS), self._header)
        self._rows = 1

    def add(self, plan) -> None:
        """Append the rows of ``plan``'s grids (``grids`` and ``communities``, as
        :func:`grid_table` reads them)."""
        self.add_table(grid_table(plan))

    def add_table(self, table: pd.DataFrame) -> None:
        """Append rows made by :func:`grid_table`."""
        if self._book is None:
            raise ValueError("grids.xlsx is closed: no rows can be added")
        if list(table.columns) != list(GRID_COLUMNS):
            raise ValueError(f"grids.xlsx takes the columns {list(GRID_COLUMNS)}, "
                             f"not {list(table.columns)}")
        self._rows = _write_rows(self._sheet, table, self._rows)

    def close(self) -> None:
        """Write the field sheet and close the file (once; later calls do nothing)."""
        if self._book is None:
            return
        book, self._book = self._book, None
        try:
            _write_sheet(book.add_worksheet(FIELDS_SHEET), _field_table(GRID_COLUMNS),
                         self._header)
        finally:
            book.close()

    def __enter__(self) -> GridsWorkbook:
        return self

    def __exit__(self, kind, *exc) -> None:
        if kind is None:
            self.close()
            return
        with contextlib.suppress(Exception):  # the error on its way out is the one to see
            self.close()


def roster_table(assignment_grids: pd.DataFrame, workers: pd.DataFrame) -> pd.DataFrame:
    """One row per worker (网格员花名册): the grids they hold, households and hours.

    ``assignment_grids`` has ``grid_code`` and ``worker_id``; ``workers`` has
    ``worker_id``, ``name``, ``community_id``, ``grids``, ``households`` and ``hours``.

    Examples
    --------
    >>> held = pd.DataFrame({"grid_code": ["g1", "g2"], "worker_id": ["w1", "w1"]})
    >>> w = pd.DataFrame({"worker_id": ["w1"], "name": ["李"], "community_id": ["c"],
    ...                   "grids": [2], "households": [600], "hours": [120.5]})
    >>> roster_table(held, w).to_dict("records")[0]["网格"]
    'g1、g2'
    """
    held = (assignment_grids.sort_values("grid_code").groupby("worker_id")["grid_code"]
            .agg("、".join))
    ids = workers["worker_id"]
    name = workers["name"] if "name" in workers.columns else ids
    return pd.DataFrame({
        "网格员编号": ids.astype(str).values,
        "姓名": name.fillna("").astype(str).values,
        "社区编号": workers["community_id"].astype(str).values,
        "网格": ids.map(held).fillna("").values,
        "网格数": workers["grids"].astype("int64").values,
        "户数": workers["households"].round().astype("int64").values,
        "工时": workers["hours"].astype(float).round(1).values,
    })


def write_staffing_xlsx(path: Path, roster: pd.DataFrame, staffing: pd.DataFrame) -> None:
    """Write ``staffing.xlsx``: 网格员花名册, the staffing per community, the field sheet."""
    write_workbook(path, {"网格员花名册": roster, STAFFING_SHEET: staffing}, ROSTER_COLUMNS)


def write_workbook(path: Path, sheets: dict[str, pd.DataFrame],
                   columns: dict[str, tuple[str, str]]) -> None:
    """Sheets as given, then a sheet naming each Chinese header's field and meaning."""
    book, header = _open_workbook(path)
    try:
        for name, table in {**sheets, FIELDS_SHEET: _field_table(columns)}.items():
            _write_sheet(book.add_worksheet(name), table, header)
    finally:
        book.close()


def _open_workbook(path: Path):
    """A constant-memory workbook that writes text as text, and its bold header format."""
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True,
                                           "strings_to_formulas": False,
                                           "strings_to_urls": False,
                                           "strings_to_numbers": False})
    return book, book.add_format({"bold": True, "border": 1, "align": "center"})


def _field_table(columns: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """The field sheet: each Chinese header, its field name and its meaning."""
    return pd.DataFrame([(zh, en, meaning) for zh, (en, meaning) in columns.items()],
                        columns=["列 column", "field", "meaning"])


def _write_sheet(sheet, table: pd.DataFrame, header) -> None:
    """One sheet: the header row, then the table's rows as plain Python values."""
    sheet.write_row(0, 0, [str(c) for c in table.columns], header)
    _write_rows(sheet, table, 1)


def _write_rows(sheet, table: pd.DataFrame, first: int) -> int:
    """The table's rows as plain Python values from row ``first``; the next free row."""
    values = [table[c].astype(object).where(table[c].notna(), None).tolist()
              for c in table.columns]
    for row, cells in enumerate(zip(*values, strict=True), start=first):
        sheet.write_row(row, 0, cells)
    return first + len(table)
