// gridplan grid editor: move cells between grids, split, merge, lock, undo/redo, versions.
// Every change goes through the plan API's edit endpoints with If-Match; the map and the
// side panel update from each response. Leaflet + Leaflet-Geoman are served by the app.
(function () {
  "use strict";

  var T = {
    zh: {
      title: "网格编辑", move: "点选移动", box: "框选", lasso: "套索", split: "画线拆分",
      merge: "合并", split_half: "对半拆分", lock: "锁定", unlock: "解锁", undo: "撤销",
      redo: "重做", force: "强制", active: "当前网格", grids: "网格", filter: "筛选编码或社区",
      code: "编码", households: "户数", band: "状态", workload: "工作量", warnings: "提示",
      versions: "版本", export: "导出", export_geojson: "GeoJSON", export_gpkg: "GeoPackage",
      settings: "设置", basemap: "底图", tiles_none: "无底图", tiles_amap: "高德 (GCJ-02)",
      tiles_custom: "自定义瓦片 URL", api_key: "API 密钥", ok: "达标", below_band: "偏少",
      above_band: "偏多", empty: "无住户", dedicated: "专属网格", not_contiguous: "不连续", locked: "已锁定",
      loading: "加载中…", ready: "就绪", saving: "保存中…", version: "版本",
      restore: "恢复", diff: "对比", moved: "移动楼栋", households_moved: "移动户数",
      pick_grid: "先在列表或地图上(右键)选择当前网格", need_key: "需要 API 密钥(设置中填写)",
      stale: "方案已被他人修改,已重新加载", refused: "操作被拒绝", fix: "解决办法",
      hint: "点击格子移入当前网格;右键格子选为当前网格", merged: "已合并",
      nothing_selected: "没有选中格子", grids_count: "网格数", total_households: "总户数",
      hours: "小时", workers: "网格员", current: "当前",
      zoom_in: "放大地图以显示并移动格子", in_band: "达标网格"
    },
    en: {
      title: "Grid editor", move: "Click to move", box: "Box", lasso: "Lasso",
      split: "Split by line", merge: "Merge", split_half: "Split in half", lock: "Lock",
      unlock: "Unlock", undo: "Undo", redo: "Redo", force: "Force", active: "Active grid",
      grids: "Grids", filter: "Filter by code or community", code: "Code",
      households: "Households", band: "Band", workload: "Workload", warnings: "Warnings",
      versions: "Versions", export: "Export", export_geojson: "GeoJSON",
      export_gpkg: "GeoPackage", settings: "Settings", basemap: "Base map",
      tiles_none: "None", tiles_amap: "Amap (GCJ-02)", tiles_custom: "Own tile URL",
      api_key: "API key", ok: "in band", below_band: "below band", above_band: "above band",
      dedicated: "dedicated",
      empty: "no households", not_contiguous: "not contiguous", locked: "locked",
      loading: "Loading…", ready: "Ready", saving: "Saving…", version: "Version",
      restore: "Restore", diff: "Diff", moved: "units moved", households_moved: "households moved",
      pick_grid: "Pick the active grid first (in the list, or right-click on the map)",
      need_key: "An API key is needed (see Settings)",
      stale: "The plan was changed elsewhere; reloaded", refused: "Refused", fix: "Fix",
      hint: "Click a cell to move it into the active grid; right-click picks the active grid",
      merged: "merged", nothing_selected: "No cells selected", grids_count: "Grids",
      total_households: "Households", hours: "h", workers: "Workers", current: "current",
      zoom_in: "Zoom in to see and move cells", in_band: "in band"
    }
  };
  var TILES = {
    osm: { url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png", gcj: false,
           opts: { maxZoom: 19, attribution: "© OpenStreetMap contributors" } },
    amap: { url: "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
            gcj: true, opts: { subdomains: "1234", maxZoom: 18, attribution: "© 高德地图 AutoNavi" } }
  };
  var PALETTE = ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69",
                 "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f"];

  var body = document.body;
  var S = {
    plan: body.dataset.plan, lang: localStorage.getItem("gridplan.lang") || "zh",
    etag: null, version: null, info: null, grids: {}, cells: {}, order: [], active: null,
    mode: "move", gcj: false, busy: false, diffCells: {}, versions: []
  };
  var map, renderer, cellLayer, gridLayer, baseLayer;
  var timing = {};  // milliseconds of the last load and edit, read by bench/editor_bench.py

  function t(key) { return (T[S.lang] && T[S.lang][key]) || T.en[key] || key; }
  function $(id) { return document.getElementById(id); }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // ---- API -------------------------------------------------------------------------------
  function apiUrl(path) { return "/plans/" + encodeURIComponent(S.plan) + path; }

  function headers(write) {
    var h = { "Accept": "application/json" };
    var key = localStorage.getItem("gridplan.apiKey");
    if (key) h["X-API-Key"] = key;
    if (write) { h["Content-Type"] = "application/json"; h["If-Match"] = S.etag; }
    return h;
  }

  // in-flight requests; body[data-idle="1"] when none (tests and benchmarks wait on it)
  function track(promise) {
    S.inflight = (S.inflight || 0) + 1; body.dataset.idle = "0";
    function done() { S.inflight -= 1; if (!S.inflight) body.dataset.idle = "1"; }
    return promise.then(function (x) { done(); return x; }, function (e) { done(); throw e; });
  }

  function getJSON(path) {
    return track(fetch(apiUrl(path), { headers: headers(false) }).then(function (r) {
      if (!r.ok) return r.text().then(function (x) { throw new Error(r.status + " " + x); });
      var etag = r.headers.get("ETag");
      return r.json().then(function (j) { return { body: j, etag: etag }; });
    }));
  }

  function post(path, payload) {
    setBusy(true, t("saving"));
    var t0 = performance.now();
    return track(fetch(apiUrl(path), {
      method: "POST", headers: headers(true), body: JSON.stringify(payload || {})
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { return { r: r, j: j }; });
    })).then(function (rj) {
      var r = rj.r, j = rj.j;
      timing.request_ms = performance.now() - t0;
      setBusy(false);
      if (r.ok) { S.etag = j.etag || r.headers.get("ETag") || S.etag; return j; }
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

  // ---- UI helpers --------------------------------------------------------------------------
  function setBusy(on, text) {
    S.busy = on;
    var st = $("status");
    st.classList.toggle("busy", on);
    st.textContent = on ? text : t("ready");
    body.dataset.busy = on ? "1" : "0";
  }

  // html: already escaped by the caller
  function message(kind, html) {
    var box = $("messages");
    var div = document.createElement("div");
    div.className = "msg " + kind;
    div.innerHTML = html;
    box.prepend(div);
    while (box.children.length > 4) box.removeChild(box.lastChild);
  }

  function clearMessages() { $("messages").innerHTML = ""; }

  function applyLang() {
    document.documentElement.lang = S.lang;
    document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach(function (el) {
      el.placeholder = t(el.dataset.i18nPlaceholder);
    });
    $("lang").textContent = S.lang === "zh" ? "EN" : "中文";
    document.title = t("title") + " · " + S.plan;
    renderInfo(); renderTable(); renderVersions(); updateButtons();
  }

  function gridColour(code) {
    var h = 0;
    for (var i = 0; i < code.length; i++) h = (h * 31 + code.charCodeAt(i)) >>> 0;
    return PALETTE[h % PALETTE.length];
  }

  // ---- map ---------------------------------------------------------------------------------
  function display(geom) { return S.gcj ? window.gcj02.shiftGeometry(geom, false) : geom; }
  function toData(geom) { return S.gcj ? window.gcj02.shiftGeometry(geom, true) : geom; }

  function initMap() {
    renderer = L.canvas({ padding: 0.3, tolerance: 2 });
    map = L.map("map", { preferCanvas: true, renderer: renderer, zoomControl: true, boxZoom: false });
    map.pm.setGlobalOptions({ snappable: false });
    map.pm.setLang(S.lang === "zh" ? "zh" : "en");
    map.on("pm:create", onDrawn);
    map.on("zoomend", syncCells);
    map.attributionControl.setPrefix("");
    setBaseMap();
  }

  function setBaseMap() {
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

  function cellStyle(f) {
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
  var CELL_LIMIT = 3000, CELL_ZOOM = 16;

  function drawing() { return S.mode === "box" || S.mode === "lasso" || S.mode === "split"; }

  function cellsVisible() { return !S.lazy || map.getZoom() >= CELL_ZOOM; }

  function drawAll(fit) {
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
  function syncCells() {
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

  function addGridShape(code) {
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

  function restyleCells() {
    Object.keys(S.cells).forEach(function (id) {
      var c = S.cells[id];
      if (c.layer) c.layer.setStyle(cellStyle(c.f));
    });
  }

  // ---- loading -----------------------------------------------------------------------------
  // Grids first; a large plan is interactive as soon as its grids are drawn (cells show only
  // from CELL_ZOOM), so its cells arrive in the background; a small plan waits for them.
  function loadAll() {
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
      if (cellLayer) { map.removeLayer(cellLayer); cellLayer = null; }
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

  function loadVersions() {
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

  function moveCells(ids, to) {
    if (!to) { message("info", t("pick_grid")); return Promise.resolve(); }
    ids = ids.filter(function (id) { return S.cells[id] && S.cells[id].f.properties.grid_code !== to; });
    if (!ids.length) { message("info", t("nothing_selected")); return Promise.resolve(); }
    return post("/edits/move", { cells: ids, to_grid: to, force: force() })
      .then(function (res) { return applyEdit(res, { cellsMoved: ids, to: to }); })
      .catch(swallow);
  }

  function swallow(e) { if (!e.handled) message("error", esc(String(e))); }

  function simple(path, payload) {
    clearMessages();
    return post(path, payload).then(function (res) { return applyEdit(res); }).catch(swallow);
  }

  function splitGrid(line) {
    if (!S.active) { message("info", t("pick_grid")); return Promise.resolve(); }
    var payload = { grid: S.active, force: force() };
    if (line) payload.line = line;
    return simple("/edits/split", payload);
  }

  function mergeWith(other) {
    if (!S.active) { message("info", t("pick_grid")); return Promise.resolve(); }
    if (!other || other === S.active) return Promise.resolve();
    return simple("/edits/merge", { grids: [S.active, other], force: force() });
  }

  function toggleLock() {
    if (!S.active) { message("info", t("pick_grid")); return Promise.resolve(); }
    var locked = !!S.grids[S.active].properties.locked;
    return simple("/edits/lock", { grids: [S.active], locked: !locked });
  }

  function restore(version) { return simple("/restore", { version: version }); }

  // ---- map interaction ----------------------------------------------------------------------
  function onCellClick(id, e) {
    var code = S.cells[id].f.properties.grid_code;
    if (e.originalEvent && (e.originalEvent.shiftKey || e.originalEvent.altKey) || !S.active) {
      setActive(code); return;
    }
    if (S.busy) return;
    if (S.mode === "merge") { mergeWith(code); return; }
    if (S.mode === "move" && code !== S.active) { clearMessages(); moveCells([id], S.active); }
  }

  function onGridClick(code, e) {
    if (e.originalEvent && (e.originalEvent.shiftKey || e.originalEvent.altKey) || !S.active) {
      setActive(code); return;
    }
    if (S.busy) return;
    if (S.mode === "merge") { mergeWith(code); return; }
    if (code !== S.active) message("info", esc(t("zoom_in")));
  }

  function setActive(code) {
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

  function setMode(mode) {
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
    if (S.mode === "split") { splitGrid(toData(geom)).then(function () { setMode("split"); }); return; }
    var ring = geom.coordinates[0];
    ensureCells();
    var ids = Object.keys(S.cells).filter(function (id) {
      var c = S.cells[id];
      if (!c.layer) return false;
      var p = c.layer.getBounds().getCenter();
      return pointInRing(p.lng, p.lat, ring);
    });
    moveCells(ids, S.active).then(function () { setMode(S.mode); });
  }

  function pointInRing(x, y, ring) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if (((yi > y) !== (yj > y)) && (x < (xj - xi) * (y - yi) / (yj - yi) + xi)) inside = !inside;
    }
    return inside;
  }

  // ---- panel -------------------------------------------------------------------------------
  function renderInfo() {
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

  function renderTable(changed) {
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

  function renderVersions() {
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

  function showDiff(from) {
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

  function updateButtons() {
    var has = !!S.active && !!S.grids[S.active];
    ["split-half", "lock"].forEach(function (id) { $(id).disabled = !has; });
    if (has) $("lock").textContent = S.grids[S.active].properties.locked ? t("unlock") : t("lock");
    $("undo").disabled = S.canUndo === false || !(S.version > 1);
    $("redo").disabled = !S.canRedo;
  }

  function setExportLinks() {
    $("export-geojson").href = apiUrl("/export?format=geojson");
    $("export-gpkg").href = apiUrl("/export?format=gpkg");
    $("export-geojson").setAttribute("download", S.plan + ".geojson");
    $("export-gpkg").setAttribute("download", S.plan + ".gpkg");
  }

  // ---- wiring ------------------------------------------------------------------------------
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
    $("filter").addEventListener("input", function () { renderTable(); });
    document.querySelector("#grid-table tbody").addEventListener("click", function (e) {
      var tr = e.target.closest("tr"); if (tr) setActive(tr.dataset.code);
    });
    document.querySelector("#grid-table tbody").addEventListener("dblclick", function (e) {
      var tr = e.target.closest("tr"); if (tr && S.grids[tr.dataset.code].layer) map.fitBounds(S.grids[tr.dataset.code].layer.getBounds());
    });
    $("versions").addEventListener("click", function (e) {
      var li = e.target.closest("li"); if (!li) return;
      var v = Number(li.dataset.version);
      if (e.target.classList.contains("restore")) restore(v);
      else if (e.target.classList.contains("diff")) showDiff(v);
    });
    $("basemap").addEventListener("change", function () { localStorage.setItem("gridplan.tiles", $("basemap").value); setBaseMap(); });
    $("tile-url").addEventListener("change", function () { localStorage.setItem("gridplan.tileUrl", $("tile-url").value); setBaseMap(); });
    $("tile-gcj").addEventListener("change", function () { localStorage.setItem("gridplan.tileGcj", $("tile-gcj").checked ? "1" : "0"); setBaseMap(); });
    $("api-key").value = localStorage.getItem("gridplan.apiKey") || "";
    $("api-key").addEventListener("change", function () {
      localStorage.setItem("gridplan.apiKey", $("api-key").value);
      if (!S.loadedOnce) loadAll().then(becomeReady);  // reads may need the key too
    });
    document.addEventListener("keydown", function (e) {
      if (e.target.tagName === "INPUT") return;
      if ((e.ctrlKey || e.metaKey) && e.key === "z") { e.preventDefault(); if (!$("undo").disabled) $("undo").click(); }
      if ((e.ctrlKey || e.metaKey) && (e.key === "y" || (e.shiftKey && e.key === "Z"))) { e.preventDefault(); if (!$("redo").disabled) $("redo").click(); }
      if (e.key === "Escape") setMode("move");
    });
  }

  window.gridEditor = {
    state: S, timing: timing, setActive: setActive, moveCells: moveCells, splitGrid: splitGrid, mergeWith: mergeWith,
    setMode: setMode, reload: loadAll, showDiff: showDiff, panelUpdates: 0, panelUpdatedAt: null,
    ready: false, cellCentre: function (id) {
      var c = S.cells[id]; if (!c || !c.layer) return null;
      var p = map.latLngToContainerPoint(c.layer.getBounds().getCenter());
      return { x: p.x, y: p.y };
    },
    containerPoint: function (lat, lng) {
      var ll = S.gcj ? window.gcj02.toGcj(lng, lat) : [lng, lat];
      var p = map.latLngToContainerPoint([ll[1], ll[0]]);
      var r = $("map").getBoundingClientRect();
      return { x: p.x + r.left, y: p.y + r.top };
    },
    map: function () { return map; }
  };

  wire();
  initMap();
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
})();
