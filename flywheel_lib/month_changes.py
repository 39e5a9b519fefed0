"""What changed since last month, for the run page: rows, columns and null rates per table.

Compares this run's data monitor profiles (data_monitor_rpt/profile.json) with
those of the previous month's last good run (monitor_report.previous_profiles),
so it shows every move, also those under the monitor's alert thresholds. Pure
over the two profile dicts (`compare`); templates/changes.html.j2 draws it.
"""

from __future__ import annotations

import json
from pathlib import Path

PROFILE = "data_monitor_rpt/profile.json"
TOP_NULL_MOVES = 10
# Null-rate moves under a percentage point are counted, not listed: customers coming and going
# shift every column's rate a little; a point or more is worth a look.
MOVE = 0.01


def _rate(profile: dict, column: str) -> float:
    rows = profile.get("rows") or 0
    return (profile.get("null_counts") or {}).get(column, 0) / rows if rows else 0.0


def _row_change(table: str, before: dict | None, now: dict | None) -> dict:
    was, is_ = (before or {}).get("rows"), (now or {}).get("rows")
    delta = None if was is None or is_ is None else is_ - was
    pct = None if not was or delta is None else 100.0 * delta / was
    note = "new table" if before is None else "table gone" if now is None else ""
    return {"table": table, "before": was, "now": is_, "delta": delta, "pct": pct, "note": note}


def compare(now: dict[str, dict], before: dict[str, dict]) -> dict:
    """Rows per table, columns added and removed, the largest null-rate moves (percentage points)."""
    tables = sorted(set(now) | set(before))
    rows = [_row_change(t, before.get(t), now.get(t)) for t in tables]
    columns, moves, small = [], [], 0
    for table in (t for t in tables if t in now and t in before):
        was, is_ = before[table].get("columns") or [], now[table].get("columns") or []
        columns += [{"table": table, "change": "added", "column": c} for c in is_ if c not in was]
        columns += [{"table": table, "change": "removed", "column": c} for c in was if c not in is_]
        for column in (c for c in is_ if c in was):
            delta = _rate(now[table], column) - _rate(before[table], column)
            small += 0 < abs(delta) < MOVE
            if abs(delta) >= MOVE:
                moves.append({"table": table, "column": column, "before": _rate(before[table], column),
                              "now": _rate(now[table], column), "delta": delta})
    moves.sort(key=lambda m: (-abs(m["delta"]), m["table"], m["column"]))
    changed_rows = [r for r in rows if r["delta"] or r["note"]]
    return {"rows": rows, "changed_rows": len(changed_rows), "columns": columns,
            "null_moves": moves[:TOP_NULL_MOVES], "null_moves_total": len(moves), "null_moves_small": small,
            "nothing": not changed_rows and not columns and not moves and not small,
            "total_before": sum(r["before"] or 0 for r in rows), "total_now": sum(r["now"] or 0 for r in rows)}


def for_run(run_dir: str | Path, month: str) -> dict | None:
    """The comparison for a refresh run's page; a note when there is nothing to compare; None
    when the run has no data monitor stage yet."""
    from .monitor_report import previous_month, previous_profiles  # imports records, which imports review

    path = Path(run_dir) / PROFILE
    if not path.is_file():
        return None
    try:
        now = json.loads(path.read_text(encoding="utf-8"))
        before, previous_run = previous_profiles(Path(run_dir).parent.parent, month)
    except (OSError, ValueError) as err:
        return {"note": f"Cannot compare with last month: {err}"}
    if before is None:
        return {"note": f"No successful run of {previous_month(month)} to compare with."}
    return {"note": None, "previous_run": previous_run, **compare(now, before)}
