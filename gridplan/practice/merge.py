"""Merge: overlay departments' grid layers on a plan (多网合一): overlaps, gaps, crosswalk."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridplan.engine.units import representative_points
from gridplan.errors import InputError
from gridplan.export.folder import write_files, write_geojson
from gridplan.layers.vector import InputNotes, check_ids, check_layer, read_vector, source_of
from gridplan.model import Plan

log = logging.getLogger(__name__)

ID_FIELDS = ("grid_code", "grid_id", "code", "id", "name", "网格编码", "网格名称")
CONFLICT_SHARE = 0.02  # a grid crosses a community when more than this share of it lies outside
CROSSWALK_FIELDS = ["department", "old_grid", "new_grid", "households", "share_of_old_households",
                    "area_share_of_old"]
MERGE_FILES = ("unified_grids.geojson", "unified.gpkg", "crosswalk.csv", "merge_report.csv",
               "merge_report.json")


@dataclass
class MergeResult:
    """The unified layer (the plan's grids), crosswalk, per-community findings and issue shapes."""

    unified: gpd.GeoDataFrame
    crosswalk: pd.DataFrame
    communities: pd.DataFrame
    conflicts: pd.DataFrame
    issues: gpd.GeoDataFrame
    report: dict


def read_department(path: str | Path, *, id_field: str | None = None, name: str | None = None
                    ) -> tuple[str, gpd.GeoDataFrame]:
    """Read one department's grid layer; returns its name and ``grid_id`` + polygons.

    Examples
    --------
    >>> read_department("dept_urban.gpkg")                    # doctest: +SKIP
    ('dept_urban', <GeoDataFrame ...>)
    """
    name = name or Path(path).stem
    gdf = read_vector(path, what=f"{name} grid")
    return name, department_layer(gdf, name=name, id_field=id_field)


def department_layer(gdf: gpd.GeoDataFrame, *, name: str, id_field: str | None = None,
                     notes: InputNotes | None = None) -> gpd.GeoDataFrame:
    """Check a department layer (CRS, validity, polygons, unique ids) → ``grid_id``, geometry."""
    what = f"{name} grid"
    gdf = check_layer(gdf, what=what, notes=notes or InputNotes(), polygons_only=True)
    field = id_field or next((f for f in ID_FIELDS if f in gdf.columns), None)
    if field is None:
        fields = ", ".join(c for c in gdf.columns if c != gdf.geometry.name)
        raise InputError(f"no grid id field in the {what} layer (fields: {fields})",
                         source=source_of(gdf, what), field="--id-field",
                         fix="name the field holding each grid's id with --id-field")
    ids = check_ids(gdf, field, what=what, option="--id-field")
    out = gpd.GeoDataFrame({"grid_id": ids.values}, geometry=gdf.geometry.values, crs=gdf.crs)
    out.attrs["source"] = source_of(gdf, what)
    return out


def merge_departments(plan: Plan, layers: dict[str, gpd.GeoDataFrame]) -> MergeResult:
    """Overlay department grid layers on ``plan``; the plan's grids become the unified layer.

    Households are attributed through units (each unit's representative point in
    each department grid holding it), not area alone; areas are reported beside.

    Parameters
    ----------
    plan : Plan
        The plan whose grids are the unified grids (its units carry the households).
    layers : dict
        Department name → layer from :func:`department_layer` (any CRS).

    Examples
    --------
    >>> res = merge_departments(plan, {"urban": urban})      # doctest: +SKIP
    >>> res.crosswalk.columns.tolist()[:3]                    # doctest: +SKIP
    ['department', 'old_grid', 'new_grid']
    """
    if not layers:
        raise InputError("no department layers given", field="--layers",
                         fix="pass one or more grid layers: --layers a.gpkg b.gpkg")
    pts = gpd.GeoDataFrame(plan.units[["unit_id", "grid_code", "community_id", "households"]],
                           geometry=representative_points(plan.units.geometry), crs=plan.crs)
    walks, rows, conflicts, issues = [], [], [], []
    unified = plan.grids.copy()
    for name, layer in layers.items():
        dept = _overlapping(name, layer.to_crs(plan.crs), plan)
        hits = gpd.sjoin(pts, dept, how="left", predicate="intersects")
        walks.append(_crosswalk(name, dept, hits, plan))
        found = _conflicts(name, dept, plan, hits)
        conflicts.append(found)
        rows.append(_per_community(name, dept, plan, hits, found))
        issues.append(_issue_shapes(name, dept, plan))
        unified[f"{name}_grids"] = _old_grids_of(walks[-1], unified["grid_code"])
    crosswalk = pd.concat(walks, ignore_index=True)[CROSSWALK_FIELDS]
    per_comm = pd.concat(rows, ignore_index=True)
    conflict_df = pd.concat(conflicts, ignore_index=True)
    issue_gdf = gpd.GeoDataFrame(pd.concat(issues, ignore_index=True), geometry="geometry",
                                 crs=plan.crs)
    report = _report(per_comm, crosswalk, conflict_df, plan)
    return MergeResult(unified, crosswalk, per_comm, conflict_df, issue_gdf, report)


def _overlapping(name: str, dept: gpd.GeoDataFrame, plan: Plan) -> gpd.GeoDataFrame:
    """``dept`` if any of its grids overlaps the plan's communities, else an InputError."""
    tree = shapely.STRtree(plan.communities.geometry.values)
    if len(dept) and len(tree.query(dept.geometry.values, predicate="intersects")[0]):
        return dept
    source = dept.attrs.get("source", name)
    raise InputError(f"the {name} grid layer does not overlap the plan's communities",
                     source=source, field="--layers",
                     fix="check that the layer covers this plan's district and that its CRS "
                         "is right (GCJ-02 or BD-09 coordinates must be converted to WGS84)")


def _crosswalk(name: str, dept: gpd.GeoDataFrame, hits: pd.DataFrame, plan: Plan
               ) -> pd.DataFrame:
    """Rows (old grid → new grid) with households and area shares."""
    covered = hits.dropna(subset=["grid_id"])
    hh = covered.groupby(["grid_id", "grid_code"])["households"].sum().rename("households")
    total = covered.groupby("grid_id")["households"].sum()
    area = _area_pairs(dept, plan.grids)
    df = pd.concat([hh, area], axis=1).fillna(0).reset_index()
    df.columns = ["old_grid", "new_grid", "households", "area_share_of_old"]
    df = df[(df["households"] > 0) | (df["area_share_of_old"] >= 0.01)]
    df["households"] = df["households"].astype(np.int64)
    old_total = df["old_grid"].map(total).fillna(0)
    df["share_of_old_households"] = np.where(old_total > 0,
                                             df["households"] / old_total.clip(lower=1), 0.0)
    df["share_of_old_households"] = df["share_of_old_households"].round(4)
    df["area_share_of_old"] = df["area_share_of_old"].round(4)
    df.insert(0, "department", name)
    return df.sort_values(["old_grid", "households", "new_grid"],
                          ascending=[True, False, True]).reset_index(drop=True)


def _area_pairs(dept: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> pd.Series:
    """Share of each department grid's area in each plan grid."""
    tree = shapely.STRtree(grids.geometry.values)
    i, j = tree.query(dept.geometry.values, predicate="intersects")
    inter = shapely.area(shapely.intersection(dept.geometry.values[i], grids.geometry.values[j]))
    share = inter / np.maximum(shapely.area(dept.geometry.values[i]), 1e-9)
    idx = pd.MultiIndex.from_arrays([dept["grid_id"].values[i], grids["grid_code"].values[j]],
                                    names=["grid_id", "grid_code"])
    return pd.Series(share, index=idx, name="area_share_of_old").groupby(level=[0, 1]).sum()


def _conflicts(name: str, dept: gpd.GeoDataFrame, plan: Plan, hits: pd.DataFrame
               ) -> pd.DataFrame:
    """Department grids lying in more than one community (by area share above 2%)."""
    comm = plan.communities
    tree = shapely.STRtree(comm.geometry.values)
    i, j = tree.query(dept.geometry.values, predicate="intersects")
    share = shapely.area(shapely.intersection(dept.geometry.values[i], comm.geometry.values[j]))
    share = share / np.maximum(shapely.area(dept.geometry.values[i]), 1e-9)
    df = pd.DataFrame({"grid_id": dept["grid_id"].values[i],
                       "community_id": comm["community_id"].astype(str).values[j],
                       "area_share": share})
    df = df[df["area_share"] > CONFLICT_SHARE]
    hh = hits.dropna(subset=["grid_id"]).groupby(["grid_id", "community_id"])["households"].sum()
    df["households"] = [int(hh.get((g, c), 0)) for g, c in zip(df["grid_id"], df["community_id"],
                                                                  strict=True)]
    crossing = df.groupby("grid_id")["community_id"].transform("size") > 1
    out = df[crossing].copy()
    out.insert(0, "department", name)
    out["area_share"] = out["area_share"].round(4)
    return out.reset_index(drop=True)


def _per_community(name: str, dept: gpd.GeoDataFrame, plan: Plan, hits: pd.DataFrame,
                   conflicts: pd.DataFrame) -> pd.DataFrame:
    """Per community: households and area covered twice or more, or not at all; conflicts."""
    count = hits.groupby(level=0)["grid_id"].count()
    units = plan.units.assign(cover=count.reindex(plan.units.index).fillna(0).values)
    rows = []
    for comm in plan.communities.itertuples(index=False):
        cid = str(comm.community_id)
        mine = units[units["community_id"].astype(str) == cid]
        parts = shapely.intersection(dept.geometry.values, comm.geometry)
        parts = parts[~shapely.is_empty(parts)]
        union = shapely.union_all(parts) if len(parts) else shapely.Polygon()
        covered = float(shapely.area(union))
        rows.append({
            "department": name, "community_id": cid,
            "households": int(mine["households"].sum()),
            "department_grids": int((shapely.area(parts) > 1.0).sum()),
            "overlap_households": int(mine.loc[mine["cover"] > 1, "households"].sum()),
            "overlap_area_m2": round(max(float(shapely.area(parts).sum()) - covered, 0.0), 1),
            "gap_households": int(mine.loc[mine["cover"] == 0, "households"].sum()),
            "gap_area_m2": round(max(float(comm.geometry.area) - covered, 0.0), 1),
            "conflict_grids": ",".join(sorted(conflicts.loc[conflicts["community_id"] == cid,
                                                            "grid_id"])),
        })
    return pd.DataFrame(rows)


def _issue_shapes(name: str, dept: gpd.GeoDataFrame, plan: Plan) -> pd.DataFrame:
    """Overlap and gap polygons of one department, per community, for QGIS."""
    rows = []
    for comm in plan.communities.itertuples(index=False):
        parts = shapely.intersection(dept.geometry.values, comm.geometry)
        parts = parts[shapely.area(parts) > 1.0]
        union = shapely.union_all(parts) if len(parts) else shapely.Polygon()
        gap = shapely.difference(comm.geometry, union)
        if shapely.area(gap) > 1.0:
            rows.append((name, str(comm.community_id), "gap", gap))
        if len(parts) > 1:
            tree = shapely.STRtree(parts)
            a, b = tree.query(parts, predicate="intersects")
            keep = a < b
            inter = shapely.intersection(parts[a[keep]], parts[b[keep]])
            inter = inter[shapely.area(inter) > 1.0]
            if len(inter):
                rows.append((name, str(comm.community_id), "overlap", shapely.union_all(inter)))
    polys = [_polygonal(g) for *_, g in rows]
    return pd.DataFrame({"department": [r[0] for r in rows], "community_id": [r[1] for r in rows],
                         "issue": [r[2] for r in rows],
                         "area_m2": np.round(shapely.area(np.asarray(polys, dtype=object)), 1)
                         if rows else [], "geometry": polys})


def _polygonal(geom):
    """The polygon parts of an overlay result (no stray lines or points)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _old_grids_of(walk: pd.DataFrame, codes: pd.Series) -> list[str]:
    """Per unified grid: the department's grids that hand it households, largest first."""
    w = walk[walk["households"] > 0].sort_values("households", ascending=False)
    by_new = w.groupby("new_grid")["old_grid"].apply(lambda s: ",".join(s.astype(str)))
    return [by_new.get(c, "") for c in codes]


def _report(per_comm: pd.DataFrame, crosswalk: pd.DataFrame, conflicts: pd.DataFrame,
            plan: Plan) -> dict:
    """Totals per department."""
    out = {"unified_grids": int(len(plan.grids)), "households": int(plan.units["households"].sum()),
           "departments": {}}
    for name, grp in per_comm.groupby("department", sort=False):
        walk = crosswalk[crosswalk["department"] == name]
        kept_whole = walk.groupby("old_grid")["share_of_old_households"].max()
        out["departments"][name] = {
            "old_grids": int(walk["old_grid"].nunique()),
            "overlap_households": int(grp["overlap_households"].sum()),
            "gap_households": int(grp["gap_households"].sum()),
            "overlap_area_m2": round(float(grp["overlap_area_m2"].sum()), 1),
            "gap_area_m2": round(float(grp["gap_area_m2"].sum()), 1),
            "grids_crossing_communities": int(conflicts.loc[conflicts["department"] == name,
                                                            "grid_id"].nunique()),
            "old_grids_mapping_to_one_new_grid": int((kept_whole >= 0.999).sum()),
            "crosswalk_rows": int(len(walk)),
        }
    return out


def write_merge(result: MergeResult, out_dir: str | Path) -> dict[str, Path]:
    """Write the unified layer, crosswalk and findings into ``out_dir``, all or nothing.

    Examples
    --------
    >>> write_merge(result, "out/demo")                        # doctest: +SKIP
    """
    def files(folder: Path) -> None:
        write_geojson(result.unified.drop(columns=[c for c in ("reason",)
                                                   if c in result.unified]),
                      folder / "unified_grids.geojson")
        gpkg = folder / "unified.gpkg"
        pyogrio.write_dataframe(result.unified, gpkg, layer="unified_grids", driver="GPKG")
        if len(result.issues):
            pyogrio.write_dataframe(result.issues, gpkg, layer="issues", driver="GPKG",
                                    append=True, promote_to_multi=True)
        result.crosswalk.to_csv(folder / "crosswalk.csv", index=False, encoding="utf-8")
        result.communities.to_csv(folder / "merge_report.csv", index=False, encoding="utf-8")
        report = dict(result.report, conflicts=result.conflicts.to_dict(orient="records"))
        with open(folder / "merge_report.json", "w", encoding="utf-8") as fh:
            json.dump(report, fh, ensure_ascii=False, indent=2)

    return write_files(out_dir, {"files": files}, list(MERGE_FILES))


def summary_text(result: MergeResult, out_dir: Path) -> str:
    """A readable summary of a merge."""
    r = result.report
    lines = ["", f"gridplan merge (多网合一): {len(r['departments'])} department layer(s) onto "
             f"{r['unified_grids']} unified grids ({r['households']} households)"]
    for name, d in r["departments"].items():
        lines.append(f"  {name}: {d['old_grids']} grids; overlaps {d['overlap_households']} "
                     f"households ({d['overlap_area_m2']:.0f} m²); gaps {d['gap_households']} "
                     f"households ({d['gap_area_m2']:.0f} m²); {d['grids_crossing_communities']}"
                     f" grid(s) cross community boundaries; "
                     f"{d['old_grids_mapping_to_one_new_grid']} map whole to one new grid")
    lines.append(f"  wrote {out_dir}/: " + " ".join(MERGE_FILES))
    return "\n".join(lines)


__all__ = ["MergeResult", "department_layer", "merge_departments", "read_department",
           "write_merge"]
