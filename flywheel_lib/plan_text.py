"""An operation's plan (or outcome) as a reader sees it, like `terraform plan`.

Read from the operation's record (plan.csv, and outcome.csv after --apply, as
changes.PlannedOperation writes them): one summary line, then one line per
change with a sign and its reason, and after --apply each change's outcome.
`run_refresh.py --op` prints it (op_runner.py); the operation's run page is
headed by the same summary (templates/run.html.j2).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

CHANGING = ("create", "update", "re-create", "delete")
QUIET = ("unchanged", "skipped", "blocked")
# "!" and "." mark what is listed but not changed: blocked (needs a decision) and skipped (waits on
# another operation); unchanged things are only counted.
SIGNS = {"create": "+", "update": "~", "delete": "-", "re-create": "-/+", "blocked": "!", "skipped": "."}
FILES = ("plan.csv", "outcome.csv")


@dataclass
class PlanView:
    headline: str          # the summary line
    changes: list[dict]    # the listed rows of plan.csv/outcome.csv, each with its "sign"
    applied: bool          # from outcome.csv: statuses are outcomes
    files: list[str]       # the record's files it was read from


def summary_line(rows: list[dict]) -> str:
    """'Plan: 2 to create, 1 to update, 0 to re-create, 0 to delete; 20 unchanged, 2 skipped, 0 blocked.'"""
    count = {a: sum(r.get("action") == a for r in rows) for a in (*CHANGING, *QUIET)}
    other = sorted({r.get("action") for r in rows} - set(count))  # an action newer than this code
    extra = "".join(f", {sum(r.get('action') == a for r in rows)} {a}" for a in other)
    return ("Plan: " + ", ".join(f"{count[a]} to {a}" for a in CHANGING) + "; "
            + ", ".join(f"{count[a]} {a}" for a in QUIET) + extra + ".")


def outcome_line(rows: list[dict]) -> str:
    """'Applied: 3 applied, 1 failed, 2 not attempted, 20 nothing to do.'"""
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row.get("status") or "?"] = statuses.get(row.get("status") or "?", 0) + 1
    return "Outcome: " + ", ".join(f"{n} {s}" for s, n in statuses.items()) + "."


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: (v or "") for k, v in row.items()} for row in csv.DictReader(handle)]


def read(run_dir: str | Path) -> PlanView | None:
    """The plan of an operation record, with outcomes when it was applied; None if it has none."""
    run_dir = Path(run_dir)
    files = [name for name in FILES if (run_dir / name).is_file()]
    if not files:
        return None
    applied = "outcome.csv" in files
    rows = _read_csv(run_dir / files[-1])
    headline = summary_line(rows) + (" " + outcome_line(rows) if applied else "")
    listed = [{**r, "sign": SIGNS[r.get("action")]} for r in rows if r.get("action") in SIGNS]
    return PlanView(headline, listed, applied, files)


def lines(view: PlanView) -> list[str]:
    """The plan for the terminal: the summary, then a line per change (and its outcome)."""
    out = [view.headline]
    for row in view.changes:
        line = f"  {row['sign']:>3} {row.get('kind')} {row.get('name')}: {row.get('reason')}"
        if view.applied:
            line += f"  => {row.get('status')}" + (f" ({row['detail']})" if row.get("detail") else "")
        out.append(line)
    if not view.changes:
        out.append("  nothing to change")
    return out
