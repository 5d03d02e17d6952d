"""Stage 3: merge the batches' plans, in the communities' order, into the output files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import shapely

from gridplan.engine.metrics import optimality_report, summarize
from gridplan.errors import PlanInvariantError
from gridplan.export.excel import write_grids_xlsx
from gridplan.export.folder import (
    GRID_FIELDS,
    OPTIONAL_GRID_FIELDS,
    OUTPUT_FILES,
    UNIT_FIELDS,
    _write_layer,
    _write_parcels,
    remove_stale,
    temp_folder,
    write_geojson,
)
from gridplan.layers.vector import InputNotes
from gridplan.params import PlanParams
from gridplan.scale.shards import load_frames


def merge_plans(communities: gpd.GeoDataFrame, done: dict[str, dict], params: PlanParams, crs,
                notes: InputNotes, work: Path, out_dir: Path, unit_kind: str,
                runtime: float) -> dict:
    """Append the communities' plans, batch file by batch file, into the output files.

    Files are written in a temporary folder inside ``out_dir`` and moved into place
    once all are complete, like :func:`gridplan.export.folder.write_plan`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = temp_folder(out_dir)
    ids = [str(c) for c in communities["community_id"]]
    attrs, comm_rows = [], []
    try:
        for i, part in enumerate(_runs(ids, done, work, crs)):
            grids, units = part["grids"], part["units"]
            comm_rows.append(part["community"])
            _append_layers(grids, units, tmp, first=i == 0, unit_kind=unit_kind)
            _write_parcels(SimpleNamespace(cells=part["cells"], cell_edges=part["cell_edges"]),
                           tmp / "plan.gpkg")
            attrs.append(_grid_attributes(grids))
        _close_features(tmp / "grids.geojson")
        comm = pd.concat(comm_rows, ignore_index=True)
        comm["code"] = comm["code"].astype(object).where(comm["code"].notna(), "")
        _write_layer(comm, tmp / "plan.gpkg", "communities", promote_to_multi=True)
        all_grids = pd.concat(attrs, ignore_index=True)
        report = _report(all_grids, comm, done, params, crs, notes, runtime)
        report["explanations"] = [done[c]["explanation"] for c in ids
                                  if done[c].get("explanation")]
        report["optimality"] = optimality_report(
            [done[c]["optimality"] for c in ids if done[c].get("optimality")],
            sum(done[c]["stage_seconds"].get("exact", 0.0) for c in ids))
        (tmp / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2),
                                         encoding="utf-8")
        write_grids_xlsx(SimpleNamespace(grids=all_grids, communities=comm), tmp / "grids.xlsx")
        for name in OUTPUT_FILES:
            os.replace(tmp / name, out_dir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    remove_stale(out_dir, keep=set(OUTPUT_FILES))
    return report


def _runs(ids: list[str], done: dict[str, dict], work: Path, crs):
    """The plans of consecutive communities, a run of communities from one batch file at a
    time, in the communities' order.

    A run is a slice of its file: a file holds its communities in that order, so
    consecutive communities from one file are consecutive in it. A first run makes one
    run per file; a resumed run may need a file more than once, so the last one read is
    kept.
    """
    cached: tuple[str, dict] | None = None
    start = 0
    while start < len(ids):
        name = done[ids[start]]["file"]
        stop = start + 1
        while stop < len(ids) and done[ids[stop]]["file"] == name:
            stop += 1
        if cached is None or cached[0] != name:
            cached = (name, load_frames(work / "plans" / f"{name}.pkl", crs))
        first, last = done[ids[start]]["rows"], done[ids[stop - 1]]["rows"]
        yield {layer: frame.iloc[first[layer][0]:last[layer][1]].reset_index(drop=True)
               for layer, frame in cached[1].items()}
        start = stop


def _append_layers(grids: gpd.GeoDataFrame, units: gpd.GeoDataFrame, folder: Path, *,
                   first: bool, unit_kind: str) -> None:
    """Append one batch to grids.geojson, units.csv and the grids/units GeoPackage layers."""
    extra = [c for c in OPTIONAL_GRID_FIELDS if c in grids.columns]
    g = grids[[*GRID_FIELDS, *extra, "geometry"]]
    write_geojson(g, folder / ".batch.geojson")
    _splice_features(folder / ".batch.geojson", folder / "grids.geojson", first=first)
    units[UNIT_FIELDS].to_csv(folder / "units.csv", index=False, encoding="utf-8",
                              mode="w" if first else "a", header=first)
    gpkg = folder / "plan.gpkg"
    _write_layer(g, gpkg, "grids", append=not first)
    u = units[["unit_id", "building_id", "grid_code", "cell_id", "community_id", "households",
               "population", "geometry"]]
    _write_layer(u, gpkg, "units", geometry_type=unit_kind,
                 promote_to_multi=unit_kind == "MultiPolygon")


def _splice_features(batch: Path, target: Path, *, first: bool) -> None:
    """Append the features of a GeoJSON file :func:`write_geojson` wrote to ``target``,
    left open.

    Each batch is written on its own and its feature lines (one per feature) are
    copied; :func:`_close_features` ends the collection. The result is byte for byte
    what one write of all the grids gives.
    """
    text = batch.read_text(encoding="utf-8")
    head, mark, rest = text.partition('"features": [\n')
    body, end, _ = rest.rpartition("\n]\n}")
    if not mark or not end:
        raise RuntimeError(f"unexpected GeoJSON layout in {batch}")
    with open(target, "w" if first else "a", encoding="utf-8") as fh:
        fh.write(head + mark if first else ",\n")
        fh.write(body)
    batch.unlink()


def _close_features(target: Path) -> None:
    with open(target, "a", encoding="utf-8") as fh:
        fh.write("\n]\n}\n")


def _grid_attributes(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Grid attributes with a placeholder geometry of the same type (for the report)."""
    empty = {t: shapely.from_wkt(f"{t.upper()} EMPTY") for t in grids.geom_type.unique()}
    return gpd.GeoDataFrame(grids.drop(columns="geometry"),
                            geometry=[empty[t] for t in grids.geom_type], crs=grids.crs)


def _report(grids: gpd.GeoDataFrame, comm: gpd.GeoDataFrame, done: dict[str, dict],
            params: PlanParams, crs, notes: InputNotes, runtime: float) -> dict:
    """``report.json`` of the merged plan: the in-process report, plus how it was run."""
    dup = grids["grid_code"][grids["grid_code"].duplicated()]
    if len(dup):
        raise PlanInvariantError(f"duplicate grid codes: {', '.join(dup.head(5))}")
    stages: dict[str, float] = {}
    for d in done.values():
        for k, v in d["stage_seconds"].items():
            stages[k] = round(stages.get(k, 0.0) + v, 3)
    # summarize() reads only the grids' attributes and geometry types and the layer sizes
    light = SimpleNamespace(grids=grids, units=range(sum(d["units"] for d in done.values())),
                            communities=comm, params=params, crs=crs)
    report = summarize(light, notes, stages, runtime)
    report["partitioned"] = {
        "stage_seconds_are": "summed over communities (busy time across workers)"}
    return report
