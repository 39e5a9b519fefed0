"""The pages a reviewer opens: `<run dir>/index.html` for one run, `<runs dir>/index.html` for all.

This module builds the values a page shows from the manifest (and the data
monitor's report when the run has one); the markup is in
`templates/run.html.j2` and `templates/runs.html.j2`, rendered with
autoescaping by pages.py. A page is one self-contained HTML file: inline CSS,
inline SVG, relative links to files of the record only, so it opens from the
file system with no server and no network.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from . import cost, lineage, month_changes, pages, plan_text
from .timeline import by_invocation, timeline_bars, timeline_layout, took, when

PAGE = "index.html"
MONITOR_REPORT = "data_monitor_rpt/data_monitor_report.json"
# Manifest sections the page shows in their own place; any other is shown as recorded.
SHOWN = {"run_id", "month", "env", "status", "started_at", "ended_at", "duration_s", "parameters",
         "snapshots", "invocations", "stages", "files", "code", "packages", "user", "host",
         "operation", "serving", "cost"}
FOLDED = {"settings"}  # shown closed: long, and the same every month


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _count(items, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


# ---- the run page ----------------------------------------------------------------------

def banner(manifest: dict) -> tuple[str, str, list[str]]:
    """(status, headline, detail lines) for the top of the run page."""
    status, stages = manifest.get("status", "unknown"), manifest.get("stages", {})

    def named(*wanted):
        return [n for n, e in stages.items() if e.get("status") in wanted]

    details = [f"{n}: {_error_text(stages[n].get('error'))}" for n in named("failed")]
    if named("blocked"):
        details.append(f"blocked (not run): {', '.join(named('blocked'))}")
    if status == "succeeded":
        headline = (f"Succeeded: {_count(named('succeeded', 'done_earlier'), 'stage')} in "
                    f"{took(manifest.get('duration_s'))}")
    elif status == "failed":
        headline = f"Failed at stage {', '.join(named('failed') or named('blocked')) or '?'}"
    elif status == "interrupted":
        during = ", ".join(named("interrupted"))
        headline = f"Interrupted during {during}" if during else "Interrupted"
        details.append("Running the same command again resumes this run.")
    elif status == "running":
        headline = "Running (this page is rewritten as stages finish)"
        details.append("If no refresh process is running any more, the run was interrupted.")
    else:
        headline = str(status).capitalize()
    return status, headline, details


def _error_text(error: dict | None) -> str:
    if not isinstance(error, dict):
        return "" if not error else str(error)
    return ": ".join(str(part) for part in (error.get("ename"), error.get("evalue")) if part)


def _facts(manifest: dict) -> list[tuple[str, str]]:
    code, packages = manifest.get("code") or {}, manifest.get("packages") or {}
    dirty = {True: " (with uncommitted changes)", False: " (clean)"}.get(code.get("dirty"), "")
    rows = [("Month", manifest.get("month")), ("Run", manifest.get("run_id")),
            ("Environment", manifest.get("env"))]
    if manifest.get("operation"):
        shown = {k: v for k, v in (manifest.get("parameters") or {}).items() if k not in ("env", "run_id")}
        rows.append(("Parameters", ", ".join(f"{k}={v}" for k, v in shown.items()) or "-"))
    for name, d in (manifest.get("snapshots") or {}).get("datasets", {}).items():
        files = d.get("files", [])
        rows.append((f"Snapshot {name}", f"{d.get('snapshot_dt')}  ({_count(files, 'file')}, "
                     f"{_size(sum(f.get('size', 0) for f in files))})"))
    invocations = manifest.get("invocations") or []
    rows += [("Started", when(manifest.get("started_at"))),
             ("Ended", when(manifest.get("ended_at"))),
             ("Duration", f"{took(manifest.get('duration_s'))} over "
                          f"{_count(invocations, 'invocation')}"),
             ("Run by", f"{manifest.get('user', '?')} on {manifest.get('host', '?')}"),
             ("Code", f"commit {code.get('commit', '?')}{dirty}"),
             ("Packages", ", ".join(f"{k} {v}" for k, v in packages.items() if v))]
    if isinstance(manifest.get("serving"), dict):
        rows.append(("Serving queries", _serving_text(manifest["serving"])))
    return [(k, "" if v is None else str(v)) for k, v in rows]


def _serving_text(serving: dict) -> str:
    if "error" in serving:
        return f"catalog not read: {serving['error']}"
    tables = serving.get("tables") or {}
    runs = sorted({str(t.get("run_id")) for t in tables.values()})
    return (f"{len(tables)} tables of snapshot(s) {', '.join(map(str, serving.get('snapshots', [])))}"
            f" (run {', '.join(runs)})" if tables else "no table yet")


def _timeline(manifest: dict, now: datetime) -> list[dict]:
    bars = timeline_bars(manifest, now)
    groups = [g for g in by_invocation(bars, manifest.get("invocations", [])) if g] if bars else []
    return [{"label": f"Invocation {n} of {len(groups)}: " if len(groups) > 1 else "",
             "start": when(group[0]["start"]), "layout": timeline_layout(group)}
            for n, group in enumerate(groups, 1)]


def _stage(name: str, entry: dict, run_dir: Path) -> dict:
    folder = run_dir / name
    outputs = sorted(p.relative_to(run_dir).as_posix() for p in folder.rglob("*")
                     if p.is_file()) if folder.is_dir() else []
    history = [{"attempt": old.get("attempt"), "status": old.get("status", "?"),
                "error": _error_text(old.get("error")),
                "links": [old[k] for k in ("html", "notebook") if old.get(k)]}
               for old in entry.get("history", [])]
    return {"name": name, "produces": entry.get("produces") or "", "status": entry.get("status", "unknown"),
            "started": when(entry.get("started_at"), ""), "took": took(entry.get("duration_s")),
            "links": [entry[k] for k in ("html", "notebook") if entry.get(k)], "outputs": outputs,
            "error": _error_text(entry.get("error")), "history": history}


def read_monitor(run_dir: Path) -> dict | None:
    """The data monitor's report of this run, None if it has none; unreadable: {"error": ...}."""
    path = run_dir / MONITOR_REPORT
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        alerts = [dict(a) for a in report.get("alerts") or []]
        order = sorted(alerts, key=lambda a: (a.get("severity") != "error", str(a.get("table"))))
        return {"summary": dict(report.get("summary") or {}), "alerts": order, "error": None}
    except (OSError, ValueError, TypeError, AttributeError) as err:
        return {"error": f"{path.name} cannot be read: {err}"}


def _monitor_line(report: dict | None) -> list[str]:
    """A banner line when the data monitor raised alerts: a reviewer must not miss them."""
    summary = (report or {}).get("summary") or {}
    if not summary.get("alerts"):
        return []
    return [f"Data monitor: {summary.get('alerts')} alert(s), {summary.get('errors', '?')} "
            f"error(s), {summary.get('warnings', '?')} warning(s); see below."]


def _checksums(manifest: dict) -> list[tuple[str, int, str]]:
    files = {k: v for k, v in (manifest.get("files") or {}).items() if k != PAGE}
    return [(name, f.get("size", 0), f.get("sha256", "")) for name, f in sorted(files.items())]


def _other_sections(manifest: dict) -> list[tuple[str, str]]:
    """Sections this page does not know (added by newer code): shown as recorded, not dropped."""
    return [(key, json.dumps(value, indent=1, default=str, sort_keys=True)[:20_000], key not in FOLDED)
            for key, value in manifest.items() if key not in SHOWN]


def run_context(manifest: dict, run_dir: Path, now: datetime) -> dict:
    """Everything templates/run.html.j2 shows, from the manifest and the files of the record."""
    status, headline, details = banner(manifest)
    monitor = read_monitor(run_dir)
    month, run_id, op = manifest.get("month", "?"), manifest.get("run_id", "?"), manifest.get("operation")
    plan = plan_text.read(run_dir) if op else None
    return {
        "title": f"{month} {run_id}: {headline}", "run_id": run_id, "written": when(now),
        "heading": f"Operation {op}" if op else f"Flywheel refresh {month}",
        "status": status, "headline": headline, "details": details + _monitor_line(monitor),
        "plan": plan, "operation": op, "facts": _facts(manifest),
        "lineage": None if op else lineage.layout(manifest.get("stages") or {}),
        "timeline": _timeline(manifest, now),
        "stages": [_stage(n, e, run_dir) for n, e in (manifest.get("stages") or {}).items()],
        "changes": None if op else month_changes.for_run(run_dir, month),
        "monitor": monitor, "monitor_path": MONITOR_REPORT, "other": _other_sections(manifest),
        "cost": cost.page_table(manifest.get("cost")),
        "checksums": _checksums(manifest),
    }


def run_page(manifest: dict, run_dir: str | Path, now: datetime | None = None) -> str:
    """The whole run page as HTML."""
    context = run_context(manifest, Path(run_dir), now or datetime.now(timezone.utc))
    return pages.render("run.html.j2", **context)


def write_run_page(run_dir: str | Path, manifest: dict) -> Path:
    return pages.write(Path(run_dir) / PAGE, run_page(manifest, run_dir))


# ---- every run ------------------------------------------------------------------------

def newest_first(runs: list[dict]) -> list[dict]:
    return sorted(runs, key=lambda r: (r.get("started_at") or "", r.get("run_id") or ""),
                  reverse=True)


def runs_page(runs: list[dict], runs_dir: str | Path, history_link: str | None = None) -> str:
    """Every run (as `records.list_runs` gives them), newest first, linking each run's page."""
    rows = []
    for run in newest_first(runs):
        folder = Path(run["path"]).relative_to(runs_dir).as_posix()
        # A record from before these pages has none; its manifest is what there is to read.
        page = f"{folder}/{PAGE if (Path(run['path']) / PAGE).is_file() else 'manifest.json'}"
        rows.append({"month": run.get("month"), "run_id": run.get("run_id"), "page": page,
                     "status": run.get("status") or "unknown", "took": took(run.get("duration_s")),
                     "started": when(run.get("started_at"))})
    return pages.render("runs.html.j2", title="Flywheel refresh runs", runs=rows,
                        written=when(datetime.now(timezone.utc)), history_link=history_link)


def write_runs_page(runs_dir: str | Path, runs: list[dict]) -> Path:
    """runs/index.html, and the history page it links (history.py)."""
    from . import history  # history reads records, which imports this module

    runs_dir = Path(runs_dir)
    link = history.write_page(runs_dir).name
    return pages.write(runs_dir / PAGE, runs_page(runs, runs_dir, link))


def runs_table(runs: list[dict]) -> list[str]:
    """The same list as plain text, for `run_refresh.py --list`."""
    head = ("month", "run id", "status", "duration", "started at", "record")
    rows = [head] + [(r.get("month") or "?", r.get("run_id") or "?", r.get("status") or "?",
                      took(r.get("duration_s")), when(r.get("started_at")), r["path"])
                     for r in newest_first(runs)]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head) - 1)]
    return ["  ".join([*(f"{v:<{w}}" for v, w in zip(row, widths)), row[-1]]) for row in rows]
