// The start page: the plan list, uploads of the layers, the parameters form (built from
// GET /params), a plan job (POST /jobs) with its progress, then the new plan's editor.
import { KEY, mountSignIn } from "../editor/auth.js";  // sign-in, shared with the grid editor
import { S, t, applyLang, zhProblem } from "./words.js";

var MAIN_PARAMS = ["target", "tolerance"];  // shown open; the rest under 更多参数
var POLL_MS = 500;
var OSM = /\.(osm|osm\.bz2|osm\.gz|osm\.pbf|pbf)$/i;  // population from an OSM extract
var state = { layers: {}, params: [], job: null, plans: [], inflight: 0 };
window.gridStart = { ready: false, state: state, account: null };

function $(id) { return document.getElementById(id); }
function el(tag, attrs, text) {
  var e = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
  if (text != null) e.textContent = text;
  return e;
}

// ---- requests ------------------------------------------------------------------------------
function headers(json) {
  var h = { "Accept": "application/json" };
  var key = localStorage.getItem(KEY);
  if (key) h["X-API-Key"] = key;
  if (json) h["Content-Type"] = "application/json";
  return h;
}

// fetch → {status, body}; never throws (status 0 when the server cannot be reached)
function call(method, path, payload, form) {
  state.inflight += 1; document.body.dataset.idle = "0";
  var opts = { method: method, headers: headers(payload !== undefined && !form) };
  if (form) opts.body = form; else if (payload !== undefined) opts.body = JSON.stringify(payload);
  return fetch(path, opts).then(function (r) {
    return r.json().catch(function () { return {}; }).then(function (j) {
      return { status: r.status, body: j };
    });
  }, function () { return { status: 0, body: {} }; }).then(function (x) {
    state.inflight -= 1; if (!state.inflight) document.body.dataset.idle = "1";
    if (x.status === 401) keyState(localStorage.getItem(KEY) ? "bad" : "missing");
    return x;
  });
}

// an error answer as a list item: the status in words, then problem, field and fix
function problemBox(answer) {
  var box = el("div", { "class": "msg error" });
  box.appendChild(el("b", {}, t("e" + answer.status) !== "e" + answer.status
    ? t("e" + answer.status) : t("e422")));
  var detail = answer.body && answer.body.detail;
  var items = Array.isArray(detail) ? detail : (detail ? [detail] : []);
  items.slice(0, 8).forEach(function (d) {
    if (typeof d === "string") { box.appendChild(el("div", {}, d)); return; }
    var zh = S.lang === "zh" ? zhProblem(d.problem) : null;
    if (zh) box.appendChild(el("div", { "class": "problem" }, t("problem") + "：" + zh));
    if (d.problem) box.appendChild(el("div", { "class": zh ? "original" : "problem" },
                                      (zh ? t("original") : t("problem")) + "：" + d.problem));
    var where = [d.source, d.field].filter(Boolean).join(" · ");
    if (where) box.appendChild(el("div", { "class": "where" }, t("field") + "：" + where));
    if (d.fix) box.appendChild(el("div", { "class": "fix" }, t("fix") + "：" + d.fix));
  });
  return box;
}

function message(node) { var m = $("messages"); m.innerHTML = ""; if (node) m.appendChild(node); }

// ---- API key -------------------------------------------------------------------------------
function keyState(kind) {
  var k = kind || (localStorage.getItem(KEY) ? "saved" : "missing");
  $("key-state").textContent = t("key_" + k);
  $("key-state").className = k;
  $("api-key").classList.toggle("bad", k === "bad");
}

// ---- plan list -----------------------------------------------------------------------------
function when(text) {
  if (!text) return "";
  var d = new Date(String(text).replace(" ", "T"));
  if (isNaN(d)) return String(text);
  return d.toLocaleString(S.lang === "zh" ? "zh-CN" : "en-GB",
                          { dateStyle: "short", timeStyle: "short" });
}

function loadPlans() {
  return call("GET", "/plans").then(function (a) {
    var tbody = $("plans").querySelector("tbody");
    tbody.innerHTML = "";
    if (a.status !== 200) { $("plans-empty").hidden = true; message(problemBox(a)); return; }
    state.plans = a.body;
    $("plans-empty").hidden = a.body.length > 0;
    a.body.forEach(function (p) {
      var tr = el("tr", { "data-id": p.id });
      var link = el("a", { href: "/plans/" + encodeURIComponent(p.id) + "/editor" }, p.name);
      var name = el("td", { "class": "name" }); name.appendChild(link);
      tr.appendChild(name);
      ["communities", "grids", "share", "edited"].forEach(function (c) {
        tr.appendChild(el("td", { "class": c }, c === "grids" ? p.grids : "…"));
      });
      var open = el("td"); open.appendChild(el("a", {
        href: "/plans/" + encodeURIComponent(p.id) + "/editor", "class": "button" }, t("open_editor")));
      tr.appendChild(open);
      tbody.appendChild(tr);
    });
    // the details of each plan, one plan after the other (the server is shared)
    return a.body.reduce(function (chain, p) {
      return chain.then(function () { return planDetails(p); });
    }, Promise.resolve());
  });
}

function planDetails(p) {
  var row = $("plans").querySelector('tr[data-id="' + CSS.escape(p.id) + '"]');
  var id = encodeURIComponent(p.id);
  return Promise.all([call("GET", "/plans/" + id), call("GET", "/plans/" + id + "/versions"),
                      call("GET", "/plans/" + id + "/metrics")]).then(function (a) {
    if (!row) return;
    var info = a[0].body || {}, versions = (a[1].body || {}).versions, metrics = a[2].body || {};
    var report = info.report || {};
    row.querySelector(".communities").textContent = report.communities != null ? report.communities : "";
    if (metrics.grids != null) row.querySelector(".grids").textContent = metrics.grids;
    var share = metrics.share_in_band != null ? metrics.share_in_band : report.share_in_band;
    row.querySelector(".share").textContent = share != null ? (100 * share).toFixed(1) + "%" : "";
    var last = Array.isArray(versions) && versions.length ? versions[versions.length - 1] : null;
    row.querySelector(".edited").textContent = last
      ? when(last.created) + " · " + last.author + " (v" + last.version + ")" : when(p.created);
  });
}

// ---- uploads -------------------------------------------------------------------------------
function readOptions(kind) {
  var out = {};
  var allowed = {
    communities: ["crs", "encoding", "datum", "id_field", "code_field"],
    population: ["crs", "encoding", "datum", "households", "population_field"],
    osm: [], workers: ["encoding"]
  }[kind] || [];
  $("read-options").querySelectorAll("input, select").forEach(function (i) {
    if (i.value.trim() && allowed.indexOf(i.name) >= 0) out[i.name] = i.value.trim();
  });
  return out;
}

function upload(box, file) {
  var kind = box.dataset.kind;
  var slot = kind === "population" && OSM.test(file.name) ? "osm" : kind;
  var result = box.querySelector(".result");
  result.innerHTML = ""; result.appendChild(el("div", { "class": "msg info" },
                                               t("reading") + " " + file.name));
  box.classList.remove("ok", "failed"); box.classList.add("busy");
  delete state.layers[kind];
  var form = new FormData();
  form.append("file", file, file.name);
  form.append("kind", slot);
  var opts = readOptions(slot);
  Object.keys(opts).forEach(function (k) { form.append(k, opts[k]); });
  return call("POST", "/layers", undefined, form).then(function (a) {
    box.classList.remove("busy");
    result.innerHTML = "";
    if (a.status !== 201) { box.classList.add("failed"); result.appendChild(problemBox(a)); return; }
    box.classList.add("ok");
    state.layers[kind] = { id: a.body.id, slot: slot, name: a.body.name, summary: a.body.summary };
    result.appendChild(summaryBox(a.body));
  });
}

// what was read: counts, CRS, fields, and the notes of the input checks
function summaryBox(layer) {
  var s = layer.summary || {}, notes = s.notes || {};
  var box = el("div", { "class": "msg ok" });
  var head = [t("read_ok") + " " + layer.name];
  if (s.features != null) head.push(s.features + " " + t("features"));
  if (s.rows != null) head.push(s.rows + " " + t("rows"));
  if (s.households != null) head.push(s.households + " " + t("households"));
  box.appendChild(el("b", { "class": "counts" }, head.join(" · ")));
  if (s.crs) box.appendChild(el("div", {}, t("crs") + "：" + s.crs));
  if (s.bbox_4326) box.appendChild(el("div", {}, t("bbox") + "：" +
    s.bbox_4326.map(function (v) { return Number(v).toFixed(4); }).join(", ")));
  if (s.fields) box.appendChild(el("div", { "class": "fields" }, t("fields") + "：" + s.fields.join(", ")));
  var counted = [["repaired_geometries", "repaired"], ["dropped_empty_geometries", "dropped"]];
  counted.forEach(function (c) {
    var n = notes[c[0]], total = 0;
    if (n && typeof n === "object") Object.keys(n).forEach(function (k) { total += Number(n[k]) || 0; });
    else if (typeof n === "number") total = n;
    if (total) box.appendChild(el("div", { "class": "note" }, t(c[1]) + "：" + total));
  });
  if (notes.households_outside_communities) {
    box.appendChild(el("div", { "class": "note" }, t("outside") + "：" + notes.households_outside_communities));
  }
  (notes.warnings || []).forEach(function (w) {
    box.appendChild(el("div", { "class": "note" }, t("warnings") + "：" +
      (typeof w === "string" ? w : (w.problem || JSON.stringify(w)) + (w.fix ? " — " + t("fix") + "：" + w.fix : ""))));
  });
  return box;
}

function setUpDrops() {
  document.querySelectorAll(".drop").forEach(function (box) {
    var input = box.querySelector("input[type=file]");
    input.addEventListener("change", function () {
      var file = input.files[0];
      input.value = "";  // choosing the same file again (after a fix) uploads it again
      if (file) upload(box, file);
    });
    box.addEventListener("click", function (e) { if (e.target === box) input.click(); });
    box.addEventListener("keydown", function (e) { if (e.key === "Enter") input.click(); });
    box.addEventListener("dragover", function (e) { e.preventDefault(); box.classList.add("over"); });
    box.addEventListener("dragleave", function () { box.classList.remove("over"); });
    box.addEventListener("drop", function (e) {
      e.preventDefault(); box.classList.remove("over");
      if (e.dataTransfer.files[0]) upload(box, e.dataTransfer.files[0]);
    });
  });
}

// ---- parameters ----------------------------------------------------------------------------
function rangeText(p) {
  var parts = Object.keys(p.bounds || {}).map(function (k) { return t(k) + " " + p.bounds[k]; });
  var out = [];
  if (parts.length) out.push(t("range") + "：" + parts.join("，"));
  if (p.type === "list") out.push(t("list_hint"));
  out.push(t("default") + "：" + (Array.isArray(p.default) ? p.default.join(", ") : p.default));
  return out.join("；");
}

function paramInput(p) {
  var input;
  if (p.choices) {
    input = el("select");
    p.choices.forEach(function (c) { input.appendChild(el("option", { value: c }, c)); });
    input.value = p.default;
  } else if (p.type === "integer" || p.type === "number") {
    input = el("input", { type: "number", step: p.type === "integer" ? "1" : "any" });
    var b = p.bounds || {};
    if (b.ge != null || b.gt != null) input.min = b.ge != null ? b.ge : b.gt;
    if (b.le != null || b.lt != null) input.max = b.le != null ? b.le : b.lt;
    input.value = p.default;
  } else {
    input = el("input", { type: "text" });
    input.value = Array.isArray(p.default) ? p.default.join(", ") : p.default;
  }
  input.id = "param-" + p.name; input.name = p.name;
  return input;
}

function buildParams() {
  ["params-main", "params-rest"].forEach(function (id) { $(id).innerHTML = ""; });
  state.params.forEach(function (p) {
    var wrap = el("label", { "class": "param", "data-param": p.name, title: p.help + " (" + p.cli + ")" });
    wrap.appendChild(el("span", { "class": "label" }, S.lang === "zh" ? p.label_zh : p.label_en));
    var old = state.values && state.values[p.name];
    var input = paramInput(p);
    if (old != null) input.value = old;
    wrap.appendChild(input);
    wrap.appendChild(el("small", { "class": "range" }, rangeText(p)));
    wrap.appendChild(el("small", { "class": "help" }, p.help));
    wrap.appendChild(el("small", { "class": "invalid" }));
    $(MAIN_PARAMS.indexOf(p.name) >= 0 ? "params-main" : "params-rest").appendChild(wrap);
  });
}

function loadParams() {
  return call("GET", "/params").then(function (a) {
    if (a.status !== 200) { message(problemBox(a)); return; }
    state.params = a.body;
    buildParams();
  });
}

// the parameters that differ from their defaults, checked against their bounds; null if any is bad
function paramValues() {
  var out = {}, bad = false;
  state.values = {};
  state.params.forEach(function (p) {
    var input = $("param-" + p.name), wrap = input.parentNode, raw = input.value.trim();
    var note = wrap.querySelector(".invalid");
    state.values[p.name] = input.value;
    note.textContent = ""; wrap.classList.remove("bad");
    var value = raw;
    if (p.type === "integer" || p.type === "number") {
      value = Number(raw);
      var b = p.bounds || {};
      var ok = raw !== "" && isFinite(value) && (p.type !== "integer" || Number.isInteger(value)) &&
        (b.gt == null || value > b.gt) && (b.ge == null || value >= b.ge) &&
        (b.lt == null || value < b.lt) && (b.le == null || value <= b.le);
      if (!ok) { bad = true; wrap.classList.add("bad"); note.textContent = t("bad_value") + "（" + rangeText(p) + "）"; return; }
    } else if (p.type === "list") {
      value = raw.split(p.list_sep || ",").map(function (v) { return v.trim(); }).filter(Boolean);
    } else if (p.pattern && !new RegExp(p.pattern).test(raw)) {
      bad = true; wrap.classList.add("bad"); note.textContent = t("bad_value"); return;
    }
    if (JSON.stringify(value) !== JSON.stringify(p.default)) out[p.name] = value;
  });
  return bad ? null : out;
}

// ---- the plan job --------------------------------------------------------------------------
function startJob() {
  var result = $("job-result");
  result.innerHTML = "";
  var pop = state.layers.population, com = state.layers.communities;
  if (!pop || !com) { result.appendChild(el("div", { "class": "msg error" }, t("need_layers"))); return; }
  var params = paramValues();
  if (params === null) { $("params-more").open = true; return; }
  var layers = { communities: com.id };
  layers[pop.slot] = pop.id;
  var name = $("plan-name").value.trim() || (pop.name || "plan").replace(/\.[^.]*$/, "");
  $("start").disabled = true;
  result.appendChild(el("div", { "class": "msg info" }, t("starting")));
  return call("POST", "/jobs", { name: name, layers: layers, params: params }).then(function (a) {
    result.innerHTML = "";
    if (a.status !== 202) { $("start").disabled = false; result.appendChild(problemBox(a)); return; }
    state.job = a.body;
    $("job").hidden = false; $("cancel").hidden = false;
    showJob(a.body);
    poll(a.body.id);
  });
}

function showJob(job) {
  var pct = Math.max(0, Math.min(100, Number(job.percent) || 0));
  $("progress").value = pct;
  $("percent").textContent = pct.toFixed(0) + "%";
  $("stage").textContent = t("st_" + job.stage) !== "st_" + job.stage ? t("st_" + job.stage) : job.stage;
  document.body.dataset.job = job.status;
}

function poll(id) {
  call("GET", "/jobs/" + encodeURIComponent(id)).then(function (a) {
    if (a.status !== 200) { jobEnded(); $("job-result").appendChild(problemBox(a)); return; }
    var job = a.body;
    state.job = job;
    showJob(job);
    if (job.status === "queued" || job.status === "running") { setTimeout(function () { poll(id); }, POLL_MS); return; }
    jobEnded();
    if (job.status === "done") planned(job);
    else if (job.status === "failed") {
      var box = problemBox({ status: 422, body: { detail: job.error || {} } });
      box.firstChild.textContent = t("failed");
      $("job-result").appendChild(box);
    } else $("job-result").appendChild(el("div", { "class": "msg warning" }, t("cancelled")));
  });
}

function jobEnded() { $("start").disabled = false; $("cancel").hidden = true; }

function planned(job) {
  var editor = "/plans/" + encodeURIComponent(job.plan_id) + "/editor";
  var box = el("div", { "class": "msg ok" });
  box.appendChild(el("div", {}, t("done")));
  var link = el("a", { href: editor, id: "to-editor", "class": "button primary" }, t("to_editor"));
  box.appendChild(link);
  var workers = state.layers.workers;
  if (workers) {
    box.appendChild(document.createTextNode(" "));
    box.appendChild(el("a", { href: "/plans/" + encodeURIComponent(job.plan_id) + "/staffing?workers=" +
                              encodeURIComponent(workers.id), "class": "button" }, t("staffing")));
  }
  $("job-result").appendChild(box);
  loadPlans();
  // straight on to the editor, unless a workers table waits to be used (then both links stay)
  if (!workers) setTimeout(function () { window.location.assign(editor); }, 1200);
}

function cancelJob() {
  if (!state.job) return;
  call("POST", "/jobs/" + encodeURIComponent(state.job.id) + "/cancel", {});
}

// ---- start ---------------------------------------------------------------------------------
function init() {
  applyLang();
  // a sign-in keeps its token as the key (KEY, "gridplan.apiKey"); the key field stays for
  // scripts and admins
  var account = window.gridStart.account = mountSignIn($("account"), t, function (who, how) {
    $("api-key").value = localStorage.getItem(KEY) || "";
    if (how === "refresh") return;
    keyState(); message(null); loadPlans();
    if (!state.params.length) loadParams();
  });
  account.refresh();
  $("api-key").value = localStorage.getItem(KEY) || "";
  keyState();
  $("api-key").addEventListener("change", function () {
    localStorage.setItem(KEY, $("api-key").value.trim());
    keyState(); message(null); loadPlans(); account.refresh();
    if (!state.params.length) loadParams();  // a server with closed reads answered 401 before
  });
  $("lang").addEventListener("click", function () {
    paramValues();
    S.lang = S.lang === "zh" ? "en" : "zh"; localStorage.setItem("gridplan.lang", S.lang);
    applyLang(); keyState(); buildParams(); loadPlans(); account.render();
    if (state.job) showJob(state.job);
  });
  $("start").addEventListener("click", startJob);
  $("cancel").addEventListener("click", cancelJob);
  setUpDrops();
  Promise.all([loadPlans(), loadParams()]).then(function () { window.gridStart.ready = true; });
}

init();
