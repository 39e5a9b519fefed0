"""Each published table's history: which run published which snapshot, when, rows and columns.

Read from the run records under the runs directory: a run published its
tables when its `glue_ready` stage succeeded (the ER table: `er_table`). Rows
and columns come from the data monitor's profiles of that run, else from what
`glue_ready` and `er_table` kept (published.csv, er_tables.csv) and their scraps. Shown as
`<runs dir>/history.html` (linked from runs/index.html) and by
`run_refresh.py --history [TABLE]`.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

from . import pages, records
from .errors import FlywheelError
from .pipeline import DONE
from .timeline import when

PAGE = "history.html"


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def _published_csv(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return {row.get("table"): row for row in csv.DictReader(handle)}


def _number(value) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def published_by(run_dir: Path, manifest: dict) -> list[dict]:
    """The tables this run published, each with its snapshot, time, rows and columns."""
    stages = manifest.get("stages") or {}
    profiles = _json(run_dir / "data_monitor_rpt" / "profile.json")
    kept = {**_published_csv(run_dir / "glue_ready" / "published.csv"),
            **_published_csv(run_dir / "er_table" / "er_tables.csv")}
    datasets = (manifest.get("snapshots") or {}).get("datasets") or {}
    found = {}
    for stage, names in (("glue_ready", (stages.get("glue_ready", {}).get("scraps") or {}).get("published")),
                         ("er_table", (stages.get("er_table", {}).get("scraps") or {}).get("er_tables"))):
        entry = stages.get(stage) or {}
        if entry.get("status") not in DONE:
            continue
        for name in names or (kept if stage == "glue_ready" else {}):
            row, profile = kept.get(name) or {}, profiles.get(name) or {}
            source = "addressable_ids" if name.startswith("part_addressable_ids") else "infobase_attributes"
            rows = profile.get("rows", _number(row.get("rows")))
            if rows is None and isinstance(names, dict):
                rows = _number(names.get(name))
            columns = len(profile["columns"]) if profile.get("columns") else _number(row.get("data columns"))
            found[name] = {"table": name, "month": manifest.get("month"), "run_id": manifest.get("run_id"),
                           "snapshot_dt": row.get("snapshot_dt") or (datasets.get(source) or {}).get("snapshot_dt"),
                           "published_at": entry.get("ended_at"), "rows": rows, "columns": columns}
    return list(found.values())


def collect(runs_dir: str | Path) -> dict[str, list[dict]]:
    """Table -> what each run published of it, newest first, with the row change from the one before."""
    tables: dict[str, list[dict]] = {}
    for run in records.list_runs(runs_dir):  # oldest first
        run_dir = Path(run["path"])
        for entry in published_by(run_dir, records.read_manifest(run_dir)):
            entry["page"] = f"{run_dir.relative_to(runs_dir).as_posix()}/index.html"
            tables.setdefault(entry["table"], []).append(entry)
    for entries in tables.values():
        for older, newer in zip(entries, entries[1:]):
            if older["rows"] is not None and newer["rows"] is not None:
                newer["delta"] = newer["rows"] - older["rows"]
        entries.reverse()
    return dict(sorted(tables.items()))


def _shown(entry: dict) -> dict:
    delta = entry.get("delta")
    return {**entry, "published": when(entry["published_at"]),
            "rows_text": "-" if entry["rows"] is None else f"{entry['rows']:,}",
            "columns_text": "-" if entry["columns"] is None else str(entry["columns"]),
            "change": "" if delta is None else f"{delta:+,}",
            "trend": "up" if (delta or 0) > 0 else "down" if (delta or 0) < 0 else ""}


def write_page(runs_dir: str | Path) -> Path:
    runs_dir = Path(runs_dir)
    tables = collect(runs_dir)
    runs = {(e["month"], e["run_id"]) for entries in tables.values() for e in entries}
    text = pages.render("history.html.j2", title="Flywheel published tables: history", runs=len(runs),
                        tables=[{"name": t, "entries": [_shown(e) for e in es]} for t, es in tables.items()],
                        written=when(datetime.now(timezone.utc)))
    return pages.write(runs_dir / PAGE, text)


def pick(tables: dict[str, list[dict]], wanted: str) -> dict[str, list[dict]]:
    """The tables named by `wanted` (any case, with or without part_); all when empty."""
    if not wanted:
        return tables
    name = wanted.strip().lower()
    name = name if name.startswith("part_") else f"part_{name}"
    if name not in tables:
        raise FlywheelError(f"no run has published a table {wanted!r}",
                            hint=f"Published tables: {', '.join(tables) or 'none yet'}")
    return {name: tables[name]}


def lines(tables: dict[str, list[dict]]) -> list[str]:
    """The history as a plain-text table, for `run_refresh.py --history [TABLE]`."""
    head = ("table", "month", "snapshot", "run", "published at", "rows", "change", "columns")
    rows = [head] + [(t, e["month"], e["snapshot_dt"], e["run_id"], s["published"], s["rows_text"],
                      s["change"] or "-", s["columns_text"])
                     for t, entries in tables.items() for e in entries for s in [_shown(e)]]
    widths = [max(len(str(row[i] or "-")) for row in rows) for i in range(len(head))]
    right = {5, 6, 7}
    return ["  ".join(f"{str(v or '-'):>{w}}" if i in right else f"{str(v or '-'):<{w}}"
                      for i, (v, w) in enumerate(zip(row, widths))).rstrip() for row in rows]


def print_history(runs_dir: str | Path, wanted: str, out) -> None:
    tables = pick(collect(runs_dir), wanted)
    print("\n".join(lines(tables)) if tables else f"no published table under {runs_dir}", file=out)
