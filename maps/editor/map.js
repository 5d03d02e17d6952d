// The map: Leaflet layers of grids and cells, base maps, the active grid and the edit modes
// (click to move, box, lasso, split line, merge). A click or a drawn shape calls the edits
// that main.js gives initMap (edits.js draws on this map, so this module does not import it).
import { shiftGeometry } from "./gcj02.js";
import { t } from "./i18n.js";
import { clearMessages, message, updateButtons } from "./panel.js";
import { $, body, esc, S } from "./state.js";

var TILES = {
  osm: { url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png", gcj: false,
         opts: { maxZoom: 19, attribution: "© OpenStreetMap contributors" } },
  amap: { url: "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
          gcj: true, opts: { subdomains: "1234", maxZoom: 18, attribution: "© 高德地图 AutoNavi" } }
};
var PALETTE = ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69",
               "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f"];

export var map, gridLayer;
var renderer, cellLayer, baseLayer;
var edits;  // moveCells, mergeWith, splitGrid

function gridColour(code) {
  var h = 0;
  for (var i = 0; i < code.length; i++) h = (h * 31 + code.charCodeAt(i)) >>> 0;
  return PALETTE[h % PALETTE.length];
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
  map.attributionControl.setPrefix("");
  setBaseMap();
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
  return {
    renderer: renderer, weight: diff ? 3 : (active ? 1.2 : 0.4),
    color: diff ? "#ff00ff" : (active ? "#000" : "#777"),
    fillColor: gridColour(code || ""), fillOpacity: active ? 0.75 : 0.45
  };
}

function gridStyle(f) {
  var p = f.properties;
  var filled = !!gridLayer && !S.cellsShown;
  return {
    renderer: renderer, fill: filled, fillColor: gridColour(p.grid_code || ""),
    fillOpacity: p.grid_code === S.active ? 0.75 : 0.45, weight: p.grid_code === S.active ? 4 : 2,
    color: p.contiguous === false ? "#d00" : (p.locked ? "#555" : "#1a1a1a"),
    dashArray: p.locked ? "6 4" : null
  };
}

// Large plans draw their cells only from CELL_ZOOM on (grids are filled and clickable below
// it), so the editor is interactive quickly; small plans always show their cells.
export var CELL_LIMIT = 3000, CELL_ZOOM = 16;

function drawing() { return S.mode === "box" || S.mode === "lasso" || S.mode === "split"; }

function cellsVisible() { return !S.lazy || map.getZoom() >= CELL_ZOOM; }

export function drawAll(fit) {
  [cellLayer, gridLayer].forEach(function (l) { if (l) map.removeLayer(l); });
  cellLayer = null;
  S.lazy = Math.max(Object.keys(S.cells).length,
                    (S.info && S.info.report && S.info.report.units) || 0) > CELL_LIMIT;
  gridLayer = L.geoJSON(null, { style: gridStyle, pmIgnore: true });
  S.order.forEach(function (code) { addGridShape(code); });
  gridLayer.addTo(map);
  if (fit && gridLayer.getLayers().length) map.fitBounds(gridLayer.getBounds());
  syncCells();
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
  Object.keys(S.cells).forEach(function (id) {
    var c = S.cells[id];
    cellLayer.addData({ type: "Feature", properties: c.f.properties, geometry: display(c.f.geometry) });
  });
  return cellLayer;
}

function ensureCells() { return cellLayer || buildCells(); }

// show or hide the cells for the current zoom; grids take the clicks while cells are hidden
export function syncCells() {
  if (!gridLayer) return;
  var vis = cellsVisible();
  if (vis) {
    ensureCells();
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
}

export function addGridShape(code) {
  var g = S.grids[code];
  if (!g || !g.geometry) return;
  if (g.layer) gridLayer.removeLayer(g.layer);
  var tmp = L.geoJSON({ type: "Feature", properties: g.properties, geometry: display(g.geometry) },
                      { style: gridStyle, pmIgnore: true });
  g.layer = tmp.getLayers()[0];
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
  if (code !== S.active) message("info", esc(t("zoom_in")));
}

export function setActive(code) {
  var prev = S.active;
  S.active = code;
  $("active").textContent = code || "—";
  var touched = {}; if (prev) touched[prev] = 1; if (code) touched[code] = 1;
  Object.keys(S.cells).forEach(function (id) {
    var c = S.cells[id];
    if (touched[c.f.properties.grid_code] && c.layer) c.layer.setStyle(cellStyle(c.f));
  });
  [prev, code].forEach(function (k) { if (k && S.grids[k] && S.grids[k].layer) S.grids[k].layer.setStyle(gridStyle({ properties: S.grids[k].properties })); });
  document.querySelectorAll("#grid-table tr.active").forEach(function (r) { r.classList.remove("active"); });
  var row = code && document.querySelector('#grid-table tr[data-code="' + CSS.escape(code) + '"]');
  if (row) { row.classList.add("active"); row.scrollIntoView({ block: "nearest" }); }
  updateButtons();
}

export function setMode(mode) {
  map.pm.disableDraw();
  S.mode = mode;
  document.querySelectorAll("button.mode").forEach(function (b) { b.classList.toggle("on", b.dataset.mode === mode); });
  if (mode === "box") map.pm.enableDraw("Rectangle", { snappable: false });
  if (mode === "lasso") map.pm.enableDraw("Polygon", { snappable: false, allowSelfIntersection: true });
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
    var c = S.cells[id];
    if (!c.layer) return false;
    var p = c.layer.getBounds().getCenter();
    return pointInRing(p.lng, p.lat, ring);
  });
  edits.moveCells(ids, S.active).then(function () { setMode(S.mode); });
}

function pointInRing(x, y, ring) {
  var inside = false;
  for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
    if (((yi > y) !== (yj > y)) && (x < (xj - xi) * (y - yi) / (yj - yi) + xi)) inside = !inside;
  }
  return inside;
}
