"""Which refresh runs count as good: succeeded, and not taken off the catalog by a rollback.

A month that was rolled back still has a succeeded run record, but its data was
found wrong. So a later rollback must not serve it again, retention need not keep
it, and next month's data monitor and cost compare themselves with the month's
last good run instead. An applied rollback names the runs it took off in its
record (`runs/operations/rollback/<run id>/manifest.json`, the `rollback` scrap's
`taken_off`); a re-refresh of the month (`--new-run`) is a new run, good again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from . import records
from .errors import FlywheelError

ROLLBACK_RECORDS = ("operations", "rollback")  # op_runner.OPS["rollback"]: <runs dir>/operations/rollback/


def rolled_back(runs_dir: str | Path) -> set[str]:
    """Run ids an applied, succeeded rollback took off."""
    taken_off: set[str] = set()
    for _, manifest in _newest_first(Path(runs_dir).joinpath(*ROLLBACK_RECORDS)):
        facts = manifest.get("stages", {}).get("rollback", {}).get("scraps", {}).get("rollback") or {}
        if manifest.get("status") == "succeeded" and facts.get("applied"):
            taken_off.update(facts.get("taken_off", []))
    return taken_off


def of_month(runs_dir: str | Path, month: str, skip: set[str] | None = None) -> Iterator[tuple[Path, dict]]:
    """(run dir, manifest) of the month's good runs, newest first; `skip`: `rolled_back(runs_dir)` if known."""
    skip = rolled_back(runs_dir) if skip is None else skip
    for run_dir, manifest in _newest_first(Path(runs_dir) / month):
        if manifest.get("status") == "succeeded" and run_dir.name not in skip:
            yield run_dir, manifest


def _newest_first(folder: Path) -> Iterator[tuple[Path, dict]]:
    """(run dir, manifest) of the runs in `folder`, newest first; an unreadable manifest is passed over."""
    for run_dir in reversed(records.month_runs(folder)):
        try:
            yield run_dir, records.read_manifest(run_dir)
        except FlywheelError:
            continue
