"""Stage 3: merge the batches' plans, in the communities' order, into the output files."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import shapely

from gridplan.engine.metrics import optimality_report, summarize
from gridplan.errors import PlanInvariantError
from gridplan.export.excel import GridsWorkbook
from gridplan.export.folder import (
    CELL_FIELDS,
    GRID_FIELDS,
    OPTIONAL_GRID_FIELDS,
    OUTPUT_FILES,
    SEPARATOR,
    TAIL,
    UNIT_FIELDS,
    _write_layer,
    remove_stale,
    temp_folder,
    unsynced_gpkg,
    write_cell_edges,
    write_geojson,
    write_wkb_layer,
)
from gridplan.layers.vector import InputNotes
from gridplan.params import PlanParams
from gridplan.scale.shards import load_frames


class PlanMerge:
    """Append planned communities to the output files in the communities' order, as their
    batches finish.

    Files are written in a temporary folder inside ``out_dir``; :meth:`finish` moves them
    into place once all are complete, like :func:`gridplan.export.folder.write_plan`.
    Used as a context manager, the temporary folder goes when the block ends.

    Each call of :meth:`add` writes every community that can now be written: those
    after the last written one, up to the first not planned yet. The driver calls it
    as each batch finishes, so the files grow while the workers plan.
    """

    def __init__(self, ids: list[str], crs, work: Path, out_dir: Path, unit_kind: str) -> None:
        self.ids, self.crs, self.work, self.out_dir = ids, crs, work, out_dir
        self.unit_kind = unit_kind
        self.done: dict[str, dict] = {}
        self.next = 0  # position of the first community not written yet
        self.attrs: list[gpd.GeoDataFrame] = []
        self.comm_rows: list[gpd.GeoDataFrame] = []
        self._cached: tuple[str, dict] | None = None
        self.seconds = 0.0  # spent writing, in add() and finish()
        out_dir.mkdir(parents=True, exist_ok=True)
        self.tmp = temp_folder(out_dir)
        self.book = GridsWorkbook(self.tmp / "grids.xlsx")  # its rows written batch by batch

    def __enter__(self) -> PlanMerge:
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.book.__exit__(*exc)  # closed without hiding an error on its way out
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def add(self, done: dict[str, dict]) -> None:
        """Take more planned communities (id → marker summary) and write what is ready."""
        t0 = time.perf_counter()
        self.done.update(done)
        with unsynced_gpkg():  # plan.gpkg is new, in the temporary folder
            while self.next < len(self.ids) and self.ids[self.next] in self.done:
                stop = self._run_end(self.next)
                self._write(self._run(self.next, stop))
                self.next = stop
        self.seconds += time.perf_counter() - t0

    def finish(self, params: PlanParams, notes: InputNotes, runtime: float) -> dict:
        """Close the files, write the communities layer and the report, and move them into
        ``out_dir``; the report."""
        if self.next < len(self.ids):
            raise PlanInvariantError(f"community {self.ids[self.next]} was never planned")
        t0 = time.perf_counter()
        tmp, done, ids = self.tmp, self.done, self.ids
        _close_features(tmp / "grids.geojson")
        comm = pd.concat(self.comm_rows, ignore_index=True)
        comm["code"] = comm["code"].astype(object).where(comm["code"].notna(), "")
        with unsynced_gpkg():
            _write_layer(comm, tmp / "plan.gpkg", "communities", promote_to_multi=True)
        all_grids = pd.concat(self.attrs, ignore_index=True)
        report = _report(all_grids, comm, done, params, self.crs, notes, runtime)
        report["explanations"] = [done[c]["explanation"] for c in ids
                                  if done[c].get("explanation")]
        report["optimality"] = optimality_report(
            [done[c]["optimality"] for c in ids if done[c].get("optimality")],
            sum(done[c]["stage_seconds"].get("exact", 0.0) for c in ids))
        (tmp / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2),
                                         encoding="utf-8")
        self.book.close()
        for name in OUTPUT_FILES:
            os.replace(tmp / name, self.out_dir / name)
        remove_stale(self.out_dir, keep=set(OUTPUT_FILES))
        self.seconds += time.perf_counter() - t0
        return report

    def _run_end(self, start: int) -> int:
        """End of the run of planned communities from ``start``'s batch file."""
        name, stop = self.done[self.ids[start]]["file"], start + 1
        while (stop < len(self.ids) and self.ids[stop] in self.done
               and self.done[self.ids[stop]]["file"] == name):
            stop += 1
        return stop

    def _run(self, start: int, stop: int) -> dict[str, pd.DataFrame]:
        """The plans of communities ``start:stop``, a slice of their batch file.

        A batch file holds its communities in their order, so consecutive communities
        from one file are consecutive in it. A resumed run may need a file more than
        once, so the last one read is kept.
        """
        name = self.done[self.ids[start]]["file"]
        if self._cached is None or self._cached[0] != name:
            self._cached = (name, load_frames(self.work / "plans" / f"{name}.pkl", self.crs,
                                              wkb=("units", "cells")))
        first = self.done[self.ids[start]]["rows"]
        last = self.done[self.ids[stop - 1]]["rows"]
        return {layer: frame.iloc[first[layer][0]:last[layer][1]].reset_index(drop=True)
                for layer, frame in self._cached[1].items()}

    def _write(self, part: dict[str, pd.DataFrame]) -> None:
        grids = part["grids"]
        _append_layers(grids, part["units"], self.tmp, first=not self.comm_rows,
                       crs=self.crs, unit_kind=self.unit_kind)
        _append_parcels(part["cells"], part["cell_edges"], self.tmp / "plan.gpkg", crs=self.crs)
        self.comm_rows.append(part["community"])
        self.attrs.append(_grid_attributes(grids))
        self.book.add(SimpleNamespace(grids=grids, communities=part["community"]))


def _append_layers(grids: gpd.GeoDataFrame, units: pd.DataFrame, folder: Path, *,
                   first: bool, crs, unit_kind: str) -> None:
    """Append one batch to grids.geojson, units.csv and the grids/units GeoPackage layers
    (the units' geometry as WKB)."""
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
    write_wkb_layer(u, gpkg, "units", crs=crs, geometry_type=unit_kind,
                    promote_to_multi=unit_kind == "MultiPolygon")


def _append_parcels(cells: pd.DataFrame, edges: pd.DataFrame, gpkg: Path, *, crs) -> None:
    """Append one batch's parcels (geometry as WKB) and their adjacency, as
    :func:`gridplan.export.folder.write_plan` writes them."""
    write_wkb_layer(cells[CELL_FIELDS], gpkg, "cells", crs=crs, promote_to_multi=True)
    write_cell_edges(edges, gpkg)


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
        fh.write(head + mark if first else SEPARATOR)
        fh.write(body)
    batch.unlink()


def _close_features(target: Path) -> None:
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(TAIL)


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
