"""The run page's stage graph: each stage, what it produces, arrows from its upstream stages.

Pure layout from the manifest's stage entries (which come from pipeline.py;
an entry without them falls back to pipeline.REFRESH); templates/lineage.svg.j2
draws it as inline SVG coloured by each stage's status in this run.
"""

from __future__ import annotations

import textwrap

from .pipeline import REFRESH
from .timeline import COLOURS

COLUMN_WIDTH, NODE_WIDTH, LINE_HEIGHT, GAP = 200, 184, 13, 14
WRAP = 32  # characters of the "produces" line that fit in a node at 10.5px


def depths(upstream: dict[str, list[str]]) -> dict[str, int]:
    """Each stage's column: 0 for a stage with no upstream, else one more than its deepest upstream."""
    found: dict[str, int] = {}

    def depth(name: str, seen: tuple = ()) -> int:
        if name not in found:
            parents = [p for p in upstream.get(name, []) if p in upstream and p not in seen]
            found[name] = 1 + max((depth(p, seen + (name,)) for p in parents), default=-1)
        return found[name]

    for name in upstream:
        depth(name)
    return found


def _status_line(status) -> list[str]:
    """A stage that did not succeed says so in its box too (colour alone does not print in grey)."""
    return [] if status in ("succeeded", "done_earlier") else [f"[{str(status).replace('_', ' ')}]"]


def layout(stages: dict[str, dict]) -> dict | None:
    """Nodes (box, label lines, colour) and edges (SVG paths) of the stage graph; None without stages."""
    if not stages:
        return None
    known = {s.name: s for s in REFRESH}
    upstream = {n: list(e.get("upstream") or (known[n].upstream if n in known else ())) for n, e in stages.items()}
    column = depths(upstream)
    lines = {n: _status_line(e.get("status")) + textwrap.wrap(
        e.get("produces") or (known[n].produces if n in known else ""), WRAP)[:3] for n, e in stages.items()}
    node_height = 30 + LINE_HEIGHT * max(len(v) for v in lines.values())
    rows: dict[int, int] = {}
    nodes = {}
    for name, entry in stages.items():
        row = rows[column[name]] = rows.get(column[name], -1) + 1
        status = entry.get("status", "unknown")
        nodes[name] = {"name": name, "status": status, "lines": lines[name],
                       "x": 4 + column[name] * COLUMN_WIDTH, "y": 4 + row * (node_height + GAP),
                       "colour": COLOURS.get("succeeded" if status == "done_earlier" else status, "#555")}
    edges = []
    for name, parents in upstream.items():
        for parent in (p for p in parents if p in nodes):
            a, b = nodes[parent], nodes[name]
            x1, y1 = a["x"] + NODE_WIDTH, a["y"] + node_height / 2
            x2, y2 = b["x"] - 6, b["y"] + node_height / 2
            middle = (x1 + x2) / 2
            edges.append({"from": parent, "to": name,
                          "path": f"M{x1:.0f},{y1:.0f} C{middle:.0f},{y1:.0f} {middle:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"})
    return {"nodes": list(nodes.values()), "edges": edges, "node_width": NODE_WIDTH, "node_height": node_height,
            "width": 8 + (max(column.values()) + 1) * COLUMN_WIDTH - (COLUMN_WIDTH - NODE_WIDTH),
            "height": 8 + max(rows.values()) * (node_height + GAP) + node_height}
