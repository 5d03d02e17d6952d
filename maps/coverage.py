"""Coverage map: grids coloured by deviation from the household target, with bilingual labels."""

from __future__ import annotations

import html
import logging
from pathlib import Path

import folium

from gridplan.export import to_rfc7946

log = logging.getLogger(__name__)

LABELS = {
    "zh": {"grid": "网格编码", "community": "社区", "households": "户数", "status": "状态",
           "reason": "说明", "grids": "网格", "communities": "社区边界",
           "legend": "户数偏离目标", "ok": "达标", "below_band": "偏少", "above_band": "偏多",
           "empty": "无住户", "dedicated": "专属网格", "title": "网格规划",
           "workload_hours": "月工作量(小时)", "workers": "网格员"},
    "en": {"grid": "Grid code", "community": "Community", "households": "Households",
           "status": "Status", "reason": "Reason", "grids": "Grids",
           "communities": "Communities", "legend": "Households vs target", "ok": "in band",
           "below_band": "below band", "above_band": "above band", "empty": "no households",
           "dedicated": "dedicated grid", "title": "Grid plan"},
}
# colour by deviation from target: below (blue) → in band (green) → above (red)
BINS = [(-1e9, -0.30, "#2166ac"), (-0.30, -0.15, "#67a9cf"), (-0.15, -0.05, "#a6dba0"),
        (-0.05, 0.05, "#1b7837"), (0.05, 0.15, "#a6dba0"), (0.15, 0.30, "#ef8a62"),
        (0.30, 1e9, "#b2182b")]
DEDICATED_COLOUR = "#8073ac"  # dedicated grids (专属网格): outside the household balance


def deviation_colour(households: float, target: float) -> str:
    """Fill colour of a grid from its relative deviation from the target."""
    if households == 0:
        return "#bdbdbd"
    dev = (households - target) / target
    for lo, hi, colour in BINS:
        if lo <= dev < hi:
            return colour
    return BINS[-1][2]


def plan_map(plan, lang: str = "zh") -> folium.Map:
    """A folium map of a plan: grids by deviation, community outlines, legend, layers."""
    t = {**LABELS["en"], **LABELS.get(lang, {})}
    optional = [c for c in ("workload_hours", "workers") if c in plan.grids.columns]
    reason = "reason_zh" if lang == "zh" and "reason_zh" in plan.grids.columns else "reason"
    grids = to_rfc7946(plan.grids[["grid_code", "community_id", "households", "status",
                                   *dict.fromkeys(["reason", reason]), *optional, "geometry"]])
    grids["reason"] = grids[reason]
    grids["status_label"] = grids["status"].map(lambda s: f"{t.get(s, s)} / {s}")
    grids["fill"] = [DEDICATED_COLOUR if s == "dedicated" else deviation_colour(
        h, plan.params.target) for h, s in zip(grids["households"], grids["status"], strict=True)]
    comm = to_rfc7946(plan.communities[["community_id", "geometry"]])
    minx, miny, maxx, maxy = grids.total_bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=15,
                   tiles="OpenStreetMap", control_scale=True,
                   attr="© OpenStreetMap contributors")
    folium.GeoJson(
        grids, name=f"{t['grids']} / Grids",
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "color": "#333",
                                  "weight": 1, "fillOpacity": 0.6},
        tooltip=folium.GeoJsonTooltip(
            fields=["grid_code", "community_id", "households", *optional, "status_label",
                    "reason"],
            aliases=[t["grid"], t["community"], t["households"], *(t[c] for c in optional),
                     t["status"], t["reason"]]),
    ).add_to(m)
    folium.GeoJson(comm, name=f"{t['communities']} / Communities",
                   style_function=lambda f: {"fill": False, "color": "#000", "weight": 3}
                   ).add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    m.get_root().html.add_child(folium.Element(_legend(t, plan.params.target)))
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def _legend(t: dict, target: int) -> str:
    rows = "".join(
        f'<div><span style="background:{c};width:14px;height:14px;display:inline-block;'
        f'margin-right:6px"></span>{_bin_label(lo, hi)}</div>' for lo, hi, c in BINS)
    rows += ('<div><span style="background:#bdbdbd;width:14px;height:14px;display:inline-block;'
             f'margin-right:6px"></span>{html.escape(t["empty"])}</div>')
    rows += (f'<div><span style="background:{DEDICATED_COLOUR};width:14px;height:14px;'
             f'display:inline-block;margin-right:6px"></span>{html.escape(t["dedicated"])}</div>')
    return ('<div style="position:fixed;bottom:24px;left:12px;z-index:9999;background:white;'
            'padding:8px 10px;border:1px solid #999;font:12px sans-serif">'
            f'<b>{html.escape(t["legend"])} ({target})</b>{rows}</div>')


def _bin_label(lo: float, hi: float) -> str:
    if lo < -1:
        return f"< {hi:+.0%}"
    if hi > 1:
        return f"> {lo:+.0%}"
    return f"{lo:+.0%} … {hi:+.0%}"


def save_plan_map(plan, path: str | Path, lang: str = "zh") -> Path:
    """Write the plan's map as a standalone HTML file."""
    path = Path(path)
    plan_map(plan, lang=lang).save(str(path))
    log.info("wrote map %s", path)
    return path


__all__ = ["deviation_colour", "plan_map", "save_plan_map"]
