"""The vertex limits on the command line: --max-feature-vertices, --max-layer-vertices and
--max-repair-vertices change them for plan, replan and merge (default: GeometryLimits())."""

from __future__ import annotations

import math

import geopandas as gpd
import shapely
from conftest import X0, Y0, communities_frame, lattice, plan_args, run_cli, units_frame
from conftest import write_layer as write
from shapely.geometry import Polygon


def star(n: int, r: float = 100.0) -> Polygon:
    """A self-intersecting {n/2} star (n odd), repaired by make_valid."""
    return Polygon([(X0 + 150 + r * math.cos(2 * math.pi * (i * 2 % n) / n),
                     Y0 + 100 + r * math.sin(2 * math.pi * (i * 2 % n) / n))
                    for i in range(n)])


def _inputs(tmp_path, community) -> tuple:
    units = write(units_frame(lattice(6, 4)), tmp_path / "u.gpkg")
    comm = write(communities_frame([("C1", None, community)]), tmp_path / "c.gpkg")
    return units, comm


def test_a_lower_repair_limit_refuses_a_small_star(tmp_path):
    # 302 vertices: repaired under the default 20,000 (tests/layers/test_limits.py)
    units, comm = _inputs(tmp_path, star(301, 400))
    low = run_cli(*plan_args(units, comm, tmp_path / "low", ["--max-repair-vertices", "100"]))
    assert low.exit_code == 2
    assert "302 vertices" in low.stderr and "at most 100" in low.stderr
    assert "Fix:" in low.stderr


def test_feature_and_layer_limits(tmp_path):
    circle = shapely.Point(X0 + 150, Y0 + 100).buffer(300, quad_segs=64)  # 257 vertices
    units, comm = _inputs(tmp_path, circle)
    r = run_cli(*plan_args(units, comm, tmp_path / "a", ["--max-feature-vertices", "200"]))
    assert r.exit_code == 2 and "limit of 200 per feature" in r.stderr, r.stderr
    r = run_cli(*plan_args(units, comm, tmp_path / "b", ["--max-layer-vertices", "100"]))
    assert r.exit_code == 2 and "limit of 100 per layer" in r.stderr, r.stderr
    r = run_cli(*plan_args(units, comm, tmp_path / "c", ["--max-feature-vertices", "3"]))
    assert r.exit_code == 2 and "--max-feature-vertices" in r.stderr  # at least 4


def test_replan_and_merge_take_the_limits(tmp_path):
    units, comm = _inputs(tmp_path, shapely.box(X0, Y0, X0 + 300, Y0 + 200))
    plan_dir = tmp_path / "plan"
    assert run_cli(*plan_args(units, comm, plan_dir)).exit_code == 0
    r = run_cli("replan", "--plan", plan_dir, "--population", units, "--households",
                "households", "--out", tmp_path / "re", "--no-map", "--quiet", "--no-compare",
                "--max-feature-vertices", "4")
    assert r.exit_code == 2 and "limit of 4 per feature" in r.stderr, r.stderr
    dept = gpd.GeoDataFrame({"grid_code": ["A"]}, geometry=[star(301, 80)], crs=32650)
    path = write(dept, tmp_path / "dept.gpkg")
    r = run_cli("merge", "--layers", path, "--plan", plan_dir, "--out", tmp_path / "m",
                "--quiet", "--max-repair-vertices", "100")
    assert r.exit_code == 2 and "at most 100" in r.stderr, r.stderr


def test_a_cluster_run_keeps_the_default_limits(tmp_path):
    units, comm = _inputs(tmp_path, shapely.box(X0, Y0, X0 + 300, Y0 + 200))
    r = run_cli(*plan_args(units, comm, tmp_path / "out", ["--workers", "1",
                                                           "--max-repair-vertices", "100"]))
    assert r.exit_code == 2 and "only for a run in this process" in r.stderr, r.stderr
