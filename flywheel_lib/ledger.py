"""Tamper evidence for run records: a hash-chained ledger beside them, `<runs dir>/ledger.jsonl`.

`manifest.json` lists the SHA-256 of every file of its record, but a checksum
kept beside what it covers proves nothing once both are edited. So each time a
run (refresh, operation or rollback) ends, the SHA-256 of its final manifest is
appended here as one JSON line that also holds the digest of the line before
it. Rewriting a manifest then disagrees with its ledger line; rewriting that
line breaks the chain at the next one; and the end-of-run notification (AWS)
carries the manifest digest and the chain head, a copy outside the machine.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path

LEDGER = "ledger.jsonl"
GENESIS = "0" * 64


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def find(run_dir: str | Path) -> Path | None:
    """The ledger of the runs folder that holds `run_dir` (refresh or operation runs), if any."""
    for folder in Path(run_dir).resolve().parents:
        if (folder / LEDGER).is_file():
            return folder / LEDGER
    return None


def read_lines(ledger: Path) -> list[str]:
    return ledger.read_text(encoding="utf-8").splitlines() if ledger.is_file() else []


def seal(runs_dir: str | Path, run_dir: str | Path, status: str, at: str) -> dict:
    """Append the run's manifest digest to the ledger; returns the new entry with its own digest.

    Runs of different months may end together: the file is locked while its last line is read
    and the new one appended, so two entries never claim the same predecessor.
    """
    runs_dir, run_dir = Path(runs_dir), Path(run_dir)
    with open(runs_dir / LEDGER, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        lines = handle.read().splitlines()
        entry = {"run": run_dir.resolve().relative_to(runs_dir.resolve()).as_posix(), "status": status, "at": at,
                 "manifest_sha256": digest((run_dir / "manifest.json").read_bytes()),
                 "prev": digest(lines[-1].encode()) if lines else GENESIS}
        line = json.dumps(entry, sort_keys=True)
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return {**entry, "entry_sha256": digest(line.encode())}


def chain_problems(lines: list[str]) -> list[str]:
    """Every line whose successor does not hold its digest: that line (its run) was changed or removed."""
    problems, previous = [], GENESIS
    for number, line in enumerate(lines, start=1):
        if not _is_json(line):
            problems.append(f"ledger line {number} is not a JSON entry: it was edited")
        elif json.loads(line).get("prev") != previous:
            before = lines[number - 2] if number > 1 else ""
            run = json.loads(before).get("run", "?") if _is_json(before) else "?"
            problems.append(f"ledger chain broken at line {number}: the entry before it (run {run}) "
                            "was changed, or a line was removed or inserted")
        previous = digest(line.encode())
    return problems


def verify(run_dir: str | Path) -> list[str]:
    """How the run's manifest and the ledger chain disagree; an empty list means both are intact."""
    run_dir = Path(run_dir)
    ledger = find(run_dir)
    if ledger is None:  # a record from before the ledger, or one copied away from its runs folder
        return []
    lines = read_lines(ledger)
    problems = chain_problems(lines)
    name = run_dir.resolve().relative_to(ledger.parent.resolve()).as_posix()
    sealed = [json.loads(line) for line in lines if _is_json(line) and json.loads(line).get("run") == name]
    if not sealed:
        return problems + [f"run {name} is not in {ledger}: it has not ended, or its entry was removed"]
    actual = digest((run_dir / "manifest.json").read_bytes())
    if actual != sealed[-1]["manifest_sha256"]:
        problems.append(f"changed: manifest.json of run {name} (sealed {sealed[-1]['at']} with sha256 "
                        f"{sealed[-1]['manifest_sha256'][:12]}…, now {actual[:12]}…)")
    return problems


def _is_json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
