"""Synthetic demo district: communities, buildings, compounds and barriers.

The demo district is a made-up piece of a Chinese city of about 2.5 km × 2 km,
laid out in UTM zone 50N (EPSG:32650) at a north-west-Beijing-like latitude. It
has a grid of primary, secondary and tertiary roads, a meandering river, gated
residential compounds (小区) of slab apartment buildings and towers, low-rise
blocks of small houses, schools, shops, offices, a hospital and one small
urban-village community (城中村) that cannot reach a 300-household grid on its
own. Every coordinate, count and name is produced here from a fixed seed, so the
layers written by :func:`write_demo` are byte-identical from run to run.

Run ``python -m gridplan.demo [DIR]`` to (re)write the four GeoJSON files,
by default into ``data/boundaries`` of the repository.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import affinity
from shapely.geometry import LineString, MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import polygonize, unary_union

from gridplan.demo.people import write_people

logger = logging.getLogger(__name__)

DEMO_DIR: Path = Path(__file__).resolve().parents[2] / "data" / "boundaries"
"""Default output folder of :func:`write_demo` (``data/boundaries`` of the repository)."""

DEMO_SEED = 20261125
"""Default seed of the demo district."""

METRIC_CRS = "EPSG:32650"
"""CRS of the layers returned by :func:`generate_demo` (UTM zone 50N, metres)."""

OUTPUT_CRS = "EPSG:4326"
"""CRS of the GeoJSON files written by :func:`write_demo`."""

LAYERS = ("communities", "buildings", "compounds", "barriers", "dedicated")
"""Names of the demo layers, in the order they are written."""

ORIGIN = (440750.0, 4426000.0)
"""Easting and northing of the south-west corner of the district (EPSG:32650)."""

WIDTH = 2500.0
"""West-east extent of the district in metres."""

HEIGHT = 2000.0
"""South-north extent of the district in metres."""

CORRIDOR_WIDTH = {"primary": 40.0, "secondary": 30.0, "tertiary": 16.0, "river": 36.0}
"""Full width in metres of the corridor around each barrier kind's centreline."""

BUILDING_GAP = 8.0
"""Least distance in metres from any building to a corridor or a community edge."""

RIVER_GREEN = 20.0
"""Extra riverside green strip in metres kept free of buildings along the river."""

COMMUNITY_PREFIX = "990101001"
"""Fictional 9-digit prefix (6-digit county + 3-digit street) of the community codes."""

COORD_DECIMALS = 7
"""Decimals of the longitude and latitude written to the GeoJSON files."""

_BUILDING_SPACING = 4.0  # least gap between two buildings of one block
_COMPOUND_FENCE = 6.0  # least gap between a compound's fence and its buildings
_LANE = 16.0  # width of the lane between two uses sharing a street block


# --------------------------------------------------------------------------------------------
# Layout: roads, river and communities, in local metres (origin = south-west corner)
# --------------------------------------------------------------------------------------------

# (name, kind, start, end); each road is straight and axis-aligned; "river" as an end means
# the road stops at the river (on a vertex of the river line, so the ends meet exactly).
_ROADS: tuple[tuple[str, str, tuple[float, float | str], tuple[float, float | str]], ...] = (
    ("学院路", "primary", (1100.0, 0.0), (1100.0, HEIGHT)),
    ("成府路", "primary", (0.0, 800.0), (WIDTH, 800.0)),
    ("文汇路", "secondary", (1850.0, 0.0), (1850.0, HEIGHT)),
    ("育新街", "secondary", (0.0, 400.0), (WIDTH, 400.0)),
    ("荷花路", "secondary", (0.0, 1760.0), (WIDTH, 1760.0)),
    ("西园路", "tertiary", (380.0, 0.0), (380.0, 800.0)),
    ("育新路", "tertiary", (740.0, 0.0), (740.0, 800.0)),
    ("柳荫街", "tertiary", (0.0, 1100.0), (WIDTH, 1100.0)),
    ("河畔路", "tertiary", (550.0, 800.0), (550.0, HEIGHT)),
    ("学府路", "tertiary", (1480.0, 0.0), (1480.0, "river")),
    ("北岸路", "tertiary", (1480.0, "river"), (1480.0, HEIGHT)),
    ("柳村路", "tertiary", (2230.0, 0.0), (2230.0, "river")),
    ("北岸东路", "tertiary", (2230.0, "river"), (2230.0, HEIGHT)),
    ("柳村西街", "tertiary", (2330.0, 0.0), (2330.0, 160.0)),
    ("柳村北街", "tertiary", (2330.0, 160.0), (WIDTH, 160.0)),
)

_RIVER_NAME = "清河"

# Lines (besides the district outline) along which the district is cut into communities.
_COMMUNITY_CUTS = ("学院路", "成府路", _RIVER_NAME, "柳村西街", "柳村北街")

# (id, name, English name, label point inside the community)
_COMMUNITIES: tuple[tuple[str, str, str, tuple[float, float]], ...] = (
    ("C01", "荷花池社区", "Lotus Pond Community", (550.0, 1900.0)),
    ("C02", "北岸社区", "North Bank Community", (1800.0, 1900.0)),
    ("C03", "河畔社区", "Riverside Community", (550.0, 1000.0)),
    ("C04", "星河社区", "Xinghe Community", (1800.0, 1000.0)),
    ("C05", "育新社区", "Yuxin Community", (550.0, 300.0)),
    ("C06", "学府社区", "Xuefu Community", (1600.0, 300.0)),
    ("C07", "柳村社区", "Liucun Village Community", (2415.0, 80.0)),
)

# What fills each street block: label point inside the block -> uses, each with its options.
# The option "span" (west, east) gives the share of the block's width a use takes.
_BLOCK_PLAN: dict[tuple[float, float], tuple[tuple[str, dict], ...]] = {
    # C01 荷花池社区
    (275.0, 1880.0): (("houses", {"span": (0.0, 0.5)}),
                      ("commercial", {"offices": 0, "retail": 3, "span": (0.5, 1.0)})),
    (825.0, 1880.0): (("compound", {"style": "midrise", "span": (0.0, 0.6)}),
                      ("school", {"name": "荷花池小学", "kindergarten": "荷花幼儿园",
                                  "span": (0.6, 1.0)})),
    (291.0, 1578.0): (("compound", {"style": "walkup", "span": (0.0, 0.55)}),),
    (806.0, 1599.0): (("park", {}),),
    # C02 北岸社区
    (1290.0, 1880.0): (("compound", {"style": "towers", "span": (0.0, 0.6)}),
                       ("commercial", {"offices": 2, "retail": 0, "span": (0.6, 1.0)})),
    (1665.0, 1880.0): (("campus", {"name": "北岸学院"}),),
    (2040.0, 1880.0): (("campus", {"name": "北岸学院东区"}),),
    (2365.0, 1880.0): (("houses", {}),),
    (1295.0, 1586.0): (("commercial", {"offices": 3, "retail": 2}),),
    (1655.0, 1569.0): (("compound", {"style": "walkup", "span": (0.0, 0.7)}),),
    (2036.0, 1612.0): (("sports", {"name": "清河体育中心"}),),
    (2375.0, 1585.0): (("park", {}),),
    # C03 河畔社区
    (275.0, 950.0): (("compound", {"style": "midrise", "span": (0.0, 0.6)}),
                     ("commercial", {"offices": 1, "retail": 2, "span": (0.6, 1.0)})),
    (825.0, 950.0): (("commercial", {"offices": 3, "retail": 4}),),
    (256.0, 1254.0): (("compound", {"style": "walkup", "span": (0.0, 0.6)}),),
    (842.0, 1275.0): (("houses", {"span": (0.0, 0.5)}),),
    # C04 星河社区
    (1290.0, 950.0): (("landmark", {}),),
    (1665.0, 950.0): (("compound", {"style": "midrise", "span": (0.0, 0.6)}),
                      ("commercial", {"offices": 1, "retail": 1, "span": (0.6, 1.0)})),
    (2040.0, 950.0): (("school", {"name": "文汇中学"}),),
    (2365.0, 950.0): (("compound", {"style": "walkup", "span": (0.0, 0.7)}),),
    (1284.0, 1257.0): (("compound", {"style": "towers", "span": (0.0, 0.5)}),),
    (1679.0, 1244.0): (("campus", {"name": "清河材料研究所"}),),
    (2043.0, 1282.0): (("park", {}),),
    (2354.0, 1261.0): (("park", {}),),
    # C05 育新社区
    (190.0, 200.0): (("houses", {"span": (0.0, 0.6)}),),
    (560.0, 200.0): (("commercial", {"offices": 0, "retail": 2}),),
    (920.0, 200.0): (("school", {"name": "育新小学", "kindergarten": "育新幼儿园"}),),
    (190.0, 600.0): (("compound", {"style": "midrise", "span": (0.0, 0.6)}),),
    (560.0, 600.0): (("compound", {"style": "walkup", "span": (0.0, 0.55)}),),
    (920.0, 600.0): (("commercial", {"offices": 2, "retail": 4}),),
    # C06 学府社区
    (1290.0, 600.0): (("hospital", {"name": "清河医院"}),),
    (1665.0, 600.0): (("compound", {"style": "midrise", "span": (0.0, 0.5)}),),
    (2040.0, 600.0): (("compound", {"style": "walkup", "span": (0.0, 0.6)}),),
    (2365.0, 600.0): (("commercial", {"offices": 1, "retail": 3}),),
    (2280.0, 300.0): (("houses", {}),),
    (1290.0, 200.0): (("campus", {"name": "学府职业学院"}),),
    (1665.0, 200.0): (("commercial", {"offices": 3, "retail": 2}),),
    (2040.0, 200.0): (("compound", {"style": "walkup", "span": (0.0, 0.6)}),),
    # C07 柳村社区 (urban village)
    (2415.0, 80.0): (("village", {}),),
}

_COMPOUND_NAMES = (
    "清河嘉园", "荷花里", "北岸家园", "文汇小区", "育新花园", "学府名苑", "柳荫小区", "河畔新村",
    "翠湖园", "锦绣家园", "春华里", "知行苑", "和平里小区", "润泽园", "金桥小区", "阳光丽景",
    "枫林苑", "雅居园", "康乐里", "晨曦家园", "紫薇苑", "书香园", "南湖里", "玉泉小区",
    "安和家园", "永丰里", "长青园", "融景苑",
)
_OFFICE_NAMES = (
    "科创大厦", "文汇大厦", "学府大厦", "清河科技园", "智汇大厦", "中关创业大厦", "锦华大厦",
    "信达大厦", "通和大厦", "华源大厦", "天宇大厦", "恒基大厦",
)
_RETAIL_NAMES = (
    "惠民超市", "便民菜市场", "清河商场", "邻里中心", "社区便利店", "五金建材店", "家乐商场",
    "福兴市场", "百姓餐厅", "华润药店", "新华书店", "平价超市",
)

# block uses whose ground becomes a dedicated grid (专属网格), and the site kind they get
_DEDICATED_USES = {"school": "school", "hospital": "hospital", "campus": "college"}
_STAR_TOWER = ("星河大厦", 700, 30)  # name, households, levels: the one tower needing splitting
_VILLAGE_HOUSEHOLDS = (140, 190)  # target range of the village community's households


# --------------------------------------------------------------------------------------------
# Building placement
# --------------------------------------------------------------------------------------------


@dataclass
class _Building:
    geometry: Polygon
    households: int
    building: str
    levels: int
    name: str = ""


@dataclass
class _Block:
    """One street block: polygon between centrelines and its buildable part."""

    community: str
    polygon: Polygon
    region: BaseGeometry
    free: BaseGeometry = field(init=False)
    placed: list[Polygon] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.free = self.region

    def reserve(self, area: BaseGeometry, gap: float) -> None:
        """Keep buildings placed later at least ``gap`` away from ``area``."""
        self.free = self.free.difference(area.buffer(gap, join_style="mitre"))

    def fits(self, rect: Polygon, within: BaseGeometry | None = None) -> bool:
        """Whether ``rect`` lies in ``within`` (default: the free area) clear of other buildings."""
        area = self.free if within is None else within
        if not area.contains(rect):
            return False
        if not self.placed:
            return True
        return not bool(shapely.dwithin(self.placed, rect, _BUILDING_SPACING).any())

    def first_fit(self, width: float, depth: float, corner: str = "nw",
                  step: float = 6.0) -> Polygon | None:
        """First free spot for a ``width`` × ``depth`` rectangle scanning from ``corner``."""
        if self.free.is_empty:
            return None
        minx, miny, maxx, maxy = self.free.bounds
        xs = np.arange(minx, maxx - width + 1e-9, step)
        ys = np.arange(miny, maxy - depth + 1e-9, step)
        if xs.size == 0 or ys.size == 0:
            return None
        if "e" in corner:
            xs = xs[::-1]
        if "n" in corner:
            ys = ys[::-1]
        gx, gy = np.meshgrid(xs, ys)
        gx, gy = np.round(gx.ravel(), 2), np.round(gy.ravel(), 2)
        rects = shapely.box(gx, gy, gx + width, gy + depth)
        ok = shapely.contains(self.free, rects)
        for rect in rects[ok]:
            if self.fits(rect):
                return rect
        return None


def _rect(x: float, y: float, w: float, d: float) -> Polygon:
    """Axis-aligned rectangle with its south-west corner at ``(x, y)``, rounded to 1 cm."""
    x, y = round(float(x), 2), round(float(y), 2)
    return box(x, y, round(x + float(w), 2), round(y + float(d), 2))


def _names(pool: Sequence[str]) -> Iterator[str]:
    """Names from ``pool``, then numbered again (``name2``, ``name3``...) when used up."""
    yield from pool
    for round_ in range(2, 1000):
        for name in pool:
            yield f"{name}{round_}"


@dataclass
class _Context:
    rng: np.random.Generator
    buildings: list[_Building] = field(default_factory=list)
    compounds: list[tuple[Polygon, str]] = field(default_factory=list)
    compound_names: Iterator[str] = field(default_factory=lambda: _names(_COMPOUND_NAMES))
    office_names: Iterator[str] = field(default_factory=lambda: _names(_OFFICE_NAMES))
    retail_names: Iterator[str] = field(default_factory=lambda: _names(_RETAIL_NAMES))

    def add(self, block: _Block, rect: Polygon, households: int, building: str, levels: int,
            name: str = "") -> None:
        """Record a building placed in ``block``."""
        block.placed.append(rect)
        self.buildings.append(_Building(rect, int(households), building, int(levels), name))


def _fill_compound(ctx: _Context, block: _Block, style: str) -> None:
    """A gated compound over the block's free area: rows of slabs (or towers) in a fence.

    ``style`` is ``"walkup"`` (5–6-storey slabs), ``"midrise"`` (9–18-storey slabs) or
    ``"towers"`` (24–32-storey point towers).
    """
    rng = ctx.rng
    compound = block.free
    if isinstance(compound, MultiPolygon):
        compound = max(compound.geoms, key=lambda g: g.area)
    compound = shapely.normalize(compound.simplify(0.01))
    inner = compound.buffer(-_COMPOUND_FENCE, join_style="mitre")
    name = next(ctx.compound_names)
    if style == "towers":
        w, d = 30.0, 24.0
        pitch_x, pitch_y = w + 34.0, d + 46.0
    elif style == "walkup":
        w, d = float(rng.choice([48.0, 60.0])), 11.0
        pitch_x, pitch_y = w + 18.0, d + 26.0
    elif style == "midrise":
        w, d = float(rng.choice([60.0, 72.0])), 13.0
        pitch_x, pitch_y = w + 20.0, d + 48.0
    else:
        raise ValueError(f"unknown compound style {style!r}")
    ix0, iy0, ix1, iy1 = inner.bounds
    ncol = int((ix1 - ix0 + pitch_x - w) // pitch_x)
    nrow = int((iy1 - iy0 + pitch_y - d) // pitch_y)
    offx = (ix1 - ix0 - (ncol * pitch_x - (pitch_x - w))) / 2
    offy = (iy1 - iy0 - (nrow * pitch_y - (pitch_y - d))) / 2
    kept: list[tuple[Polygon, int, int]] = []
    before = len(block.placed)
    for r in range(nrow):
        for c in range(ncol):
            jitter = float(rng.uniform(-3.0, 3.0))
            rect = _rect(ix0 + offx + c * pitch_x + jitter, iy0 + offy + r * pitch_y, w, d)
            skip = rng.random() < 0.1
            if skip or not block.fits(rect, within=inner):
                continue
            if style == "towers":
                levels = int(rng.integers(24, 33))
                households = min(300, levels * int(rng.integers(6, 10)))
            elif style == "walkup":
                levels = int(rng.choice([5, 6, 6, 6]))
                households = int(round(w / 15.0)) * 2 * levels
            else:
                levels = int(rng.integers(9, 19))
                households = int(round(w / 15.0)) * 2 * levels
            households = int(np.clip(households, 30, 300 if style == "towers" else 200))
            block.placed.append(rect)
            kept.append((rect, households, levels))
    del block.placed[before:]  # placed for the spacing checks only; recorded below
    if len(kept) < 3:  # too few buildings for a compound: leave the block open
        logger.debug("compound %s left out: only %d buildings fit", name, len(kept))
        return
    for n, (rect, households, levels) in enumerate(kept, start=1):
        ctx.add(block, rect, households, "apartments", levels, f"{name}{n}号楼")
    ctx.compounds.append((compound, name))
    block.reserve(compound, _COMPOUND_FENCE)


def _fill_houses(ctx: _Context, block: _Block, village: bool = False) -> None:
    """Rows of small houses along lanes; the village variant is irregular, with empty plots."""
    rng = ctx.rng
    minx, miny, maxx, maxy = block.free.bounds
    pitch_x = 20.0
    lot_d = 14.0
    lane = 8.0
    skip = 0.3 if village else 0.12
    y = miny
    while y + lot_d <= maxy:
        for row_y in (y, y + lot_d + 3.0):
            x = minx
            while x + 10.0 <= maxx:
                residential = rng.random() < (0.35 if village else 0.3)
                if residential:
                    w, d = float(rng.uniform(13.0, 16.0)), float(rng.uniform(11.0, 13.0))
                    levels = int(rng.integers(3, 5))
                    households = int(rng.integers(6, 13))
                else:
                    w, d = float(rng.uniform(10.0, 13.0)), float(rng.uniform(10.0, 12.0))
                    levels = int(rng.integers(1, 3))
                    households = int(rng.integers(2, 5))
                w = min(w, pitch_x - _BUILDING_SPACING - 0.5)
                jx = float(rng.uniform(0.0, pitch_x - _BUILDING_SPACING - w))
                jy = float(rng.uniform(0.0, lot_d - d)) if village else 0.0
                rect = _rect(x + jx, row_y + jy, w, d)
                if rng.random() >= skip and block.fits(rect):
                    kind = "residential" if residential else "house"
                    ctx.add(block, rect, households, kind, levels)
                x += pitch_x
        y += 2 * lot_d + 3.0 + lane


def _place(ctx: _Context, block: _Block, width: float, depth: float, building: str,
           levels: int, name: str = "", households: int = 0, corner: str = "nw") -> bool:
    """Place one building at the first free spot from ``corner``; whether it fitted."""
    rect = block.first_fit(width, depth, corner)
    if rect is None:
        logger.debug("no room for %s %s in block of %s", building, name, block.community)
        return False
    ctx.add(block, rect, households, building, levels, name)
    return True


def _fill_school(ctx: _Context, block: _Block, name: str, kindergarten: str = "") -> None:
    """A school: teaching buildings and a gym around a sports ground, maybe a kindergarten."""
    _place(ctx, block, 78.0, 18.0, "school", 4, f"{name}教学楼", corner="nw")
    _place(ctx, block, 54.0, 16.0, "school", 4, f"{name}实验楼", corner="ne")
    field_rect = block.first_fit(180.0, 100.0, corner="sw")
    if field_rect is not None:
        block.reserve(field_rect, 0.0)  # the sports ground stays open
    _place(ctx, block, 40.0, 28.0, "school", 2, f"{name}体育馆", corner="se")
    if kindergarten:
        _place(ctx, block, 36.0, 24.0, "kindergarten", 2, kindergarten, corner="ne")


def _fill_commercial(ctx: _Context, block: _Block, offices: int, retail: int) -> None:
    """Office buildings and street-front shops."""
    rng = ctx.rng
    corners = ("sw", "ne", "nw", "se")
    for i in range(offices):
        levels = int(rng.integers(10, 21))
        _place(ctx, block, 50.0, 24.0, "office", levels, next(ctx.office_names),
               corner=corners[i % 4])
    for i in range(retail):
        w = float(rng.choice([40.0, 50.0, 60.0]))
        name = next(ctx.retail_names) if rng.random() < 0.7 else ""
        _place(ctx, block, w, 16.0, "retail", int(rng.integers(1, 4)), name,
               corner=corners[(i + 1) % 4])


def _fill_campus(ctx: _Context, block: _Block, name: str) -> None:
    """A college or institute campus: library, teaching buildings and dormitories.

    Campus buildings, dormitories included, hold no households.
    """
    rng = ctx.rng
    _place(ctx, block, 60.0, 40.0, "university", 6, f"{name}图书馆", corner="sw")
    minx, miny, maxx, maxy = block.free.bounds
    number = 1
    y = miny
    while y + 18.0 <= maxy:
        x = minx + float(rng.uniform(0.0, 20.0))
        dorm = rng.random() < 0.3
        while x + 60.0 <= maxx:
            w = float(rng.choice([60.0, 72.0]))
            rect = _rect(x, y, w, 14.0 if dorm else 18.0)
            if rng.random() >= 0.25 and block.fits(rect):
                if dorm:
                    ctx.add(block, rect, 0, "dormitory", 6, f"{name}学生宿舍{number}号楼")
                else:
                    ctx.add(block, rect, 0, "university", int(rng.integers(4, 8)),
                            f"{name}{number}号楼")
                number += 1
            x += w + 34.0
        y += 18.0 + 44.0


def _fill_sports(ctx: _Context, block: _Block, name: str) -> None:
    """A sports centre: arena, swimming hall and an open stadium field."""
    _place(ctx, block, 76.0, 56.0, "sports_hall", 3, f"{name}体育馆", corner="nw")
    _place(ctx, block, 50.0, 36.0, "sports_hall", 2, f"{name}游泳馆", corner="ne")
    field_rect = block.first_fit(190.0, 110.0, corner="sw")
    if field_rect is not None:
        block.reserve(field_rect, 0.0)
    _place(ctx, block, 40.0, 16.0, "retail", 2, "体育用品商店", corner="se")


def _fill_hospital(ctx: _Context, block: _Block, name: str) -> None:
    """A district hospital: ward, outpatient and technical buildings."""
    _place(ctx, block, 80.0, 36.0, "hospital", 10, f"{name}住院楼", corner="nw")
    _place(ctx, block, 64.0, 24.0, "hospital", 4, f"{name}门诊楼", corner="sw")
    _place(ctx, block, 40.0, 24.0, "hospital", 3, f"{name}医技楼", corner="ne")


def _fill_landmark(ctx: _Context, block: _Block) -> None:
    """The 700-household residential tower, an office tower and a shopping building."""
    name, households, levels = _STAR_TOWER
    _place(ctx, block, 52.0, 40.0, "apartments", levels, name, households, corner="sw")
    _place(ctx, block, 50.0, 26.0, "office", 22, next(ctx.office_names), corner="ne")
    _place(ctx, block, 70.0, 30.0, "retail", 3, next(ctx.retail_names), corner="se")


def _fill_block(ctx: _Context, block: _Block, use: str, options: dict) -> None:
    if use == "compound":
        _fill_compound(ctx, block, **options)
    elif use == "houses":
        _fill_houses(ctx, block)
    elif use == "village":
        _fill_houses(ctx, block, village=True)
    elif use == "school":
        _fill_school(ctx, block, **options)
    elif use == "commercial":
        _fill_commercial(ctx, block, **options)
    elif use == "campus":
        _fill_campus(ctx, block, **options)
    elif use == "hospital":
        _fill_hospital(ctx, block, **options)
    elif use == "landmark":
        _fill_landmark(ctx, block)
    elif use == "sports":
        _fill_sports(ctx, block, **options)
    elif use != "park":
        raise ValueError(f"unknown block use {use!r}")


def _settle_village(ctx: _Context, first: int) -> None:
    """Nudge the village's household counts (2–12 each) into the target range."""
    low, high = _VILLAGE_HOUSEHOLDS
    houses = [b for b in ctx.buildings[first:] if b.households > 0]
    total = sum(b.households for b in houses)
    i = 0
    while total > high and any(b.households > 2 for b in houses):
        b = houses[i % len(houses)]
        if b.households > 2:
            b.households -= 1
            total -= 1
        i += 1
    while total < low and any(b.households < 12 for b in houses):
        b = houses[i % len(houses)]
        if b.households < 12:
            b.households += 1
            total += 1
        i += 1


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------


def _river_line(rng: np.random.Generator) -> LineString:
    """Meandering river from the west to the east edge, with vertices where roads meet it."""
    vertical_xs = sorted({float(s[0]) for _, _, s, e in _ROADS if s[0] == e[0]})
    xs = np.unique(np.concatenate([np.arange(0.0, WIDTH + 1.0, 20.0), vertical_xs]))
    phase1, phase2 = rng.uniform(0.0, 2.0 * np.pi, size=2)
    ys = (1420.0 + 60.0 * np.sin(2.0 * np.pi * xs / 1100.0 + phase1)
          + 25.0 * np.sin(2.0 * np.pi * xs / 430.0 + phase2))
    return LineString(np.column_stack([xs, np.round(ys, 2)]))


def _road_lines(river: LineString) -> list[tuple[str, str, LineString]]:
    """Road centrelines with a vertex at every junction, then the river."""
    river_y = dict(zip(np.asarray(river.coords)[:, 0].tolist(),
                       np.asarray(river.coords)[:, 1].tolist(), strict=True))

    def point(p: tuple[float, float | str]) -> tuple[float, float]:
        x, y = p
        return (x, river_y[x]) if y == "river" else (x, float(y))

    raw = [(name, kind, LineString([point(s), point(e)])) for name, kind, s, e in _ROADS]
    ends = [pt for _, _, line in raw for pt in (line.coords[0], line.coords[-1])]
    out: list[tuple[str, str, LineString]] = []
    for name, kind, line in raw:
        # junctions: crossings with other roads and other roads' ends on this one
        extra = set()
        for other_name, _, other in raw:
            if other_name == name:
                continue
            crossing = line.intersection(other)
            if crossing.geom_type == "Point":
                extra.add((crossing.x, crossing.y))
        extra.update(pt for pt in ends if line.distance(shapely.Point(pt)) < 1e-9)
        if line.crosses(river):  # a bridge: meet the river on one of its vertices
            x0, x1 = line.coords[0][0], line.coords[-1][0]
            if x0 != x1 or x0 not in river_y:
                raise RuntimeError(f"road {name} crosses the river off a river vertex")
            extra.add((x0, river_y[x0]))
        coords = sorted(set(line.coords) | extra, key=lambda c: line.project(shapely.Point(c)))
        out.append((name, kind, LineString(coords)))
    out.append((_RIVER_NAME, "river", river))
    return out


def _communities(lines: dict[str, LineString]) -> list[tuple[str, str, str, Polygon]]:
    """Cut the district rectangle along the major roads, the river and the village lanes."""
    cuts = [lines[name] for name in _COMMUNITY_CUTS]
    faces = list(polygonize(unary_union([box(0.0, 0.0, WIDTH, HEIGHT).exterior, *cuts])))
    out = []
    for cid, name, name_en, label in _COMMUNITIES:
        hits = [f for f in faces if f.contains(shapely.Point(label))]
        if len(hits) != 1:
            raise RuntimeError(f"community {cid} label matches {len(hits)} faces")
        out.append((cid, name, name_en, shapely.normalize(hits[0])))
    if len(out) != len(faces):
        raise RuntimeError(f"{len(faces)} faces but {len(out)} communities")
    return out


def _blocks(barriers: list[tuple[str, str, LineString]],
            communities: list[tuple[str, str, str, Polygon]]) -> list[tuple[_Block, str, dict]]:
    """Street blocks with their buildable regions, uses and options, in a stable order."""
    outline = box(0.0, 0.0, WIDTH, HEIGHT)
    faces = list(polygonize(unary_union([outline.exterior, *(ln for _, _, ln in barriers)])))
    keep_out = unary_union(
        [outline.exterior.buffer(BUILDING_GAP)]
        + [line.buffer(CORRIDOR_WIDTH[kind] / 2 + BUILDING_GAP
                       + (RIVER_GREEN if kind == "river" else 0.0))
           for _, kind, line in barriers]
    )
    planned = []
    for label, uses in _BLOCK_PLAN.items():
        hits = [f for f in faces if f.contains(shapely.Point(label))]
        if len(hits) != 1:
            raise RuntimeError(f"block label {label} matches {len(hits)} faces")
        face = hits[0]
        community = next(cid for cid, _, _, poly in communities
                         if poly.contains(face.representative_point()))
        region = face.difference(keep_out)
        if isinstance(region, MultiPolygon):
            region = max(region.geoms, key=lambda g: g.area)
        minx, miny, maxx, maxy = region.bounds
        for part, (use, opts) in enumerate(uses):
            options = dict(opts)
            west, east = options.pop("span", (0.0, 1.0))
            x0 = minx + west * (maxx - minx) + (_LANE / 2 if west > 0 else 0.0)
            x1 = minx + east * (maxx - minx) - (_LANE / 2 if east < 1 else 0.0)
            sub = region.intersection(box(x0, miny, x1, maxy))
            if isinstance(sub, MultiPolygon):
                sub = max(sub.geoms, key=lambda g: g.area)
            planned.append((_Block(community, face, sub), use, options, part))
    if len({id(b.polygon) for b, *_ in planned}) != len(faces):
        raise RuntimeError(f"{len(faces)} blocks but not all planned")
    order = {cid: i for i, (cid, _, _, _) in enumerate(communities)}
    planned.sort(key=lambda t: (order[t[0].community], -round(t[0].polygon.centroid.y),
                                round(t[0].polygon.centroid.x), t[3]))
    return [(block, use, options) for block, use, options, _ in planned]


def _barrier_ids(barriers: Sequence[tuple[str, str, LineString]]) -> list[str]:
    """Ids ``R01``, ``R02``... for roads and ``W01``... for waterways, in order."""
    counts = {"R": 0, "W": 0}
    ids = []
    for _, kind, _ in barriers:
        prefix = "W" if kind == "river" else "R"
        counts[prefix] += 1
        ids.append(f"{prefix}{counts[prefix]:02d}")
    return ids


def generate_demo(seed: int = DEMO_SEED) -> dict[str, gpd.GeoDataFrame]:
    """Generate the synthetic demo district.

    Parameters
    ----------
    seed : int
        Seed of every random choice; equal seeds give equal layers.

    Returns
    -------
    dict of str to geopandas.GeoDataFrame
        Layers ``communities`` (``id``, ``code``, ``name``, ``name_en``),
        ``buildings`` (``unit_id``, ``households``, ``building``, ``levels``, ``name``),
        ``compounds`` (``compound_id``, ``name``), ``barriers`` (``barrier_id``,
        ``kind``, ``name``) and ``dedicated`` (``site_id``, ``kind``, ``name``: the
        grounds of schools, colleges and the hospital), all in EPSG:32650.

    Examples
    --------
    >>> layers = generate_demo()
    >>> sorted(layers)
    ['barriers', 'buildings', 'communities', 'compounds', 'dedicated']
    >>> int((layers["buildings"]["households"] == 700).sum())
    1
    """
    rng = np.random.default_rng(seed)
    river = _river_line(rng)
    barriers = _road_lines(river)
    communities = _communities({name: line for name, _, line in barriers})
    ctx = _Context(rng)
    community_names = {cid: name for cid, name, _, _ in communities}
    blocks = _blocks(barriers, communities)
    sites = [(b, use, opts) for b, use, opts in blocks if use in _DEDICATED_USES]
    for cid, _, _, _ in communities:
        mine = [(b, use, opt) for b, use, opt in blocks if b.community == cid]
        village = any(use == "village" for _, use, _ in mine)
        # the community's service centre (a village committee in the village) comes first
        centre = (f"{community_names[cid].removesuffix('社区')}村委会" if village
                  else f"{community_names[cid]}服务中心")
        size = (20.0, 12.0) if village else (32.0, 18.0)
        preferred = ("village", "park", "commercial", "sports", "campus", "school")
        for block, _, _ in sorted(mine, key=lambda t: preferred.index(t[1])
                                  if t[1] in preferred else len(preferred)):
            if _place(ctx, block, *size, "civic", 2 if village else 3, centre, corner="sw"):
                break
        else:
            raise RuntimeError(f"no room for the service centre of {cid}")
        first = len(ctx.buildings)
        for block, use, options in mine:
            _fill_block(ctx, block, use, options)
        if village:
            _settle_village(ctx, first)

    def frame(records: list[dict], geoms: Sequence[BaseGeometry]) -> gpd.GeoDataFrame:
        moved = [affinity.translate(g, *ORIGIN) for g in geoms]
        return gpd.GeoDataFrame(pd.DataFrame.from_records(records), geometry=moved,
                                crs=METRIC_CRS)

    layers = {
        "communities": frame(
            [{"id": cid, "code": f"{COMMUNITY_PREFIX}{i:03d}", "name": name, "name_en": name_en}
             for i, (cid, name, name_en, _) in enumerate(communities, start=1)],
            [poly for *_, poly in communities]),
        "buildings": frame(
            [{"unit_id": f"B{i:04d}", "households": b.households, "building": b.building,
              "levels": b.levels, "name": b.name} for i, b in enumerate(ctx.buildings, start=1)],
            [b.geometry for b in ctx.buildings]),
        "compounds": frame(
            [{"compound_id": f"X{i:02d}", "name": name}
             for i, (_, name) in enumerate(ctx.compounds, start=1)],
            [poly for poly, _ in ctx.compounds]),
        "barriers": frame(
            [{"barrier_id": barrier_id, "kind": kind, "name": name}
             for barrier_id, (name, kind, _) in zip(_barrier_ids(barriers), barriers,
                                                    strict=True)],
            [line for *_, line in barriers]),
        "dedicated": frame(
            [{"site_id": f"S{i:02d}", "kind": _DEDICATED_USES[use], "name": opts["name"]}
             for i, (_, use, opts) in enumerate(sites, start=1)],
            [block.region for block, _, _ in sites]),
    }
    for col in ("households", "levels"):
        layers["buildings"][col] = layers["buildings"][col].astype("int64")
    logger.info("demo district: %d communities, %d buildings, %d households, %d compounds",
                len(layers["communities"]), len(layers["buildings"]),
                int(layers["buildings"]["households"].sum()), len(layers["compounds"]))
    return layers


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _fmt_coords(coords: Sequence[Sequence[float]]) -> str:
    return "[" + ", ".join(f"[{x:.{COORD_DECIMALS}f}, {y:.{COORD_DECIMALS}f}]"
                           for x, y, *_ in coords) + "]"


def _geometry_json(geom: BaseGeometry) -> str:
    """GeoJSON text of a polygon or line string with fixed-precision coordinates."""
    if isinstance(geom, Polygon):
        rings = [geom.exterior, *geom.interiors]
        body = "[" + ", ".join(_fmt_coords(r.coords) for r in rings) + "]"
        return f'{{"type": "Polygon", "coordinates": {body}}}'
    if isinstance(geom, LineString):
        return f'{{"type": "LineString", "coordinates": {_fmt_coords(geom.coords)}}}'
    raise TypeError(f"cannot write {geom.geom_type}")


def _geojson_text(gdf: gpd.GeoDataFrame, name: str) -> str:
    """Whole GeoJSON document of ``gdf`` (already in EPSG:4326), one feature per line."""
    geoms = shapely.orient_polygons(gdf.geometry.to_numpy(), exterior_cw=False)
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    features = []
    for row, geom in zip(gdf[columns].itertuples(index=False), geoms, strict=True):
        props = {c: (int(v) if isinstance(v, (int, np.integer)) else str(v))
                 for c, v in zip(columns, row, strict=True)}
        features.append(f'{{"type": "Feature", "properties": '
                        f'{json.dumps(props, ensure_ascii=False)}, '
                        f'"geometry": {_geometry_json(geom)}}}')
    head = ('{\n"type": "FeatureCollection",\n'
            f'"name": "{name}",\n'
            '"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},\n'
            '"features": [\n')
    return head + ",\n".join(features) + "\n]\n}\n"


def write_demo(directory: str | Path, seed: int = DEMO_SEED) -> dict[str, Path]:
    """Write the demo district as GeoJSON files in EPSG:4326.

    Parameters
    ----------
    directory : str or Path
        Folder to write ``communities.geojson``, ``buildings.geojson``,
        ``compounds.geojson`` and ``barriers.geojson`` into; created if missing.
    seed : int
        Seed passed to :func:`generate_demo`.

    Returns
    -------
    dict of str to Path
        Path of each written file by layer name.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    layers = generate_demo(seed)
    paths: dict[str, Path] = {}
    for name in LAYERS:
        path = directory / f"{name}.geojson"
        text = _geojson_text(layers[name].to_crs(OUTPUT_CRS), name)
        path.write_bytes(text.encode("utf-8"))
        logger.info("wrote %s (%d features, %d bytes)", path, len(layers[name]),
                    path.stat().st_size)
        paths[name] = path

    paths.update(write_people(directory))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry: ``python -m gridplan.demo [DIR]``.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status (0).
    """
    parser = argparse.ArgumentParser(prog="python -m gridplan.demo",
                                     description="Write the synthetic demo district.")
    parser.add_argument("directory", nargs="?", default=str(DEMO_DIR),
                        help=f"output folder (default: {DEMO_DIR})")
    parser.add_argument("--seed", type=int, default=DEMO_SEED, help="random seed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    write_demo(args.directory, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
