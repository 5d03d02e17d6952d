// Loading and edits: every change goes to the plan API with If-Match, and each response
// updates the map and the side panel; a stale ETag (412) reloads the plan.
import { getJSON, keepEtag, postJSON } from "./api.js";
import { t } from "./i18n.js";
import { addGridShape, CELL_LIMIT, cellStyle, drawAll, dropCells, gridLayer, restyleCells,
         syncCells } from "./map.js";
import { clearMessages, message, renderInfo, renderTable, renderVersions, setBusy,
         setExportLinks, updateButtons } from "./panel.js";
import { $, body, esc, S, timing } from "./state.js";

function post(path, payload) {
  setBusy(true, t("saving"));
  var t0 = performance.now();
  return postJSON(path, payload).then(function (rj) {
    var r = rj.r, j = rj.j;
    timing.request_ms = performance.now() - t0;
    setBusy(false);
    if (r.ok) { keepEtag(r, j); return j; }
    handleError(r.status, j);
    var e = new Error("HTTP " + r.status); e.handled = true; throw e;
  }, function (e) { setBusy(false); throw e; });
}

function handleError(status, j) {
  var d = (j && j.detail) || j || {};
  if (status === 412) {
    message("warning", t("stale"));
    if (d.etag || j.etag) S.etag = d.etag || j.etag;
    loadAll();
  } else if (status === 401 || status === 403) {
    message("error", t("need_key"));
  } else if (typeof d === "object" && d.problem) {
    var v = (d.violations || []).map(function (x) {
      return "<li>" + esc(typeof x === "string" ? x : (x.message || JSON.stringify(x))) + "</li>";
    }).join("");
    message("error", "<b>" + t("refused") + ":</b> " + esc(d.problem) +
            (d.fix ? "<br>" + t("fix") + ": " + esc(d.fix) : "") + (v ? "<ul>" + v + "</ul>" : ""));
  } else {
    message("error", esc(status + ": " + JSON.stringify(d)));
  }
}

// ---- loading -----------------------------------------------------------------------------
// Grids first; a large plan is interactive as soon as its grids are drawn (cells show only
// from CELL_ZOOM), so its cells arrive in the background; a small plan waits for them.
export function loadAll() {
  setBusy(true, t("loading"));
  var t0 = performance.now();
  return Promise.all([getJSON(""), getJSON("/grids")]).then(function (rs) {
    S.info = rs[0].body; S.etag = rs[0].etag || rs[0].body.etag; S.version = rs[0].body.version;
    setGrids(rs[1].body.features);
    var units = (S.info.report && S.info.report.units) || 0;
    var cells = fetchCells();
    if (units > CELL_LIMIT) return null;
    return cells;
  }).then(function () {
    var t1 = performance.now();
    timing.fetch_ms = t1 - t0;
    drawAll(!S.loadedOnce);
    S.loadedOnce = true;
    renderInfo(); renderTable(); updateButtons(); setExportLinks();
    timing.draw_ms = performance.now() - t1;
    setBusy(false);
    loadVersions();
  }).catch(function (e) { setBusy(false); message("error", esc(String(e))); throw e; });
}

// fetch the cells of the current version; only the latest request is applied
function fetchCells() {
  var seq = S.cellSeq = (S.cellSeq || 0) + 1;
  S.cellsLoaded = false;
  return getJSON("/cells?version=" + S.version).then(function (r) {
    if (seq !== S.cellSeq) return;
    setCells(r.body.features);
    S.cellsLoaded = true;
    timing.cells_loaded_at = performance.now();
    body.dataset.cellsLoaded = "1";
    dropCells();
    if (gridLayer) syncCells();
  });
}

function setGrids(features) {
  S.grids = {}; S.order = [];
  features.forEach(function (f) { S.grids[f.properties.grid_code] = { properties: f.properties, geometry: f.geometry }; });
  sortGrids();
  if (S.active && !S.grids[S.active]) S.active = null;
}

function sortGrids() { S.order = Object.keys(S.grids).sort(); }

function setCells(features) {
  S.cells = {};
  features.forEach(function (f) { S.cells[f.properties.cell_id] = { f: f, layer: null }; });
}

function reloadCells() { return fetchCells(); }

export function loadVersions() {
  return getJSON("/versions").then(function (r) {
    var b = r.body;
    S.versions = Array.isArray(b) ? b : (b.versions || []);
    S.canUndo = Array.isArray(b) ? null : !!(b.can_undo && b.can_undo.length);
    S.canRedo = Array.isArray(b) ? null : !!(b.can_redo && b.can_redo.length);
    renderVersions(); updateButtons();
  }).catch(function (e) { message("error", esc(String(e))); });
}

// ---- edits -------------------------------------------------------------------------------
function applyEdit(res, opts) {
  var t0 = performance.now();
  opts = opts || {};
  S.version = res.version;
  if (S.info) { S.info.version = res.version; if (res.metrics) S.info.metrics = res.metrics; }
  var changed = {};
  ((res.changed && res.changed.features) || []).forEach(function (f) {
    var code = f.properties.grid_code;
    var old = S.grids[code];
    if (old && old.layer) gridLayer.removeLayer(old.layer);
    S.grids[code] = { properties: f.properties, geometry: f.geometry };
    changed[code] = true;
  });
  var deleted = res.deleted || (res.changed && res.changed.deleted) || [];
  deleted.forEach(function (code) {
    var g = S.grids[code];
    if (g && g.layer) gridLayer.removeLayer(g.layer);
    delete S.grids[code];
    if (S.active === code) S.active = null;
  });
  sortGrids();
  Object.keys(changed).forEach(addGridShape);
  (res.warnings || []).forEach(function (w) { message("warning", esc(w)); });
  renderTable(changed); renderInfo(); updateButtons();
  timing.apply_ms = performance.now() - t0;
  markPanelUpdated();
  if (opts.cellsMoved) {
    opts.cellsMoved.forEach(function (id) {
      var c = S.cells[id];
      if (c) { c.f.properties.grid_code = opts.to; if (c.layer) { c.layer.feature.properties.grid_code = opts.to; c.layer.setStyle(cellStyle(c.f)); } }
    });
  } else {
    reloadCells();
  }
  S.diffCells = {};
  loadVersions();
  return res;
}

function markPanelUpdated() {
  window.gridEditor.panelUpdatedAt = performance.now();
  window.gridEditor.panelUpdates += 1;
  document.dispatchEvent(new CustomEvent("gridplan:panel", { detail: { version: S.version } }));
}

function force() { return $("force").checked; }

export function moveCells(ids, to) {
  if (!to) { message("info", t("pick_grid")); return Promise.resolve(); }
  ids = ids.filter(function (id) { return S.cells[id] && S.cells[id].f.properties.grid_code !== to; });
  if (!ids.length) { message("info", t("nothing_selected")); return Promise.resolve(); }
  return post("/edits/move", { cells: ids, to_grid: to, force: force() })
    .then(function (res) { return applyEdit(res, { cellsMoved: ids, to: to }); })
    .catch(swallow);
}

export function swallow(e) { if (!e.handled) message("error", esc(String(e))); }

export function simple(path, payload) {
  clearMessages();
  return post(path, payload).then(function (res) { return applyEdit(res); }).catch(swallow);
}

export function splitGrid(line) {
  if (!S.active) { message("info", t("pick_grid")); return Promise.resolve(); }
  var payload = { grid: S.active, force: force() };
  if (line) payload.line = line;
  return simple("/edits/split", payload);
}

export function mergeWith(other) {
  if (!S.active) { message("info", t("pick_grid")); return Promise.resolve(); }
  if (!other || other === S.active) return Promise.resolve();
  return simple("/edits/merge", { grids: [S.active, other], force: force() });
}

export function toggleLock() {
  if (!S.active) { message("info", t("pick_grid")); return Promise.resolve(); }
  var locked = !!S.grids[S.active].properties.locked;
  return simple("/edits/lock", { grids: [S.active], locked: !locked });
}

export function restore(version) { return simple("/restore", { version: version }); }

// ---- versions --------------------------------------------------------------------------
export function showDiff(from) {
  return getJSON("/diff?from=" + from + "&to=" + S.version).then(function (r) {
    var d = r.body;
    S.diffCells = {};
    (d.units_moved || []).forEach(function (u) { if (u.cell_id != null) S.diffCells[u.cell_id] = true; });
    restyleCells();
    $("diff").innerHTML = "v" + from + " → v" + S.version + ": " + (d.units_moved || []).length + " " +
      esc(t("moved")) + ", " + esc(d.households_moved) + " " + esc(t("households_moved")) +
      "; " + esc((d.grids_changed || []).join(", "));
    body.dataset.diff = String((d.units_moved || []).length);
  }).catch(swallow);
}
