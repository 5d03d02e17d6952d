// The editor's words in 中文 and English; t(key) in the current language, English when missing.
import { S } from "./state.js";

export var T = {
  zh: {
    title: "网格编辑", home: "全部规划", move: "点选移动", box: "框选", lasso: "套索", split: "画线拆分",
    merge: "合并", split_half: "对半拆分", lock: "锁定", unlock: "解锁", undo: "撤销",
    redo: "重做", force: "强制", active: "当前网格", grids: "网格", filter: "筛选编码或社区",
    code: "编码", households: "户数", band: "状态", workload: "工作量", warnings: "提示",
    versions: "版本", export: "导出", export_geojson: "GeoJSON", export_gpkg: "GeoPackage",
    settings: "设置", basemap: "底图", tiles_none: "无底图", tiles_amap: "高德 (GCJ-02)",
    tiles_custom: "自定义瓦片 URL", api_key: "API 密钥", ok: "达标", below_band: "偏少",
    above_band: "偏多", empty: "空", dedicated: "专属网格", not_contiguous: "不连续", locked: "已锁定",
    loading: "加载中…", ready: "就绪", saving: "保存中…", version: "版本",
    restore: "恢复", diff: "对比", moved: "移动楼栋", households_moved: "移动户数",
    pick_grid: "先在列表或地图上(右键)选择当前网格", need_key: "需要 API 密钥(设置中填写)",
    stale: "方案已被他人修改,已重新加载", refused: "操作被拒绝", fix: "解决办法",
    hint: "点击格子移入当前网格;右键格子选为当前网格", merged: "已合并",
    nothing_selected: "没有选中格子", grids_count: "网格数", total_households: "总户数",
    hours: "小时", workers: "网格员", current: "当前",
    zoom_in: "放大地图以显示并移动格子", in_band: "达标网格",
    legend: "图例", community_line: "社区边界", locked_line: "已锁定(虚线)",
    broken_line: "不连续(红边)", all_status: "全部状态", status_filter: "按状态筛选",
    community: "社区", deviation: "偏离目标", compactness: "紧凑度", reason: "原因",
    parcel: "此地块", other_community: "其他社区：不能移入当前网格",
    chart: "各网格户数与达标范围", chart_band: "达标范围", hh_unit: "户",
    sort_hint: "点击表头排序", shown: "显示", of: "/",
    saved: "已保存", confirm_move: "确认移动", cancel: "取消", skipped_foreign: "个其他社区的地块没有移动(不能跨社区)", forced_off: "「强制」已自动取消（只用于一次操作）"
  },
  en: {
    title: "Grid editor", home: "All plans", move: "Click to move", box: "Box", lasso: "Lasso",
    split: "Split by line", merge: "Merge", split_half: "Split in half", lock: "Lock",
    unlock: "Unlock", undo: "Undo", redo: "Redo", force: "Force", active: "Active grid",
    grids: "Grids", filter: "Filter by code or community", code: "Code",
    households: "Households", band: "Band", workload: "Workload", warnings: "Warnings",
    versions: "Versions", export: "Export", export_geojson: "GeoJSON",
    export_gpkg: "GeoPackage", settings: "Settings", basemap: "Base map",
    tiles_none: "None", tiles_amap: "Amap (GCJ-02)", tiles_custom: "Own tile URL",
    api_key: "API key", ok: "in band", below_band: "below band", above_band: "above band",
    dedicated: "dedicated",
    empty: "empty", not_contiguous: "not contiguous", locked: "locked",
    loading: "Loading…", ready: "Ready", saving: "Saving…", version: "Version",
    restore: "Restore", diff: "Diff", moved: "units moved", households_moved: "households moved",
    pick_grid: "Pick the active grid first (in the list, or right-click on the map)",
    need_key: "An API key is needed (see Settings)",
    stale: "The plan was changed elsewhere; reloaded", refused: "Refused", fix: "Fix",
    hint: "Click a cell to move it into the active grid; right-click picks the active grid",
    merged: "merged", nothing_selected: "No cells selected", grids_count: "Grids",
    total_households: "Households", hours: "h", workers: "Workers", current: "current",
    zoom_in: "Zoom in to see and move cells", in_band: "in band",
    legend: "Legend", community_line: "community boundary", locked_line: "locked (dashed)",
    broken_line: "not contiguous (red edge)", all_status: "All statuses",
    status_filter: "Filter by status", community: "Community", deviation: "From target",
    compactness: "Compactness", reason: "Reason", parcel: "This parcel",
    other_community: "Other community: cannot move into the active grid",
    chart: "Households per grid and the band", chart_band: "band", hh_unit: "households",
    sort_hint: "Click a header to sort", shown: "shown", of: "/",
    saved: "Saved", confirm_move: "Move them", cancel: "Cancel", skipped_foreign: "parcels of another community were not moved", forced_off: "Force was switched off again (it is for one edit)"
  }
};

export function t(key) { return (T[S.lang] && T[S.lang][key]) || T.en[key] || key; }
