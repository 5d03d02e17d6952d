"""Plan parameters: every knob of a plan, recorded on the result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

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


@dataclass(frozen=True)
class PlanParams:
    """Parameters of one plan.

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
    balance : str
        ``"households"``, or ``"workload"``: visits per month (households and special
        populations, see :mod:`gridplan.workforce.workload`) scaled so that their total equals the
        households' total; ``target`` then means an average grid's workload.
    tessellation : str
        ``"auto"`` (footprint-based for polygon units, point Voronoi otherwise),
        ``"footprint"`` or ``"centroid"``.
    exact_seconds : float
        Budget per community of the exact stage (:mod:`gridplan.engine.exact`), in
        CP-SAT deterministic seconds (about wall-clock seconds); ``0`` turns it off.

    Examples
    --------
    >>> p = PlanParams(target=300, tolerance=0.15)
    >>> p.band
    (255.0, 345.0)
    """

    target: int = 300
    tolerance: float = 0.15
    seed: int = 0
    stairwell_households: int = 100
    community_households: int = 3000
    community_tolerance: float = 0.3
    code_scheme: str = "nbs12+3"
    object_class: str = "000000"
    dedicated_tags: tuple[str, ...] = field(default=DEFAULT_DEDICATED_TAGS)
    dedicated_min_area: float = 5000.0
    tessellation: str = "auto"
    barrier_highways: tuple[str, ...] = field(default=DEFAULT_BARRIER_HIGHWAYS)
    attempts: int = 12
    balance: str = "households"
    exact_seconds: float = 2.0

    def __post_init__(self) -> None:
        from gridplan.codes import check_object_class, get_scheme
        from gridplan.errors import InputError

        get_scheme(self.code_scheme)
        check_object_class(self.object_class)
        object.__setattr__(self, "dedicated_tags", tuple(self.dedicated_tags))
        from gridplan.params import parse_tags

        parse_tags(self.dedicated_tags)
        if self.dedicated_min_area < 0:
            raise InputError("dedicated_min_area must be 0 or more",
                             field="--dedicated-min-area", fix="pass an area in m², e.g. 5000")

        if self.target <= 0:
            raise InputError(f"target must be positive, got {self.target}",
                             field="--target", fix="pass a household count such as 300")
        if not 0 < self.tolerance < 1:
            raise InputError(f"tolerance must lie between 0 and 1, got {self.tolerance}",
                             field="--tolerance", fix="pass a share such as 0.15")
        if self.stairwell_households <= 0:
            raise InputError("stairwell_households must be positive",
                             field="--stairwell-households", fix="pass e.g. 100")
        if self.balance not in ("households", "workload"):
            raise InputError(f"unknown balance {self.balance!r}", field="--balance",
                             fix="use households or workload")
        if self.exact_seconds < 0:
            raise InputError(f"exact_seconds must be 0 or more, got {self.exact_seconds}",
                             field="--exact-seconds", fix="pass seconds such as 2, or 0 for off")
        if self.tessellation not in ("auto", "footprint", "centroid"):
            raise InputError(f"unknown tessellation {self.tessellation!r}",
                             field="--tessellation", fix="use auto, footprint or centroid")

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
            raise InputError(f"dedicated tag {tag!r} is not key=value",
                             field="--dedicated-tags",
                             fix="list OSM tags such as amenity=school,landuse=industrial")
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


def params_from(kw: dict, barrier_highways: str | None = None) -> PlanParams:
    """PlanParams from option values by name (CLI ``kw`` or an API job's parameters)."""
    extra = {}
    if barrier_highways:
        extra["barrier_highways"] = tuple(v.strip() for v in barrier_highways.split(",")
                                          if v.strip())
    names = ("target", "tolerance", "seed", "stairwell_households", "community_households",
             "code_scheme", "tessellation", "balance", "object_class", "dedicated_min_area",
             "exact_seconds")
    given = {n: kw[n] for n in names if kw.get(n) is not None}
    if kw.get("dedicated_tags") is not None:
        given["dedicated_tags"] = tuple(t.strip() for t in kw["dedicated_tags"].split(",")
                                        if t.strip())
    return PlanParams(**given, **extra)


