"""Codes: number grids west→east, north→south inside their community."""

from __future__ import annotations

import math
import re

import numpy as np

from gridplan.errors import InputError

CODE_SCHEMES = ("nbs12+3",)
_NBS12 = re.compile(r"^\d{12}$")


def serial_order(xy: np.ndarray, area: float) -> np.ndarray:
    """Order grid centroids in rows from north to south, west to east within a row.

    Row height is the side of a square grid of the mean grid area, so grids of
    about one size fall into rows the way a planner reads a map.

    Examples
    --------
    >>> serial_order(np.array([[10., 0.], [0., 0.], [0., 100.]]), area=300.)
    array([2, 1, 0])
    """
    if len(xy) == 0:
        return np.zeros(0, dtype=int)
    h = math.sqrt(max(area, 1.0) / len(xy))
    rows = np.floor((xy[:, 1].max() - xy[:, 1]) / h)
    return np.lexsort((xy[:, 0], rows))


def check_community_code(code: str | None, community_id: str, scheme: str, *,
                         source: str | None = None, field: str = "--community-code"
                         ) -> str | None:
    """Validate a community division code for ``scheme``; ``None`` when absent."""
    if scheme not in CODE_SCHEMES:
        raise InputError(f"unknown code scheme {scheme!r}", field="--code-scheme",
                         fix=f"use one of {', '.join(CODE_SCHEMES)}")
    if code is None or (isinstance(code, float) and math.isnan(code)) or str(code) == "":
        return None
    text = str(code).strip()
    if text.endswith(".0"):  # read as a number from a spreadsheet-made file
        text = text[:-2]
    if not _NBS12.match(text):
        raise InputError(f"community {community_id}: code {code!r} is not 12 digits",
                         source=source, field=field,
                         fix="give the 12-digit 统计用区划代码 as text, e.g. 370102001001")
    return text


def grid_code(community_code: str | None, community_id: str, serial: int) -> str:
    """Code of the ``serial``-th grid (1-based) of a community.

    Examples
    --------
    >>> grid_code("370102001001", "C1", 7)
    '370102001001007'
    >>> grid_code(None, "C1", 7)
    'C1-007'
    """
    if serial > 999:
        raise InputError(f"community {community_id} would need more than 999 grids",
                         fix="split the community first, or raise --target")
    if isinstance(community_code, str) and community_code:
        return f"{community_code}{serial:03d}"
    return f"{community_id}-{serial:03d}"
