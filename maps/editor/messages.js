// What the planner reads about an edit: each refusal and warning from its rule, in 中文 and
// English, with the fix in the editor's own words (never the API's JSON or field names);
// and each version as a sentence. The API names the rule of a refusal (violations[].rule);
// answers without one are recognised by their status and problem text.
import { S } from "./state.js";

// a grid code as a planner reads it: its serial, the last three digits ("…007")
export function shortCode(code) {
  code = String(code == null ? "" : code);
  return code.length > 6 ? "…" + code.slice(-3) : code;
}

function num(x) { return Number(x || 0).toLocaleString(S.lang === "zh" ? "zh-CN" : "en"); }

function list(codes) {
  return (codes || []).map(shortCode).join(S.lang === "zh" ? "、" : ", ");
}

function band() {
  var b = (S.info && S.info.metrics && S.info.metrics.band) ||
          (S.info && S.info.report && S.info.report.band) || null;
  return b ? Math.round(b[0]) + "–" + Math.round(b[1]) : "";
}

// rule → { zh, en }: functions of the violation (and of the refused answer's detail)
var RULES = {
  locked: {
    zh: function (v) { return "网格 " + list(v.grids) + " 已锁定，请先解锁（右键选中该网格 → 点「解锁」）"; },
    en: function (v) { return "Grid " + list(v.grids) + " is locked — unlock it first (right-click it → Unlock)"; }
  },
  nesting: {
    zh: function () { return "不能跨社区调整：地块和网格必须属于同一个社区，请在本社区内的网格之间移动或合并"; },
    en: function () { return "Not across communities: parcels and grids must belong to one community — move or merge within the community"; }
  },
  contiguity: {
    zh: function (v) { return "网格 " + shortCode(v.grid) + " 会被分成互不相连的几块"; },
    en: function (v) { return "Grid " + shortCode(v.grid) + " would fall into separate pieces"; }
  },
  band: {
    zh: function (v) { return "网格 " + shortCode(v.grid) + " 将有 " + num(v.households) + " 户，超出 " + band() + " 户的范围"; },
    en: function (v) { return "Grid " + shortCode(v.grid) + " would hold " + num(v.households) + " households, outside " + band(); }
  },
  removed: {
    zh: function (v) { return "网格 " + shortCode(v.grid) + " 已无地块，已删除"; },
    en: function (v) { return "Grid " + shortCode(v.grid) + " holds nothing any more and was removed"; }
  }
};

// refusals without a rule: [status or null, pattern of the problem, key]
var PROBLEMS = [
  [null, /already in grid/, "already_in"],
  [null, /merged with itself/, "merge_self"],
  [null, /single parcel and cannot be split/, "single_parcel"],
  [null, /on one side/, "line_misses"],
  [null, /no parcels to edit/, "no_parcels"],
  [null, /unknown (parcel|unit)|no grid /, "unknown"],
  [409, /no edit to undo/, "nothing_to_undo"],
  [409, /no undone edit/, "nothing_to_redo"],
  [409, /already the current one/, "already_current"],
  [422, /line|polygon/, "bad_drawing"]
];

var TEXT = {
  zh: {
    already_in: "这些地块已经在当前网格里了，请点选其他网格的地块",
    merge_self: "不能把网格和自己合并，请点一个相邻的其他网格",
    single_parcel: "该网格只有一个地块，不能拆分；可以先合并或移入地块",
    line_misses: "画的线没有穿过网格，请从网格一边画到另一边",
    no_parcels: "这个方案没有地块数据，不能编辑；请用新版 gridplan 重新生成方案",
    unknown: "地图上的数据已过期，请刷新页面",
    nothing_to_undo: "没有可以撤销的修改",
    nothing_to_redo: "没有可以重做的修改",
    already_current: "这已经是当前版本",
    bad_drawing: "画的图形无效，请重新画",
    need_key: "需要 API 密钥，请在「设置」中填写",
    busy_server: "服务器繁忙，请稍后再试",
    not_found: "找不到这个方案",
    offline: "无法连接服务器，请检查网络后重试",
    unknown_error: "操作未成功，请重试；如仍不行请联系管理员",
    fix_soft: "请改选其他地块，或勾选「强制」后再做一次（问题会作为警告保留）",
    refused: "操作被拒绝", warning: "注意",
    role_refused: "你的角色是「查看者」，只能查看，不能修改方案；如需修改，请联系管理员分配「编辑者」角色",
    lock_held: "这些网格由其他用户锁定，只有锁定人或管理员可以解锁：",
    lock_held_fix: "请联系锁定该网格的人，或请管理员解锁"
  },
  en: {
    already_in: "These parcels are already in the active grid — click parcels of another grid",
    merge_self: "A grid cannot be merged with itself — click a neighbouring grid",
    single_parcel: "This grid has a single parcel and cannot be split — merge it or move parcels in first",
    line_misses: "The line does not cross the grid — draw it from one edge to the other",
    no_parcels: "This plan has no parcels and cannot be edited — plan it again with a newer gridplan",
    unknown: "The map is out of date — reload the page",
    nothing_to_undo: "Nothing to undo",
    nothing_to_redo: "Nothing to redo",
    already_current: "This is already the current version",
    bad_drawing: "The drawing is not valid — draw it again",
    need_key: "An API key is needed — enter it in Settings",
    busy_server: "The server is busy — try again in a moment",
    not_found: "This plan does not exist",
    offline: "Cannot reach the server — check the network and try again",
    unknown_error: "That did not work — try again, or ask your administrator",
    fix_soft: "Pick other parcels, or tick Force and do it again (the problem is kept as a warning)",
    refused: "Refused", warning: "Note",
    role_refused: "You have the viewer role: you can look but not change the plan — ask an admin for the editor role",
    lock_held: "Another user locked these grids; only they or an admin can unlock them:",
    lock_held_fix: "Ask whoever locked the grid, or an admin, to unlock it"
  }
};

export function text(key) { return (TEXT[S.lang] || TEXT.en)[key] || TEXT.en[key] || ""; }

function ruleText(v) {
  var r = RULES[v.rule];
  return r ? (r[S.lang] || r.en)(v) : null;
}

// one line per distinct violation (a rule for a grid is said once)
function distinct(violations) {
  var seen = {}, out = [];
  (violations || []).forEach(function (v) {
    if (!v || typeof v !== "object") return;
    var k = v.rule + "|" + (v.grid || (v.grids || []).join(",") || "");
    if (!seen[k] && RULES[v.rule]) { seen[k] = 1; out.push(v); }
  });
  return out;
}

// A refused answer as { title, lines, fix } in the current language (plain text).
export function refusal(status, detail) {
  var d = detail || {};
  var vs = distinct(d.violations);
  if (vs.length) {
    var soft = vs.every(function (v) { return v.rule === "band" || v.rule === "contiguity"; });
    return { title: text("refused"), lines: vs.map(ruleText), fix: soft ? text("fix_soft") : "" };
  }
  // 403: the caller's role may not write (detail.needs), or another user holds a grid's lock
  if (status === 403 && d.needs) return { title: text("refused"), lines: [text("role_refused")], fix: "" };
  if (status === 403 && d.grids) {
    return { title: text("refused"), lines: [text("lock_held") + " " + list(d.grids)], fix: text("lock_held_fix") };
  }
  if (status === 401 || status === 403) return { title: text("refused"), lines: [text("need_key")], fix: "" };
  if (status === 404) return { title: text("refused"), lines: [text("not_found")], fix: "" };
  if (status === 429 || status === 503) return { title: text("refused"), lines: [text("busy_server")], fix: "" };
  var problem = String(d.problem || "");
  for (var i = 0; i < PROBLEMS.length; i++) {
    var p = PROBLEMS[i];
    if ((p[0] === null || p[0] === status) && p[1].test(problem)) {
      return { title: text("refused"), lines: [text(p[2])], fix: "" };
    }
  }
  return { title: text("refused"), lines: [text(status ? "unknown_error" : "offline")], fix: "" };
}

// A warning of an accepted edit (the API sends it as an English sentence) as a rule.
export function warningRule(w) {
  var s = String(w), m;
  if ((m = s.match(/grid (\S+) would fall into separate pieces/))) return { rule: "contiguity", grid: m[1] };
  if ((m = s.match(/grid (\S+) would hold ([\d.]+) /))) return { rule: "band", grid: m[1], households: Number(m[2]) };
  if ((m = s.match(/grid (\S+) no longer holds anything/))) return { rule: "removed", grid: m[1] };
  return null;
}

export function warningText(w) {
  var v = warningRule(w);
  return v ? ruleText(v) : text("warning");
}

// ---- versions as sentences --------------------------------------------------------------
export function versionSentence(v) {
  var s = v.summary || {}, zh = S.lang === "zh", op = v.op || s.op;
  var n = function (x) { return num(x); };
  switch (op) {
    case "plan":
      return zh ? "初始方案：" + n(s.grids) + " 个网格，" + n(s.households) + " 户"
                : "Initial plan: " + n(s.grids) + " grids, " + n(s.households) + " households";
    case "move": {
      var c = (s.cells || []).length;
      return zh ? "移动 " + c + " 个地块（" + n(s.households) + " 户）从 " + list(s.from_grids) + " 到 " + shortCode(s.to_grid)
                : "Moved " + c + " parcel" + (c === 1 ? "" : "s") + " (" + n(s.households) + " households) from " +
                  list(s.from_grids) + " to " + shortCode(s.to_grid);
    }
    case "merge": {
      var g = s.grids || [];
      return zh ? "把 " + shortCode(g[1]) + " 并入 " + shortCode(g[0]) + "（" + n(s.households) + " 户）"
                : "Merged " + shortCode(g[1]) + " into " + shortCode(g[0]) + " (" + n(s.households) + " households)";
    }
    case "split":
      return zh ? "从 " + shortCode(s.grid) + " 拆出 " + shortCode(s.new_grid) + "（" + n(s.households) + " 户）"
                : "Split " + shortCode(s.new_grid) + " off " + shortCode(s.grid) + " (" + n(s.households) + " households)";
    case "lock": return (zh ? "锁定 " : "Locked ") + list(s.grids);
    case "unlock": return (zh ? "解锁 " : "Unlocked ") + list(s.grids);
    case "workers":
      return zh ? shortCode(s.grid) + " 的网格员：" + (s.workers || []).join("、")
                : "Workers of " + shortCode(s.grid) + ": " + (s.workers || []).join(", ");
    case "undo": return zh ? "撤销 v" + (s.undoes || v.target) : "Undid v" + (s.undoes || v.target);
    case "redo": return zh ? "重做 v" + (s.redoes || v.target) : "Redid v" + (s.redoes || v.target);
    case "restore": return zh ? "恢复到 v" + (s.restores || v.target) : "Restored v" + (s.restores || v.target);
    default: return zh ? "修改" : "Edit";
  }
}
