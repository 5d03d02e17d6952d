// The side panel: status and messages, plan figures, the grid table, versions, buttons, links.
import { apiUrl } from "./api.js";
import { t } from "./i18n.js";
import { $, body, esc, S } from "./state.js";

export function setBusy(on, text) {
  S.busy = on;
  var st = $("status");
  st.classList.toggle("busy", on);
  st.textContent = on ? text : t("ready");
  body.dataset.busy = on ? "1" : "0";
}

// html: already escaped by the caller
export function message(kind, html) {
  var box = $("messages");
  var div = document.createElement("div");
  div.className = "msg " + kind;
  div.innerHTML = html;
  box.prepend(div);
  while (box.children.length > 4) box.removeChild(box.lastChild);
}

export function clearMessages() { $("messages").innerHTML = ""; }

export function applyLang() {
  document.documentElement.lang = S.lang;
  document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach(function (el) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  });
  $("lang").textContent = S.lang === "zh" ? "EN" : "中文";
  document.title = t("title") + " · " + S.plan;
  renderInfo(); renderTable(); renderVersions(); updateButtons();
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
    '<td><span class="band ' + esc(p.status) + '"></span>' + esc(t(p.status)) + "</td>" +
    "<td>" + esc(workloadText(p)) + "</td><td>" + warn.join(" ") + "</td>";
}

export function renderTable(changed) {
  var tbody = document.querySelector("#grid-table tbody");
  var filter = ($("filter").value || "").trim().toLowerCase();
  var rows = [];
  S.order.forEach(function (code) {
    var p = S.grids[code].properties;
    if (filter && code.toLowerCase().indexOf(filter) < 0 && String(p.community_id).toLowerCase().indexOf(filter) < 0) return;
    var cls = (code === S.active ? "active " : "") + (changed && changed[code] ? "changed" : "");
    rows.push('<tr data-code="' + esc(code) + '" class="' + cls + '">' + rowHtml(code) + "</tr>");
  });
  tbody.innerHTML = rows.join("");
}

export function renderVersions() {
  var ol = $("versions");
  ol.innerHTML = (S.versions || []).slice().reverse().map(function (v) {
    var cur = v.version === S.version;
    return '<li data-version="' + v.version + '" class="' + (cur ? "current" : "") + '">v' + v.version +
      " " + esc(v.op || "") + " " + esc(summaryText(v.summary)) + (v.author ? " · " + esc(v.author) : "") +
      (cur ? " (" + esc(t("current")) + ")" : ' <button class="diff">' + esc(t("diff")) +
      '</button><button class="restore">' + esc(t("restore")) + "</button>") + "</li>";
  }).join("");
}

function summaryText(x) {
  if (x == null) return "";
  if (typeof x !== "object") return String(x);
  return Object.keys(x).filter(function (k) {
    var v = x[k];
    return k !== "op" && v != null && v !== "" && !(Array.isArray(v) && !v.length);
  }).map(function (k) {
    var v = x[k];
    if (Array.isArray(v)) v = v.length > 3 ? v.slice(0, 3).join(",") + "…(" + v.length + ")" : v.join(",");
    else if (v && typeof v === "object") v = JSON.stringify(v);
    return k + "=" + v;
  }).join(" ").slice(0, 120);
}

export function updateButtons() {
  var has = !!S.active && !!S.grids[S.active];
  ["split-half", "lock"].forEach(function (id) { $(id).disabled = !has; });
  if (has) $("lock").textContent = S.grids[S.active].properties.locked ? t("unlock") : t("lock");
  $("undo").disabled = S.canUndo === false || !(S.version > 1);
  $("redo").disabled = !S.canRedo;
}

export function setExportLinks() {
  $("export-geojson").href = apiUrl("/export?format=geojson");
  $("export-gpkg").href = apiUrl("/export?format=gpkg");
  $("export-geojson").setAttribute("download", S.plan + ".geojson");
  $("export-gpkg").setAttribute("download", S.plan + ".gpkg");
}
