"""The run record: `runs/<month>/<run id>/` and its `manifest.json`.

A record holds every executed notebook (kept also when it failed), an HTML
copy of each, whatever the notebooks wrote beside them, earlier attempts of
re-run stages under `attempt-<n>/`, the review page `index.html` (review.py,
rewritten just before each manifest write), and the manifest. The manifest is
rewritten atomically after every change, so even a killed run leaves a true
one, and it lists a SHA-256 of every other file so a reviewer can `verify`
that the record is the one the run produced.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from . import review
from .config import PROJECT_ROOT
from .errors import RunError
from .lock import is_held

MANIFEST = "manifest.json"
PACKAGES = ("flywheel-runbook", "papermill", "duckdb", "pyarrow", "pandas",
            "nbconvert", "scrapbook", "boto3")
UNFINISHED = ("running", "failed", "interrupted")
_RUN_ID = re.compile(r"\d{8}T\d{6}Z(-\d+)?")
# Called with (run_dir, manifest) after every manifest write: the S3 copy of dev/prod (record_mirror.py).
AFTER_WRITE: list = []


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def new_run_id(month_dir: str | Path, now: datetime | None = None) -> str:
    """A UTC timestamp such as 20261127T031500Z, suffixed -2, -3... if already taken."""
    base = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    run_id, n = base, 1
    while (Path(month_dir) / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def _run_order(run_id: str) -> tuple[str, int]:
    base, _, suffix = run_id.partition("-")
    return base, int(suffix or 1)


def month_runs(month_dir: str | Path) -> list[Path]:
    """Run directories of one month that have a manifest, oldest first."""
    root = Path(month_dir)
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if _RUN_ID.fullmatch(p.name) and (p / MANIFEST).is_file()]
    return sorted(runs, key=lambda p: _run_order(p.name))


def read_manifest(run_dir: str | Path) -> dict:
    path = Path(run_dir) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise RunError(f"cannot read the run manifest: {err}", path=str(path)) from err


def effective_status(manifest: dict, month_dir: str | Path) -> str:
    """'running' in a manifest whose month lock nobody holds means the run was interrupted."""
    status = manifest.get("status", "unknown")
    if status == "running" and not is_held(month_dir):
        return "interrupted"
    return status


def latest_run(month_dir: str | Path) -> dict | None:
    """The newest manifest of a month, or None."""
    runs = month_runs(month_dir)
    return read_manifest(runs[-1]) if runs else None


def list_runs(runs_dir: str | Path) -> list[dict]:
    """Every run under `runs_dir`: month, run id, status, times and path, oldest first."""
    found = []
    root = Path(runs_dir)
    for month_dir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        for run_dir in month_runs(month_dir):
            manifest = read_manifest(run_dir)
            found.append({
                "month": manifest.get("month"),
                "run_id": manifest.get("run_id"),
                "status": effective_status(manifest, month_dir),
                "started_at": manifest.get("started_at"),
                "ended_at": manifest.get("ended_at"),
                "duration_s": manifest.get("duration_s"),
                "path": str(run_dir),
            })
    return found


def provenance(repo: str | Path = PROJECT_ROOT) -> dict:
    """Which code ran, with which packages, by whom and where. No environment values."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {"code": _git_state(repo), "packages": versions, "user": user,
            "host": socket.gethostname()}


def _git_state(repo) -> dict:
    def git(*args) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                              text=True, check=True, timeout=30).stdout
    try:
        return {"commit": git("rev-parse", "HEAD").strip(),
                "dirty": bool(git("status", "--porcelain").strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": "unknown"}


def _record_files(run_dir: Path) -> list[Path]:
    return sorted(
        p for p in run_dir.rglob("*")
        if p.is_file() and p.name != MANIFEST and not p.name.startswith(".manifest")
    )


def checksums(run_dir: str | Path) -> dict:
    """Relative path -> {sha256, size} for every file of the record but the manifest."""
    run_dir = Path(run_dir)
    found = {}
    for path in _record_files(run_dir):
        try:
            found[path.relative_to(run_dir).as_posix()] = file_checksum(path)
        except FileNotFoundError:  # moved away while we looked (an attempt being archived)
            continue
    return found


def file_checksum(path: Path) -> dict:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"sha256": digest.hexdigest(), "size": size}


def write_manifest(run_dir: str | Path, manifest: dict) -> None:
    """Refresh `files`, rewrite the review page, replace manifest.json (temp file + os.replace).

    The page (index.html) is rewritten just before every manifest write and its
    checksum recorded with the others, so `verify` covers it like any file; the
    page itself lists every checksum but its own.
    """
    run_dir = Path(run_dir)
    manifest["files"] = {k: v for k, v in checksums(run_dir).items() if k != review.PAGE}
    _write_page(run_dir, manifest)
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=run_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2, default=str)
            handle.write("\n")
        os.replace(tmp, run_dir / MANIFEST)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for hook in list(AFTER_WRITE):
        hook(run_dir, manifest)


def _write_page(run_dir: Path, manifest: dict) -> None:
    try:
        review.write_run_page(run_dir, manifest)
    except Exception as err:  # a page bug must not stop a refresh; the old page stays recorded
        print(f"warning: the run page {run_dir / review.PAGE} was not rewritten: {err!r}",
              file=sys.stderr, flush=True)
    if (run_dir / review.PAGE).is_file():
        manifest["files"] = dict(sorted({
            **manifest["files"], review.PAGE: file_checksum(run_dir / review.PAGE)}.items()))


def archive_attempt(run_dir: str | Path, stage: str, attempt: int) -> dict:
    """Move a stage's notebook and HTML into attempt-<n>/ before it runs again.

    Returns the new relative paths, for the stage's history in the manifest.
    """
    run_dir = Path(run_dir)
    folder = run_dir / f"attempt-{attempt}"
    moved = {}
    for kind, suffix in (("notebook", ".ipynb"), ("html", ".html")):
        source = run_dir / f"{stage}{suffix}"
        if source.exists():
            folder.mkdir(exist_ok=True)
            os.replace(source, folder / source.name)
            moved[kind] = (folder / source.name).relative_to(run_dir).as_posix()
    return moved


def verify(run_dir: str | Path) -> list[str]:
    """Every way the record differs from its manifest; an empty list means intact."""
    manifest = read_manifest(run_dir)
    return differences(manifest.get("files", {}), checksums(run_dir))


def differences(expected: dict, actual: dict) -> list[str]:
    """missing / changed / unexpected, between the manifest's checksums and the files found."""
    problems = []
    for name, entry in sorted(expected.items()):
        if name not in actual:
            problems.append(f"missing: {name}")
        elif actual[name]["sha256"] != entry["sha256"]:
            problems.append(f"changed: {name}")
    problems += [f"unexpected: {name}" for name in sorted(set(actual) - set(expected))]
    return problems


# ---- the manifest's shape -------------------------------------------------------------

def stage_entry(stage, status: str) -> dict:
    return {"status": status, "upstream": list(stage.upstream), "produces": stage.produces,
            "started_at": None, "ended_at": None, "duration_s": None, "notebook": None,
            "html": None, "error": None, "attempts": 0, "scraps": {}, "history": []}


def new_manifest(run_id: str, month: str, settings, pair, stages, actions: dict) -> dict:
    """A fresh manifest; `actions` says which stages run ("pending") or not ("skipped")."""
    return {
        "run_id": run_id, "month": month, "env": settings.env, "status": "running",
        "started_at": utc_now(), "ended_at": None, "duration_s": 0.0, "parameters": {},
        "settings": settings.public_dict(), "snapshots": pair.as_record(),
        "invocations": [],
        "stages": {s.name: stage_entry(s, "pending" if actions[s.name] == "run" else "skipped")
                   for s in stages},
    }


def reopen(manifest: dict, run_dir: str | Path, stages, actions: dict) -> None:
    """Prepare a manifest for resuming: earlier attempts of re-run stages go to attempt-<n>/."""
    for stage in stages:
        entry = manifest["stages"].setdefault(stage.name, stage_entry(stage, "pending"))
        if entry["status"] == "running":  # the process running it died
            entry["status"] = "interrupted"
        if actions[stage.name] == "done_earlier":
            entry["status"] = "done_earlier"
        elif actions[stage.name] == "run":
            if entry["attempts"]:
                moved = archive_attempt(run_dir, stage.name, entry["attempts"])
                entry["history"].append({
                    "attempt": entry["attempts"], "notebook": None, "html": None,
                    **{k: entry[k] for k in ("status", "error", "started_at", "ended_at",
                                             "duration_s")}, **moved})
            entry.update(status="pending", started_at=None, ended_at=None, duration_s=None,
                         notebook=None, html=None, error=None, scraps={})


def summary_lines(manifest: dict, run_dir: str | Path) -> list[str]:
    """The table printed at the end of a run: stage, status, duration."""
    width = max([5] + [len(n) for n in manifest["stages"]])
    lines = [f"{'stage':<{width}}  {'status':<13} {'duration':>9}"]
    for name, entry in manifest["stages"].items():
        took = f"{entry['duration_s']:.1f}s" if entry.get("duration_s") is not None else "-"
        lines.append(f"{name:<{width}}  {entry['status']:<13} {took:>9}")
    lines.append(f"run {manifest['run_id']}: {manifest['status']} "
                 f"({manifest.get('duration_s', 0):.1f}s); record: {run_dir}")
    lines.append(f"review page: {Path(run_dir) / review.PAGE}")
    return lines
