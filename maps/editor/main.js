// gridplan grid editor: move cells between grids, split, merge, lock, undo/redo, versions.
// Every change goes through the plan API's edit endpoints with If-Match; the map and the
// side panel update from each response. Leaflet + Leaflet-Geoman are served by the app and
// loaded as classic scripts before this module. The parts: state.js (shared state),
// i18n.js (words), api.js (requests), panel.js (side panel), map.js (Leaflet, selection,
// modes), edits.js (loading, edits and suggested fixes), auth.js (sign-in, shared with the
// start page); this module wires them to the page.
import { KEY, mountSignIn } from "./auth.js";
import * as gcj02 from "./gcj02.js";
import { acceptProposal, cancelMove, cancelProposal, confirmMove, loadAll, mergeWith, moveCells,
         previewMove, restore, showDiff, simple, splitGrid, suggestArea, suggestFix, toggleLock, wantCells } from "./edits.js";
import { t } from "./i18n.js";
import { initMap, map, setActive, setBarriers, setBaseMap, setMode, syncUnits } from "./map.js";
import { applyLang, renderTable, renderVersions, showMoreRows, sortBy, updateButtons } from "./panel.js";
import { $, body, S, timing } from "./state.js";

// sign-in: the token becomes the page's key; a viewer gets the editor read-only
var account = mountSignIn($("account"), t, function (who, how) {
  S.user = who;
  S.readOnly = who.role === "viewer";
  $("api-key").value = localStorage.getItem(KEY) || "";
  renderVersions(); updateButtons();
  if (how === "sign_in" && !S.loadedOnce) loadAll().then(becomeReady, function () {});
});

function wire() {
  document.querySelectorAll("button.mode").forEach(function (b) {
    b.addEventListener("click", function () { setMode(b.dataset.mode); });
  });
  $("split-half").addEventListener("click", function () { splitGrid(null); });
  $("lock").addEventListener("click", toggleLock);
  $("undo").addEventListener("click", function () { simple("/undo", {}); });
  $("redo").addEventListener("click", function () { simple("/redo", {}); });
  $("lang").addEventListener("click", function () {
    S.lang = S.lang === "zh" ? "en" : "zh"; localStorage.setItem("gridplan.lang", S.lang);
    map.pm.setLang(S.lang === "zh" ? "zh" : "en"); applyLang();
  });
  $("filter").addEventListener("input", function () { S.tableShown = 0; renderTable(); });
  $("status-filter").addEventListener("change", function () {
    S.tableShown = 0; renderTable();
    document.querySelectorAll("#legend [data-status]").forEach(function (el) {
      el.classList.toggle("on", el.dataset.status === $("status-filter").value);
    });
  });
  document.querySelectorAll("#grid-table th[data-sort]").forEach(function (th) {
    th.addEventListener("click", function () { sortBy(th.dataset.sort); });
  });
  $("chart").addEventListener("click", function (e) {
    var bar = e.target.closest("rect[data-code]"); if (bar) setActive(bar.dataset.code);
  });
  $("suggest").addEventListener("click", function () { suggestFix(S.active); });
  $("proposal").addEventListener("click", function (e) {
    if (e.target.id === "proposal-ok") acceptProposal();
    if (e.target.id === "proposal-cancel") cancelProposal();
  });
  $("pending").addEventListener("click", function (e) {
    if (e.target.id === "pending-ok") confirmMove();
    if (e.target.id === "pending-cancel") cancelMove();
  });
  $("show-barriers").addEventListener("change", setBarriers);
  $("show-units").addEventListener("change", syncUnits);
  $("force").addEventListener("change", function () { body.dataset.force = $("force").checked ? "1" : "0"; });
  document.addEventListener("gridplan:lang", function () { if (S.diffText) $("diff").textContent = S.diffText(); });
  document.querySelector("#grid-table tbody").addEventListener("click", function (e) {
    var tr = e.target.closest("tr");
    if (tr && tr.classList.contains("more")) showMoreRows();
    else if (tr) setActive(tr.dataset.code);
  });
  document.querySelector("#grid-table tbody").addEventListener("dblclick", function (e) {
    var tr = e.target.closest("tr[data-code]"), g = tr && S.grids[tr.dataset.code];
    if (g && g.layer) map.fitBounds(g.layer.getBounds());
  });
  $("grid-table-wrap").addEventListener("scroll", function () {  // more rows near the end
    var el = $("grid-table-wrap");
    if (el.scrollTop + el.clientHeight > el.scrollHeight - 200) showMoreRows();
  }, { passive: true });
  $("versions").addEventListener("click", function (e) {
    var li = e.target.closest("li"); if (!li) return;
    var v = Number(li.dataset.version);
    if (e.target.classList.contains("restore")) restore(v);
    else if (e.target.classList.contains("diff")) showDiff(v);
  });
  $("basemap").addEventListener("change", function () { localStorage.setItem("gridplan.tiles", $("basemap").value); setBaseMap(); });
  $("tile-url").addEventListener("change", function () { localStorage.setItem("gridplan.tileUrl", $("tile-url").value); setBaseMap(); });
  $("tile-gcj").addEventListener("change", function () { localStorage.setItem("gridplan.tileGcj", $("tile-gcj").checked ? "1" : "0"); setBaseMap(); });
  $("api-key").value = localStorage.getItem(KEY) || "";
  $("api-key").addEventListener("change", function () {
    localStorage.setItem(KEY, $("api-key").value);
    account.refresh();
    if (!S.loadedOnce) loadAll().then(becomeReady);  // reads may need the key too
  });
  document.addEventListener("gridplan:lang", function () { account.render(); });
  // Ctrl+Z / Ctrl+Y (Ctrl+Shift+Z) undo and redo plan edits anywhere but while typing in a
  // text field that holds text: there the field's own undo works
  document.addEventListener("keydown", function (e) {
    var key = (e.key || "").toLowerCase();
    var mod = e.ctrlKey || e.metaKey;
    if (e.key === "Escape") { if (!typing(e.target)) { cancelMove(); cancelProposal(); setMode("move"); } return; }
    if (e.key === "Enter" && S.pending && !typing(e.target) && e.target.tagName !== "BUTTON") {
      e.preventDefault(); confirmMove(); return;
    }
    if (!mod || (key !== "z" && key !== "y")) return;
    if (typing(e.target)) return;
    e.preventDefault();
    var redo = key === "y" || (key === "z" && e.shiftKey);
    var button = $(redo ? "redo" : "undo");
    if (!button.disabled && !S.busy) button.click();
  });
}

var TEXT_INPUTS = { text: 1, search: 1, password: 1, url: 1, email: 1, number: 1, tel: 1 };

function typing(el) {
  if (!el) return false;
  if (el.isContentEditable || el.tagName === "TEXTAREA") return true;
  return el.tagName === "INPUT" && !!TEXT_INPUTS[(el.type || "text").toLowerCase()] && el.value !== "";
}

window.gridEditor = {
  state: S, timing: timing, setActive: setActive, suggestFix: suggestFix, suggestArea: suggestArea, account: account, moveCells: moveCells, splitGrid: splitGrid, mergeWith: mergeWith,
  setMode: setMode, reload: loadAll, confirmMove: confirmMove, showDiff: showDiff, panelUpdates: 0, panelUpdatedAt: null,
  ready: false, cellCentre: function (id) {
    var c = S.cells[id]; if (!c || !c.layer) return null;
    var p = map.latLngToContainerPoint(c.layer.getBounds().getCenter());
    return { x: p.x, y: p.y };
  },
  containerPoint: function (lat, lng) {
    var ll = S.gcj ? gcj02.toGcj(lng, lat) : [lng, lat];
    var p = map.latLngToContainerPoint([ll[1], ll[0]]);
    var r = $("map").getBoundingClientRect();
    return { x: p.x + r.left, y: p.y + r.top };
  },
  map: function () { return map; }
};

window.gcj02 = gcj02;  // the GCJ-02 shift, for the console and the tests

wire();
initMap({ moveCells: moveCells, mergeWith: mergeWith, splitGrid: splitGrid, previewMove: previewMove,
         suggestArea: suggestArea, wantCells: wantCells });
applyLang();
setMode("move");
function becomeReady() {
  if (window.gridEditor.ready) return;
  window.gridEditor.ready = true;
  window.gridEditor.readyAt = performance.now();
  body.dataset.ready = "1";
  document.dispatchEvent(new CustomEvent("gridplan:ready"));
}

loadAll().then(becomeReady, function () { /* shown in the panel; a key may fix it */ });
account.refresh();
