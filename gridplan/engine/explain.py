"""Explain: why grids miss the band, in a planner's words (English, Chinese), and what helps."""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

from gridplan.params import PlanParams

KIND_ZH = {
    "school": "学校", "university": "高校", "college": "学院", "hospital": "医院",
    "marketplace": "市场", "townhall": "政府机关", "government": "政府机关",
    "industrial": "工业园区", "mall": "商场", "enterprise": "企业", "site": "单位",
}

EMPTY_EN = ("no households here: only units without households (schools, shops, offices...) "
            "or open land, joined to no neighbour")
EMPTY_ZH = "无住户：仅有无住户的单位（学校、商铺、办公等）或空地，未并入相邻网格"
OUT_OF_BAND = ("below_band", "above_band")
# said where the grids in band reach a proved upper bound (from totals or from CP-SAT)
PROVED_EN = "no division of this community into whole units can put more grids in band"
PROVED_ZH = "已证明：以完整单位划分本社区，无法使更多网格达标"


def needed_tolerance(value: float, target: float) -> float:
    """Smallest ``--tolerance`` (rounded up to 0.01) that puts ``value`` in band.

    Examples
    --------
    >>> needed_tolerance(370, 300), needed_tolerance(183, 300)
    (0.24, 0.39)
    """
    return math.ceil(round(abs(value - target) / target * 100, 6)) / 100


def division_tolerance(total: float, target: float) -> tuple[int, float]:
    """Grid count and smallest tolerance at which ``total`` divides into grids in band.

    Examples
    --------
    >>> division_tolerance(360, 300)
    (1, 0.2)
    """
    base = max(1, math.floor(total / target))
    options = [(needed_tolerance(total / k, target), k) for k in (base, base + 1)]
    tol, k = min(options)
    return k, tol


def feasible(total: float, band: tuple[float, float]) -> bool:
    """Whether ``total`` divides into a whole number of grids each in ``band``.

    Examples
    --------
    >>> feasible(600, (255, 345)), feasible(360, (255, 345))
    (True, False)
    """
    lo, hi = band
    if total <= 0:
        return True
    return math.floor(total / lo) >= max(math.ceil(total / hi), 1)


class Explainer:
    """Reasons for the grids of one community, and the community's explanation.

    Parameters
    ----------
    units : DataFrame
        The community's planned units (``unit_id``, ``building_id``, ``households``,
        optional ``compound_id``), in the order of ``labels``.
    labels, atoms : array of int
        Grid and whole-kept piece (building, compound, address) of each unit.
    value : array of float
        What each grid is balanced on (households or household-equivalents).
    params : PlanParams
        The plan's parameters.
    """

    def __init__(self, units: pd.DataFrame, labels: np.ndarray, atoms: np.ndarray | None,
                 value: np.ndarray, params: PlanParams) -> None:
        self.units, self.labels, self.value, self.params = units, labels, value, params
        self.atoms = atoms if atoms is not None else np.arange(len(labels))
        self.workload = "weight" in units
        self.what = "household-equivalents" if self.workload else "households"
        self.what_zh = "户当量" if self.workload else "户"
        self.splits = _split_buildings(units)

    # -- per grid ---------------------------------------------------------------------------
    def grid_reasons(self, status: np.ndarray, notes: dict[int, str],
                     sites: dict[int, dict], proved: bool = False
                     ) -> tuple[list[str], list[str]]:
        """English and Chinese reason of each grid (empty string when nothing to say).

        ``proved``: the community's grids in band are proved the most possible, which an
        out-of-band grid's reason then says.
        """
        k = len(status)
        en: list[list[str]] = [[] for _ in range(k)]
        zh: list[list[str]] = [[] for _ in range(k)]
        for g, note in notes.items():  # English text, or an (English, Chinese) pair
            e, z = note if isinstance(note, tuple) else (note, "")
            en[g].append(e)
            if z:
                zh[g].append(z)
        for g, site in sites.items():
            en[g].append(f"dedicated grid (专属网格) for {site['kind']} {site['name']} "
                         f"({site['site_id']}), kept out of the household balance".replace(
                             "  ", " "))
            zh[g].append(f"专属网格：{KIND_ZH.get(site['kind'], site['kind'])}{site['name']}"
                         f"（{site['site_id']}），不参与户数均衡")
        self._stairwells(en, zh)
        for g in range(k):
            if status[g] == "empty":
                if not en[g]:
                    en[g].append(EMPTY_EN)
                if not zh[g]:  # an English-only note (a separate part, no units) has no zh
                    zh[g].append(EMPTY_ZH)
            if status[g] in OUT_OF_BAND:
                e, z = self._band_reason(g, self._biggest(g))
                en[g].append(e)
                zh[g].append(z)
                if proved:
                    en[g].append(PROVED_EN)
                    zh[g].append(PROVED_ZH)
        return ["; ".join(p) for p in en], ["；".join(p) for p in zh]

    @functools.cached_property
    def _top_piece(self) -> dict[int, tuple[float, int, int]]:
        """Per grid: households, first unit and unit count of its largest whole-kept piece."""
        if len(self.labels) == 0:
            return {}
        hh = self.units["households"].to_numpy(float)
        atom_hh = np.bincount(self.atoms, weights=hh)
        ids, first, count = np.unique(self.atoms, return_index=True, return_counts=True)
        first_of = dict(zip(ids.tolist(), first.tolist(), strict=True))
        count_of = dict(zip(ids.tolist(), count.tolist(), strict=True))
        df = pd.DataFrame({"g": self.labels, "a": self.atoms, "h": atom_hh[self.atoms]})
        top = df.sort_values(["h", "a"], ascending=[False, True]).drop_duplicates("g")
        return {int(g): (h, first_of[a], count_of[a]) for g, a, h in top.itertuples(index=False)}

    def _biggest(self, g: int) -> tuple[float, str, str] | None:
        """Households, English and Chinese name of grid ``g``'s largest whole-kept piece
        (named only for the grids that are explained)."""
        top = self._top_piece.get(g)
        return None if top is None else (top[0], *self._piece_name(top[1], top[2]))

    def _piece_name(self, first: int, count: int) -> tuple[str, str]:
        u = self.units.iloc[first]
        comp = u["compound_id"] if "compound_id" in u.index else None
        if count > 1 and comp is not None and not pd.isna(comp):
            return f"compound {comp}", f"小区{comp}"
        b = u["building_id"]
        if count > 1:
            return f"{count} units at one address ({b}…)", f"同一地址的{count}个单位"
        if "#" in str(u["unit_id"]):
            return f"a stairwell sub-unit of building {b}", f"{b}楼的一个单元"
        return f"building {b}", f"{b}楼"

    def _band_reason(self, g: int, biggest: tuple[float, str, str] | None) -> tuple[str, str]:
        lo, hi = self.params.band
        target = self.params.target
        v = self.value[g]
        tol = needed_tolerance(v, target)
        en = (f"{v:.0f} {self.what}, {100 * (v - target) / target:+.0f}% from the target "
              f"{target} (band {lo:.0f}–{hi:.0f})")
        zh = (f"{v:.0f}{self.what_zh}，偏离目标{target}{self.what_zh} "
              f"{100 * (v - target) / target:+.0f}%（区间{lo:.0f}–{hi:.0f}）")
        if biggest is not None and biggest[0] > 0:
            en += (f"; the largest piece kept whole here is {biggest[1]} with {biggest[0]:.0f} "
                   "households")
            zh += f"；不可拆分的最大部分为{biggest[2]}，{biggest[0]:.0f}户"
        if tol < 1:
            en += f"; --tolerance {tol:.2f} would accept this grid as drawn"
            zh += f"；设置 --tolerance {tol:.2f} 即可使本网格达标"
        return en, zh

    def _stairwells(self, en: list[list[str]], zh: list[list[str]]) -> None:
        if self.splits.empty:
            return
        sub = self.units["unit_id"].astype(str).str.contains("#", regex=False).to_numpy()
        df = pd.DataFrame({"g": self.labels[sub], "b": self.units["building_id"].to_numpy()[sub]})
        for (g, b), count in df.groupby(["g", "b"]).size().items():
            n, h = self.splits.loc[b, "n"], self.splits.loc[b, "h"]
            en[g].append(f"holds {count} of {n} stairwell sub-units of building {b} ({h} "
                         "households, split by stairwell (单元) because it exceeds the band)")
            zh[g].append(f"含{b}楼{n}个单元中的{count}个（该楼{h}户，超出区间上限，按单元拆分）")

    # -- per community ----------------------------------------------------------------------
    def community(self, community_id: str, name: str, rows: pd.DataFrame) -> dict | None:
        """Why grids of this community miss the band and what would change it, or None."""
        status = rows["status"].to_numpy(dtype=object)
        if not any(s in OUT_OF_BAND for s in status):
            return None  # the common case, answered without pandas string operations
        comp = rows[rows.get("grid_type", "comprehensive") == "comprehensive"]
        bad = comp[comp["status"].isin(OUT_OF_BAND)]
        if bad.empty:
            return None
        lo, hi = self.params.band
        column = "visit_equivalents" if "visit_equivalents" in comp else "households"
        total = float(comp[column].sum())
        label = f"{community_id} {name}".strip()
        en = [f"{label}: {len(bad)} of {len(comp)} grids outside {lo:.0f}–{hi:.0f} {self.what}."]
        zh = [f"{label}：{len(comp)}个网格中有{len(bad)}个不在"
              f"{lo:.0f}–{hi:.0f}{self.what_zh}区间内。"]
        tips: list[dict] = []
        if not feasible(total, (lo, hi)):
            k, tol = division_tolerance(total, self.params.target)
            if total < lo:
                en.append(f"The community has only {total:.0f} {self.what}, fewer than {lo:.0f}, "
                          "so it is a single grid.")
                zh.append(f"社区仅有{total:.0f}{self.what_zh}，少于{lo:.0f}，只能划为一个网格。")
            else:
                en.append(f"Its {total:.0f} {self.what} cannot be divided into whole grids in "
                          f"band: {k} grid(s) would average {total / k:.0f}.")
                zh.append(f"全社区{total:.0f}{self.what_zh}无法均分为达标网格：{k}个网格平均"
                          f"{total / k:.0f}{self.what_zh}。")
            tips.append(_tip("--tolerance", tol,
                             f"makes a division into {k} grid(s) in band possible",
                             f"可划为{k}个达标网格"))
        tips += self._split_tips(bad, en, zh)
        self._coarse(bad, en, zh)
        worst = max(needed_tolerance(v, self.params.target) for v in bad[column])
        if worst < 1:
            tips.append(_tip("--tolerance", worst,
                             f"accepts all {len(bad)} out-of-band grid(s) as drawn",
                             f"现有{len(bad)}个未达标网格全部达标"))
        tips = _unique_tips(tips)
        if tips:
            en.append("Would change it: " + "; ".join(
                f"{t['option']} {t['value']} ({t['effect']})" for t in tips) + ".")
            zh.append("可调整参数：" + "；".join(
                f"{t['option']} {t['value']}（{t['effect_zh']}）" for t in tips) + "。")
        return {"community_id": community_id, "name": name, "grids": int(len(comp)),
                "out_of_band": int(len(bad)), "grid_codes": bad["grid_code"].tolist(),
                "text": " ".join(en), "text_zh": "".join(zh), "suggestions": tips}

    def _coarse(self, bad: pd.DataFrame, en: list[str], zh: list[str]) -> None:
        """Say so when whole-kept pieces in out-of-band grids are large for the band."""
        lo, hi = self.params.band
        pieces = sorted({self._biggest(g)[:2] for g in bad.index if g in self._top_piece},
                        reverse=True)
        pieces = [p for p in pieces if p[0] >= hi - lo]
        if not pieces:
            return
        listed = ", ".join(f"{name} ({h:.0f})" for h, name in pieces[:3])
        listed_zh = "、".join(f"{h:.0f}户" for h, _ in pieces[:3])
        en.append(f"Those grids hold large pieces kept whole (a building, a compound or one "
                  f"address): {listed}; grids change in steps that big, while the band is "
                  f"{hi - lo:.0f} wide.")
        zh.append(f"这些网格含有较大的不可拆分部分（楼栋、小区或同一地址）：{listed_zh}；"
                  f"网格只能按此粒度增减，而区间宽度仅{hi - lo:.0f}户。")

    def _coarse_towers(self, grids: list[int]) -> set:
        """Split buildings whose stairwell units are the largest whole piece of one of ``grids``."""
        hh = self.units["households"].to_numpy(float)
        df = pd.DataFrame({"g": self.labels, "h": np.bincount(self.atoms, weights=hh)[self.atoms],
                           "sub": self.units["unit_id"].astype(str).str.contains(
                               "#", regex=False).to_numpy(),
                           "b": self.units["building_id"].to_numpy()})
        df = df[df["g"].isin(grids)]
        top = df[df["h"] == df.groupby("g")["h"].transform("max")]
        return set(top.loc[top["sub"], "b"])

    def _split_tips(self, bad: pd.DataFrame, en: list[str], zh: list[str]) -> list[dict]:
        """Sentences and suggestions for buildings split by stairwell in out-of-band grids."""
        if self.splits.empty:
            return []
        codes = set(bad.index)  # grid labels of out-of-band grids
        sub = self.units["unit_id"].astype(str).str.contains("#", regex=False).to_numpy()
        involved = set(self.units["building_id"].to_numpy()[sub & np.isin(self.labels,
                                                                          list(codes))])
        coarse = self._coarse_towers(list(codes))
        tips = []
        s = self.params.stairwell_households
        finer = max(1, s // 2)
        for b in sorted(involved, key=str):
            n, h = int(self.splits.loc[b, "n"]), int(self.splits.loc[b, "h"])
            n2 = math.ceil(h / finer)
            en.append(f"Building {b} has {h} households; it is split by stairwell into {n} units "
                      f"of about {h / n:.0f} (--stairwell-households {s}).")
            zh.append(f"{b}楼有{h}户，按单元拆分为{n}个约{h / n:.0f}户的单元"
                      f"（--stairwell-households {s}）。")
            if b not in coarse:  # its units are not what keeps a grid out of band
                continue
            tips.append(_tip("--stairwell-households", finer,
                             f"splits the {h}-household building {b} into {n2} units of about "
                             f"{h / n2:.0f}, finer pieces to balance with",
                             f"{h}户的{b}楼拆为{n2}个约{h / n2:.0f}户的单元，便于均衡"))
        return tips


def _tip(option: str, value, effect: str, effect_zh: str) -> dict:
    return {"option": option, "value": value, "effect": effect, "effect_zh": effect_zh}


def _unique_tips(tips: list[dict]) -> list[dict]:
    seen, out = set(), []
    for t in tips:
        key = (t["option"], t["value"])
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


_NO_SPLITS = pd.DataFrame(columns=["n", "h"])


def _split_buildings(units: pd.DataFrame) -> pd.DataFrame:
    """Buildings split by stairwell: sub-unit count ``n`` and households ``h`` by building."""
    # a loop over the ids: per community, pandas' string methods cost more than the search
    sub = np.fromiter(("#" in str(v) for v in units["unit_id"].to_numpy(dtype=object)),
                      dtype=bool, count=len(units))
    if not sub.any():
        return _NO_SPLITS.copy()  # a tenth of the time of a new empty frame
    df = units.loc[sub, ["building_id", "households"]]
    return df.groupby("building_id").agg(n=("households", "size"), h=("households", "sum"))
