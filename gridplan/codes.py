"""Codes: grid code schemes, serials west→east, north→south, and serials kept across re-plans."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from gridplan.errors import InputError

DEFAULT_SCHEME = "nbs12+3"
DEFAULT_OBJECT_CLASS = "000000"
MIN_OVERLAP_M2 = 1.0  # a new grid keeps an old serial only if they share more than this
_NBS12 = re.compile(r"^\d{12}$")
_OBJECT_CLASS = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class CodeScheme:
    """One grid code scheme: what precedes the community code and how serials are written.

    Attributes
    ----------
    name : str
        Value of ``--code-scheme``.
    label, label_zh : str
        What the scheme is, in English and Chinese.
    serial_digits : int
        Width of the grid serial (3 → 001–999, 2 → 01–99).
    object_class : bool
        Codes start with a 6-digit management-object class (CJ/T 348 / CJ/T 349).
    whole_zero : bool
        A community planned as one grid gets serial 0 (``…00``: "not subdivided").
    """

    name: str
    label: str
    label_zh: str
    serial_digits: int
    object_class: bool = False
    whole_zero: bool = False

    @property
    def length(self) -> int:
        """Digits of a full grid code."""
        return (6 if self.object_class else 0) + 12 + self.serial_digits

    @property
    def max_serial(self) -> int:
        """Largest serial the scheme can write."""
        return 10 ** self.serial_digits - 1

    @property
    def pattern(self) -> re.Pattern:
        """Regular expression a full grid code of this scheme matches."""
        return re.compile(rf"^\d{{{self.length}}}$")


SCHEMES: dict[str, CodeScheme] = {s.name: s for s in (
    CodeScheme("nbs12+3", "12-digit community code (统计用区划代码) + 3-digit serial: 15 digits "
               "(DB11 / GB/T 30428.1 style)", "12位统计用区划代码+3位网格顺序码（15位）", 3),
    CodeScheme("cjt349-20", "CJ/T 349: 6-digit object class + 6 county + 3 street + 3 community "
               "+ 2-digit serial: 20 digits", "CJ/T 349：6位管理对象分类码+6位区县+3位街道+3位社区"
               "+2位网格顺序码（20位）", 2, object_class=True, whole_zero=True),
    CodeScheme("cjt213-14", "6 county + 3 street + 3 community + 2-digit serial: 14 digits "
               "(CJ/T 213 style)", "6位区县+3位街道+3位社区+2位网格顺序码（14位）", 2,
               whole_zero=True),
)}
CODE_SCHEMES = tuple(SCHEMES)


def get_scheme(name: str) -> CodeScheme:
    """The scheme called ``name``; InputError naming the choices otherwise.

    Examples
    --------
    >>> get_scheme("cjt349-20").length
    20
    """
    try:
        return SCHEMES[name]
    except KeyError:
        raise InputError(f"unknown code scheme {name!r}", field="--code-scheme",
                         fix=f"use one of {', '.join(CODE_SCHEMES)}") from None


def check_object_class(value: str) -> str:
    """Validate the 6-digit management-object class that opens CJ/T 349 codes.

    Examples
    --------
    >>> check_object_class("010100")
    '010100'
    """
    text = str(value).strip()
    if not _OBJECT_CLASS.match(text):
        raise InputError(f"object class {value!r} is not 6 digits", field="--object-class",
                         fix="give the 6-digit CJ/T 348 management-object class, e.g. 000000")
    return text


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
    """Validate a community division code for ``scheme``; ``None`` when absent.

    Every scheme builds on the 12-digit 统计用区划代码 (6 county + 3 street +
    3 community); the schemes differ in what they put before and after it.

    Examples
    --------
    >>> check_community_code("370102001001", "C1", "cjt213-14")
    '370102001001'
    >>> check_community_code(370102001001.0, "C1", "nbs12+3")
    '370102001001'
    """
    get_scheme(scheme)
    if code is None or (isinstance(code, float) and math.isnan(code)) or str(code) == "":
        return None
    text = str(code).strip()
    if text.endswith(".0"):  # read as a number from a spreadsheet-made file
        text = text[:-2]
    if not _NBS12.match(text):
        raise InputError(f"community {community_id}: code {code!r} is not 12 digits",
                         source=source, field=field,
                         fix="give the 12-digit 统计用区划代码 (6 county + 3 street + 3 community) "
                             "as text, e.g. 370102001001")
    return text


def grid_code(community_code: str | None, community_id: str, serial: int, *,
              scheme: str = DEFAULT_SCHEME, object_class: str = DEFAULT_OBJECT_CLASS) -> str:
    """Code of the ``serial``-th grid of a community under ``scheme``.

    Serials start at 1; serial 0 means "the community is one grid" in the
    schemes that have it (``cjt349-20``, ``cjt213-14``). A community without a
    division code gets ``<community_id>-<serial>``.

    Parameters
    ----------
    community_code : str or None
        The 12-digit community code, validated by :func:`check_community_code`.
    community_id : str
        Community id, used when there is no code and in error messages.
    serial : int
        Grid serial within the community.
    scheme : str
        A name in :data:`CODE_SCHEMES`.
    object_class : str
        6-digit management-object class opening ``cjt349-20`` codes (CJ/T 348);
        the default ``000000`` stands for "class not given".

    Examples
    --------
    >>> grid_code("370102001001", "C1", 7)
    '370102001001007'
    >>> grid_code(None, "C1", 7)
    'C1-007'
    >>> grid_code("370102001001", "C1", 7, scheme="cjt349-20", object_class="010100")
    '01010037010200100107'
    >>> grid_code("370102001001", "C1", 0, scheme="cjt213-14")
    '37010200100100'
    """
    s = get_scheme(scheme)
    if serial > s.max_serial:
        raise InputError(f"community {community_id} would need serial {serial}, more than the "
                         f"{s.serial_digits} digits of scheme {s.name} allow ({s.max_serial})",
                         field="--code-scheme",
                         fix="split the community first, raise --target, or use nbs12+3 "
                             "(999 grids per community)")
    if serial < 0 or (serial == 0 and not s.whole_zero):
        raise InputError(f"community {community_id}: serial {serial} is not valid in {s.name}",
                         field="--code-scheme", fix="serials start at 1")
    tail = f"{serial:0{s.serial_digits}d}"
    if not (isinstance(community_code, str) and community_code):
        return f"{community_id}-{tail}"
    prefix = check_object_class(object_class) if s.object_class else ""
    return f"{prefix}{community_code}{tail}"


def is_grid_code(code: str, scheme: str = DEFAULT_SCHEME) -> bool:
    """Whether ``code`` is a full coded grid code of ``scheme`` (digits of the right length).

    Examples
    --------
    >>> is_grid_code("37010200100100", "cjt213-14"), is_grid_code("370102001001007", "cjt213-14")
    (True, False)
    """
    return bool(get_scheme(scheme).pattern.match(str(code)))


def grid_serial(code: str, scheme: str = DEFAULT_SCHEME) -> int:
    """The serial at the end of a grid code of ``scheme`` (coded or ``<id>-<serial>``).

    Examples
    --------
    >>> grid_serial("370102001001007"), grid_serial("C1-12", "cjt213-14")
    (7, 12)
    """
    s = get_scheme(scheme)
    text = str(code)
    if s.pattern.match(text):
        return int(text[-s.serial_digits:])
    tail = text.rsplit("-", 1)[-1]
    if "-" in text and tail.isdigit():
        return int(tail)
    raise InputError(f"grid code {code!r} does not follow scheme {s.name} "
                     f"({s.length} digits, or <community id>-<serial>)",
                     field="grid_code", fix="give the plan's own --code-scheme")


def spatial_serials(order: np.ndarray, scheme: str = DEFAULT_SCHEME) -> np.ndarray:
    """Serial per grid from its rank in ``order`` (1, 2, …; 0 for a lone grid where used).

    Examples
    --------
    >>> spatial_serials(np.array([2, 0, 1])).tolist()
    [2, 3, 1]
    >>> spatial_serials(np.array([0]), "cjt213-14").tolist()
    [0]
    """
    serials = np.empty(len(order), dtype=np.int64)
    serials[np.asarray(order, dtype=np.int64)] = np.arange(1, len(order) + 1)
    if len(order) == 1 and get_scheme(scheme).whole_zero:
        serials[:] = 0
    return serials


def stable_serials(polygons: Sequence, order: np.ndarray, previous: Sequence[tuple[int, object]],
                   scheme: str = DEFAULT_SCHEME) -> np.ndarray:
    """Serials that keep each grid's code from the previous plan where the grid stayed.

    Each new grid takes the serial of the previous grid it overlaps most, one to
    one (an assignment maximising total shared area, :func:`scipy.optimize.
    linear_sum_assignment`); pairs sharing at most 1 m² do not count. Grids left
    over get serials after the largest previous serial, in ``order`` (north→south,
    west→east), so a retired code never comes back on other ground.

    Parameters
    ----------
    polygons : sequence of shapely polygons
        The new grids of one community (metric CRS).
    order : array of int
        Grid indices in spatial code order (:func:`serial_order`).
    previous : sequence of (int, polygon)
        Serial and polygon of each grid of the same community in the previous plan,
        in the same CRS (read serials with :func:`grid_serial`).
    scheme : str
        The new plan's scheme: checks the serial width and the lone-grid ``0``.

    Returns
    -------
    ndarray of int
        Serial of each new grid, in the order of ``polygons``.

    Examples
    --------
    >>> from shapely import box
    >>> old = [(1, box(0, 0, 10, 10)), (2, box(10, 0, 20, 10))]
    >>> new = [box(10, 0, 20, 10), box(0, 5, 10, 10), box(0, 0, 10, 5)]
    >>> stable_serials(new, np.array([1, 2, 0]), old).tolist()
    [2, 1, 3]
    """
    from scipy.optimize import linear_sum_assignment

    s = get_scheme(scheme)
    k = len(polygons)
    if k == 1 and s.whole_zero:
        return np.zeros(1, dtype=np.int64)
    if not previous:
        return spatial_serials(order, scheme)
    old_serial = np.array([max(int(p[0]), 1) for p in previous])  # a lone "00" grid is #1 now
    old_geom = np.array([p[1] for p in previous], dtype=object)
    new_geom = np.asarray(polygons, dtype=object)
    overlap = shapely.area(shapely.intersection(new_geom[:, None], old_geom[None, :]))
    rows, cols = linear_sum_assignment(-overlap)
    serials = np.full(k, -1, dtype=np.int64)
    for r, c in zip(rows, cols, strict=True):
        if overlap[r, c] > MIN_OVERLAP_M2:
            serials[r] = old_serial[c]
    nxt = int(old_serial.max())
    for g in order:
        if serials[g] < 0:
            nxt += 1
            serials[g] = nxt
    if nxt > s.max_serial:
        raise InputError(f"keeping previous serials needs serial {nxt}, more than scheme "
                         f"{s.name} allows ({s.max_serial})", field="--previous",
                         fix="plan without --previous to renumber from 1")
    return serials
