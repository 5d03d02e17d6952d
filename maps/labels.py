"""Labels: the Chinese and English words of the maps (Chinese pages name layers in both)."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Grid plan", "grid": "Grid code", "community": "Community",
        "households": "Households", "status": "Status", "reason": "Reason",
        "grids": "Grids (households vs target)", "communities": "Community boundaries",
        "legend": "Households vs target", "ok": "in band", "below_band": "below band",
        "above_band": "above band", "empty": "no households", "dedicated": "dedicated grid",
        "workload_hours": "Workload (hours/month)", "workers": "Worker",
        "workload_layer": "Grids by workload", "worker_layer": "Worker assignment",
        "barriers": "Barriers (roads, rivers)", "barrier": "Barrier",
        "units": "Buildings / units", "unit": "Unit", "walk_m": "Walk to service point (m)",
        "centres": "Service points", "centre_source": "Placed at",
        "file": "service centres from the given file",
        "central_unit": "no service-centre layer: each community's most central unit "
                        "(household-weighted) stands in",
        "bands": "Walking distance bands", "walk": "Walking distance",
        "bands_network": "walking distance on the street network (OSM)",
        "bands_straight": "straight-line distance × {detour} (no street network given)",
        "uncovered": "Households left uncovered", "no_worker": "grid has no worker",
        "beyond_walk": "beyond the last walking band or off the street network",
        "no_worker_count": "{n} households in grids without a worker",
        "beyond_count": "{n} households beyond {m} m walk (or off the street network)",
        "outside_count": "{n} households outside every community (not planned)",
        "units_left_out": "Buildings / units not drawn: {n} units, more than {limit} "
                          "(gridplan map --units draws them; plan.gpkg holds them all)",
    },
    "zh": {
        "title": "网格规划 Grid plan", "grid": "网格编码", "community": "社区",
        "households": "户数", "status": "状态", "reason": "说明",
        "grids": "网格(户数偏离) / Grids", "communities": "社区边界 / Communities",
        "legend": "户数偏离目标", "ok": "达标", "below_band": "偏少", "above_band": "偏多",
        "empty": "无住户", "dedicated": "专属网格", "workload_hours": "月工作量(小时)",
        "workers": "网格员",
        "workload_layer": "网格工作量 / Workload", "worker_layer": "网格员分配 / Workers",
        "barriers": "道路河流 / Barriers", "barrier": "类型", "units": "楼栋 / Units",
        "unit": "楼栋", "walk_m": "步行至服务点(米)", "centres": "服务点 / Service points",
        "centre_source": "位置", "file": "服务中心(来自文件)",
        "central_unit": "无服务中心图层:以各社区最居中的楼栋(按户数加权)代替",
        "bands": "步行距离圈 / Walking bands", "walk": "步行距离",
        "bands_network": "按路网(OSM)计算的步行距离",
        "bands_straight": "直线距离 × {detour}(未提供路网)",
        "uncovered": "未覆盖住户 / Uncovered", "no_worker": "网格无网格员",
        "beyond_walk": "超出最远步行圈或不在路网上",
        "no_worker_count": "无网格员的网格内 {n} 户",
        "beyond_count": "步行超过 {m} 米(或不在路网上){n} 户",
        "outside_count": "{n} 户不在任何社区内(未规划)",
        "units_left_out": "楼栋未绘制:共 {n} 个,超过 {limit} 个(用 gridplan map --units "
                          "绘制;plan.gpkg 中有全部楼栋)",
    },
}


def label(t: dict[str, str], key: str) -> str:
    """The word for ``key`` in the table ``t`` (falling back to the key itself).

    Examples
    --------
    >>> label(LABELS["zh"], "households")
    '户数'
    """
    return t.get(key, key)


__all__ = ["LABELS", "label"]
