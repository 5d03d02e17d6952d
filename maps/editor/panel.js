// The side panel: status and messages, plan figures, the grid table, versions, buttons, links.
import { apiUrl } from "./api.js";
import { t } from "./i18n.js";
import { versionSentence } from "./messages.js";
import { $, body, esc, S } from "./state.js";

export function setBusy(on, key) {
  S.busy = on;
  S.busyKey = on ? key : null;
  var st = $("status");
  st.classList.toggle("busy", on);
  st.textContent = on ? t(key) : t("ready");
  body.dataset.busy = on ? "1" : "0";
}

// Messages are kept as functions giving their HTML in the current language, so the zh/EN
// toggle rewrites them too. render() must escape what it inserts.
export function message(kind, render) {
  var html = typeof render === "function" ? render : function () { return esc(String(render)); };
  S.msgs = S.msgs || [];
  S.msgs.unshift({ kind: kind, render: html });
  S.msgs = S.msgs.slice(0, 4);
  renderMessages();
}

// an info line from the words in i18n.js
export function say(kind, key) { message(kind, function () { return esc(t(key)); }); }

export function clearMessages() { S.msgs = []; renderMessages(); }

function renderMessages() {
  $("messages").innerHTML = (S.msgs || []).map(function (m) {
    return '<div class="msg ' + m.kind + '">' + m.render() + "</div>";
  }).join("");
}

export function applyLang() {
  document.documentElement.lang = S.lang;
  document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach(function (el) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  });
  $("lang").textContent = S.lang === "zh" ? "EN" : "中文";
  document.title = t("title") + " · " + S.plan;
  $("status").textContent = S.busy ? t(S.busyKey) : t("ready");
  renderMessages(); renderStatusFilter();
  renderInfo(); renderTable(); renderVersions(); updateButtons();
  document.dispatchEvent(new CustomEvent("gridplan:lang"));
}

export function renderInfo() {
  var el = $("plan-info");
  if (!S.info) { el.innerHTML = ""; return; }
  var m = S.info.metrics || S.info.report || {};
  var hh = 0; S.order.forEach(function (c) { hh += S.grids[c].properties.households || 0; });
  var rows = [[t("version"), S.version], [t("grids_count"), S.order.length], [t("total_households"), hh]];
  if (typeof m.share_in_band === "number") rows.push([t("in_band"), (100 * m.share_in_band).toFixed(1) + "%"]);
  var bad = S.order.filter(function (c) { return S.grids[c].properties.contiguous === false; }).length;
  rows.push([t("not_contiguous"), bad]);
  el.innerHTML = "<div><b>" + esc(S.info.name || S.plan) + "</b></div>" + rows.slice(0, 9).map(function (r) {
    return '<span class="kv">' + esc(r[0]) + ': <b data-key="' + esc(r[0]) + '">' + esc(r[1]) + "</b></span> ";
  }).join("") + '<div class="hint">' + esc(t("hint")) + "</div>";
}

function workloadText(p) {
  if (p.workload_hours != null) return (Math.round(p.workload_hours * 10) / 10) + " " + t("hours");
  var w = p.workers;
  if (Array.isArray(w)) return w.join(", ");
  return w == null ? "" : String(w);
}

function rowHtml(code) {
  var p = S.grids[code].properties;
  var warn = [];
  if (p.contiguous === false) warn.push('<span class="warn" title="' + esc(t("not_contiguous")) + '">⚠ ' + esc(t("not_contiguous")) + "</span>");
  if (p.locked) warn.push("🔒");
  return "<td>" + esc(code) + "</td><td class=\"hh\">" + esc(p.households) + "</td>" +
    '<td class="st" data-status="' + esc(p.status) + '"><span class="band ' + esc(p.status) + '"></span>' + esc(t(p.status)) + "</td>" +
    "<td>" + esc(workloadText(p)) + "</td><td>" + warn.join(" ") + "</td>";
}

// ---- the grid table: filter by code, community or status; sort by a column -------------
export var STATUSES = ["ok", "above_band", "below_band", "dedicated", "empty"];
var STATUS_ORDER = { above_band: 0, below_band: 1, ok: 2, dedicated: 3, empty: 4 };
var SORT_KEYS = {
  code: function (p) { return p.grid_code; },
  households: function (p) { return p.households || 0; },
  band: function (p) { return STATUS_ORDER[p.status] == null ? 9 : STATUS_ORDER[p.status]; },
  workload: function (p) { return p.workload_hours != null ? p.workload_hours : workloadText(p); },
  warnings: function (p) { return (p.contiguous === false ? 2 : 0) + (p.locked ? 1 : 0); }
};

export function renderStatusFilter() {
  var sel = $("status-filter"), value = sel.value;
  sel.innerHTML = ['<option value="">' + esc(t("all_status")) + "</option>"].concat(STATUSES.map(function (k) {
    return '<option value="' + k + '">' + esc(t(k)) + "</option>";
  })).join("");
  sel.value = value;
  sel.title = t("status_filter");
}

export function sortBy(key) {
  if (!SORT_KEYS[key]) return;
  if (S.sort && S.sort.key === key) S.sort.dir = -S.sort.dir;
  else S.sort = { key: key, dir: key === "households" ? -1 : 1 };
  S.tableShown = 0;
  renderTable();
}

function sortedCodes() {
  var order = S.order.slice();
  if (!S.sort) return order;
  var f = SORT_KEYS[S.sort.key], dir = S.sort.dir;
  return order.sort(function (a, b) {
    var x = f(S.grids[a].properties), y = f(S.grids[b].properties);
    if (x < y) return -dir;
    if (x > y) return dir;
    return a < b ? -1 : (a > b ? 1 : 0);
  });
}

// A large plan's table shows its first S.tableStep rows (300) and more as the planner
// scrolls (or when a grid further down becomes active): 10,000 rows rebuilt after every
// edit took 340 ms, longer than the edit itself.
S.tableStep = 300;

function tableCodes() {
  var filter = ($("filter").value || "").trim().toLowerCase();
  var status = $("status-filter").value;
  return sortedCodes().filter(function (code) {
    var p = S.grids[code].properties;
    if (status && p.status !== status) return false;
    return !filter || code.toLowerCase().indexOf(filter) >= 0 ||
      String(p.community_id).toLowerCase().indexOf(filter) >= 0;
  });
}

function rowsHtml(codes, changed) {
  return codes.map(function (code) {
    var cls = (code === S.active ? "active " : "") + (changed && changed[code] ? "changed" : "");
    return '<tr data-code="' + esc(code) + '" class="' + cls + '">' + rowHtml(code) + "</tr>";
  }).join("");
}

function moreHtml() {
  var rest = S.tableCodes.length - S.tableShown;
  return rest > 0 ? '<tr class="more"><td colspan="5">' + esc(t("more_rows").replace("{n}", rest)) + "</td></tr>" : "";
}

export function renderTable(changed) {
  var tbody = document.querySelector("#grid-table tbody");
  S.tableCodes = tableCodes();
  var at = S.active ? S.tableCodes.indexOf(S.active) : -1;
  S.tableShown = Math.min(S.tableCodes.length, Math.max(S.tableShown || 0, S.tableStep, at + 1));
  tbody.innerHTML = rowsHtml(S.tableCodes.slice(0, S.tableShown), changed) + moreHtml();
  $("table-count").textContent = S.tableCodes.length + " " + t("of") + " " + S.order.length + " " + t("shown");
  document.querySelectorAll("#grid-table th[data-sort]").forEach(function (th) {
    var on = S.sort && S.sort.key === th.dataset.sort;
    th.dataset.dir = on ? (S.sort.dir > 0 ? "asc" : "desc") : "";
    th.title = t("sort_hint");
  });
  later("chart", renderChart);
}

// the next S.tableStep rows (scrolled to the end, or the "more" row clicked), or up to a row
export function showMoreRows(upTo) {
  if (!S.tableCodes || S.tableShown >= S.tableCodes.length) return;
  var end = Math.min(S.tableCodes.length, Math.max(S.tableShown + S.tableStep, (upTo || 0) + 1));
  var tbody = document.querySelector("#grid-table tbody");
  var more = tbody.querySelector("tr.more");
  if (more) more.remove();
  tbody.insertAdjacentHTML("beforeend", rowsHtml(S.tableCodes.slice(S.tableShown, end)));
  S.tableShown = end;
  tbody.insertAdjacentHTML("beforeend", moreHtml());
}

// the table row of a grid, drawn first if it is further down than the rows shown
export function tableRow(code) {
  if (!code) return null;
  var sel = '#grid-table tr[data-code="' + CSS.escape(code) + '"]';
  var row = document.querySelector(sel);
  var at = row || !S.tableCodes ? -1 : S.tableCodes.indexOf(code);
  if (at >= 0) { showMoreRows(at); row = document.querySelector(sel); }
  return row;
}

// work the planner does not wait for (chart, labels): after the panel has updated, once
var queued = {};
export function later(name, fn) {
  if (queued[name]) return;
  queued[name] = setTimeout(function () { queued[name] = null; fn(); }, 0);
}

// ---- a small chart: households of every grid (sorted) against the band ------------------
export function bandRange() {
  var m = (S.info && (S.info.metrics || S.info.report)) || {};
  var b = m.band || (S.info && S.info.report && S.info.report.band);
  return b && b.length === 2 ? b : null;
}

function renderChart() {
  var el = $("chart");
  var codes = S.order.filter(function (c) { return S.grids[c].properties.status !== "dedicated"; });
  if (!codes.length) { el.innerHTML = ""; return; }
  codes.sort(function (a, b) { return (S.grids[a].properties.households || 0) - (S.grids[b].properties.households || 0); });
  var W = 356, H = 96, pad = 2, band = bandRange();
  var max = Math.max.apply(null, codes.map(function (c) { return S.grids[c].properties.households || 0; }).concat(band ? [band[1] * 1.2] : [1]));
  var y = function (v) { return H - pad - (H - 2 * pad) * v / max; };
  var parts = ['<svg viewBox="0 0 ' + W + " " + H + '" width="100%" height="' + H + '" role="img" aria-label="' + esc(t("chart")) + '">'];
  if (band) {
    parts.push('<rect class="band-area" x="0" width="' + W + '" y="' + y(band[1]).toFixed(1) + '" height="' +
               (y(band[0]) - y(band[1])).toFixed(1) + '"><title>' + esc(t("chart_band") + " " + Math.round(band[0]) + "–" + Math.round(band[1])) + "</title></rect>");
  }
  bars(codes).forEach(function (b, i, all) {
    var p = S.grids[b.code].properties, v = p.households || 0, w = (W - 2 * pad) / all.length;
    var title = b.n > 1 ? b.n + " " + t("grids") + " · " + b.lo + "–" + b.hi + " " + t("hh_unit")
                        : b.code + " · " + v + " " + t("hh_unit") + " · " + t(p.status);
    parts.push('<rect data-code="' + esc(b.code) + '" class="bar ' + esc(p.status) + (b.code === S.active ? " active" : "") +
               '" x="' + (pad + i * w).toFixed(2) + '" width="' + Math.max(w - 0.5, 0.5).toFixed(2) + '" y="' + y(v).toFixed(1) +
               '" height="' + (H - pad - y(v)).toFixed(1) + '"><title>' + esc(title) + "</title></rect>");
  });
  parts.push("</svg>");
  el.innerHTML = parts.join("");
}

// one bar per grid, or above S.chartBars grids (360) one bar per run of grids (sorted by
// households): the middle grid's households and status, the run's range in its title
S.chartBars = 360;

function bars(codes) {
  if (codes.length <= S.chartBars) return codes.map(function (c) { return { code: c, n: 1 }; });
  var out = [], step = codes.length / S.chartBars;
  for (var i = 0; i < S.chartBars; i++) {
    var run = codes.slice(Math.floor(i * step), Math.floor((i + 1) * step));
    var hh = function (c) { return S.grids[c].properties.households || 0; };
    out.push({ code: run[run.length >> 1], n: run.length, lo: hh(run[0]), hi: hh(run[run.length - 1]) });
  }
  return out;
}

export function renderVersions() {
  var ol = $("versions");
  ol.innerHTML = (S.versions || []).slice().reverse().map(function (v) {
    var cur = v.version === S.version;
    return '<li data-version="' + v.version + '" class="' + (cur ? "current" : "") + '">v' + v.version +
      " · " + esc(versionSentence(v)) + (v.author ? ' <span class="who">· ' + esc(v.author) + "</span>" : "") +
      (cur ? " (" + esc(t("current")) + ")" : ' <button class="diff">' + esc(t("diff")) +
      '</button><button class="restore">' + esc(t("restore")) + "</button>") + "</li>";
  }).join("");
}

export function updateButtons() {
  var has = !!S.active && !!S.grids[S.active];
  ["split-half", "lock"].forEach(function (id) { $(id).disabled = !has; });
  if (has) $("lock").textContent = S.grids[S.active].properties.locked ? t("unlock") : t("lock");
  $("undo").disabled = S.canUndo === false || !(S.version > 1);
  $("redo").disabled = !S.canRedo;
  var p = has && S.grids[S.active].properties;
  $("suggest").disabled = !p || !(p.status === "above_band" || p.status === "below_band") || !!p.locked;
  // a viewer reads only: every editing tool is off, and the panel says so
  $("readonly").hidden = !S.readOnly;
  body.dataset.readonly = S.readOnly ? "1" : "0";
  document.querySelectorAll("#tools button.mode, #force").forEach(function (b) { b.disabled = !!S.readOnly; });
  if (S.readOnly) {
    document.querySelectorAll("#tools button, #tools input, #versions button.restore, #proposal-ok").forEach(function (b) {
      b.disabled = true;
    });
  }
}

export function setExportLinks() {
  $("export-geojson").href = apiUrl("/export?format=geojson");
  $("export-gpkg").href = apiUrl("/export?format=gpkg");
  $("export-geojson").setAttribute("download", S.plan + ".geojson");
  $("export-gpkg").setAttribute("download", S.plan + ".gpkg");
}
