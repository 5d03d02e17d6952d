"""The editor's GCJ-02 code (maps/editor/gcj02.js, run in node) agrees with maps/gcj02.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from gridplan.maps.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02

JS = Path(__file__).resolve().parents[2] / "maps" / "editor" / "gcj02.js"
NODE = shutil.which("node")


def run_js(points: list[list[float]]) -> dict:
    script = (f"const g = require({json.dumps(str(JS))});"
              f"const pts = {json.dumps(points)};"
              "const fwd = pts.map(p => g.toGcj(p[0], p[1]));"
              "const inv = fwd.map(p => g.toWgs(p[0], p[1]));"
              "const geom = g.shiftGeometry({type: 'Polygon', coordinates: [pts]});"
              "console.log(JSON.stringify({fwd, inv, geom}));")
    out = subprocess.run([NODE, "-e", script], capture_output=True, text=True, check=True,
                         timeout=30)
    return json.loads(out.stdout)


@pytest.mark.skipif(NODE is None, reason="node not installed")
def test_js_and_python_agree():
    rng = np.random.default_rng(7)
    pts = np.column_stack([rng.uniform(73, 135, 400), rng.uniform(18, 54, 400)])
    pts = np.vstack([pts, [[24.94, 60.17], [-71.41, 41.82], [116.397, 39.908]]])
    got = run_js(pts.tolist())
    fwd = np.array(got["fwd"])
    glon, glat = wgs84_to_gcj02(pts[:, 0], pts[:, 1])
    assert np.abs(fwd[:, 0] - glon).max() < 1e-10
    assert np.abs(fwd[:, 1] - glat).max() < 1e-10
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    inv = np.array(got["inv"])
    assert np.abs(inv[:, 0] - wlon).max() < 1e-8 and np.abs(inv[:, 1] - wlat).max() < 1e-8
    assert np.abs(inv - pts).max() < 1e-6
    assert np.allclose(np.array(got["geom"]["coordinates"][0]), fwd, atol=0, rtol=0)
    assert tuple(fwd[-3]) == (24.94, 60.17)  # outside China: unchanged
