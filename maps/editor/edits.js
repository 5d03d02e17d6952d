// Loading and edits: every change goes to the plan API with If-Match, and each response
// updates the map and the side panel; a stale ETag (412) reloads the plan.
import { getJSON, keepEtag, postJSON, sendExact } from "./api.js";
import { t } from "./i18n.js";
import { addGridShape, CELL_LIMIT, CELL_ZOOM, cellStyle, clearProposal, drawAll, dropCells, gridLayer,
         map, refreshMap, restyleCells, setCommunities, setMode, showProposal, syncCells } from "./map.js";
import { refusal, shortCode, warningText } from "./messages.js";
import { clearMessages, message, renderInfo, renderTable, renderVersions, say, setBusy,
         setExportLinks, updateButtons } from "./panel.js";
import { $, body, cellsOf, esc, indexCells, moveCell, S, timing } from "./state.js";

function post(path, payload) {
  setBusy(true, "saving");
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

// A refusal in the planner's language: each violation once, the fix in the editor's terms.
function handleError(status, j) {
  var d = (j && j.detail) || j || {};
  if (status === 412) {
    say("warning", "stale");
    if (d.etag || j.etag) S.etag = d.etag || j.etag;
    loadAll();
    return;
  }
  dropKind("error");
  message("error", function () { return refusalHtml(refusal(status, d)); });
}

function refusalHtml(r) {
  var lines = r.lines.filter(Boolean);
  var colon = S.lang === "zh" ? "：" : ": ";
  var head = "<b>" + esc(r.title) + colon + "</b>";
  var main = lines.length === 1 ? esc(lines[0]) : "<ul>" + lines.map(function (l) { return "<li>" + esc(l) + "</li>"; }).join("") + "</ul>";
  return head + main + (r.fix ? '<div class="fix">' + esc(t("fix")) + colon + esc(r.fix) + "</div>" : "");
}

function failed(e) {  // a request that got no answer, or a failed read
  var m = /^(\d{3}) /.exec(String(e && e.message));
  var status = m ? Number(m[1]) : 0;
  message("error", function () { return refusalHtml(refusal(status, {})); });
}

function dropKind(kind) { S.msgs = (S.msgs || []).filter(function (m) { return m.kind !== kind; }); }

// ---- loading -----------------------------------------------------------------------------
// Grids first; a large plan is interactive as soon as its grids are drawn (cells show only
// from CELL_ZOOM), so its cells arrive in the background; a small plan waits for them.
export function loadAll() {
  setBusy(true, "loading");
  var t0 = performance.now();
  if (!S.communities) {
    getJSON("/communities").then(function (r) { S.communities = r.body.features; setCommunities(); },
                                 function () { /* drawn once reads work */ });
  }
  return Promise.all([getJSON(""), getJSON("/grids")]).then(function (rs) {
    S.info = rs[0].body; S.etag = rs[0].etag || rs[0].body.etag; S.version = rs[0].body.version;
    setGrids(rs[1].body.features);
    var units = (S.info.report && S.info.report.units) || 0;
    S.lazy = units > CELL_LIMIT;
    return S.lazy ? null : fetchCells();  // a large plan's cells: when the map nears them
  }).then(function () {
    var t1 = performance.now();
    timing.fetch_ms = t1 - t0;
    drawAll(!S.loadedOnce);
    S.loadedOnce = true;
    renderInfo(); renderTable(); updateButtons(); setExportLinks();
    timing.draw_ms = performance.now() - t1;
    setBusy(false);
    if (S.lazy) wantCells();
    loadVersions();
  }).catch(function (e) { setBusy(false); failed(e); throw e; });
}

// fetch the cells of the current version; only the latest request is applied
function fetchCells() {
  var seq = S.cellSeq = (S.cellSeq || 0) + 1;
  S.cellsLoaded = false;
  S.cellsFor = S.version;
  return getJSON("/cells?version=" + S.version).then(function (r) {
    if (seq !== S.cellSeq) return;
    setCells(r.body.features);
    S.cellsLoaded = true;
    timing.cells_loaded_at = performance.now();
    body.dataset.cellsLoaded = "1";
    dropCells();
    if (gridLayer) syncCells();
  }, function (e) { if (seq === S.cellSeq) S.cellsFor = null; throw e; });  // asked again later
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
  indexCells();
}

function reloadCells() { return S.lazy ? wantCells() : fetchCells(); }

// A large plan shows its cells from CELL_ZOOM on, and asks for them (most of its data: 8.7 MB
// for 120,000 cells) once the map is zoomed in to one level above, not with every page.
export function wantCells() {
  if (!S.lazy || S.cellsFor === S.version || map.getZoom() < CELL_ZOOM - 1) return null;
  return fetchCells();
}

export function loadVersions() {
  return getJSON("/versions").then(function (r) {
    var b = r.body;
    S.versions = Array.isArray(b) ? b : (b.versions || []);
    S.canUndo = Array.isArray(b) ? null : !!(b.can_undo && b.can_undo.length);
    S.canRedo = Array.isArray(b) ? null : !!(b.can_redo && b.can_redo.length);
    renderVersions(); updateButtons();
  }).catch(failed);
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
  clearMessages();  // a success replaces the refusals and warnings of earlier edits
  (res.warnings || []).forEach(function (w) { message("warning", function () { return esc(warningText(w)); }); });
  renderTable(changed); renderInfo(); updateButtons();
  timing.apply_ms = performance.now() - t0;
  markPanelUpdated();
  if (opts.cellsMoved) {
    opts.cellsMoved.forEach(function (id) { moveCell(id, opts.to); });
    if (S.cellsLoaded) S.cellsFor = S.version;  // the cells moved here: no need to ask again
    cellsOf(Object.keys(changed)).forEach(function (c) {  // cells take their grid's new status colour
      if (c.layer) c.layer.setStyle(cellStyle(c.f));
    });
  } else {
    reloadCells();
  }
  S.diffCells = {};
  refreshMap();
  loadVersions();
  return res;
}

function markPanelUpdated() {
  window.gridEditor.panelUpdatedAt = performance.now();
  window.gridEditor.panelUpdates += 1;
  document.dispatchEvent(new CustomEvent("gridplan:panel", { detail: { version: S.version } }));
}

// Force is for one edit: it is read once and switched off again
function force() {
  var on = $("force").checked;
  if (on) { $("force").checked = false; body.dataset.force = "0"; }
  return on;
}

// parcels of another community than the active grid's cannot move into it (rule "nesting"):
// the editor says so before asking the API
export function foreign(id, to) {
  var c = S.cells[id], g = S.grids[to || S.active];
  return !!(c && g && c.f.properties.community_id != null &&
            c.f.properties.community_id !== g.properties.community_id);
}

export function moveCells(ids, to) {
  if (!to) { say("info", "pick_grid"); return Promise.resolve(); }
  ids = ids.filter(function (id) { return S.cells[id] && S.cells[id].f.properties.grid_code !== to; });
  var outside = ids.filter(function (id) { return foreign(id, to); });
  ids = ids.filter(function (id) { return !foreign(id, to); });
  if (outside.length) {
    dropKind("error");
    message("error", function () { return refusalHtml(refusal(422, { violations: [{ rule: "nesting" }] })); });
  }
  if (!ids.length) { if (!outside.length) say("info", "nothing_selected"); return Promise.resolve(); }
  return post("/edits/move", { cells: ids, to_grid: to, force: force() })
    .then(function (res) {
      applyEdit(res, { cellsMoved: ids, to: to });
      if (outside.length) message("info", function () { return esc(outside.length + " " + t("skipped_foreign")); });
      return res;
    })
    .catch(swallow);
}

// ---- box and lasso: a preview first, moved once the planner confirms ---------------------
export function previewMove(ids, to) {
  cancelMove();
  if (!to) { say("info", "pick_grid"); return; }
  ids = ids.filter(function (id) { return S.cells[id] && S.cells[id].f.properties.grid_code !== to; });
  if (!ids.length) { say("info", "nothing_selected"); return; }
  S.pending = { ids: ids, to: to };
  ids.forEach(function (id) { S.pendingCells[id] = true; });
  restyleCells();
  renderPending();
}

export function confirmMove() {
  var p = S.pending;
  if (!p) return Promise.resolve();
  cancelMove();
  clearMessages();
  return moveCells(p.ids, p.to);
}

export function cancelMove() {
  if (!S.pending) return;
  S.pending = null; S.pendingCells = {};
  restyleCells();
  renderPending();
}

export function renderPending() {
  var el = $("pending"), p = S.pending;
  body.dataset.pending = p ? String(p.ids.length) : "0";
  if (!p) { el.hidden = true; el.innerHTML = ""; return; }
  var ok = p.ids.filter(function (id) { return !foreign(id, p.to); });
  var hh = 0, from = {};
  ok.forEach(function (id) { var c = S.cells[id].f.properties; hh += c.households || 0; from[c.grid_code] = 1; });
  var src = Object.keys(from).sort().map(shortCode).join(S.lang === "zh" ? "、" : ", ");
  var out = p.ids.length - ok.length, zh = S.lang === "zh";
  var line = zh ? "移动 " + ok.length + " 个地块（" + hh + " 户）从 " + src + " 到 " + shortCode(p.to) + "？"
                : "Move " + ok.length + " parcel" + (ok.length === 1 ? "" : "s") + " (" + hh + " households) from " + src + " to " + shortCode(p.to) + "?";
  if (out) line += " " + (zh ? "（另有 " + out + " 个其他社区的地块不会移动）" : "(" + out + " parcels of another community stay)");
  el.hidden = false;
  el.innerHTML = '<span class="what">' + esc(line) + '</span> <button id="pending-ok" type="button">' + esc(t("confirm_move")) +
    '</button> <button id="pending-cancel" type="button">' + esc(t("cancel")) + "</button>";
  if (!ok.length) $("pending-ok").disabled = true;
}

document.addEventListener("gridplan:active", function () { if (S.pending && S.pending.to !== S.active) cancelMove(); });
document.addEventListener("gridplan:lang", renderPending);

export function swallow(e) { if (!e.handled) failed(e); }

export function simple(path, payload) {
  clearMessages();
  return post(path, payload).then(function (res) { return applyEdit(res); }).catch(swallow);
}

export function splitGrid(line) {
  if (!S.active) { say("info", "pick_grid"); return Promise.resolve(); }
  var payload = { grid: S.active, force: force() };
  if (line) payload.line = line;
  return simple("/edits/split", payload);
}

export function mergeWith(other) {
  if (!S.active) { say("info", "pick_grid"); return Promise.resolve(); }
  if (!other || other === S.active) return Promise.resolve();
  var done = function () { if (S.mode === "merge") setMode("move"); };  // merge is for one click
  if (S.grids[other] && S.grids[other].properties.community_id !== S.grids[S.active].properties.community_id) {
    dropKind("error");
    message("error", function () { return refusalHtml(refusal(422, { violations: [{ rule: "nesting" }] })); });
    done();
    return Promise.resolve();
  }
  return simple("/edits/merge", { grids: [S.active, other], force: force() }).then(done);
}

export function toggleLock() {
  if (!S.active) { say("info", "pick_grid"); return Promise.resolve(); }
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
    S.diffText = function () {
      var n = (d.units_moved || []).length, g = (d.grids_changed || []).map(shortCode);
      return S.lang === "zh"
        ? "v" + from + " → v" + S.version + "：移动 " + n + " 个楼栋、" + d.households_moved + " 户" + (g.length ? "，涉及网格 " + g.join("、") : "")
        : "v" + from + " → v" + S.version + ": " + n + " units and " + d.households_moved + " households moved" + (g.length ? ", grids " + g.join(", ") : "");
    };
    $("diff").textContent = S.diffText();
    body.dataset.diff = String((d.units_moved || []).length);
  }).catch(swallow);
}

// ---- suggest fix: the engine proposes a re-division of an out-of-band grid -------------
// POST /suggest with the grid and the version shown; the proposal is previewed on the map
// (changed grids outlined, moved parcels marked) with its effect, until the planner accepts
// (its `apply` request is sent exactly as given) or cancels.
var OUT_OF_BAND = { above_band: 1, below_band: 1 };

export function canSuggest(code) {
  var g = code && S.grids[code];
  return !!(g && OUT_OF_BAND[g.properties.status] && !g.properties.locked && !S.readOnly);
}

export function suggestFix(code) {
  code = code || S.active;
  cancelProposal();
  if (!canSuggest(code)) { say("info", "suggest_pick"); return Promise.resolve(); }
  return askSuggest({ grid: code, version: S.version });
}

// a suggested re-division of the grids of an area the planner drew (one community)
export function suggestArea(codes) {
  cancelProposal();
  codes = codes.filter(function (c, i) { return S.grids[c] && codes.indexOf(c) === i; });
  if (S.readOnly || codes.length < 2) { say("info", "suggest_area_pick"); return Promise.resolve(); }
  return askSuggest({ grids: codes, version: S.version });
}

function askSuggest(payload) {
  clearMessages();
  setBusy(true, "suggesting");
  return postJSON("/suggest", payload).then(function (rj) {
    var r = rj.r, j = rj.j;
    setBusy(false);
    if (r.status === 412) { staleProposal(j); return null; }
    if (!r.ok) { handleError(r.status, j); return null; }
    if (!j.found) {
      message("info", function () {
        return "<b>" + esc(t("suggest_none")) + (S.lang === "zh" ? "：" : ": ") + "</b>" +
          esc(S.lang === "zh" ? (j.reason_zh || j.reason) : (j.reason || j.reason_zh));
      });
      body.dataset.suggest = "none";
      return j;
    }
    S.proposal = j;
    showProposal(j.changed, (j.moves || []).map(function (m) { return m.cell_id; }));
    renderProposal();
    return j;
  }, function (e) { setBusy(false); failed(e); });
}

function staleProposal(j) {
  var d = (j && j.detail) || j || {};
  if (d.etag) S.etag = d.etag;
  cancelProposal();
  dropKind("warning");
  say("warning", "suggest_stale");
  return loadAll();
}

export function acceptProposal() {
  var p = S.proposal;
  if (!p || !p.apply) return Promise.resolve();
  setBusy(true, "saving");
  return sendExact(p.apply).then(function (rj) {
    var r = rj.r, j = rj.j;
    setBusy(false);
    cancelProposal();
    if (r.status === 412) { staleProposal(j); return null; }
    if (!r.ok) { handleError(r.status, j); return null; }
    keepEtag(r, j);
    clearMessages();
    return applyEdit(j);
  }, function (e) { setBusy(false); failed(e); });
}

export function cancelProposal() {
  if (!S.proposal && !body.dataset.suggest) return;
  S.proposal = null;
  delete body.dataset.suggest;
  clearProposal();
  renderProposal();
}

export function renderProposal() {
  var el = $("proposal"), p = S.proposal;
  if (!p) { el.hidden = true; el.innerHTML = ""; return; }
  body.dataset.suggest = "found";
  var zh = S.lang === "zh";
  var line = zh ? "达标网格 " + p.in_band_before + " → " + p.in_band_after + "，移动 " + p.households_moved + " 户" +
                  "（" + (p.moves || []).length + " 个地块，涉及网格 " + (p.grids || []).map(shortCode).join("、") + "）"
                : "Grids in band " + p.in_band_before + " → " + p.in_band_after + ", " + p.households_moved +
                  " households moved (" + (p.moves || []).length + " parcels, grids " + (p.grids || []).map(shortCode).join(", ") + ")";
  el.hidden = false;
  var title = t("suggest_title") + " · " + (p.grid ? shortCode(p.grid) : t("suggest_area_title"));
  el.innerHTML = "<b>" + esc(title) + '</b><div class="what">' + esc(line) +
    '</div><button id="proposal-ok" type="button">' + esc(t("accept")) + '</button> <button id="proposal-cancel" type="button">' +
    esc(t("cancel")) + "</button>";
  if (S.readOnly) $("proposal-ok").disabled = true;
}

document.addEventListener("gridplan:lang", function () { if (S.proposal) renderProposal(); });
