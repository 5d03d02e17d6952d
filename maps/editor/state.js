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
