"""GCJ-02 for the maps: the conversion lives in :mod:`gridplan.layers.datum` (inputs use it too).

``maps/editor/gcj02.js`` is the same code for the browser; a test checks they agree.
"""

from __future__ import annotations

from gridplan.layers.datum import (
    CHINA,
    EE,
    A,
    bd09_to_wgs84,
    gcj02_to_wgs84,
    out_of_china,
    shift_geometries,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

__all__ = ["A", "CHINA", "EE", "bd09_to_wgs84", "gcj02_to_wgs84", "out_of_china",
           "shift_geometries", "wgs84_to_bd09", "wgs84_to_gcj02"]
