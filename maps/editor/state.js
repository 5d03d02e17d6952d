// The editor's state, shared by its modules, and two DOM helpers.
export var body = document.body;
export var S = {
  plan: body.dataset.plan, lang: localStorage.getItem("gridplan.lang") || "zh",
  etag: null, version: null, info: null, grids: {}, cells: {}, order: [], active: null,
  mode: "move", gcj: false, busy: false, diffCells: {}, versions: [], pending: null,
  pendingCells: {}, msgs: []
};
export var timing = {};  // milliseconds of the last load and edit, read by bench/editor_bench.py

export function $(id) { return document.getElementById(id); }
export function esc(s) {
  return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
  });
}

// the cells of each grid, so an edit restyles only the cells of the grids it changed:
// S.byGrid[code] = {cellId: true}, rebuilt when cells load, kept when cells move
export function indexCells() {
  S.byGrid = {};
  Object.keys(S.cells).forEach(function (id) { addToGrid(id, S.cells[id].f.properties.grid_code); });
}

function addToGrid(id, code) { (S.byGrid[code] = S.byGrid[code] || {})[id] = true; }

export function moveCell(id, to) {
  var c = S.cells[id];
  if (!c) return;
  if (S.byGrid[c.f.properties.grid_code]) delete S.byGrid[c.f.properties.grid_code][id];
  c.f.properties.grid_code = to;
  if (c.layer) c.layer.feature.properties.grid_code = to;
  addToGrid(id, to);
}

// the cells ({f, layer}) of the given grid codes
export function cellsOf(codes) {
  var out = [];
  codes.forEach(function (code) {
    Object.keys((S.byGrid && S.byGrid[code]) || {}).forEach(function (id) { out.push(S.cells[id]); });
  });
  return out;
}
