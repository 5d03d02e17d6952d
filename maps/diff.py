"""Diff map: what a re-plan changed — grids kept, redrawn, new or locked, and units moved."""

from __future__ import annotations

import html
import logging
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import shapely

from gridplan.export.folder import to_rfc7946

log = logging.getLogger(__name__)

LABELS = {
    "zh": {"title": "网格调整对比", "grid": "网格编码", "households": "户数", "change": "变化",
           "status": "状态", "kept": "未变", "reshaped": "边界调整", "new": "新增网格",
           "locked": "锁定", "old": "原网格边界", "moved": "换网格的楼栋", "added": "新增楼栋",
           "removed": "拆除楼栋", "unit": "楼栋/单元", "old_grid": "原网格",
           "new_grid": "新网格", "grids": "调整后网格"},
    "en": {"title": "Re-plan changes", "grid": "Grid code", "households": "Households",
           "change": "Change", "status": "Status", "kept": "kept", "reshaped": "redrawn",
           "new": "new grid", "locked": "locked", "old": "Old grid boundaries",
           "moved": "Units that changed grid", "added": "New units", "removed": "Removed units",
           "unit": "Unit", "old_grid": "Old grid", "new_grid": "New grid",
           "grids": "Grids after re-plan"},
}
FILL = {"kept": "#d9d9d9", "reshaped": "#fdae61", "new": "#d7191c", "locked": "#2c7bb6"}
MARK = {"moved": "#7b3294", "new": "#1a9641", "removed": "#000000"}


def diff_map(new_plan, old_plan, changes) -> folium.Map:
    """A folium map of a re-plan: grids by kind of change, old outlines, changed units.

    Examples
    --------
    >>> m = diff_map(result.plan, result.old, result.changes)    # doctest: +SKIP
    """
    zh, en = LABELS["zh"], LABELS["en"]
    grids = to_rfc7946(new_plan.grids[["grid_code", "households", "status", "change",
                                       "geometry"]])
    grids["change_label"] = grids["change"].map(lambda c: f"{zh[c]} / {en[c]}")
    minx, miny, maxx, maxy = grids.total_bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=15,
                   tiles="OpenStreetMap", control_scale=True,
                   attr="© OpenStreetMap contributors")
    folium.GeoJson(
        grids, name=f"{zh['grids']} / {en['grids']}",
        style_function=lambda f: {"fillColor": FILL[f["properties"]["change"]], "color": "#333",
                                  "weight": 1, "fillOpacity": 0.55},
        tooltip=folium.GeoJsonTooltip(
            fields=["grid_code", "households", "status", "change_label"],
            aliases=[f"{zh[k]} / {en[k]}" for k in ("grid", "households", "status", "change")]),
    ).add_to(m)
    touched = set(changes["old_grid"].dropna()) | set(
        new_plan.grids.loc[new_plan.grids["change"].isin(["reshaped", "new"]), "grid_code"])
    old = old_plan.grids[old_plan.grids["grid_code"].isin(touched)]
    if len(old):
        folium.GeoJson(to_rfc7946(old[["grid_code", "geometry"]]),
                       name=f"{zh['old']} / {en['old']}",
                       style_function=lambda f: {"fill": False, "color": "#000", "weight": 2,
                                                 "dashArray": "6 4"},
                       tooltip=folium.GeoJsonTooltip(fields=["grid_code"],
                                                     aliases=[f"{zh['old_grid']} / "
                                                              f"{en['old_grid']}"])
                       ).add_to(m)
    _units(m, new_plan.units, old_plan.units, changes)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    m.get_root().html.add_child(folium.Element(_legend()))
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def _units(m: folium.Map, units, old_units, changes) -> None:
    """One layer of markers per kind of unit change."""
    zh, en = LABELS["zh"], LABELS["en"]
    where = {**dict(zip(old_units["unit_id"].astype(str), old_units.geometry, strict=True)),
             **dict(zip(units["unit_id"].astype(str), units.geometry, strict=True))}
    for kind, label in (("moved", "moved"), ("new", "added"), ("removed", "removed")):
        rows = changes[changes["change"] == kind]
        if not len(rows):
            continue
        pts = gpd.GeoDataFrame(rows.assign(old_grid=rows["old_grid"].fillna("—"),
                                           new_grid=rows["new_grid"].fillna("—")),
                               geometry=[where[u].representative_point() for u in rows["unit_id"]],
                               crs=units.crs).to_crs(4326)
        layer = folium.FeatureGroup(name=f"{zh[label]} / {en[label]}")
        for r in pts.itertuples():
            tip = (f"{zh['unit']}/{en['unit']}: {html.escape(str(r.unit_id))}<br>"
                   f"{zh['old_grid']}: {r.old_grid} → {zh['new_grid']}: {r.new_grid}<br>"
                   f"{zh['households']}/{en['households']}: {r.households}")
            folium.CircleMarker([r.geometry.y, r.geometry.x], radius=6, color=MARK[kind],
                                fill=True, fill_opacity=0.9, tooltip=tip).add_to(layer)
        layer.add_to(m)


def _legend() -> str:
    zh, en = LABELS["zh"], LABELS["en"]
    rows = "".join(
        f'<div><span style="background:{c};width:14px;height:14px;display:inline-block;'
        f'margin-right:6px"></span>{zh[k]} / {en[k]}</div>' for k, c in FILL.items())
    rows += "".join(
        f'<div><span style="background:{c};width:10px;height:10px;border-radius:5px;'
        f'display:inline-block;margin:0 8px 0 2px"></span>{zh[k2]} / {en[k2]}</div>'
        for (k, c), k2 in zip(MARK.items(), ("moved", "added", "removed"), strict=True))
    rows += (f'<div><span style="border-top:2px dashed #000;width:14px;display:inline-block;'
             f'margin-right:6px"></span>{zh["old"]} / {en["old"]}</div>')
    return ('<div style="position:fixed;bottom:24px;left:12px;z-index:9999;background:white;'
            'padding:8px 10px;border:1px solid #999;font:12px sans-serif">'
            f'<b>{zh["title"]} / {en["title"]}</b>{rows}</div>')


def diff_svg(new_plan, old_plan, changes, width: int = 900) -> str:
    """A static SVG of a re-plan (for documents): grids by change, old outlines, units changed.

    Examples
    --------
    >>> svg = diff_svg(result.plan, result.old, result.changes)   # doctest: +SKIP
    """
    zh, en = LABELS["zh"], LABELS["en"]
    minx, miny, maxx, maxy = new_plan.grids.total_bounds
    scale = width / (maxx - minx)
    height = int((maxy - miny) * scale) + 90

    def path(geom) -> str:
        rings = []
        for poly in shapely.get_parts(geom):
            for ring in (poly.exterior, *poly.interiors):
                xy = np.asarray(ring.coords)
                pts = " L".join(f"{(x - minx) * scale:.1f} {(maxy - y) * scale:.1f}"
                                for x, y in xy[:, :2])
                rings.append(f"M{pts} Z")
        return " ".join(rings)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">',
           '<rect width="100%" height="100%" fill="white"/>']
    for geom, kind in zip(new_plan.grids.geometry.values, new_plan.grids["change"], strict=True):
        out.append(f'<path d="{path(geom)}" fill="{FILL[kind]}" fill-opacity="0.75" '
                   'stroke="#333" stroke-width="0.8" fill-rule="evenodd"/>')
    for geom in new_plan.communities.geometry.values:
        out.append(f'<path d="{path(geom)}" fill="none" stroke="#000" stroke-width="3"/>')
    touched = set(changes["old_grid"].dropna()) | set(
        new_plan.grids.loc[new_plan.grids["change"].isin(["reshaped", "new"]), "grid_code"])
    for geom in old_plan.grids.loc[old_plan.grids["grid_code"].isin(touched)].geometry.values:
        out.append(f'<path d="{path(geom)}" fill="none" stroke="#000" stroke-width="1.6" '
                   'stroke-dasharray="6 4"/>')
    where = dict(zip(new_plan.units["unit_id"].astype(str), new_plan.units.geometry, strict=True))
    for kind in ("moved", "new"):
        for uid in changes.loc[changes["change"] == kind, "unit_id"]:
            if uid in where:
                p = where[uid].representative_point()
                out.append(f'<circle cx="{(p.x - minx) * scale:.1f}" '
                           f'cy="{(maxy - p.y) * scale:.1f}" r="4" fill="{MARK[kind]}"/>')
    y = height - 45
    items = [(FILL[k], f"{zh[k]} / {en[k]}") for k in FILL] + [
        (MARK["moved"], f"{zh['moved']} / {en['moved']}"),
        (MARK["new"], f"{zh['added']} / {en['added']}")]
    x = 10
    for colour, text in items:
        out.append(f'<rect x="{x}" y="{y}" width="14" height="14" fill="{colour}"/>'
                   f'<text x="{x + 18}" y="{y + 12}">{html.escape(text)}</text>')
        x += 32 + sum(13 if ord(ch) > 0x2E80 else 7 for ch in text)
        if x > width - 150:
            x, y = 10, y + 22
    out.append(f'<text x="10" y="{height - 52}">{html.escape(zh["title"])} / '
               f'{html.escape(en["title"])} — {html.escape(zh["old"])} / '
               f'{html.escape(en["old"])}: - - -</text>')
    out.append("</svg>")
    return "\n".join(out)


def save_diff_map(new_plan, old_plan, changes, path: str | Path) -> Path:
    """Write the re-plan's diff map as a standalone HTML file."""
    path = Path(path)
    diff_map(new_plan, old_plan, changes).save(str(path))
    log.info("wrote diff map %s", path)
    return path


__all__ = ["diff_map", "diff_svg", "save_diff_map"]
