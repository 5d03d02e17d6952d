// The start page's words in 中文 and English; t(key) in the current language, English when missing.
export var S = { lang: localStorage.getItem("gridplan.lang") || "zh" };

export var T = {
  zh: {
    title: "网格规划", api_key: "API 密钥", api_key_hint: "写入需要密钥（向管理员索取）",
    key_saved: "密钥已保存在本浏览器", key_missing: "未填写密钥：上传和开始规划需要它",
    key_bad: "密钥无效，请检查", docs: "接口文档", plans: "规划列表", name: "名称",
    communities: "社区数", grids: "网格数", in_band: "达标比例", last_edit: "最后修改",
    open_editor: "打开编辑", no_plans: "还没有规划。在下面新建一个。", new_plan: "新建规划",
    step_upload: "1. 上传图层", step_params: "2. 设置参数", step_run: "3. 开始规划",
    upload_hint: "把文件拖到框里，或点击选择文件。支持 GeoJSON、GeoPackage、压缩的 Shapefile (.zip)、OSM (.osm/.osm.bz2/.osm.pbf)、CSV 或 Excel 点表 (.xlsx)、人口栅格 (GeoTIFF)。",
    kind_communities: "社区边界", kind_population: "人口（楼栋或住户点）",
    kind_workers: "网格员名单", required: "必填", optional: "可选",
    read_options: "读取选项（文件没有坐标系、编码不是 UTF-8、坐标是 GCJ-02 等）",
    opt_crs: "坐标系", opt_encoding: "文字编码", opt_datum: "坐标基准",
    opt_id_field: "社区编号字段", opt_code_field: "社区代码字段（12 位）",
    opt_households: "户数字段", opt_population_field: "人口字段",
    plan_name: "规划名称", more_params: "更多参数", start: "开始规划", cancel: "取消",
    reading: "正在读取…", read_ok: "已读取", features: "要素", rows: "行",
    households: "户", crs: "坐标系", fields: "字段", bbox: "范围",
    repaired: "已修复的无效图形", dropped: "已去掉的空图形",
    outside: "社区外的户数", warnings: "提示", problem: "问题", fix: "解决办法",
    field: "字段", original: "原文", default: "默认", range: "范围", gt: "大于", ge: "至少", lt: "小于",
    le: "至多", choices: "可选值", list_hint: "多个值用逗号分隔",
    bad_value: "参数不在允许范围内", need_layers: "请先上传社区边界和人口图层",
    starting: "正在提交…", done: "规划完成，正在打开网格编辑…", failed: "规划失败",
    cancelled: "已取消", to_editor: "打开网格编辑", staffing: "网格员配置（JSON）",
    st_queued: "排队中", "st_reading layers": "读取图层", "st_planning communities": "逐个社区划分网格",
    "st_storing the plan": "保存规划", st_done: "完成", st_failed: "失败",
    st_cancelled: "已取消", st_stopped: "已中断",
    e401: "需要有效的 API 密钥：请在页面顶部填写", e413: "文件太大，或读取时间超过上限",
    e415: "不支持这种文件格式", e400: "文件内容不能安全读取", e422: "数据或参数有误",
    e429: "服务器正忙，请稍后再试", e404: "找不到", e500: "服务器内部错误，请报告",
    e0: "连不上服务器", load_failed: "无法读取规划列表",
    e403: "你的角色只能查看，不能上传或开始规划；请联系管理员分配「编辑者」角色",
    sign_in: "登录", sign_out: "退出登录", user_name: "用户名", password: "密码", signed_in_as: "已登录",
    role_viewer: "查看者", role_editor: "编辑者", role_admin: "管理员", sign_in_failed: "用户名或密码错误",
    sign_in_missing: "请填写用户名和密码", sign_in_offline: "无法连接服务器，请稍后再试"
  },
  en: {
    title: "Grid planning", api_key: "API key", api_key_hint: "writes need a key (ask the administrator)",
    key_saved: "Key kept in this browser", key_missing: "No key: uploads and plans need one",
    key_bad: "The key is not valid", docs: "API docs", plans: "Plans", name: "Name",
    communities: "Communities", grids: "Grids", in_band: "In band", last_edit: "Last edit",
    open_editor: "Open editor", no_plans: "No plans yet. Make one below.", new_plan: "New plan",
    step_upload: "1. Upload layers", step_params: "2. Set parameters", step_run: "3. Plan",
    upload_hint: "Drop files on a box, or click to choose. GeoJSON, GeoPackage, zipped Shapefile, OSM (.osm/.osm.bz2/.osm.pbf), CSV or Excel tables of points (.xlsx), population rasters (GeoTIFF).",
    kind_communities: "Community boundaries", kind_population: "Population (buildings or points)",
    kind_workers: "Grid workers", required: "required", optional: "optional",
    read_options: "Reading options (no CRS in the file, text not UTF-8, GCJ-02 coordinates…)",
    opt_crs: "CRS", opt_encoding: "Text encoding", opt_datum: "Datum",
    opt_id_field: "Community id field", opt_code_field: "Community code field (12 digits)",
    opt_households: "Households field", opt_population_field: "Residents field",
    plan_name: "Plan name", more_params: "More parameters", start: "Start planning",
    cancel: "Cancel", reading: "Reading…", read_ok: "Read", features: "features", rows: "rows",
    households: "households", crs: "CRS", fields: "Fields", bbox: "Extent",
    repaired: "Invalid shapes repaired", dropped: "Empty shapes left out",
    outside: "Households outside communities", warnings: "Notes", problem: "Problem",
    fix: "Fix", original: "Original", field: "Field", default: "default", range: "range", gt: "more than",
    ge: "at least", lt: "less than", le: "at most", choices: "choices",
    list_hint: "separate values by commas", bad_value: "A parameter is out of its range",
    need_layers: "Upload the community boundaries and the population first",
    starting: "Submitting…", done: "Planned; opening the grid editor…", failed: "Planning failed",
    cancelled: "Cancelled", to_editor: "Open the grid editor", staffing: "Staffing (JSON)",
    st_queued: "queued", "st_reading layers": "reading layers",
    "st_planning communities": "planning communities", "st_storing the plan": "storing the plan",
    st_done: "done", st_failed: "failed", st_cancelled: "cancelled", st_stopped: "stopped",
    e401: "A valid API key is needed: enter it at the top of the page",
    e413: "The file is too large, or reading it took too long", e415: "This file format is not accepted",
    e400: "The file cannot be read safely", e422: "Bad data or parameter",
    e429: "The server is busy; try again shortly", e404: "Not found",
    e500: "Server error; please report it", e0: "The server cannot be reached",
    load_failed: "Could not read the plans",
    e403: "Your role can only look: uploads and plans need the editor role — ask an admin",
    sign_in: "Sign in", sign_out: "Sign out", user_name: "Name", password: "Password", signed_in_as: "Signed in:",
    role_viewer: "viewer", role_editor: "editor", role_admin: "admin", sign_in_failed: "Wrong name or password",
    sign_in_missing: "Enter your name and password", sign_in_offline: "Cannot reach the server — try again later"
  }
};

export function t(key) { return (T[S.lang] && T[S.lang][key]) || T.en[key] || key; }

// apply the current language to every element marked data-i18n / data-i18n-placeholder
export function applyLang() {
  document.documentElement.lang = S.lang;
  document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach(function (el) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  });
  document.getElementById("lang").textContent = S.lang === "zh" ? "EN" : "中文";
}

// The commonest refusals of the input checks in Chinese (the service answers in English);
// zhProblem(text) is null for the others, which are shown as they came.
var KINDS = { communities: "社区边界", population: "人口", buildings: "楼栋", workers: "网格员",
              compounds: "小区", barriers: "边界线", dedicated: "专属网格", special: "重点人群" };
function kind(k) { return KINDS[k] || k; }
var PROBLEMS = [
  [/every geometry of the (\w+) layer is empty/, function (m) { return kind(m[1]) + "图层的图形全部为空"; }],
  [/the (\w+) layer is empty/, function (m) { return kind(m[1]) + "图层里没有任何要素"; }],
  [/the (\w+) layer has no coordinate reference system/, function (m) {
    return kind(m[1]) + "图层没有坐标系：请在“读取选项”里填写坐标系，如 EPSG:4326"; }],
  [/the (\w+) layer must hold polygons/, function (m) { return kind(m[1]) + "图层必须是面（多边形）"; }],
  [/no field '([^']+)' in the (\w+) layer \(fields: ([^)]*)\)/, function (m) {
    return kind(m[2]) + "图层中没有字段 " + m[1] + "（现有字段：" + m[3] + "）：请在“读取选项”里填写正确的字段名"; }],
  [/no column '([^']+)' in the (\w+) table/, function (m) { return kind(m[2]) + "表中没有列 " + m[1]; }],
  [/duplicate community codes/, function () { return "社区代码有重复"; }],
  [/duplicate (?:ids|worker ids)/, function () { return "编号有重复：每个要素的编号必须唯一"; }],
  [/feature\(s\) have no id/, function () { return "有要素缺少编号"; }],
  [/vertices, more than the limit/, function () {
    return "图形的顶点太多，超过上限：请先简化（如 QGIS：矢量 ▸ 几何工具 ▸ 简化）"; }],
  [/ is invalid/, function () { return "有无效的图形（如自相交）且无法自动修复"; }],
  [/neither UTF-8 nor GB18030|cannot be decoded as/, function () {
    return "无法识别文字编码：请在“读取选项”里填写编码，如 gbk"; }],
  [/no longitude and latitude columns/, function () { return "表中找不到经纬度列（如 lon/lat、经度/纬度）"; }],
  [/count\(s\) missing, not numbers or negative|negative counts/, function () {
    return "户数或人口有缺失、不是数字或为负数"; }],
  [/unknown community ids/, function () { return "有社区编号在社区边界图层中找不到"; }],
  [/the job has no population layer/, function () { return "缺少人口图层"; }],
  [/cannot be read as|cannot read as|cannot read the compressed file/, function () {
    return "无法读取该文件：请确认文件完整、格式正确"; }]
];

export function zhProblem(text) {
  if (!text) return null;
  for (var i = 0; i < PROBLEMS.length; i++) {
    var m = PROBLEMS[i][0].exec(text);
    if (m) return PROBLEMS[i][1](m);
  }
  return null;
}
