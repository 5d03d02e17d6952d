"""Builders of tiny OSM XML files for tests (nodes on a lattice near Wudaokou)."""

from __future__ import annotations

LON, LAT = 116.3100, 39.9950
STEP = 0.0001  # about 8.5 m east-west, 11 m north-south


def _square(first_id: int, x: int, y: int, size: int) -> tuple[list[str], list[int]]:
    """Nodes of a size × size STEP square at grid cell (x, y) and the closed ref list."""
    corners = [(x, y), (x + size, y), (x + size, y + size), (x, y + size)]
    ids = list(range(first_id, first_id + 4))
    nodes = [f'<node id="{i}" lat="{LAT + cy * STEP:.7f}" lon="{LON + cx * STEP:.7f}"/>'
             for i, (cx, cy) in zip(ids, corners, strict=True)]
    return nodes, [*ids, ids[0]]


def _way(way_id: int, refs: list[int], tags: dict[str, str]) -> str:
    nds = "".join(f'<nd ref="{r}"/>' for r in refs)
    tag_xml = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
    return f'<way id="{way_id}">{nds}{tag_xml}</way>'
