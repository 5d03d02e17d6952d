// The map: Leaflet layers of grids and cells, base maps, the active grid and the edit modes
// (click to move, box, lasso, split line, merge). A click or a drawn shape calls the edits
// that main.js gives initMap (edits.js draws on this map, so this module does not import it).
import { getJSON } from "./api.js";
import { shiftGeometry } from "./gcj02.js";
import { t } from "./i18n.js";
import { shortCode } from "./messages.js";
import { bandRange, clearMessages, later, say, STATUSES, tableRow, updateButtons } from "./panel.js";
import { $, body, cellsOf, esc, S } from "./state.js";

var TILES = {
  osm: { url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png", gcj: false,
         opts: { maxZoom: 19, attribution: "© OpenStreetMap contributors" } },
  amap: { url: "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
          gcj: true, opts: { subdomains: "1234", maxZoom: 18, attribution: "© 高德地图 AutoNavi" } }
};
// fill by band status, the one the API computes (gridplan.engine.metrics.band_status);
// the same colours as .band.* in editor.css
export var STATUS_COLOURS = { ok: "#5aae61", above_band: "#e66101", below_band: "#4393c3",
                              dedicated: "#8073ac", empty: "#bdbdbd" };

export var map, gridLayer;
var renderer, cellLayer, baseLayer, commLayer, labelLayer, legend, proposalLayer;
var edits;  // moveCells, mergeWith, splitGrid, previewMove, suggestArea, wantCells

function gridColour(code) {
  var g = S.grids[code];
  return STATUS_COLOURS[g && g.properties.status] || "#bdbdbd";
}

// a parcel or grid outside the active grid's community cannot join it: drawn faint
function otherCommunity(communityId) {
  var a = S.active && S.grids[S.active];
  return !!(a && communityId != null && communityId !== a.properties.community_id &&
            (S.mode === "move" || S.mode === "box" || S.mode === "lasso" || S.mode === "merge"));
}

function display(geom) { return S.gcj ? shiftGeometry(geom, false) : geom; }
function toData(geom) { return S.gcj ? shiftGeometry(geom, true) : geom; }

export function initMap(actions) {
  edits = actions;
  renderer = L.canvas({ padding: 0.3, tolerance: 2 });
  map = L.map("map", { preferCanvas: true, renderer: renderer, zoomControl: true, boxZoom: false });
  map.pm.setGlobalOptions({ snappable: false });
  map.pm.setLang(S.lang === "zh" ? "zh" : "en");
  map.on("pm:create", onDrawn);
  map.on("zoomend", syncCells);
  map.on("zoomend", function () { edits.wantCells(); });  // a large plan's cells, near CELL_ZOOM
  map.on("moveend", function () { if (S.lazy && S.cellsShown) syncCells(); });
  map.on("moveend", updateLabels);
  map.on("moveend", function () { if ($("show-units").checked) syncUnits(); });
  map.attributionControl.setPrefix("");
  map.createPane("communities").style.zIndex = 450;  // above grids and cells, never clicked
  map.getPane("communities").style.pointerEvents = "none";
  map.createPane("labels").style.zIndex = 460;
  map.getPane("labels").style.pointerEvents = "none";
  labelLayer = L.layerGroup().addTo(map);
  legend = L.control({ position: "bottomleft" });
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "legend");
    div.id = "legend";
    L.DomEvent.disableClickPropagation(div);
    div.addEventListener("click", function (e) {  // a status in the legend filters the table
      var row = e.target.closest("[data-status]");
      if (!row) return;
      var sel = $("status-filter");
      sel.value = sel.value === row.dataset.status ? "" : row.dataset.status;
      sel.dispatchEvent(new Event("change"));
    });
    return div;
  };
  legend.addTo(map);
  document.addEventListener("gridplan:lang", refreshMap);
  setBaseMap();
}

// ---- legend, labels, community boundaries ---------------------------------------------
export function renderLegend() {
  var el = $("legend");
  if (!el) return;
  var n = {};
  S.order.forEach(function (c) { var st = S.grids[c].properties.status; n[st] = (n[st] || 0) + 1; });
  var band = bandRange();
  var rows = STATUSES.map(function (k) {
    return '<div class="item" data-status="' + k + '"><i style="background:' + STATUS_COLOURS[k] + '"></i>' +
      esc(t(k)) + (k === "ok" && band ? " " + Math.round(band[0]) + "–" + Math.round(band[1]) + " " + esc(t("hh_unit")) : "") +
      ' <span class="n">' + (n[k] || 0) + "</span></div>";
  });
  el.innerHTML = "<b>" + esc(t("legend")) + "</b>" + rows.join("") +
    '<div class="item"><i class="line community"></i>' + esc(t("community_line")) + "</div>" +
    '<div class="item"><i class="line locked"></i>' + esc(t("locked_line")) + "</div>" +
    '<div class="item"><i class="line broken"></i>' + esc(t("broken_line")) + "</div>";
}

export function setCommunities() {
  if (!map || !S.communities) return;
  if (commLayer) map.removeLayer(commLayer);
  commLayer = L.geoJSON(null, { pane: "communities", interactive: false, pmIgnore: true,
    renderer: L.svg({ pane: "communities" }),
    style: { color: "#222", weight: 3.5, opacity: 0.85, fill: false, dashArray: null } });
  S.communities.forEach(function (f) {
    commLayer.addData({ type: "Feature", properties: f.properties, geometry: display(f.geometry) });
  });
  commLayer.addTo(map);
  body.dataset.communities = String(S.communities.length);
}

// serial and households of each grid large enough on screen to carry them
var LABEL_MIN_PX = 46;

function updateLabels() {
  if (!labelLayer || !gridLayer) return;
  labelLayer.clearLayers();
  var view = map.getBounds(), shown = 0;
  S.order.forEach(function (code) {
    var g = S.grids[code];
    if (!g.layer || !view.intersects(g.layer.getBounds())) return;
    var b = g.layer.getBounds();
    var a = map.latLngToContainerPoint(b.getNorthWest()), z = map.latLngToContainerPoint(b.getSouthEast());
    if (Math.abs(z.x - a.x) < LABEL_MIN_PX || Math.abs(z.y - a.y) < 24) return;
    var p = g.properties;
    labelLayer.addLayer(L.marker(labelPoint(g.layer), { pane: "labels", interactive: false, keyboard: false,
      icon: L.divIcon({ className: "grid-label", iconSize: null,
        html: '<span data-code="' + esc(code) + '">' + esc(shortCode(code)) + "<br>" + esc(p.households) + "</span>" }) }));
    shown += 1;
  });
  body.dataset.labels = String(shown);
}

function labelPoint(layer) {
  try { return layer.getCenter(); } catch (e) { return layer.getBounds().getCenter(); }
}

// the map after data or language changed: legend, labels, faint other communities
export function refreshMap() {
  renderLegend();
  later("labels", updateLabels);
}

// ---- overlays: the roads and rivers the plan follows; buildings (units) with households --
var barrierLayer, unitLayer, unitSeq = 0;
var UNIT_LIMIT = 3000, UNIT_LABELS = 600;

export function setBarriers() {
  if (barrierLayer) { map.removeLayer(barrierLayer); barrierLayer = null; }
  body.dataset.barriers = "0";
  if (!$("show-barriers").checked) return Promise.resolve();
  return getJSON("/barriers").then(function (r) {
    if (!$("show-barriers").checked || barrierLayer) return;
    barrierLayer = L.geoJSON(null, { pane: "communities", interactive: false, pmIgnore: true,
      renderer: L.svg({ pane: "communities" }),
      style: { color: "#2166ac", weight: 2.5, opacity: 0.9, dashArray: "6 4" } });
    r.body.features.forEach(function (f) {
      barrierLayer.addData({ type: "Feature", properties: f.properties, geometry: display(f.geometry) });
    });
    barrierLayer.addTo(map);
    body.dataset.barriers = String(r.body.features.length);
  }, function () { say("error", "overlay_failed"); });
}

// the units in view from zoom CELL_ZOOM on (at most UNIT_LIMIT), outlined, with their
// households written on them; never clickable, so clicks still reach the parcels
export function syncUnits() {
  var seq = ++unitSeq;
  if (!$("show-units").checked || map.getZoom() < CELL_ZOOM) {
    if (unitLayer) { map.removeLayer(unitLayer); unitLayer = null; }
    body.dataset.units = "0";
    return Promise.resolve();
  }
  var b = map.getBounds();
  var box = toData({ type: "Polygon", coordinates: [[[b.getWest(), b.getSouth()], [b.getEast(), b.getSouth()],
    [b.getEast(), b.getNorth()], [b.getWest(), b.getNorth()], [b.getWest(), b.getSouth()]]] }).coordinates[0];
  var xs = box.map(function (p) { return p[0]; }), ys = box.map(function (p) { return p[1]; });
  var q = [Math.min.apply(null, xs), Math.min.apply(null, ys), Math.max.apply(null, xs), Math.max.apply(null, ys)]
    .map(function (v) { return v.toFixed(6); }).join(",");
  return getJSON("/units?bbox=" + q + "&limit=" + UNIT_LIMIT + "&version=" + S.version).then(function (r) {
    if (seq !== unitSeq) return;
    if (unitLayer) map.removeLayer(unitLayer);
    var feats = r.body.features;
    unitLayer = L.layerGroup([], { pane: "labels" });
    var shapes = L.geoJSON(null, { pane: "communities", interactive: false, pmIgnore: true,
      renderer: L.svg({ pane: "communities" }),
      pointToLayer: function (f, ll) { return L.circleMarker(ll, { radius: 3, pane: "communities", interactive: false }); },
      style: { color: "#5b3a29", weight: 1, opacity: 0.8, fill: false } });
    feats.forEach(function (f) {
      shapes.addData({ type: "Feature", properties: f.properties, geometry: display(f.geometry) });
    });
    unitLayer.addLayer(shapes);
    if (feats.length <= UNIT_LABELS) {
      shapes.eachLayer(function (l) {
        var at = l.getLatLng ? l.getLatLng() : labelPoint(l);
        unitLayer.addLayer(L.marker(at, { pane: "labels", interactive: false, keyboard: false,
          icon: L.divIcon({ className: "unit-label", iconSize: null,
            html: "<span>" + esc(l.feature.properties.households) + "</span>" }) }));
      });
    }
    unitLayer.addTo(map);
    body.dataset.units = String(feats.length);
  }, function () { say("error", "overlay_failed"); });
}

// ---- hover: one tooltip for grids and parcels -----------------------------------------
function fmtDeviation(p) {
  var target = S.info && S.info.params && S.info.params.target;
  if (!target) { var b = bandRange(); if (b) target = (b[0] + b[1]) / 2; }
  if (!target || p.status === "dedicated" || p.status === "empty") return null;
  var d = (p.households || 0) - target;
  return (d > 0 ? "+" : "") + Math.round(d) + " " + t("hh_unit") + " (" + (d > 0 ? "+" : "") + (100 * d / target).toFixed(0) + "%, " +
    (S.lang === "zh" ? "目标 " : "target ") + Math.round(target) + ")";
}

export function tooltipHtml(code, cell) {
  var g = S.grids[code];
  if (!g) return "";
  var p = g.properties, rows = [];
  rows.push("<b>" + esc(code) + "</b>");
  rows.push(esc(t("community")) + ": " + esc(p.community_id));
  rows.push(esc(t("households")) + ": <b>" + esc(p.households) + "</b>");
  var dev = fmtDeviation(p);
  if (dev) rows.push(esc(t("deviation")) + ": " + esc(dev));
  rows.push(esc(t("band")) + ': <span class="band ' + esc(p.status) + '"></span>' + esc(t(p.status)));
  if (p.polsby_popper != null) rows.push(esc(t("compactness")) + ": " + esc(Number(p.polsby_popper).toFixed(2)));
  var reason = S.lang === "zh" ? (p.reason_zh || p.reason) : (p.reason || p.reason_zh);
  if (reason) rows.push(esc(t("reason")) + ': <span class="reason">' + esc(reason) + "</span>");
  if (p.locked) rows.push("🔒 " + esc(t("locked")));
  if (p.contiguous === false) rows.push('<span class="warn">⚠ ' + esc(t("not_contiguous")) + "</span>");
  if (cell) {
    rows.push("<hr>" + esc(t("parcel")) + ": " + esc(cell.households || 0) + " " + esc(t("hh_unit")));
    if (otherCommunity(cell.community_id)) rows.push('<span class="warn">⛔ ' + esc(t("other_community")) + "</span>");
    else { var hint = moveHint(code, cell); if (hint) rows.push(hint); }
  }
  return '<div class="tip">' + rows.join("<br>") + "</div>";
}


// What moving this parcel into the active grid would do to both grids' households and the
// band: the hint that says which neighbouring parcels help (contiguity is the API's check)
function moveHint(code, cell) {
  var a = S.active && S.grids[S.active], b = S.grids[code], band = bandRange();
  if (!a || !b || code === S.active || S.mode !== "move" || !band) return "";
  var fixed = { dedicated: 1, empty: 1 };
  if (fixed[a.properties.status] || fixed[b.properties.status]) return "";
  var hh = cell.households || 0, A = a.properties.households || 0, B = b.properties.households || 0;
  if (!hh) return "";
  var target = (S.info && S.info.params && S.info.params.target) || (band[0] + band[1]) / 2;
  var ok = function (h) { return h >= band[0] && h <= band[1] ? 1 : 0; };
  var gain = ok(A + hh) + ok(B - hh) - ok(A) - ok(B);
  var closer = Math.abs(A + hh - target) + Math.abs(B - hh - target) < Math.abs(A - target) + Math.abs(B - target);
  var verdict = gain > 0 ? ["good", "✓ " + t("hint_more_in_band")] : gain < 0 ? ["bad", "✗ " + t("hint_fewer_in_band")]
    : closer ? ["good", "↗ " + t("hint_closer")] : ["bad", "↘ " + t("hint_further")];
  return '<span class="hint ' + verdict[0] + '">' + esc(t("hint_if_moved")) + "<br>" +
    esc(shortCode(S.active)) + " " + A + "→" + (A + hh) + " · " + esc(shortCode(code)) + " " + B + "→" + (B - hh) +
    " " + esc(t("hh_unit")) + "<br>" + esc(verdict[1]) + "</span>";
}

export function setBaseMap() {
  var choice = localStorage.getItem("gridplan.tiles") || body.dataset.tiles || "none";
  var custom = localStorage.getItem("gridplan.tileUrl") || "";
  $("basemap").value = choice;
  $("tile-url").value = custom;
  $("tile-gcj").checked = localStorage.getItem("gridplan.tileGcj") === "1";
  if (baseLayer) { map.removeLayer(baseLayer); baseLayer = null; }
  var gcj = false;
  if (choice === "osm" || choice === "amap") {
    baseLayer = L.tileLayer(TILES[choice].url, TILES[choice].opts); gcj = TILES[choice].gcj;
  } else if (choice === "custom" && custom.indexOf("{z}") >= 0) {
    baseLayer = L.tileLayer(custom, { maxZoom: 20 }); gcj = $("tile-gcj").checked;
  }
  $("tile-url").style.display = choice === "custom" ? "" : "none";
  $("tile-gcj").parentNode.style.display = choice === "custom" ? "" : "none";
  if (baseLayer) baseLayer.addTo(map);
  var changed = gcj !== S.gcj;
  S.gcj = gcj;
  body.dataset.gcj = gcj ? "1" : "0";
  if (changed && cellLayer) drawAll(false);
}

export function cellStyle(f) {
  var code = f.properties.grid_code;
  var active = code === S.active;
  var diff = S.diffCells[f.properties.cell_id];
  var faint = otherCommunity(f.properties.community_id);
  var pending = S.pendingCells[f.properties.cell_id];
  var proposed = S.proposalCells && S.proposalCells[f.properties.cell_id];
  return {
    renderer: renderer, weight: diff || pending || proposed ? 3 : (active ? 1.2 : 0.4),
    color: proposed ? "#7b2cbf" : (pending ? "#ff8c00" : (diff ? "#ff00ff" : (active ? "#000" : "#777"))),
    dashArray: pending || proposed ? "4 3" : null,
    fillColor: gridColour(code || ""), fillOpacity: faint ? 0.2 : (active ? 0.8 : 0.5)
  };
}

function gridStyle(f) {
  var p = f.properties;
  var filled = !!gridLayer && !S.cellsShown;
  return {
    renderer: renderer, fill: filled, fillColor: gridColour(p.grid_code || ""),
    fillOpacity: otherCommunity(p.community_id) ? 0.2 : (p.grid_code === S.active ? 0.8 : 0.5),
    weight: p.grid_code === S.active ? 4 : 2,
    color: p.contiguous === false ? "#d00" : (p.locked ? "#555" : "#1a1a1a"),
    dashArray: p.locked ? "6 4" : null
  };
}

// Large plans draw their cells only from CELL_ZOOM on (grids are filled and clickable below
// it), so the editor is interactive quickly; small plans always show their cells.
export var CELL_LIMIT = 3000, CELL_ZOOM = 16;

function drawing() { return S.mode === "box" || S.mode === "lasso" || S.mode === "split" || S.mode === "area"; }

function cellsVisible() { return !S.lazy || map.getZoom() >= CELL_ZOOM; }

export function drawAll(fit) {
  if (gridLayer) map.removeLayer(gridLayer);
  dropCells();
  S.lazy = Math.max(Object.keys(S.cells).length,
                    (S.info && S.info.report && S.info.report.units) || 0) > CELL_LIMIT;
  gridLayer = L.geoJSON(null, { style: gridStyle, pmIgnore: true });
  S.cellsShown = !S.lazy;  // grids drawn as they will show (syncCells restyles on a change)
  gridLayer.bindTooltip(function (l) { return tooltipHtml(l.feature.properties.grid_code); },
                        { sticky: true, direction: "top", offset: [0, -8], className: "grid-tip" });
  S.order.forEach(function (code) { addGridShape(code); });
  gridLayer.addTo(map);
  if (fit && gridLayer.getLayers().length) map.fitBounds(gridLayer.getBounds());
  syncCells();
  setCommunities();
  refreshMap();
}

function buildCells() {
  cellLayer = L.geoJSON(null, {
    style: cellStyle, pmIgnore: true,
    onEachFeature: function (f, layer) {
      S.cells[f.properties.cell_id].layer = layer;
      layer.on("click", function (e) {
        if (drawing()) return;  // the drawing tool takes the click
        L.DomEvent.stop(e); onCellClick(f.properties.cell_id, e);
      });
      layer.on("contextmenu", function (e) { L.DomEvent.stop(e); setActive(S.cells[f.properties.cell_id].f.properties.grid_code); });
    }
  });
  if (!S.lazy) Object.keys(S.cells).forEach(addCell);
  cellLayer.bindTooltip(function (l) {
    var c = S.cells[l.feature.properties.cell_id];
    return c ? tooltipHtml(c.f.properties.grid_code, c.f.properties) : "";
  }, { sticky: true, direction: "top", offset: [0, -8], className: "grid-tip" });
  return cellLayer;
}

function addCell(id) {
  var c = S.cells[id];
  if (c.layer) cellLayer.addLayer(c.layer);
  else cellLayer.addData({ type: "Feature", properties: c.f.properties, geometry: display(c.f.geometry) });
}

// [west, south, east, north] of a cell as drawn
export function cellBox(c) {
  if (c.bb && c.bbGcj === S.gcj) return c.bb;
  var b = [Infinity, Infinity, -Infinity, -Infinity];
  (function walk(a) {
    if (typeof a[0] === "number") {
      if (a[0] < b[0]) b[0] = a[0]; if (a[1] < b[1]) b[1] = a[1];
      if (a[0] > b[2]) b[2] = a[0]; if (a[1] > b[3]) b[3] = a[1];
    } else a.forEach(walk);
  })(display(c.f.geometry).coordinates);
  c.bb = b; c.bbGcj = S.gcj;
  return b;
}

// A large plan keeps on the map only the cells near the view: Leaflet's canvas tests every
// shape it holds on each click and mouse move (130,000 of them took 190 ms a click).
function cullCells() {
  var v = map.getBounds().pad(0.5);
  var w = v.getWest(), e = v.getEast(), s = v.getSouth(), n = v.getNorth();
  Object.keys(S.cells).forEach(function (id) {
    var c = S.cells[id], b = cellBox(c);
    var near = b[0] <= e && b[2] >= w && b[1] <= n && b[3] >= s;
    var on = !!c.layer && cellLayer.hasLayer(c.layer);
    if (near && !on) addCell(id);
    else if (!near && on) cellLayer.removeLayer(c.layer);
  });
}

function ensureCells() { return cellLayer || buildCells(); }

// show or hide the cells for the current zoom; grids take the clicks while cells are hidden
export function syncCells() {
  if (!gridLayer) return;
  var vis = cellsVisible();
  if (vis) {
    ensureCells();
    if (S.lazy) cullCells();
    if (!map.hasLayer(cellLayer)) { cellLayer.addTo(map); gridLayer.eachLayer(function (l) { l.bringToFront(); }); }
  } else if (cellLayer && map.hasLayer(cellLayer)) {
    map.removeLayer(cellLayer);
  }
  if (vis !== S.cellsShown) {
    S.cellsShown = vis;
    body.dataset.cells = vis ? "1" : "0";
    gridLayer.eachLayer(function (l) { l.options.interactive = !vis; l.setStyle(gridStyle(l.feature)); });
  }
}

// drop the cell layer (new cells arrived); syncCells builds it again when they show
export function dropCells() {
  if (cellLayer) { map.removeLayer(cellLayer); cellLayer = null; }
  Object.keys(S.cells).forEach(function (id) { S.cells[id].layer = null; });  // drawn anew
}

export function addGridShape(code) {
  var g = S.grids[code];
  if (!g || !g.geometry) return;
  if (g.layer) gridLayer.removeLayer(g.layer);
  var f = { type: "Feature", properties: g.properties, geometry: display(g.geometry) };
  g.layer = L.GeoJSON.geometryToLayer(f, { pmIgnore: true });  // what L.geoJSON does per feature
  g.layer.feature = f;
  g.layer.setStyle(gridStyle(f));
  g.layer.options.interactive = !S.cellsShown;
  g.layer.on("click", function (e) {
    if (drawing()) return;
    L.DomEvent.stop(e); onGridClick(code, e);
  });
  g.layer.on("contextmenu", function (e) { L.DomEvent.stop(e); setActive(code); });
  gridLayer.addLayer(g.layer);
}

export function restyleCells() {
  Object.keys(S.cells).forEach(function (id) {
    var c = S.cells[id];
    if (c.layer) c.layer.setStyle(cellStyle(c.f));
  });
}

// ---- interaction: clicks, the active grid, modes, drawn shapes --------------------------
function onCellClick(id, e) {
  var code = S.cells[id].f.properties.grid_code;
  if (e.originalEvent && (e.originalEvent.shiftKey || e.originalEvent.altKey) || !S.active) {
    setActive(code); return;
  }
  if (S.busy) return;
  if (S.mode === "merge") { edits.mergeWith(code); return; }
  if (S.mode === "move" && code !== S.active) { clearMessages(); edits.moveCells([id], S.active); }
}

function onGridClick(code, e) {
  if (e.originalEvent && (e.originalEvent.shiftKey || e.originalEvent.altKey) || !S.active) {
    setActive(code); return;
  }
  if (S.busy) return;
  if (S.mode === "merge") { edits.mergeWith(code); return; }
  if (code !== S.active) say("info", "zoom_in");
}

export function setActive(code) {
  var prev = S.active;
  S.active = code;
  $("active").textContent = code || "—";
  cellsOf([prev, code].filter(Boolean)).forEach(function (c) { if (c.layer) c.layer.setStyle(cellStyle(c.f)); });
  [prev, code].forEach(function (k) { if (k && S.grids[k] && S.grids[k].layer) S.grids[k].layer.setStyle(gridStyle({ properties: S.grids[k].properties })); });
  document.querySelectorAll("#grid-table tr.active").forEach(function (r) { r.classList.remove("active"); });
  var row = tableRow(code);
  if (row) { row.classList.add("active"); row.scrollIntoView({ block: "nearest" }); }
  var was = prev && S.grids[prev] ? S.grids[prev].properties.community_id : null;
  var now = code && S.grids[code] ? S.grids[code].properties.community_id : null;
  if (was !== now) restyleAll();  // another community fades
  document.querySelectorAll("#chart rect.active").forEach(function (r) { r.classList.remove("active"); });
  var bar = code && document.querySelector('#chart rect[data-code="' + CSS.escape(code) + '"]');
  if (bar) bar.classList.add("active");
  updateButtons();
  document.dispatchEvent(new CustomEvent("gridplan:active", { detail: { code: code } }));
}

// parcels and grids of other communities fade while a grid is active (they cannot join it)
function restyleAll() {
  if (gridLayer) gridLayer.eachLayer(function (l) { l.setStyle(gridStyle(l.feature)); });
  restyleCells();
}

export function setMode(mode) {
  map.pm.disableDraw();
  var was = S.mode;
  S.mode = mode;
  if (S.active && gridLayer && (was === "split") !== (mode === "split")) restyleAll();
  document.querySelectorAll("button.mode").forEach(function (b) { b.classList.toggle("on", b.dataset.mode === mode); });
  if (mode === "box") map.pm.enableDraw("Rectangle", { snappable: false });
  if (mode === "lasso" || mode === "area") map.pm.enableDraw("Polygon", { snappable: false, allowSelfIntersection: true });
  if (mode === "split") map.pm.enableDraw("Line", { snappable: false });
  body.dataset.mode = mode;
}

function onDrawn(e) {
  var layer = e.layer;
  var geom = layer.toGeoJSON().geometry;
  map.removeLayer(layer);
  if (S.mode === "split") { edits.splitGrid(toData(geom)).then(function () { setMode("split"); }); return; }
  var ring = geom.coordinates[0];
  ensureCells();
  var ids = Object.keys(S.cells).filter(function (id) {
    var b = cellBox(S.cells[id]);
    return pointInRing((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, ring);
  });
  if (S.mode === "area") {  // the grids of the parcels inside: the engine suggests a re-division
    edits.suggestArea(ids.map(function (id) { return S.cells[id].f.properties.grid_code; }));
    setMode("move");
    return;
  }
  edits.previewMove(ids, S.active);  // shown first; moved when the planner confirms
  setMode(S.mode);
}

function pointInRing(x, y, ring) {
  var inside = false;
  for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
    if (((yi > y) !== (yj > y)) && (x < (xj - xi) * (y - yi) / (yj - yi) + xi)) inside = !inside;
  }
  return inside;
}

// ---- a suggested fix, previewed: the changed grids outlined, the moved parcels marked ----
export function showProposal(changed, cellIds) {
  clearProposal();
  S.proposalCells = {};
  (cellIds || []).forEach(function (id) { S.proposalCells[id] = true; });
  proposalLayer = L.geoJSON(null, { pane: "communities", interactive: false, pmIgnore: true,
    renderer: L.svg({ pane: "communities" }),
    style: { color: "#7b2cbf", weight: 4, opacity: 0.95, fill: false, dashArray: "8 5" } });
  ((changed && changed.features) || []).forEach(function (f) {
    proposalLayer.addData({ type: "Feature", properties: f.properties, geometry: display(f.geometry) });
  });
  proposalLayer.addTo(map);
  restyleCells();
  body.dataset.proposal = String(proposalLayer.getLayers().length);
}

export function clearProposal() {
  if (proposalLayer) { map.removeLayer(proposalLayer); proposalLayer = null; }
  var had = S.proposalCells && Object.keys(S.proposalCells).length;
  S.proposalCells = {};
  if (had) restyleCells();
  body.dataset.proposal = "0";
}
