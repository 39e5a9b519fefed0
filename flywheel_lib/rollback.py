"""Roll back a published month: serve the previous good month's versions again, every table or none.

    python run_refresh.py --rollback --month 2026-10 --reason "duplicated customers" [--apply]

"Previous good month" is read from the run records, so both backends agree:
the newest *succeeded* refresh run of an earlier month that no rollback took
off (good_runs.py), and the tables its manifest says were serving when it
ended (`serving`: table -> run, snapshot, location). The plan lists every
table that switches back; applying hands those versions to the backend
(`Backend.serve_again`), which switches them all or none (one DuckDB
transaction locally, publishing.py's put-back switch on Glue) and refuses,
naming the table, when a version was pruned.
Retention keeps those versions (`kept_locations`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from . import records
from .good_runs import of_month, rolled_back
from .errors import RunError
from .snapshots import parse_month


NOT_SERVED = "(not served)"


@dataclass(frozen=True)
class Switch:
    table: str
    serving_run: str
    serving_snapshot: str
    target_run: str
    target_snapshot: str
    target_location: str

    @property
    def line(self) -> str:
        return (f"~ {self.table:<28} {self.serving_snapshot} ({self.serving_run}) -> "
                f"{self.target_snapshot} ({self.target_run})")


def good_runs(runs_dir: str | Path, before: str | None = None) -> list[tuple[str, dict]]:
    """(month, manifest) of the newest good refresh run of each month (before `before`), newest first.

    Good: succeeded, serving tables when it ended, and not taken off by an earlier rollback
    (good_runs.py), so a second rollback never serves a month that was rolled back.
    """
    found, skip = [], rolled_back(runs_dir)
    months = sorted((p for p in Path(runs_dir).glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]") if p.is_dir()), reverse=True)
    for month_dir in months:
        if before and month_dir.name >= before:
            continue
        for _, manifest in of_month(runs_dir, month_dir.name, skip):
            if manifest.get("serving", {}).get("tables"):
                found.append((month_dir.name, manifest))
                break
    return found


def kept_locations(runs_dir: str | Path) -> set[str]:
    """Version folders retention must keep: what the two newest good months served (a rollback's target)."""
    return {t["location"].rstrip("/") for _, manifest in good_runs(runs_dir)[:2]
            for t in manifest["serving"]["tables"].values()}


def plan(runs_dir: str | Path, month: str, published) -> list[Switch]:
    """The switches that serve the month before `month` again; refuses when the catalog does not serve `month`."""
    month = parse_month(month)
    month_runs = {p.name for p in records.month_runs(Path(runs_dir) / month)}
    serving = {e.name: e for e in published}
    if not any(e.run_id in month_runs for e in serving.values()):
        runs = ", ".join(sorted({e.run_id for e in serving.values()})) or "nothing"
        raise RunError(f"the catalog does not serve {month} (it serves run {runs}): nothing to roll back",
                       month=month, hint="Give the month whose tables are live now")
    previous = good_runs(runs_dir, before=month)
    if not previous:
        raise RunError("no earlier month has a succeeded run to roll back to", month=month,
                       hint="A rollback serves the previous good month again; there is none")
    target_month, manifest = previous[0]
    switches = []
    for name, target in sorted(manifest["serving"]["tables"].items()):
        now = serving.get(name)
        if now is None or now.run_id != target["run_id"]:
            switches.append(Switch(name, now.run_id if now else NOT_SERVED, now.snapshot_dt if now else "-",
                                   target["run_id"], target["snapshot_dt"], target["location"]))
    return switches


def plan_or_explain(runs_dir: str | Path, month: str, published) -> list[Switch]:
    """The notebook's plan: with no month given (its defaults), the served month's, or none and why."""
    if month:
        return plan(runs_dir, month, published)
    runs = {e.run_id for e in published}
    served = sorted({p.parent.name for p in Path(runs_dir).glob("*/*") if p.name in runs})
    try:
        return plan(runs_dir, served[-1], published) if served else []
    except RunError as err:
        print(f"Nothing to roll back: {err}")
        return []


def plan_table(switches: list[Switch]) -> pd.DataFrame:
    return pd.DataFrame([asdict(s) for s in switches],
                        columns=["table", "serving_run", "serving_snapshot", "target_run", "target_snapshot",
                                 "target_location"])


def plan_lines(month: str, switches: list[Switch]) -> list[str]:
    """Like `terraform plan`: a summary line, then one line per table."""
    head = f"rollback of {month}: {len(switches)} table(s) to switch back, all or none"
    return [head] + [s.line for s in switches]


def require_reason(reason: str) -> None:
    if not (reason or "").strip():
        raise RunError("a rollback needs a reason, kept in its run record",
                       hint='Add --reason "what was wrong with the month"')


def carry_out(backend, month: str, switches: list[Switch], apply: bool, reason: str) -> dict:
    """Apply the plan when `apply`: every table back, or none (a pruned version is refused first)."""
    facts = {"month": month, "reason": reason, "applied": False, "tables": [s.table for s in switches],
             "to_run": sorted({s.target_run for s in switches}),
             "taken_off": sorted({s.serving_run for s in switches} - {NOT_SERVED})}  # good_runs.rolled_back
    if not apply:
        print("Plan only: nothing was changed. Run with apply=True (CLI: --apply) to switch these tables back.")
        return facts
    require_reason(reason)
    if not month:
        raise RunError("applying a rollback needs the month served now", hint="Set month (CLI: --month)")
    if switches:
        backend.serve_again([{"name": s.table, "run_id": s.target_run, "location": s.target_location}
                             for s in switches])
    print(f"Rolled back {month}: {len(switches)} table(s) serve run(s) {', '.join(facts['to_run'])} again.")
    return {**facts, "applied": True}


def serving_table(published) -> pd.DataFrame:
    """What the catalog serves now: table, snapshot, run."""
    return pd.DataFrame([{"table": e.name, "snapshot_dt": e.snapshot_dt, "run_id": e.run_id} for e in published],
                        columns=["table", "snapshot_dt", "run_id"]).set_index("table")
