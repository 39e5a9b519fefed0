"""The pages a reviewer opens: `<run dir>/index.html` for one run, `<runs dir>/index.html` for all.

Pure rendering over the manifest (and the data monitor's JSON report when the
run has one), plus atomic writes. A page is one self-contained HTML file:
inline CSS, the stage timeline as inline SVG, relative links to files of the
record only, so it opens from the file system with no server and no network.
Every value from a manifest or report goes through `html.escape`.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from .timeline import COLOURS, by_invocation, timeline_bars, timeline_svg, took, when

PAGE = "index.html"
MONITOR_REPORT = "data_monitor_rpt/data_monitor_report.json"
CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;
 max-width:1100px;margin:0 auto;padding:24px 28px 48px}h1{font-size:26px;margin:0 0 2px}
h2{font-size:19px;margin:32px 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#555;margin:0 0 16px}.muted{color:#666}a{color:#0b57d0}
.banner{border-left:8px solid var(--c);background:color-mix(in srgb,var(--c) 10%,#fff);
 padding:12px 16px;border-radius:4px;font-size:18px;font-weight:600}
.banner p{margin:4px 0 0;font-size:15px;font-weight:400}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:16px 0}
.facts dt{color:#555}.facts dd{margin:0}table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e4e4e4;vertical-align:top}
th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}
.status{display:inline-block;padding:0 8px;border-radius:10px;color:#fff;font-size:13px;
 font-weight:600;background:var(--c);white-space:nowrap}
.err{color:#8b1a1a;white-space:pre-wrap;word-break:break-word;margin:0}
code,.err,.mono{font:13px ui-monospace,SFMono-Regular,Menlo,monospace}
.stats{display:flex;gap:12px;margin:8px 0 12px}.stats div{border:1px solid #ddd;
 border-radius:6px;padding:6px 14px}.stats b{display:block;font-size:22px}
svg.timeline{width:100%;height:auto;display:block;margin:6px 0}
svg text{font:12px system-ui,sans-serif;fill:#222}svg .tick{fill:#666;font-size:11px}
details summary{cursor:pointer;font-weight:600}.nowrap{white-space:nowrap}
.stages th:first-child{width:28%}
@media print{body{max-width:none;padding:0;font-size:10pt}a{color:inherit}table{font-size:8.5pt}
 .banner,.status,svg{print-color-adjust:exact;-webkit-print-color-adjust:exact}
 tr,.banner,svg{break-inside:avoid}}
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _link(path: str, text: str | None = None) -> str:
    # <wbr>: long file names may wrap after "_" or "/" in narrow columns and on paper.
    shown = _e(path if text is None else text).replace("_", "_<wbr>").replace("/", "/<wbr>")
    return f'<a href="{_e(quote(path))}">{shown}</a>'


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _count(items, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _status(status: str) -> str:
    colour = COLOURS.get(status, "#555")
    return f'<span class="status" style="--c:{colour}">{_e(status.replace("_", " "))}</span>'


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
        headline = (f"Succeeded: {len(named('succeeded', 'done_earlier'))} stages in "
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
        headline = status.capitalize()
    return status, headline, details


def _error_text(error: dict | None) -> str:
    if not error:
        return ""
    return ": ".join(str(part) for part in (error.get("ename"), error.get("evalue")) if part)


def _facts(manifest: dict) -> str:
    code, packages = manifest.get("code", {}), manifest.get("packages", {})
    dirty = {True: " (with uncommitted changes)", False: " (clean)"}.get(code.get("dirty"), "")
    rows = [("Month", manifest.get("month")), ("Run", manifest.get("run_id")),
            ("Environment", manifest.get("env"))]
    for name, d in manifest.get("snapshots", {}).get("datasets", {}).items():
        files = d.get("files", [])
        rows.append((f"Snapshot {name}", f"{d.get('snapshot_dt')}  ({_count(files, 'file')}, "
                     f"{_size(sum(f.get('size', 0) for f in files))})"))
    invocations = manifest.get("invocations", [])
    rows += [("Started", when(manifest.get("started_at"))),
             ("Ended", when(manifest.get("ended_at"))),
             ("Duration", f"{took(manifest.get('duration_s'))} over "
                          f"{_count(invocations, 'invocation')}"),
             ("Run by", f"{manifest.get('user', '?')} on {manifest.get('host', '?')}"),
             ("Code", f"commit {code.get('commit', '?')}{dirty}"),
             ("Packages", ", ".join(f"{k} {v}" for k, v in packages.items() if v))]
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return f'<dl class="facts">{items}<dt>Manifest</dt><dd>{_link("manifest.json")}</dd></dl>'


def _timeline(manifest: dict, now: datetime) -> str:
    bars = timeline_bars(manifest, now)
    if not bars:
        return '<p class="muted">No stage has started in this run.</p>'
    groups = [g for g in by_invocation(bars, manifest.get("invocations", [])) if g]
    parts = []
    for number, group in enumerate(groups, 1):
        which = f"Invocation {number} of {len(groups)}: " if len(groups) > 1 else ""
        parts.append(f'<p class="muted">{which}time from the first stage\'s start, '
                     f'{_e(when(group[0]["start"]))}</p>{timeline_svg(group)}')
    return "\n".join(parts) + (
        '<p class="muted">Stages that ran at the same time are on separate lanes; '
        "hover a bar for its times.</p>")


def _stage_rows(name: str, entry: dict, run_dir: Path) -> str:
    links = [_link(entry[k]) for k in ("html", "notebook") if entry.get(k)]
    folder = run_dir / name
    outputs = sorted(p.relative_to(run_dir).as_posix() for p in folder.rglob("*")
                     if p.is_file()) if folder.is_dir() else []
    cells = [f"<td><b>{_e(name)}</b><br><span class=muted>{_e(entry.get('produces'))}</span>"
             "</td>",
             f"<td>{_status(entry.get('status', 'unknown'))}</td>",
             f"<td class=nowrap>{_e(when(entry.get('started_at'), ''))}</td>",
             f'<td class="num">{_e(took(entry.get("duration_s")))}</td>',
             f"<td>{'<br>'.join(links) or '-'}</td>",
             f"<td>{'<br>'.join(_link(p, p.split('/', 1)[1]) for p in outputs) or '-'}</td>"]
    rows = [f"<tr>{''.join(cells)}</tr>"]
    if entry.get("error"):
        rows.append(f'<tr><td></td><td colspan="5"><pre class="err">'
                    f"{_e(_error_text(entry['error']))}</pre></td></tr>")
    for old in entry.get("history", []):
        files = " ".join(_link(old[k]) for k in ("html", "notebook") if old.get(k))
        rows.append(f'<tr><td></td><td colspan="5" class="muted">earlier attempt '
                    f"{_e(old.get('attempt'))}: {_status(old.get('status', '?'))} "
                    f"{_e(_error_text(old.get('error')))} {files}</td></tr>")
    return "\n".join(rows)


def _stages(manifest: dict, run_dir: Path) -> str:
    head = ("<tr><th>Stage</th><th>Status</th><th>Started (UTC)</th><th class=num>Duration</th>"
            "<th>Notebook</th><th>Tables and charts</th></tr>")
    rows = [_stage_rows(n, e, run_dir) for n, e in manifest.get("stages", {}).items()]
    return f'<table class="stages">{head}{"".join(rows)}</table>'


def read_monitor(run_dir: Path) -> dict | None:
    """The data monitor's report of this run, None if it has none; unreadable: {"error": ...}."""
    path = run_dir / MONITOR_REPORT
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        return {"summary": dict(report.get("summary") or {}),
                "alerts": [dict(a) for a in report.get("alerts") or []]}
    except (OSError, ValueError, TypeError, AttributeError) as err:
        return {"error": f"{path.name} cannot be read: {err}"}


def _monitor(report: dict | None) -> str:
    if report is None:
        return '<p class="muted">No data monitor report in this run.</p>'
    if "error" in report:
        return f'<p class="err">{_e(report["error"])}</p>'
    summary, alerts = report["summary"], report["alerts"]
    stats = "".join(f"<div><b>{_e(summary.get(k, '-'))}</b>{k}</div>"
                    for k in ("tables", "alerts", "errors", "warnings"))
    order = sorted(alerts, key=lambda a: (a.get("severity") != "error", str(a.get("table"))))
    rows = "".join(
        f"<tr><td>{_status(str(a.get('severity', '?')))}</td><td><code>{_e(a.get('tag'))}</code>"
        f"</td><td>{_e(a.get('table'))}</td><td>{_e(a.get('message'))}</td></tr>" for a in order)
    table = (f"<table><tr><th>Severity</th><th>Tag</th><th>Table</th><th>Message</th></tr>{rows}"
             "</table>" if alerts else "<p>No alerts.</p>")
    return f'<div class="stats">{stats}</div>{table}<p>Report: {_link(MONITOR_REPORT)}</p>'


def _monitor_line(report: dict | None) -> list[str]:
    """A banner line when the data monitor raised alerts: a reviewer must not miss them."""
    summary = (report or {}).get("summary", {})
    if not summary.get("alerts"):
        return []
    return [f"Data monitor: {summary.get('alerts')} alert(s), {summary.get('errors', '?')} "
            f"error(s), {summary.get('warnings', '?')} warning(s); see below."]


def _checksums(manifest: dict) -> str:
    files = {k: v for k, v in manifest.get("files", {}).items() if k != PAGE}
    rows = "".join(f'<tr><td>{_link(name)}</td><td class="num">{_e(format(f.get("size", 0), ","))}'
                   f'</td><td class="mono">{_e(f.get("sha256"))}</td></tr>'
                   for name, f in sorted(files.items()))
    return (f"<details><summary>SHA-256 of {_count(files, 'file')}</summary><p class=muted>"
            "As recorded in manifest.json, which also holds this page's own checksum. "
            "Check them with <code>run_refresh.py --verify &lt;run dir&gt;</code>.</p>"
            f'<table><tr><th>File</th><th class="num">Bytes</th><th>SHA-256</th></tr>{rows}'
            "</table></details>")


def _document(title: str, body: str) -> str:
    # The one script only marks that the page loaded; nothing on the page needs JavaScript.
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n{body}\n"
            '<script>document.body.dataset.ready = "1";</script></body></html>\n')


def run_page(manifest: dict, run_dir: str | Path, now: datetime | None = None) -> str:
    """The whole run page as HTML."""
    run_dir, now = Path(run_dir), now or datetime.now(timezone.utc)
    status, headline, details = banner(manifest)
    monitor = read_monitor(run_dir)
    lines = "".join(f"<p>{_e(d)}</p>" for d in details + _monitor_line(monitor))
    month, run_id = manifest.get("month", "?"), manifest.get("run_id", "?")
    body = (f"<h1>Flywheel refresh {_e(month)}</h1>"
            f'<p class="sub">run {_e(run_id)}, page written {_e(when(now))}</p>'
            f'<div class="banner" style="--c:{COLOURS.get(status, "#555")}">{_e(headline)}'
            f"{lines}</div>"
            f"{_facts(manifest)}<h2>Timeline</h2>{_timeline(manifest, now)}"
            f"<h2>Stages</h2>{_stages(manifest, run_dir)}"
            f"<h2>Data monitor</h2>{_monitor(monitor)}<h2>Checksums</h2>{_checksums(manifest)}")
    return _document(f"{month} {run_id}: {headline}", body)


def _write(path: Path, text: str) -> Path:
    # The ".manifest-" prefix keeps an abandoned temporary file out of the record's checksums.
    fd, tmp = tempfile.mkstemp(prefix=".manifest-page-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_run_page(run_dir: str | Path, manifest: dict) -> Path:
    return _write(Path(run_dir) / PAGE, run_page(manifest, run_dir))


# ---- every run ------------------------------------------------------------------------

def newest_first(runs: list[dict]) -> list[dict]:
    return sorted(runs, key=lambda r: (r.get("started_at") or "", r.get("run_id") or ""),
                  reverse=True)


def runs_page(runs: list[dict], runs_dir: str | Path) -> str:
    """Every run (as `records.list_runs` gives them), newest first, linking each run's page."""
    rows = []
    for run in newest_first(runs):
        folder = Path(run["path"]).relative_to(runs_dir).as_posix()
        # A record from before these pages has none; its manifest is what there is to read.
        page = f"{folder}/{PAGE if (Path(run['path']) / PAGE).is_file() else 'manifest.json'}"
        rows.append(f"<tr><td>{_e(run.get('month'))}</td><td>{_link(page, run.get('run_id'))}</td>"
                    f"<td>{_status(run.get('status') or 'unknown')}</td>"
                    f'<td class="num">{_e(took(run.get("duration_s")))}</td>'
                    f"<td>{_e(when(run.get('started_at')))}</td></tr>")
    table = ("<table><tr><th>Month</th><th>Run</th><th>Status</th><th class=num>Duration</th>"
             f"<th>Started</th></tr>{''.join(rows)}</table>" if rows else "<p>No runs yet.</p>")
    written = when(datetime.now(timezone.utc))
    return _document("Flywheel refresh runs", f"<h1>Flywheel refresh runs</h1><p class=sub>"
                     f"{len(rows)} run(s), newest first; page written {_e(written)}</p>{table}")


def write_runs_page(runs_dir: str | Path, runs: list[dict]) -> Path:
    return _write(Path(runs_dir) / PAGE, runs_page(runs, runs_dir))


def runs_table(runs: list[dict]) -> list[str]:
    """The same list as plain text, for `run_refresh.py --list`."""
    head = ("month", "run id", "status", "duration", "started at", "record")
    rows = [head] + [(r.get("month") or "?", r.get("run_id") or "?", r.get("status") or "?",
                      took(r.get("duration_s")), when(r.get("started_at")), r["path"])
                     for r in newest_first(runs)]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head) - 1)]
    return ["  ".join([*(f"{v:<{w}}" for v, w in zip(row, widths)), row[-1]]) for row in rows]
