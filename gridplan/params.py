"""Plan parameters: every knob of a plan, recorded on the result.

Each :class:`PlanParams` field carries its description in ``metadata`` (see
:func:`param`): help text, Chinese label, bounds, choices, command-line flag and, for
tuple-valued fields, how a command line spells a list. The CLI options
(:mod:`gridplan.cli.options`) and the web API's job model are generated from it, and
:meth:`PlanParams.__post_init__` validates by it, so a parameter is defined once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from gridplan.codes import CODE_SCHEMES, check_object_class
from gridplan.errors import InputError

DEFAULT_BARRIER_HIGHWAYS = (
    "motorway", "trunk", "primary", "secondary", "tertiary",
    "motorway_link", "trunk_link", "primary_link", "secondary_link",
)
DEFAULT_BARRIER_WATERWAYS = ("river", "canal")
DEFAULT_BARRIER_RAILWAYS = ("rail", "light_rail", "subway", "tram")
# OSM tags of sites that get a dedicated grid (专属网格) of their own
DEFAULT_DEDICATED_TAGS = (
    "amenity=school", "amenity=university", "amenity=college", "amenity=hospital",
    "amenity=marketplace", "amenity=townhall", "office=government", "landuse=industrial",
    "shop=mall",
)


BOUNDS = {"gt": "more than", "ge": "at least", "lt": "less than", "le": "at most"}


class ParamError(InputError):
    """A bad plan parameter; ``field`` is the neutral :class:`PlanParams` field name.

    Front-ends show the field in their own spelling with :meth:`spelled` (the CLI as
    ``--tolerance``, the web API as ``params.tolerance``).

    Examples
    --------
    >>> err = ParamError("tolerance must be less than 1, got 2", field="tolerance")
    >>> str(err.spelled("--tolerance"))
    'field --tolerance: tolerance must be less than 1, got 2'
    """

    def spelled(self, field: str) -> InputError:
        """The same error naming the parameter as ``field``."""
        return InputError(self.problem, source=self.source, field=field, fix=self.fix)


def param(default: Any, *, help: str, label_zh: str, cli: str, gt: float | None = None,
          ge: float | None = None, lt: float | None = None, le: float | None = None,
          choices: Sequence[str] | None = None, pattern: str | None = None,
          list_sep: str | None = None) -> Any:
    """A :class:`PlanParams` field with its description in ``metadata``.

    Parameters
    ----------
    default
        Default value (a tuple for list-valued parameters).
    help : str
        What the parameter does (English; the CLI ``--help`` and API description).
    label_zh : str
        Chinese label for forms.
    cli : str
        Command-line flag, e.g. ``"--target"``.
    gt, ge, lt, le : float, optional
        Bounds of a number: greater than, at least, less than, at most.
    choices : sequence of str, optional
        The values allowed.
    pattern : str, optional
        Regular expression a string value matches (documented to API clients).
    list_sep : str, optional
        For tuple-valued parameters: the separator of the list on a command line.

    Examples
    --------
    >>> f = {f.name: f for f in fields(PlanParams)}["tolerance"]
    >>> f.metadata["cli"], f.metadata["gt"], f.metadata["lt"]
    ('--tolerance', 0, 1)
    """
    meta = {"help": help, "label_zh": label_zh, "cli": cli, "gt": gt, "ge": ge, "lt": lt,
            "le": le, "choices": tuple(choices) if choices else None, "pattern": pattern,
            "list_sep": list_sep}
    return field(default=default, metadata={k: v for k, v in meta.items() if v is not None})


@dataclass(frozen=True)
class PlanParams:
    """Parameters of one plan.

    Every field's ``metadata`` holds its help text, Chinese label, bounds or choices
    and command-line flag (see :func:`param`); ``gridplan plan --help`` lists them.

    Parameters
    ----------
    target : int
        Households per grid aimed at (default 300).
    tolerance : float
        Allowed relative deviation from ``target``; a grid is *in band* when its
        households lie in ``target * (1 ± tolerance)``.
    seed : int
        Seed for every random choice; equal inputs and seed give equal plans.
    stairwell_households : int
        Households per virtual stairwell (单元) sub-unit when a building alone
        exceeds the upper bound of the band.
    community_households : int
        Households per derived community when no community layer is given.
    community_tolerance : float
        Allowed relative deviation of a derived community from ``community_households``.
    code_scheme : str
        Grid code scheme, a name in :data:`gridplan.codes.CODE_SCHEMES`: ``"nbs12+3"``
        (12-digit community code + 3-digit serial, 15 digits), ``"cjt349-20"``
        (object class + community code + 2-digit serial, 20 digits) or ``"cjt213-14"``
        (community code + 2-digit serial, 14 digits).
    object_class : str
        6-digit management-object class (CJ/T 348) opening ``cjt349-20`` codes;
        ``"000000"`` when not given.
    dedicated_tags : tuple of str
        ``key=value`` OSM tags of sites (schools, hospitals, markets, industrial
        parks, government compounds...) that become dedicated grids (专属网格).
    dedicated_min_area : float
        Smallest site, in m² inside one community, that gets a dedicated grid.
    dedicated_residents : str
        ``"comprehensive"``: residents inside a dedicated site (dwellings: units with
        households whose ``building`` type, if any, is residential, not ``dormitory``
        nor a non-residential type) are planned into comprehensive grids with the ground
        around them; ``"site"``: every unit inside a site stays in its dedicated grid.
    tessellation : str
        ``"auto"`` (footprint-based for polygon units, point Voronoi otherwise),
        ``"footprint"`` or ``"centroid"``.
    barrier_highways : tuple of str
        OSM ``highway`` values whose roads act as barriers (read from OSM extracts).
    attempts : int
        Random spanning trees tried per cut; the best cut is kept.
    balance : str
        ``"households"``, or ``"workload"``: visits per month (households and special
        populations, see :mod:`gridplan.workforce.workload`) scaled so that their total equals the
        households' total; ``target`` then means an average grid's workload.
    exact_seconds : float
        Budget per community of the exact stage (:mod:`gridplan.engine.exact`), in
        CP-SAT deterministic seconds (about wall-clock seconds); ``0`` turns it off.

    Raises
    ------
    ParamError
        A value out of its bounds or choices, naming the field.

    Examples
    --------
    >>> p = PlanParams(target=300, tolerance=0.15)
    >>> p.band
    (255.0, 345.0)
    >>> PlanParams(tolerance=2)
    Traceback (most recent call last):
    ...
    gridplan.params.ParamError: field tolerance: tolerance must be more than 0 and less \
than 1, got 2. Fix: pass a value more than 0 and less than 1 (default 0.15)
    """

    target: int = param(
        300, cli="--target", gt=0, le=100_000, label_zh="每格目标户数",
        help="Households per grid aimed at.")
    tolerance: float = param(
        0.15, cli="--tolerance", gt=0, lt=1, label_zh="户数允许偏差",
        help="Allowed deviation from the target, as a share (0.15 = ±15%).")
    seed: int = param(
        0, cli="--seed", ge=0, le=2**31, label_zh="随机种子",
        help="Random seed; equal inputs and seed give equal plans.")
    stairwell_households: int = param(
        100, cli="--stairwell-households", gt=0, le=10_000, label_zh="虚拟单元户数",
        help="Households per virtual stairwell sub-unit when one building exceeds the band.")
    community_households: int = param(
        3000, cli="--community-households", gt=0, le=1_000_000, label_zh="派生社区户数",
        help="Households per derived community (only without --communities).")
    community_tolerance: float = param(
        0.3, cli="--community-tolerance", gt=0, lt=1, label_zh="派生社区户数允许偏差",
        help="Allowed deviation of a derived community from --community-households, as a "
             "share (only without --communities).")
    code_scheme: str = param(
        "nbs12+3", cli="--code-scheme", choices=CODE_SCHEMES, label_zh="网格编码方案",
        help="Grid codes: nbs12+3 = 12-digit community code + 3-digit serial (15 digits); "
             "cjt349-20 = 6-digit object class + community code + 2-digit serial (20 digits, "
             "CJ/T 349); cjt213-14 = community code + 2-digit serial (14 digits). A community "
             "that is one grid gets serial 00 in the 2-digit schemes.")
    object_class: str = param(
        "000000", cli="--object-class", pattern=r"^\d{6}$", label_zh="管理对象分类码",
        help="6-digit management-object class (CJ/T 348) opening cjt349-20 codes.")
    dedicated_tags: tuple[str, ...] = param(
        DEFAULT_DEDICATED_TAGS, cli="--dedicated-tags", list_sep=",", label_zh="专属网格标签",
        help="OSM key=value tags of sites that get a dedicated grid (专属网格); empty for none.")
    dedicated_min_area: float = param(
        5000.0, cli="--dedicated-min-area", ge=0, label_zh="专属网格最小面积（平方米）",
        help="Smallest site (m² inside one community) given a dedicated grid.")
    dedicated_residents: str = param(
        "comprehensive", cli="--dedicated-residents", choices=("comprehensive", "site"),
        label_zh="专属网格内居民归属",
        help="Residents inside a dedicated site: comprehensive = residential buildings "
             "(apartments, houses, or units with households and no non-residential type) "
             "join comprehensive grids, dormitories and other buildings stay with the site; "
             "site = everything inside a site stays in its dedicated grid.")
    tessellation: str = param(
        "auto", cli="--tessellation", choices=("auto", "footprint", "centroid"),
        label_zh="单元剖分方式",
        help="Cells around units: footprint outlines or one point per unit.")
    barrier_highways: tuple[str, ...] = param(
        DEFAULT_BARRIER_HIGHWAYS, cli="--barrier-highways", list_sep=",",
        label_zh="作为边界的道路等级", help="OSM highway values that act as barriers.")
    attempts: int = param(
        12, cli="--attempts", ge=1, le=1000, label_zh="每次切分尝试次数",
        help="Random spanning trees tried per cut; the best cut is kept.")
    balance: str = param(
        "households", cli="--balance", choices=("households", "workload"), label_zh="均衡依据",
        help="Balance grids on households, or on workload (visits per month from households "
             "and --special populations).")
    exact_seconds: float = param(
        2.0, cli="--exact-seconds", ge=0, le=3600, label_zh="精确求解时限（秒/社区）",
        help="Budget per community of the exact stage (CP-SAT), which proves or raises the "
             "most grids in band; 0 turns it off.")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if "list_sep" in f.metadata:
                value = tuple(value)
                object.__setattr__(self, f.name, value)
            check_param(f.name, value)

    @property
    def band(self) -> tuple[float, float]:
        """Lower and upper household bounds of an in-band grid."""
        return (self.target * (1 - self.tolerance), self.target * (1 + self.tolerance))

    def to_dict(self) -> dict:
        """Parameters as plain JSON-ready values."""
        d = asdict(self)
        d["barrier_highways"] = list(self.barrier_highways)
        d["dedicated_tags"] = list(self.dedicated_tags)
        return d


def param_fields() -> dict[str, Any]:
    """The :class:`PlanParams` fields by name, in order (``metadata`` describes each)."""
    return {f.name: f for f in fields(PlanParams)}


def check_param(name: str, value: Any) -> None:
    """Check one parameter against its bounds and choices; :class:`ParamError` otherwise.

    Examples
    --------
    >>> check_param("balance", "workload")
    >>> check_param("balance", "speed")
    Traceback (most recent call last):
    ...
    gridplan.params.ParamError: field balance: unknown balance 'speed'. Fix: use one of \
households, workload
    """
    meta = param_fields()[name].metadata
    if "choices" in meta and value not in meta["choices"]:
        raise ParamError(f"unknown {name.replace('_', ' ')} {value!r}", field=name,
                         fix=f"use one of {', '.join(meta['choices'])}")
    bounds = {k: meta[k] for k in BOUNDS if k in meta}
    if bounds and not _within(value, bounds):
        text = " and ".join(f"{BOUNDS[k]} {v}" for k, v in bounds.items())
        raise ParamError(f"{name} must be {text}, got {value!r}", field=name,
                         fix=f"pass a value {text} (default {param_fields()[name].default})")
    if name == "object_class":
        _checked(name, check_object_class, value)
    elif name == "dedicated_tags":
        parse_tags(value)


def _within(value: Any, bounds: dict[str, float]) -> bool:
    """``value`` is a finite number inside ``bounds`` (NaN never is)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    tests = {"gt": value > bounds.get("gt", -math.inf), "ge": value >= bounds.get("ge", -math.inf),
             "lt": value < bounds.get("lt", math.inf), "le": value <= bounds.get("le", math.inf)}
    return all(tests.values())


def _checked(name: str, check, value: Any) -> None:
    """Run a check of :mod:`gridplan.codes`, naming the parameter in its error."""
    try:
        check(value)
    except InputError as exc:
        raise ParamError(exc.problem, field=name, fix=exc.fix) from None


def parse_tags(tags: Sequence[str]) -> dict[str, list[str]]:
    """``key=value`` strings as an osmnx tag query (key → values).

    Examples
    --------
    >>> parse_tags(["amenity=school", "amenity=hospital", "landuse=industrial"])
    {'amenity': ['school', 'hospital'], 'landuse': ['industrial']}
    """
    query: dict[str, list[str]] = {}
    for tag in tags:
        key, sep, value = str(tag).strip().partition("=")
        if not sep or not key or not value:
            raise ParamError(f"dedicated tag {tag!r} is not key=value", field="dedicated_tags",
                             fix="list OSM key=value tags such as amenity=school and "
                                 "landuse=industrial")
        query.setdefault(key, []).append(value)
    return query


DEFAULT_RATES = {  # visits per month
    "household": 2 / 12,  # ordinary households: twice a year
    "elderly_alone": 1.0,  # 独居老人, key elderly: monthly
    "high_risk_elderly": 4.3,  # weekly
    "disabled": 1.0,  # 残疾人
    "dibao": 1.0,  # 低保 subsistence-allowance households
    "floating": 1.0,  # 流动人口 floating population
    "correction": 1.0,  # 社区矫正
    "other": 1.0,
}


@dataclass(frozen=True)
class WorkloadParams:
    """Weights of the workload model (documented defaults, all configurable).

    Examples
    --------
    >>> WorkloadParams().rate("high_risk_elderly")
    4.3
    """

    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    minutes_per_visit: float = 20.0
    tours_per_month: float = 4.0
    walking_speed_kmh: float = 4.5
    detour_factor: float = 1.3

    def rate(self, category: str) -> float:
        """Visits per month for one person or household of ``category``."""
        if category not in self.rates:
            raise InputError(f"unknown special-population category {category!r}",
                             field="category",
                             fix=f"use one of {', '.join(sorted(self.rates))}")
        return self.rates[category]


def params_from(kw: Mapping[str, Any]) -> PlanParams:
    """PlanParams from option values by field name (CLI options or an API job's parameters).

    Names that are not parameters and values that are ``None`` are left out (the default
    holds); a list-valued parameter may come as a list or as one string separated as on
    a command line (``"amenity=school,shop=mall"``; empty for none).

    Examples
    --------
    >>> p = params_from({"target": 250, "seed": None, "out_dir": "x",
    ...                  "dedicated_tags": "amenity=school, shop=mall"})
    >>> p.target, p.seed, p.dedicated_tags
    (250, 0, ('amenity=school', 'shop=mall'))
    """
    given = {name: _value(f, kw[name]) for name, f in param_fields().items()
             if kw.get(name) is not None}
    return PlanParams(**given)


def _value(f, value: Any) -> Any:
    """An option's value as the field holds it (a separated string split into a tuple)."""
    sep = f.metadata.get("list_sep")
    if sep and isinstance(value, str):
        return tuple(v.strip() for v in value.split(sep) if v.strip())
    return value
