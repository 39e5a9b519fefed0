"""Write the data monitor's report files, find last month's profiles, hand alerts on.

Files, beside the notebook in the run record (or under the analysis root when a
notebook runs outside a recorded run):
    data_monitor_report.json   summary, alerts, one row per table, month over month
    data_monitor_report.csv    exactly the old monitor's columns (monitor.REPORT_COLUMNS)
    alerts.csv                 table, tag, severity, message
    profile.json               what next month compares itself with
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import asdict
from pathlib import Path

from .good_runs import of_month
from .months import month_before
from .monitor import REPORT_COLUMNS, MonitorReport, TableProfile, summary_text

REPORT_JSON = "data_monitor_report.json"
PROFILE_JSON = "profile.json"
STAGE = "data_monitor_rpt"


def write_report(report: MonitorReport, profiles: list[TableProfile], folder: str | Path) -> dict[str, str]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in (REPORT_JSON, "data_monitor_report.csv", "alerts.csv", PROFILE_JSON)}
    paths[REPORT_JSON].write_text(json.dumps({
        "summary": report.summary(),
        "alerts": [asdict(a) for a in report.alerts],
        "tables": report.rows,
        "month_over_month": report.month_over_month,
    }, indent=2, default=str))
    _write_csv(paths["data_monitor_report.csv"], REPORT_COLUMNS, report.rows)
    _write_csv(paths["alerts.csv"], ["table", "tag", "severity", "message"], [asdict(a) for a in report.alerts])
    paths[PROFILE_JSON].write_text(json.dumps({p.table: p.to_json() for p in profiles}, indent=1))
    return {k: str(v) for k, v in paths.items()}


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


previous_month = month_before  # the month whose profiles this one is compared with


def previous_profiles(runs_dir: str | Path, month: str) -> tuple[dict | None, str | None]:
    """Profiles of the last good run of the month before (good_runs.py), with its run id; or (None, None)."""
    before = previous_month(month)
    for run_dir, _ in of_month(runs_dir, before):
        profile = run_dir / STAGE / PROFILE_JSON
        if profile.is_file():
            return json.loads(profile.read_text()), f"{before}/{run_dir.name}"
    return None, None


def notify_alerts(report: MonitorReport, settings, month: str = "", run_id: str = "",
                  files: dict[str, str] | None = None, out=None) -> list[str]:
    """Hand alerts on. Locally: printed (the report files keep them in the record).

    On AWS the report files are also uploaded to the analysis bucket, and the
    alerts go to the data monitor topic; a failed notification is printed,
    never raised (the report and the stage's outcome stand without it).
    """
    out = out or sys.stdout
    lines = [f"{a.severity.upper():7} {a.tag} {a.table}: {a.message}" for a in report.alerts]
    if lines:
        print(f"data monitor ({settings.env}): {summary_text(report.summary())}", file=out)
        print("\n".join(lines), file=out)
    if not settings.is_local:
        from .aws import notify, s3  # boto3 only where AWS is used
        from .aws.session import AwsClients

        aws = AwsClients(settings)
        folder = report_location(settings, month, run_id)
        # Alerts first: a failed upload (raised below, failing the stage) must not silence them.
        note = notify.notify_monitor_alerts(aws, settings, month, run_id, report.alerts, folder)
        print(f"alerts sent to {note.topic_arn}" if note.sent else
              f"warning: alerts not sent: {note.error}" if note.failed else "no alert to send", file=out)
        for path in (files or {}).values():
            s3.upload_file(aws, path, f"{folder}/{Path(path).name}")
        print(f"report uploaded to {folder}/", file=out)
    return lines


def report_location(settings, month: str, run_id: str) -> str:
    """Where the report files go in the analysis bucket (AWS)."""
    return f"{settings.analysis_root}/reports/{STAGE}/{month}/{run_id}"
