"""The data monitor on a real local lake: a clean month raises nothing, each kind of damage its one alert.

One month (200 customers, the 3-table test mapping) is split, registered,
repaired, validated and published once for the module. Each damage case copies
the published folder of ONE table into its own tmp_path, damages the copy and
profiles it through `LocalBackend.profile` with the catalog's entry pointed at
the copy (the partitions still come from the catalog); the other tables keep
their clean profiles. The shared lake is never changed, so the cases are
independent, and rebuilding a lake per case (about 4 s each) is avoided.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flywheel_lib import lake, monitor_report
from flywheel_lib.backend import get_backend
from flywheel_lib.checks import require_passed
from flywheel_lib.config import load_settings
from flywheel_lib.errors import CheckFailed
from flywheel_lib.mapping import KEY, load_mapping
from flywheel_lib.monitor import REPORT_COLUMNS, evaluate, load_monitor_config, require_no_errors
from flywheel_lib.snapshots import resolve_snapshots
from flywheel_lib.synthetic import write_snapshot

MAPPING_CSV = Path(__file__).parent.parent / "fixtures" / "engine_mapping.csv"
TABLES = ("part_addressable_ids", "part_ibe_01", "part_miacs_01", "part_new_borrowers")
MONTH, SNAPSHOT_DT, CUSTOMERS, RUN = "2026-08", "2026-08-03", 200, "2026-08-r1"
AS_OF = date.fromisoformat(SNAPSHOT_DT) + timedelta(days=10)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """One clean published month: the backend, the catalog entries and their profiles."""
    root = tmp_path_factory.mktemp("monitor_lake")
    settings = load_settings("local", environ={
        "FLYWHEEL_DATA_ROOT": str(root), "FLYWHEEL_RUNS_DIR": str(root / "runs"),
        "FLYWHEEL_MAPPING": str(MAPPING_CSV)})
    backend = get_backend(settings)
    write_snapshot(settings.data_root, SNAPSHOT_DT, CUSTOMERS, seed=1, mapping=load_mapping(MAPPING_CSV), files=1)
    pair = resolve_snapshots(settings, MONTH)
    for snapshot in (pair.addressable, pair.infobase):
        backend.split(snapshot, RUN)
        backend.register(snapshot, RUN)
    backend.repair(RUN)
    require_passed(backend.validate(pair, RUN))
    backend.publish(RUN)
    entries = {e.name: e for e in backend.published() if not e.name.endswith("_er")}
    profiles = dict(zip(entries, backend.profiles(entries.values())))  # side by side, in order
    return SimpleNamespace(backend=backend, entries=entries, profiles=profiles)


@pytest.fixture
def config():
    return load_monitor_config()


def alerts_of(report) -> set[tuple[str, str, str]]:
    return {(a.table, a.tag, a.severity) for a in report.alerts}


def damaged(published, folder: Path, table: str, damage, config, as_of: date = AS_OF):
    """Copy `table`'s published folder, damage the copy, profile it; evaluate it with the other clean tables."""
    copy = folder / table
    shutil.copytree(published.entries[table].location, copy)
    damage(copy)
    profile = published.backend.profile(replace(published.entries[table], location=str(copy)))
    profiles = [profile if p.table == table else p for p in published.profiles.values()]
    return evaluate(profiles, config, as_of), profile


def require_error(report, failures: list[str]) -> None:
    """The stage fails naming exactly `failures`."""
    with pytest.raises(CheckFailed) as err:
        require_no_errors(report)
    assert err.value.failures == failures


def bucket_files(version: Path, rows_at_least: int) -> list[Path]:
    """The bucket files of a version holding at least `rows_at_least` rows, in path order."""
    return [f for f in sorted(version.glob("id_bucket=*/*.parquet"))
            if pq.ParquetFile(f).metadata.num_rows >= rows_at_least]


def rewrite_key(path: Path, change) -> None:
    """Rewrite one bucket file with its key column changed by `change(keys)`, keeping the schema."""
    data = pq.read_table(path)
    index = data.schema.get_field_index(KEY)
    keys = change(data.column(KEY).to_pylist())
    pq.write_table(data.set_column(index, data.schema.field(index), pa.array(keys, data.schema.field(index).type)),
                   path)
    assert pq.read_schema(path).equals(data.schema, check_metadata=False)


# --- a clean month ------------------------------------------------------------------------------------

def test_a_clean_published_month_raises_no_alert(published, config):
    assert set(published.profiles) == set(TABLES)
    report = evaluate(list(published.profiles.values()), config, AS_OF)
    assert report.alerts == []
    require_no_errors(report)


def test_tables_measured_side_by_side_match_one_at_a_time(published):
    assert list(published.profiles.values()) == [published.backend.profile(e) for e in published.entries.values()]


def test_a_clean_months_report_rows_match_the_lake(published, config):
    rows = {r["table"]: r for r in evaluate(list(published.profiles.values()), config, AS_OF).rows}
    for table in TABLES:
        entry = published.entries[table]
        assert {k: v for k, v in rows[table].items() if k != "checked_at"} == {
            "input_source": entry.dataset, "raw_input_snapshot_dt": SNAPSHOT_DT, "table": table,
            "location": entry.location, "s3_partitions": 256, "glue_partitions": 256, "missing_glue_count": 0,
            "table_type_ok": True, "contract_ok": True, "count_src": CUSTOMERS, "count_part": CUSTOMERS,
            "count_diff_pct": 0.0, "pk_nulls": 0, "pk_dupes": 0, "file_issues_sample": ""}, table


def test_a_month_compared_with_its_own_profile_raises_no_alert(published, config, tmp_path):
    profiles = list(published.profiles.values())
    monitor_report.write_report(evaluate(profiles, config, AS_OF), profiles, tmp_path)
    previous = json.loads((tmp_path / monitor_report.PROFILE_JSON).read_text())
    report = evaluate(profiles, config, AS_OF, previous, "2026-07/20260801T030000Z")
    assert report.alerts == []
    assert sorted((c["table"], c["change"], c["delta"]) for c in report.month_over_month) == [
        (t, "rows", 0.0) for t in TABLES]


# --- one kind of damage at a time -----------------------------------------------------------------------

def test_a_missing_empty_bucket_folder_is_only_missing_buckets(published, config, tmp_path):
    table = "part_ibe_01"
    empty = min(b for b, n in lake.bucket_row_counts(published.entries[table].location).items() if n == 0)
    report, profile = damaged(published, tmp_path, table, lambda v: shutil.rmtree(v / f"id_bucket={empty}"), config)
    assert alerts_of(report) == {(table, "[MISSING_BUCKETS]", "error")}
    assert report.alerts[0].message == f"255 of 256 bucket folders; missing {empty}"
    assert profile.rows == CUSTOMERS and len(profile.catalog_partitions) == 256


def test_a_duplicated_key_is_only_pk_dupes(published, config, tmp_path):
    table = "part_miacs_01"

    def duplicate(version):  # the second key of a bucket becomes the first: same rows, same bucket
        rewrite_key(bucket_files(version, 2)[0], lambda keys: [keys[0], keys[0], *keys[2:]])

    report, profile = damaged(published, tmp_path, table, duplicate, config)
    assert alerts_of(report) == {(table, "[PK_DUPES]", "error")}
    assert (profile.rows, profile.key_dupes, profile.key_nulls) == (CUSTOMERS, 1, 0)
    require_error(report, [f"{table} [PK_DUPES]"])


def test_a_null_key_is_only_pk_null(published, config, tmp_path):
    table = "part_new_borrowers"
    report, profile = damaged(published, tmp_path, table,
                              lambda v: rewrite_key(bucket_files(v, 1)[0], lambda keys: [None, *keys[1:]]), config)
    assert alerts_of(report) == {(table, "[PK_NULL]", "error")}
    assert (profile.rows, profile.key_nulls, profile.key_dupes) == (CUSTOMERS, 1, 0)
    assert profile.null_counts[KEY] == 1
    require_error(report, [f"{table} [PK_NULL]"])


def test_a_dropped_row_is_only_a_count_mismatch(published, config, tmp_path):
    table = "part_addressable_ids"

    def drop_row(version):
        path = bucket_files(version, 1)[0]
        pq.write_table(pq.read_table(path).slice(1), path)

    report, profile = damaged(published, tmp_path, table, drop_row, config)
    assert alerts_of(report) == {(table, "[COUNT_MISMATCH]", "error")}
    assert report.alerts[0].message == f"{CUSTOMERS - 1} rows, source snapshot {CUSTOMERS}"
    row = next(r for r in report.rows if r["table"] == table)
    assert (row["count_src"], row["count_part"], row["count_diff_pct"]) == (CUSTOMERS, CUSTOMERS - 1, -0.5)


def test_a_stale_snapshot_is_a_warning_on_every_table(published, config):
    report = evaluate(list(published.profiles.values()), config, date.fromisoformat(SNAPSHOT_DT) + timedelta(days=60))
    assert alerts_of(report) == {(t, "[STALE_SNAPSHOT]", "warning") for t in TABLES}
    assert len(report.alerts) == len(TABLES)
    require_no_errors(report)  # warnings only


def test_a_missing_marker_is_no_snapshot_date_and_an_unknown_source_count(published, config, tmp_path):
    table = "part_ibe_01"
    report, profile = damaged(published, tmp_path, table, lambda v: (v / lake.MARKER).unlink(), config)
    # Without the marker neither the snapshot date nor the source snapshot is known.
    assert alerts_of(report) == {(table, "[NO_SNAPSHOT_DATE]", "error"), (table, "[COUNT_MISMATCH]", "error")}
    assert len(report.alerts) == 2
    assert (profile.recorded_snapshot_dt, profile.source_rows, profile.rows) == (None, None, CUSTOMERS)
    messages = {a.tag: a.message for a in report.alerts}
    assert messages["[COUNT_MISMATCH]"] == "the source snapshot's row count is unknown"
    row = next(r for r in report.rows if r["table"] == table)
    assert (row["raw_input_snapshot_dt"], row["count_src"], row["count_diff_pct"]) == ("", None, None)


# --- the report files -----------------------------------------------------------------------------------

def test_the_report_files_hold_the_old_columns_and_the_alert_counts(published, config, tmp_path):
    report, _ = damaged(published, tmp_path, "part_ibe_01", lambda v: (v / lake.MARKER).unlink(), config,
                        as_of=date.fromisoformat(SNAPSHOT_DT) + timedelta(days=60))
    profiles = list(published.profiles.values())
    files = monitor_report.write_report(report, profiles, tmp_path / "report")

    with open(files["data_monitor_report.csv"], newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header, *rows = list(reader)
    assert header == REPORT_COLUMNS
    assert sorted(r[REPORT_COLUMNS.index("table")] for r in rows) == sorted(TABLES)

    written = json.loads(Path(files[monitor_report.REPORT_JSON]).read_text())
    # the marker-less table: two errors; the three others: a stale snapshot each
    assert written["summary"] == {"tables": 4, "alerts": 5, "errors": 2, "warnings": 3, "previous_run": None,
                                  "checked_at": report.checked_at}
    assert len(written["alerts"]) == 5 and len(written["tables"]) == 4
    assert sum(a["severity"] == "error" for a in written["alerts"]) == 2

    with open(files["alerts.csv"], newline="", encoding="utf-8") as handle:
        alert_rows = list(csv.DictReader(handle))
    assert {(a["table"], a["tag"], a["severity"]) for a in alert_rows} == alerts_of(report)

    saved = json.loads(Path(files[monitor_report.PROFILE_JSON]).read_text())
    assert set(saved) == set(TABLES) and all(saved[t]["rows"] == CUSTOMERS for t in TABLES)
