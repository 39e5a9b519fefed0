"""The data monitor (stage 7): checks over every published `part_*` table, alerts, report.

The backend measures each table into a `TableProfile` (folders, partitions,
counts, nulls, files); everything here is pure logic over profiles, the same
for every backend: checks, alerts with a tag and a severity, the report rows
with exactly the columns of the old monitor, and the month-over-month
comparison against the previous month's profiles.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path

from .checks import EXPECTED_BUCKETS
from .errors import CheckFailed, ConfigError

REPORT_COLUMNS = [
    "input_source", "raw_input_snapshot_dt", "table", "location", "s3_partitions", "glue_partitions",
    "missing_glue_count", "table_type_ok", "contract_ok", "count_src", "count_part", "count_diff_pct",
    "pk_nulls", "pk_dupes", "file_issues_sample", "checked_at",
]
SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class MonitorConfig:
    freshness_days: int
    row_count_tolerance_pct: float
    null_rate_change: float
    row_change_pct: float
    file_size_min_bytes: int
    file_size_max_bytes: int
    severity: dict


def load_monitor_config(**overrides) -> MonitorConfig:
    """Committed defaults (conf/monitor.toml) with the notebook's overrides; validated."""
    values = tomllib.loads((Path(__file__).parent / "conf" / "monitor.toml").read_text())
    severity = dict(values.pop("severity"))
    values.pop("gate", None)  # stage 5's publish gate (gate.py), not the monitor's
    unknown_tags = set(overrides.get("severity") or {}) - set(severity)
    if unknown_tags:
        raise ConfigError(f"severity given for unknown alert tag(s): {', '.join(sorted(unknown_tags))}",
                          setting="severity", hint=f"Known tags: {', '.join(sorted(severity))}")
    severity.update(overrides.pop("severity", None) or {})
    unknown = set(overrides) - set(values)
    if unknown:
        raise ConfigError(f"unknown data monitor setting(s): {', '.join(sorted(unknown))}",
                          hint=f"Known: {', '.join(sorted(values))}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    for tag, level in severity.items():
        if level not in SEVERITIES:
            raise ConfigError(f"severity of {tag} is {level!r}, not error or warning", setting="severity")
    negative = [k for k in ("freshness_days", "null_rate_change", "row_count_tolerance_pct", "row_change_pct")
                if values[k] < 0]
    if negative:
        raise ConfigError(f"{', '.join(negative)} must not be negative", setting=negative[0])
    return MonitorConfig(severity=severity, **values)


@dataclass
class TableProfile:
    """What a backend measured of one published table."""

    table: str
    dataset: str
    location: str
    bucket_folders: set[int]
    catalog_partitions: set[int]
    table_type_ok: bool
    contract_ok: bool
    recorded_snapshot_dt: str | None  # written beside the data by the split
    source_rows: int | None  # rows of the raw snapshot the table came from
    rows: int
    key_nulls: int
    key_dupes: int
    columns: list[str]
    null_counts: dict[str, int]
    files: list[tuple[str, int]] = field(default_factory=list)  # (path, bytes)
    rows_per_bucket: dict[int, int] = field(default_factory=dict)

    def null_rate(self, column: str) -> float:
        return self.null_counts.get(column, 0) / self.rows if self.rows else 0.0

    def to_json(self) -> dict:
        data = asdict(self)
        data.update(bucket_folders=sorted(self.bucket_folders), catalog_partitions=sorted(self.catalog_partitions),
                    files=len(self.files), rows_per_bucket={str(k): v for k, v in self.rows_per_bucket.items()})
        return data


@dataclass(frozen=True)
class Alert:
    table: str
    tag: str
    severity: str
    message: str


@dataclass
class MonitorReport:
    rows: list[dict]
    alerts: list[Alert]
    month_over_month: list[dict]
    previous_run: str | None
    checked_at: str

    @property
    def errors(self) -> list[Alert]:
        return [a for a in self.alerts if a.severity == "error"]

    def summary(self) -> dict:
        return {"tables": len(self.rows), "alerts": len(self.alerts), "errors": len(self.errors),
                "warnings": len(self.alerts) - len(self.errors), "previous_run": self.previous_run,
                "checked_at": self.checked_at}


def evaluate(profiles: list[TableProfile], config: MonitorConfig, as_of: date,
             previous: dict[str, dict] | None = None, previous_run: str | None = None) -> MonitorReport:
    checked_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows, alerts, changes = [], [], []
    for profile in sorted(profiles, key=lambda p: p.table):
        found = table_alerts(profile, config, as_of)
        if previous is not None:
            table_changes, change_alerts = compare(profile, previous.get(profile.table), config)
            changes += table_changes
            found += change_alerts
        alerts += [replace(a, severity=config.severity.get(a.tag, "error")) for a in found]
        rows.append(report_row(profile, config, checked_at))
    for table in sorted(set(previous or {}) - {p.table for p in profiles}):
        changes.append({"table": table, "change": "table gone", "before": previous[table]["rows"],
                        "now": None, "delta": None})
        alerts.append(Alert(table, "[MOM_TABLES]", config.severity.get("[MOM_TABLES]", "error"),
                            f"published last month ({previous_run}), missing now"))
    return MonitorReport(rows, alerts, changes, previous_run, checked_at)


def report_row(p: TableProfile, config: MonitorConfig, checked_at: str) -> dict:
    diff = None if not p.source_rows else round(100.0 * (p.rows - p.source_rows) / p.source_rows, 4)
    return dict(zip(REPORT_COLUMNS, [
        p.dataset, p.recorded_snapshot_dt or "", p.table, p.location, len(p.bucket_folders),
        len(p.catalog_partitions), len(EXPECTED_BUCKETS - p.catalog_partitions), p.table_type_ok,
        p.contract_ok, p.source_rows, p.rows, diff, p.key_nulls, p.key_dupes,
        "; ".join(f"{Path(f).name} ({size} B)" for f, size in file_issues(p, config)[:5]), checked_at,
    ]))


def file_issues(p: TableProfile, config: MonitorConfig) -> list[tuple[str, int]]:
    low, high = config.file_size_min_bytes, config.file_size_max_bytes
    return [(f, s) for f, s in p.files if s == 0 or (low and s < low) or (high and s > high)]


def table_alerts(p: TableProfile, config: MonitorConfig, as_of: date) -> list[Alert]:
    found = []

    def alert(tag: str, message: str) -> None:
        found.append(Alert(p.table, tag, "", message))

    if p.bucket_folders != EXPECTED_BUCKETS:
        missing = sorted(EXPECTED_BUCKETS - p.bucket_folders)
        alert("[MISSING_BUCKETS]", f"{len(p.bucket_folders)} of 256 bucket folders; missing {_few(missing)}")
    if p.catalog_partitions != EXPECTED_BUCKETS:
        missing = sorted(EXPECTED_BUCKETS - p.catalog_partitions)
        alert("[MISSING_PARTITIONS]", f"{len(p.catalog_partitions)} of 256 catalog partitions; missing {_few(missing)}")
    if not p.table_type_ok:
        alert("[TABLE_FORMAT]", "not an external Parquet table")
    if not p.contract_ok:
        alert("[CONTRACT]", "customer_user_id is not a data column or partition keys are not [id_bucket]")
    if not p.recorded_snapshot_dt:
        alert("[NO_SNAPSHOT_DATE]", "no snapshot date recorded beside the data")
    elif (age := (as_of - date.fromisoformat(p.recorded_snapshot_dt)).days) > config.freshness_days:
        alert("[STALE_SNAPSHOT]", f"snapshot {p.recorded_snapshot_dt} is {age} days old (limit {config.freshness_days})")
    if p.source_rows is None:
        alert("[COUNT_MISMATCH]", "the source snapshot's row count is unknown")
    elif abs(p.rows - p.source_rows) > p.source_rows * config.row_count_tolerance_pct / 100:
        alert("[COUNT_MISMATCH]", f"{p.rows:,} rows, source snapshot {p.source_rows:,}")
    if p.key_nulls:
        alert("[PK_NULL]", f"{p.key_nulls:,} rows with a null customer_user_id")
    if p.key_dupes:
        alert("[PK_DUPES]", f"{p.key_dupes:,} duplicate customer_user_id values")
    if issues := file_issues(p, config):
        alert("[FILE_SIZE]", f"{len(issues)} file(s) outside the size range, e.g. {Path(issues[0][0]).name}")
    return found


def compare(p: TableProfile, before: dict | None, config: MonitorConfig) -> tuple[list[dict], list[Alert]]:
    """Month-over-month rows for one table, and the alerts they raise."""
    if before is None:
        return [{"table": p.table, "change": "new table", "before": None, "now": p.rows, "delta": None}], []
    rows, found = [], []
    if before["rows"]:
        delta_pct = 100.0 * (p.rows - before["rows"]) / before["rows"]
        moved = abs(delta_pct) > config.row_change_pct
    else:  # empty last month: any row now is a change no percentage can express
        delta_pct, moved = None, p.rows > 0
    rows.append({"table": p.table, "change": "rows", "before": before["rows"], "now": p.rows,
                 "delta": None if delta_pct is None else round(delta_pct, 2)})
    if moved:
        change = "" if delta_pct is None else f" ({delta_pct:+.1f}%)"
        found.append(Alert(p.table, "[MOM_ROWS]", "", f"rows {before['rows']:,} -> {p.rows:,}{change}"))
    added = [c for c in p.columns if c not in before["columns"]]
    removed = [c for c in before["columns"] if c not in p.columns]
    for kind, cols in (("column added", added), ("column removed", removed)):
        rows += [{"table": p.table, "change": kind, "before": None, "now": c, "delta": None} for c in cols]
    if added or removed:
        found.append(Alert(p.table, "[MOM_COLUMNS]", "", f"added {_few(added)}; removed {_few(removed)}"))
    moved = []
    for column in p.columns:
        if column in before["columns"] and before["rows"]:
            was = before["null_counts"].get(column, 0) / before["rows"]
            if abs(p.null_rate(column) - was) > config.null_rate_change:
                moved.append(column)
                rows.append({"table": p.table, "change": f"null rate {column}", "before": round(was, 4),
                             "now": round(p.null_rate(column), 4), "delta": round(p.null_rate(column) - was, 4)})
    if moved:
        found.append(Alert(p.table, "[MOM_NULL_RATE]", "",
                           f"null rate moved more than {config.null_rate_change:.0%} in {_few(moved)}"))
    return rows, found


def summary_text(summary: dict) -> str:
    """`MonitorReport.summary()` in words: the stage's failure, its printed alerts and the end-of-run message."""
    return (f"{summary.get('errors', 0)} error(s), {summary.get('warnings', 0)} warning(s) "
            f"over {summary.get('tables', 0)} tables")


def require_no_errors(report: MonitorReport, stage: str = "data_monitor_rpt") -> None:
    """Fail the stage (after the report is written) when any alert is an error: the summary, then each error."""
    if report.errors:
        shown = "; ".join(f"{a.table} {a.tag} {a.message}" for a in report.errors[:10])
        raise CheckFailed(f"data monitor: {summary_text(report.summary())}: {shown}",
                          failures=[f"{a.table} {a.tag}" for a in report.errors], stage=stage,
                          hint="See the data monitor report in the run record")


def _few(values: list) -> str:
    if not values:
        return "none"
    return ", ".join(map(str, values[:6])) + (f" (+{len(values) - 6} more)" if len(values) > 6 else "")
