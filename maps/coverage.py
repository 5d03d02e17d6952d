"""Coverage map: a self-contained HTML page of a plan's grids, workers, service points and reach."""

from __future__ import annotations

import html
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element
from folium.map import Layer
from folium.template import Template
from gridplan.maps.assets import inline_css, inline_js
from gridplan.maps.labels import LABELS, label
from gridplan.maps.layers import (
    DEFAULT_BANDS,
    DETOUR,
    UNASSIGNED,
    Bands,
    feature_collection_text,
    light_geojson,
    service_points,
    uncovered_units,
    walking_bands,
    worker_text,
)

from gridplan.errors import InputError

log = logging.getLogger(__name__)

# colour by deviation from target: below (blue) → in band (green) → above (red)
BINS = [(-1e9, -0.30, "#2166ac"), (-0.30, -0.15, "#67a9cf"), (-0.15, -0.05, "#a6dba0"),
        (-0.05, 0.05, "#1b7837"), (0.05, 0.15, "#a6dba0"), (0.15, 0.30, "#ef8a62"),
        (0.30, 1e9, "#b2182b")]
EMPTY = "#bdbdbd"
DEDICATED_COLOUR = "#8073ac"  # dedicated grids (专属网格): outside the household balance
WORKLOAD_COLOURS = ["#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15"]
BAND_COLOURS = ["#6a51a3", "#9e9ac8", "#dadaeb", "#f2f0f7"]
WORKER_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                  "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39"]
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
AMAP_TILES = ("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
              "&x={x}&y={y}&z={z}")
UNITS_SHOWN_UP_TO = 5000  # more units than this start hidden (turn them on in the layer control)
UNITS_DRAWN_UP_TO = 20_000  # more units than this are left out unless asked for (--units)


@dataclass
class MapOptions:
    """What a coverage map shows and how.

    Attributes
    ----------
    tiles : str
        ``osm``, ``none``, ``amap`` (GCJ-02 Gaode tiles) or a tile URL with ``{z}/{x}/{y}``.
    gcj02 : bool
        Shift overlays from WGS84 to GCJ-02 (for a GCJ-02 base map; implied by ``amap``).
    centres : GeoDataFrame, optional
        Service centre points; without them each community's most central unit is used.
    barriers : GeoDataFrame, optional
        Roads, railways, rivers (lines) to draw.
    street : StreetNetwork, optional
        Walking network (in the plan's CRS) for network-distance bands.
    bands_m : tuple of float
        Walking-distance bands in metres.
    simplify_m : float
        Douglas-Peucker tolerance in metres for drawn polygons (0 keeps every vertex).
    units : bool, optional
        Draw the units layer: ``None`` (default) draws it up to ``UNITS_DRAWN_UP_TO`` units
        and leaves it out above (the legend says so); ``True`` always, ``False`` never.
    """

    tiles: str = "osm"
    gcj02: bool = False
    centres: gpd.GeoDataFrame | None = None
    barriers: gpd.GeoDataFrame | None = None
    street: object | None = None
    bands_m: tuple = field(default=DEFAULT_BANDS)
    simplify_m: float = 1.0
    units: bool | None = None


def deviation_colour(households: float, target: float) -> str:
    """Fill colour of a grid from its relative deviation from the target.

    Examples
    --------
    >>> deviation_colour(300, 300)
    '#1b7837'
    """
    if households == 0:
        return EMPTY
    dev = (households - target) / target
    for lo, hi, colour in BINS:
        if lo <= dev < hi:
            return colour
    return BINS[-1][2]


def tile_layer(tiles: str) -> tuple[folium.TileLayer | None, bool]:
    """The base map for ``tiles`` and whether it is drawn in GCJ-02.

    Examples
    --------
    >>> tile_layer("none")
    (None, False)
    """
    if tiles == "none":
        return None, False
    if tiles == "osm":
        return folium.TileLayer(OSM_TILES, attr="© OpenStreetMap contributors",
                                name="OpenStreetMap", max_zoom=19), False
    if tiles == "amap":
        return folium.TileLayer(AMAP_TILES, attr="© 高德地图 AutoNavi", name="高德 Amap",
                                subdomains="1234", max_zoom=18), True
    if not all(k in tiles for k in ("{z}", "{x}", "{y}")):
        raise InputError(f"not a tile URL: {tiles!r}", field="--tiles",
                         fix="give osm, none, amap or a URL with {z}, {x} and {y}, e.g. "
                             "http://intranet/tiles/{z}/{x}/{y}.png")
    return folium.TileLayer(tiles, attr="base map: " + html.escape(tiles), name="base map",
                            max_zoom=20), False


def plan_map(plan, lang: str = "zh", options: MapOptions | None = None) -> folium.Map:
    """A folium map of a plan, with every library inlined so it opens without internet.

    Layers: grids by household deviation, by workload and by worker (once staffed),
    community boundaries, barriers (if given), units with households on hover (left out
    above ``UNITS_DRAWN_UP_TO`` units unless ``options.units``), service points,
    walking-distance bands and the households left uncovered; a legend explains each.

    folium builds the page (map, base layer, layer control, legend); each data layer's
    GeoJSON is serialised once as text and placed in the page as it is, never turned into
    Python dicts nor passed through a template.

    Examples
    --------
    >>> m = plan_map(plan, lang="en", options=MapOptions(tiles="none"))  # doctest: +SKIP
    """
    opt = options or MapOptions()
    t = {**LABELS["en"], **LABELS.get(lang, {})}
    base, base_gcj = tile_layer(opt.tiles)
    shift = opt.gcj02 or base_gcj
    unit_xy = shapely.get_coordinates(shapely.point_on_surface(plan.units.geometry.values))
    points = service_points(plan, opt.centres, unit_xy=unit_xy)
    bands = walking_bands(plan, points, opt.bands_m, opt.street, unit_xy=unit_xy)
    uncovered = uncovered_units(plan, bands.unit_walk_m, max(opt.bands_m))

    def light(gdf):
        return light_geojson(gdf, simplify_m=opt.simplify_m, gcj02=shift)

    grids = light(_grid_frame(plan, t, lang))
    m = _base_map(grids.total_bounds, base)
    _add_tooltip_helper(m)
    _add_bands(m, light(bands.polygons), t)
    _add_grids(m, grids, t, plan.params.target)
    comm = light(plan.communities[["community_id", "geometry"]])
    _data_layer(m, comm, label(t, "communities"), style={"fill": False, "color": "#000",
                                                          "weight": 3})
    if opt.barriers is not None:
        _add_barriers(m, light(_lines(opt.barriers, plan.crs)), t)
    draw_units = opt.units if opt.units is not None else len(plan.units) <= UNITS_DRAWN_UP_TO
    if draw_units:
        _add_units(m, light(_unit_frame(plan, bands)), t)
    _add_uncovered(m, light(uncovered[["unit_id", "grid_code", "households", "why",
                                       "geometry"]]), t)
    _add_points(m, light_geojson(points, simplify_m=0, gcj02=shift), t)
    legend = _legend(t, plan, points, bands, uncovered, grids, units_drawn=draw_units)
    m.get_root().html.add_child(folium.Element(legend))
    folium.LayerControl(collapsed=False).add_to(m)
    return m


class _Text(Element):
    """Page text placed as it is: no template, so a large data layer is never lexed."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def render(self, **kwargs) -> str:
        return self.text


class _DataLayer(Layer):
    """A GeoJSON overlay drawing the page variable ``data_var`` (see :func:`_data_layer`)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJson(null, {{ this.js_options }});
        {{ this.get_name() }}.addData({{ this.data_var }});
        {%- if this.tooltip %}
        {{ this.get_name() }}.bindTooltip(gridplanTooltip({{ this.tooltip }}),
            {"sticky": true, "className": "foliumtooltip"});
        {%- endif %}
        {% endmacro %}
        """)

    def __init__(self, data_var: str, name: str, js_options: str, tooltip: str | None,
                 show: bool = True) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "GeoJson"
        self.data_var, self.js_options, self.tooltip = data_var, js_options, tooltip


def _data_layer(m: folium.Map, data: gpd.GeoDataFrame | str, name: str, *, style: dict,
                fill_from: str | None = None, fields: list[str] | None = None,
                aliases: list[str] | None = None, show: bool = True,
                point: dict | None = None) -> str:
    """Add an overlay of ``data`` (a layer in EPSG:4326, or the name of one already placed).

    ``style`` is Leaflet's path style; ``fill_from`` names the property holding each
    feature's fill colour; ``fields``/``aliases`` make the hover table; ``point`` draws
    points as circle markers with these options. Returns the page variable of the data.
    """
    root = m.get_root()
    if isinstance(data, str):
        var = data
    else:
        var = f"gridplan_data_{len(getattr(root, 'gridplan_data', []))}"
        root.gridplan_data = [*getattr(root, "gridplan_data", []), var]
        root.html.add_child(_Text(f"<script>var {var} = {feature_collection_text(data)};"
                                  "</script>\n"), name=var)
    style_js = json.dumps(style)
    if fill_from:
        style_js = (f"function (f) {{ return Object.assign({{fillColor: "
                    f"f.properties[{json.dumps(fill_from)}]}}, {style_js}); }}")
    else:
        style_js = f"function () {{ return {style_js}; }}"
    options = f"{{style: {style_js}"
    if not fields:  # nothing to show on hover: let the mouse through to the layers below
        options += ", interactive: false"
    if point is not None:
        options += (f", pointToLayer: function (f, latlng) {{ return L.circleMarker(latlng, "
                    f"{json.dumps(point)}); }}")
    options += "}"
    tooltip = (", ".join(json.dumps(v, ensure_ascii=False) for v in (fields, aliases))
               if fields else None)
    _DataLayer(var, name, options, tooltip, show=show).add_to(m)
    return var


TOOLTIP_JS = """<script>
function gridplanTooltip(fields, aliases) {
  var esc = function (v) {
    if (v === null || v === undefined) { return ''; }
    if (typeof v == 'object') { v = JSON.stringify(v); }
    return String(v).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  };
  return function (layer) {
    var p = layer.feature.properties, div = L.DomUtil.create('div');
    div.innerHTML = '<table>' + fields.map(function (f, i) {
      return '<tr><th>' + esc(aliases[i]) + '</th><td>' + esc(p[f]) + '</td></tr>';
    }).join('') + '</table>';
    return div;
  };
}
</script>
<style>
.foliumtooltip table { margin: auto; }
.foliumtooltip tr { text-align: left; }
.foliumtooltip th { padding: 2px; padding-right: 8px; }
</style>"""


def _add_tooltip_helper(m: folium.Map) -> None:
    m.get_root().header.add_child(folium.Element(TOOLTIP_JS), name="gridplan_tooltip")


def _base_map(bounds, base: folium.TileLayer | None) -> folium.Map:
    """The map around ``bounds`` (the drawn grids' in EPSG:4326), libraries inlined."""
    minx, miny, maxx, maxy = bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=15, tiles=None,
                   control_scale=True, prefer_canvas=True)
    _inline_libraries(m)
    if base is not None:
        base.add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


def _inline_libraries(m: folium.Map) -> None:
    """Replace folium's CDN links by the vendored Leaflet, inlined (never a CDN)."""
    m.default_js, m.default_css = [], []
    head = m.get_root().header
    head.add_child(folium.Element(f"<style>{inline_css('leaflet.css')}</style>"), name="lcss")
    head.add_child(folium.Element(f"<script>{inline_js('leaflet.js')}</script>"), name="ljs")


def _grid_frame(plan, t: dict, lang: str) -> gpd.GeoDataFrame:
    cols = ["grid_code", "community_id", "households", "status", "reason"]
    extra = [c for c in ("workload_hours", "workers") if c in plan.grids.columns
             and plan.grids[c].notna().any()]
    grids = plan.grids[[*cols, *extra, "geometry"]].copy()
    if lang == "zh" and "reason_zh" in plan.grids.columns:
        grids["reason"] = plan.grids["reason_zh"]
    grids["status_label"] = grids["status"].map(lambda s: f"{t.get(s, s)} / {s}")
    grids["fill"] = [DEDICATED_COLOUR if s == "dedicated" else deviation_colour(
        h, plan.params.target) for h, s in zip(grids["households"], grids["status"],
                                               strict=True)]
    if "workload_hours" in grids:
        hours = grids["workload_hours"].astype(float)
        edges = _quantile_edges(hours)
        grids["load_fill"] = [WORKLOAD_COLOURS[int(np.searchsorted(edges, h, side="right"))]
                              for h in hours]
        grids.attrs["load_edges"] = edges
    if "workers" in grids:
        text = grids["workers"].map(worker_text)
        if text.isna().all():  # never staffed: no worker layer
            grids = grids.drop(columns="workers")
        else:
            grids["workers"] = text.fillna(UNASSIGNED)
    return grids


def _quantile_edges(values: pd.Series) -> list[float]:
    qs = np.quantile(values.dropna(), [0.2, 0.4, 0.6, 0.8]) if values.notna().any() else []
    return [round(float(q), 1) for q in qs]


def _add_grids(m: folium.Map, grids: gpd.GeoDataFrame, t: dict, target: int) -> None:
    optional = [c for c in ("workload_hours", "workers") if c in grids.columns]
    fields = ["grid_code", "community_id", "households", *optional, "status_label", "reason"]
    aliases = [label(t, "grid"), label(t, "community"), label(t, "households"),
               *(label(t, c) for c in optional), label(t, "status"), label(t, "reason")]
    keep = [*fields, "fill", *(["load_fill"] if "load_fill" in grids else []), "geometry"]
    data = grids[keep]
    if "workers" in grids:
        colours = _worker_colours(grids["workers"])
        data = data.assign(worker_fill=grids["workers"].map(colours))
    var = _data_layer(m, data, label(t, "grids"), fill_from="fill",
                      style={"color": "#333", "weight": 1, "fillOpacity": 0.6},
                      fields=fields, aliases=aliases)
    if "load_fill" in grids:
        _data_layer(m, var, label(t, "workload_layer"), show=False, fill_from="load_fill",
                    style={"color": "#555", "weight": 1, "fillOpacity": 0.7},
                    fields=fields, aliases=aliases)
    if "workers" in grids:
        _data_layer(m, var, label(t, "worker_layer"), show=False, fill_from="worker_fill",
                    style={"color": "#222", "weight": 1, "fillOpacity": 0.6},
                    fields=fields, aliases=aliases)


def _worker_colours(workers: pd.Series) -> dict[str, str]:
    out = {}
    for i, w in enumerate(sorted(workers.unique())):
        out[w] = "#000000" if w == UNASSIGNED else WORKER_PALETTE[i % len(WORKER_PALETTE)]
    return out


def _add_bands(m: folium.Map, bands: gpd.GeoDataFrame, t: dict) -> None:
    if bands.empty:
        return
    order = {b: i for i, b in enumerate(sorted(bands["band_m"].unique()))}
    bands = bands.assign(band=bands["band_m"].map(lambda b: f"≤ {b:.0f} m"),
                         fill=bands["band_m"].map(lambda b: BAND_COLOURS[min(order[b], 3)]))
    _data_layer(m, bands, label(t, "bands"), show=False, fill_from="fill",
                style={"color": "#54278f", "weight": 0.5, "fillOpacity": 0.45},
                fields=["community_id", "band"], aliases=[label(t, "community"), label(t, "walk")])


def _lines(barriers: gpd.GeoDataFrame, crs) -> gpd.GeoDataFrame:
    if barriers.crs is None:
        raise InputError("the barriers layer declares no CRS", field="--barriers",
                         fix="save it with a CRS (e.g. EPSG:4326 GeoJSON)")
    kind = next((c for c in ("kind", "highway", "waterway", "railway", "type")
                 if c in barriers.columns), None)
    out = gpd.GeoDataFrame({"kind": barriers[kind].astype(str) if kind else "barrier"},
                           geometry=barriers.geometry.values, crs=barriers.crs).to_crs(crs)
    return out[out.geom_type.isin(["LineString", "MultiLineString", "Polygon",
                                   "MultiPolygon"])]


def _add_barriers(m: folium.Map, barriers: gpd.GeoDataFrame, t: dict) -> None:
    if barriers.empty:
        return
    _data_layer(m, barriers, label(t, "barriers"),
                style={"color": "#08519c", "weight": 2.5, "dashArray": "6 4", "fill": False},
                fields=["kind"], aliases=[label(t, "barrier")])


def _unit_frame(plan, bands: Bands) -> gpd.GeoDataFrame:
    units = plan.units[["unit_id", "grid_code", "households", "geometry"]].copy()
    walk = bands.unit_walk_m.reindex(units.index)
    units["walk_m"] = [("—" if not np.isfinite(w) else f"{w:.0f}") for w in walk]
    return units


def _add_units(m: folium.Map, units: gpd.GeoDataFrame, t: dict) -> None:
    _data_layer(m, units, label(t, "units"), show=len(units) <= UNITS_SHOWN_UP_TO,
                style={"color": "#444", "weight": 0.5, "fillOpacity": 0.1, "fillColor": "#fff"},
                fields=["unit_id", "households", "grid_code", "walk_m"],
                aliases=[label(t, "unit"), label(t, "households"), label(t, "grid"),
                         label(t, "walk_m")])


def _add_uncovered(m: folium.Map, units: gpd.GeoDataFrame, t: dict) -> None:
    if units.empty:
        return
    units = units.assign(why=units["why"].map(lambda w: label(t, w)))
    _data_layer(m, units, label(t, "uncovered"),
                style={"color": "#e31a1c", "weight": 2, "fillColor": "#e31a1c",
                       "fillOpacity": 0.5},
                fields=["unit_id", "households", "grid_code", "why"],
                aliases=[label(t, "unit"), label(t, "households"), label(t, "grid"),
                         label(t, "reason")])


def _add_points(m: folium.Map, points: gpd.GeoDataFrame, t: dict) -> None:
    points = points.assign(source=points["source"].map(lambda s: label(t, s)))
    _data_layer(m, points, label(t, "centres"), style={},
                point={"radius": 7, "color": "#000", "weight": 2, "fill": True,
                       "fillColor": "#ffd92f", "fillOpacity": 1},
                fields=["community_id", "source"],
                aliases=[label(t, "community"), label(t, "centre_source")])


def _swatch(colour: str, text: str, outline: str | None = None) -> str:
    border = f"border:2px solid {outline};" if outline else ""
    return (f'<div><span style="background:{colour};{border}width:14px;height:14px;'
            f'display:inline-block;margin-right:6px;vertical-align:middle"></span>'
            f"{html.escape(text)}</div>")


# the legend joins Leaflet's bottom-left corner, above the scale bar (a fixed box hid it)
LEGEND_JS = """<script>
window.addEventListener("load", function () {
  var legend = document.querySelector(".gridplan-legend");
  var corner = document.querySelector(".leaflet-bottom.leaflet-left");
  if (legend && corner) {
    corner.insertBefore(legend, corner.firstChild);
    L.DomEvent.disableClickPropagation(legend); L.DomEvent.disableScrollPropagation(legend);
  }
});
</script>"""


def _legend(t: dict, plan, points, bands: Bands, uncovered, grids, units_drawn: bool = True
            ) -> str:
    parts = [f'<b>{html.escape(label(t, "legend"))} ({plan.params.target})</b>']
    parts += [_swatch(c, _bin_label(lo, hi)) for lo, hi, c in BINS]
    parts.append(_swatch(EMPTY, label(t, "empty")))
    if (grids["status"] == "dedicated").any():
        parts.append(_swatch(DEDICATED_COLOUR, label(t, "dedicated")))
    edges = grids.attrs.get("load_edges")
    if edges:
        parts.append(f'<b>{html.escape(label(t, "workload_hours"))}</b>')
        bounds = ["", *[f"{e:g}" for e in edges], ""]
        for i, c in enumerate(WORKLOAD_COLOURS):
            lo, hi = bounds[i], bounds[i + 1]
            parts.append(_swatch(c, f"< {hi}" if not lo else (f"≥ {lo}" if not hi
                                                               else f"{lo} – {hi}")))
    sources = set(points["source"])
    parts.append(_swatch("#ffd92f", label(t, "centres"), outline="#000"))
    parts.append(f'<div style="margin-left:20px">{html.escape(_centre_note(t, sources))}</div>')
    method = (label(t, "bands_network") if bands.method == "network"
              else label(t, "bands_straight").format(detour=DETOUR))
    parts.append(_swatch(BAND_COLOURS[0], label(t, "bands")))
    parts.append(f'<div style="margin-left:20px">{html.escape(method)}</div>')
    if not units_drawn:
        note = label(t, "units_left_out").format(n=f"{len(plan.units):,}",
                                                  limit=f"{UNITS_DRAWN_UP_TO:,}")
        parts.append(f"<div>{html.escape(note)}</div>")
    parts.append(_swatch("#e31a1c", label(t, "uncovered")))
    parts.append(f'<div style="margin-left:20px">{html.escape(_uncovered_note(t, plan, uncovered, bands))}</div>')  # noqa: E501
    return ('<div class="gridplan-legend leaflet-control" style="background:white;'
            'padding:8px 10px;border:1px solid #999;font:12px sans-serif;max-width:330px;'
            'max-height:60vh;overflow:auto">'
            f'<div style="font-size:14px;font-weight:bold;margin-bottom:4px">'
            f'{html.escape(label(t, "title"))}</div>{"".join(parts)}</div>' + LEGEND_JS)


def _centre_note(t: dict, sources: set) -> str:
    if sources == {"file"}:
        return label(t, "file")
    if sources == {"central_unit"}:
        return label(t, "central_unit")
    return f'{label(t, "file")}; {label(t, "central_unit")}'


def _uncovered_note(t: dict, plan, uncovered, bands: Bands) -> str:
    by = uncovered.groupby("why")["households"].sum()
    staffed = "workers" in plan.grids and plan.grids["workers"].map(worker_text).notna().any()
    lines = [label(t, "no_worker_count").format(n=int(by.get("no_worker", 0)))] if staffed else []
    lines += [label(t, "beyond_count").format(n=int(by.get("beyond_walk", 0)),
                                             m=f"{bands.polygons['band_m'].max():.0f}"
                                             if not bands.polygons.empty else "?")]
    outside = plan.report.get("input", {}).get("households_outside_communities", 0)
    if outside:
        lines.append(label(t, "outside_count").format(n=int(outside)))
    return "; ".join(lines)


def _bin_label(lo: float, hi: float) -> str:
    if lo < -1:
        return f"< {hi:+.0%}"
    if hi > 1:
        return f"> {lo:+.0%}"
    return f"{lo:+.0%} … {hi:+.0%}"


def render_html(plan, lang: str = "zh", options: MapOptions | None = None) -> str:
    """The coverage map of a plan as one HTML string (what ``GET /plans/{id}/map`` returns).

    Examples
    --------
    >>> "<html" in render_html(plan, options=MapOptions(tiles="none"))  # doctest: +SKIP
    True
    """
    m = plan_map(plan, lang=lang, options=options)
    root = m.get_root()
    root.title = html.escape(label({**LABELS["en"], **LABELS.get(lang, {})}, "title"))
    text = root.render()
    _release(m)
    return text


def _release(m: folium.Map) -> None:
    """Drop the page's data text and the map's children now, not at the next GC pass."""
    root = m.get_root()
    for element in (root.header, root.html, root.script, m):
        element._children.clear()


def save_plan_map(plan, path: str | Path, lang: str = "zh",
                  options: MapOptions | None = None) -> Path:
    """Write the plan's coverage map as one standalone HTML file, replacing it atomically.

    Examples
    --------
    >>> save_plan_map(plan, "out/map.html", lang="en")  # doctest: +SKIP
    PosixPath('out/map.html')
    """
    path = Path(path)
    text = render_html(plan, lang=lang, options=options)
    fd, tmp = tempfile.mkstemp(prefix=".map-", suffix=".html", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        del text
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a map is as readable as any output
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log.info("wrote map %s (%.0f kB)", path, path.stat().st_size / 1024)
    return path


__all__ = ["MapOptions", "deviation_colour", "plan_map", "render_html", "save_plan_map",
           "tile_layer"]
