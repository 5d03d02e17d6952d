"""Plan parameters: every knob of a plan, recorded on the result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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
        populations, see :mod:`gridplan.workload`) scaled so that their total equals the
        households' total; ``target`` then means an average grid's workload.
    tessellation : str
        ``"auto"`` (footprint-based for polygon units, point Voronoi otherwise),
        ``"footprint"`` or ``"centroid"``.

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

    def __post_init__(self) -> None:
        from gridplan.codes import check_object_class, get_scheme
        from gridplan.errors import InputError

        get_scheme(self.code_scheme)
        check_object_class(self.object_class)
        object.__setattr__(self, "dedicated_tags", tuple(self.dedicated_tags))
        from gridplan.dedicated import parse_tags

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
