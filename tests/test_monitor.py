"""The data monitor's checks over hand-made table profiles: tags, severities, report rows, last month.

Every check is pure logic over `TableProfile`s, so each alert tag is provoked
by changing one field of a clean profile; the expected severities are read
from the committed conf/monitor.toml (and pinned here, as a user relies on
which alerts fail the stage).
"""

from __future__ import annotations

import io
import json
import tomllib
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from flywheel_lib import monitor, monitor_report
from flywheel_lib.errors import CheckFailed, ConfigError
from flywheel_lib.monitor import (
    REPORT_COLUMNS, TableProfile, compare, evaluate, load_monitor_config, report_row, require_no_errors,
)

MONITOR_TOML = Path(monitor.__file__).parent / "conf" / "monitor.toml"
SEVERITY = tomllib.loads(MONITOR_TOML.read_text())["severity"]
SNAPSHOT_DT = "2026-08-03"
AS_OF = date(2026, 8, 13)  # ten days after the snapshot
ALL_BUCKETS = frozenset(range(256))
COLUMNS = ["customer_user_id", "hashed_email", "postal_code"]


def clean_profile(table: str = "part_addressable_ids", **changes) -> TableProfile:
    """A table that passes every check: 200 rows in 256 buckets, matching its source snapshot."""
    rows_per_bucket = {b: (1 if b < 200 else 0) for b in range(256)}
    profile = TableProfile(
        table=table, dataset="addressable_ids", location=f"/lake/{table}/{SNAPSHOT_DT}__r1",
        bucket_folders=set(ALL_BUCKETS), catalog_partitions=set(ALL_BUCKETS),
        table_type_ok=True, contract_ok=True, recorded_snapshot_dt=SNAPSHOT_DT, source_rows=200,
        rows=200, key_nulls=0, key_dupes=0, columns=list(COLUMNS),
        null_counts={"customer_user_id": 0, "hashed_email": 20, "postal_code": 4},
        files=[(f"/lake/{table}/id_bucket={b}/data_0.parquet", 900 if n else 400) for b, n in rows_per_bucket.items()],
        rows_per_bucket=rows_per_bucket,
    )
    return replace(profile, **changes)


def found(report) -> list[tuple[str, str, str]]:
    return [(a.table, a.tag, a.severity) for a in report.alerts]


@pytest.fixture
def config():
    return load_monitor_config()


# --- one check at a time ---------------------------------------------------------------------------

# tag -> (the severity the committed config gives it, how to break a clean profile for it)
BROKEN = {
    "[MISSING_BUCKETS]": ("error", dict(bucket_folders=set(ALL_BUCKETS - {17}))),
    "[MISSING_PARTITIONS]": ("error", dict(catalog_partitions=set(ALL_BUCKETS - {3, 200}))),
    "[TABLE_FORMAT]": ("error", dict(table_type_ok=False)),
    "[CONTRACT]": ("error", dict(contract_ok=False)),
    "[NO_SNAPSHOT_DATE]": ("error", dict(recorded_snapshot_dt=None)),
    "[STALE_SNAPSHOT]": ("warning", dict(recorded_snapshot_dt="2026-06-01")),
    "[COUNT_MISMATCH]": ("error", dict(rows=199)),
    "[PK_NULL]": ("error", dict(key_nulls=1, null_counts={"customer_user_id": 1, "hashed_email": 20,
                                                           "postal_code": 4})),
    "[PK_DUPES]": ("error", dict(key_dupes=2)),
}
MESSAGES = {
    "[MISSING_BUCKETS]": "255 of 256 bucket folders; missing 17",
    "[MISSING_PARTITIONS]": "254 of 256 catalog partitions; missing 3, 200",
    "[NO_SNAPSHOT_DATE]": "no snapshot date recorded beside the data",
    "[STALE_SNAPSHOT]": "snapshot 2026-06-01 is 73 days old (limit 45)",
    "[COUNT_MISMATCH]": "199 rows, source snapshot 200",
    "[PK_NULL]": "1 rows with a null customer_user_id",
    "[PK_DUPES]": "2 duplicate customer_user_id values",
}
MONTH_OVER_MONTH = ("[MOM_ROWS]", "[MOM_COLUMNS]", "[MOM_NULL_RATE]", "[MOM_TABLES]")


def test_every_configured_tag_is_tested_here():
    assert set(SEVERITY) == set(BROKEN) | {"[FILE_SIZE]", *MONTH_OVER_MONTH}


def test_a_clean_table_raises_no_alert(config):
    report = evaluate([clean_profile()], config, AS_OF)
    assert report.alerts == [] and report.errors == []
    require_no_errors(report)  # does not raise


def test_a_clean_table_compared_with_itself_raises_no_alert(config):
    profile = clean_profile()
    report = evaluate([profile], config, AS_OF, previous={profile.table: profile.to_json()}, previous_run="2026-07/x")
    assert report.alerts == []
    assert report.month_over_month == [
        {"table": profile.table, "change": "rows", "before": 200, "now": 200, "delta": 0.0}]


@pytest.mark.parametrize("tag", BROKEN)
def test_each_check_raises_exactly_its_alert_with_the_configured_severity(tag, config):
    severity, changes = BROKEN[tag]
    report = evaluate([clean_profile(**changes)], config, AS_OF)
    assert found(report) == [("part_addressable_ids", tag, severity)]
    assert SEVERITY[tag] == severity
    if tag in MESSAGES:
        assert report.alerts[0].message == MESSAGES[tag]


def test_an_unknown_source_count_is_a_count_mismatch(config):
    report = evaluate([clean_profile(source_rows=None)], config, AS_OF)
    assert found(report) == [("part_addressable_ids", "[COUNT_MISMATCH]", "error")]
    assert report.alerts[0].message == "the source snapshot's row count is unknown"
    assert report.rows[0]["count_src"] is None and report.rows[0]["count_diff_pct"] is None


def test_every_broken_table_is_reported_on_its_own(config):
    profiles = [clean_profile(f"part_{i}", **changes) for i, (_, changes) in enumerate(BROKEN.values())]
    report = evaluate([*profiles, clean_profile("part_clean")], config, AS_OF)
    assert sorted(found(report)) == sorted(
        (f"part_{i}", tag, severity) for i, (tag, (severity, _)) in enumerate(BROKEN.items()))


@pytest.mark.parametrize("age, alerted", [(0, False), (45, False), (46, True), (400, True)])
def test_freshness_allows_45_days(age, alerted, config):
    as_of = date.fromisoformat(SNAPSHOT_DT) + timedelta(days=age)
    report = evaluate([clean_profile()], config, as_of)
    assert found(report) == ([("part_addressable_ids", "[STALE_SNAPSHOT]", "warning")] if alerted else [])


def test_freshness_days_can_be_overridden():
    config = load_monitor_config(freshness_days=7)
    as_of = date.fromisoformat(SNAPSHOT_DT) + timedelta(days=8)
    assert found(evaluate([clean_profile()], config, as_of)) == [
        ("part_addressable_ids", "[STALE_SNAPSHOT]", "warning")]
    assert evaluate([clean_profile()], config, as_of - timedelta(days=1)).alerts == []


# --- file sizes --------------------------------------------------------------------------------------

def test_file_sizes_are_not_checked_by_default_except_empty_files(config):
    assert (config.file_size_min_bytes, config.file_size_max_bytes) == (0, 0)
    huge_and_tiny = clean_profile(files=[("/lake/t/id_bucket=0/a.parquet", 1), ("/lake/t/id_bucket=1/b.parquet", 10**12)])
    assert evaluate([huge_and_tiny], config, AS_OF).alerts == []
    empty = clean_profile(files=[("/lake/t/id_bucket=0/a.parquet", 900), ("/lake/t/id_bucket=1/zero.parquet", 0)])
    report = evaluate([empty], config, AS_OF)
    assert found(report) == [("part_addressable_ids", "[FILE_SIZE]", "warning")]
    assert report.rows[0]["file_issues_sample"] == "zero.parquet (0 B)"


def test_files_outside_a_configured_size_range_are_a_warning():
    config = load_monitor_config(file_size_min_bytes=500, file_size_max_bytes=1000)
    files = [("/lake/t/id_bucket=0/ok.parquet", 500), ("/lake/t/id_bucket=1/small.parquet", 499),
             ("/lake/t/id_bucket=2/ok2.parquet", 1000), ("/lake/t/id_bucket=3/big.parquet", 1001)]
    report = evaluate([clean_profile(files=files)], config, AS_OF)
    assert found(report) == [("part_addressable_ids", "[FILE_SIZE]", "warning")]
    assert report.alerts[0].message == "2 file(s) outside the size range, e.g. small.parquet"
    assert report.rows[0]["file_issues_sample"] == "small.parquet (499 B); big.parquet (1001 B)"


def test_the_file_sample_in_the_report_shows_at_most_five_files():
    config = load_monitor_config(file_size_min_bytes=500)
    files = [(f"/lake/t/id_bucket={b}/f{b}.parquet", 10) for b in range(8)]
    row = evaluate([clean_profile(files=files)], config, AS_OF).rows[0]
    assert row["file_issues_sample"] == "; ".join(f"f{b}.parquet (10 B)" for b in range(5))


# --- month over month ---------------------------------------------------------------------------------

def previous_of(profile: TableProfile) -> dict[str, dict]:
    """Last month's profiles as profile.json stores them."""
    return json.loads(json.dumps({profile.table: profile.to_json()}))


@pytest.mark.parametrize("now_rows, alerted", [(220, False), (180, False), (221, True), (179, True), (400, True)])
def test_a_row_count_moving_more_than_10_percent_is_a_warning(now_rows, alerted, config):
    before = previous_of(clean_profile())
    now = clean_profile(rows=now_rows, source_rows=now_rows)  # the source grew too: no count mismatch
    report = evaluate([now], config, AS_OF, previous=before)
    assert found(report) == ([("part_addressable_ids", "[MOM_ROWS]", "warning")] if alerted else [])
    assert report.month_over_month[0] == {"table": "part_addressable_ids", "change": "rows", "before": 200,
                                          "now": now_rows, "delta": round(100.0 * (now_rows - 200) / 200, 2)}


def test_an_added_or_removed_column_is_a_warning(config):
    before = previous_of(clean_profile())
    now = clean_profile(columns=["customer_user_id", "hashed_email", "country_code"],
                        null_counts={"customer_user_id": 0, "hashed_email": 20, "country_code": 0})
    report = evaluate([now], config, AS_OF, previous=before)
    assert found(report) == [("part_addressable_ids", "[MOM_COLUMNS]", "warning")]
    assert report.alerts[0].message == "added country_code; removed postal_code"
    changes = [(c["change"], c["now"]) for c in report.month_over_month]
    assert changes == [("rows", 200), ("column added", "country_code"), ("column removed", "postal_code")]


@pytest.mark.parametrize("nulls_now, alerted", [(30, False), (14, False), (31, True), (0, True)])
def test_a_null_rate_moving_more_than_5_points_is_a_warning(nulls_now, alerted, config):
    before = previous_of(clean_profile())  # hashed_email: 20 of 200 null, 10%
    now = clean_profile(null_counts={"customer_user_id": 0, "hashed_email": nulls_now, "postal_code": 4})
    report = evaluate([now], config, AS_OF, previous=before)
    if alerted:
        assert found(report) == [("part_addressable_ids", "[MOM_NULL_RATE]", "warning")]
        assert "hashed_email" in report.alerts[0].message
        assert report.month_over_month[1] == {
            "table": "part_addressable_ids", "change": "null rate hashed_email", "before": 0.1,
            "now": round(nulls_now / 200, 4), "delta": round(nulls_now / 200 - 0.1, 4)}
    else:
        assert found(report) == []


def test_rows_appearing_in_a_table_empty_last_month_is_a_warning(config):
    before = previous_of(clean_profile(rows=0, source_rows=0, rows_per_bucket={}))
    report = evaluate([clean_profile()], config, AS_OF, previous=before)
    assert found(report) == [("part_addressable_ids", "[MOM_ROWS]", "warning")]
    assert report.month_over_month[0]["delta"] != 0.0


def test_a_table_new_this_month_is_listed_without_an_alert(config):
    last_month = previous_of(clean_profile())
    report = evaluate([clean_profile("part_new"), clean_profile()], config, AS_OF, previous=last_month)
    assert report.alerts == []
    report.month_over_month = [r for r in report.month_over_month if r["table"] == "part_new"]
    assert report.month_over_month == [
        {"table": "part_new", "change": "new table", "before": None, "now": 200, "delta": None}]


def test_compare_with_no_previous_profile_is_a_new_table(config):
    assert compare(clean_profile(), None, config) == (
        [{"table": "part_addressable_ids", "change": "new table", "before": None, "now": 200, "delta": None}], [])


def test_without_previous_profiles_there_is_no_month_over_month(config):
    report = evaluate([clean_profile(rows=300, source_rows=300)], config, AS_OF)
    assert report.month_over_month == [] and report.alerts == []


# --- severities and settings ------------------------------------------------------------------------

def test_the_committed_severities_are_loaded(config):
    assert config.severity == SEVERITY
    assert config.freshness_days == 45 and config.row_count_tolerance_pct == 0.0


def test_a_severity_override_changes_only_that_tag():
    config = load_monitor_config(severity={"[PK_DUPES]": "warning", "[FILE_SIZE]": "error"})
    assert config.severity == {**SEVERITY, "[PK_DUPES]": "warning", "[FILE_SIZE]": "error"}
    report = evaluate([clean_profile(key_dupes=1, key_nulls=1)], config, AS_OF)
    assert found(report) == [("part_addressable_ids", "[PK_NULL]", "error"),
                             ("part_addressable_ids", "[PK_DUPES]", "warning")]
    report = evaluate([clean_profile(key_dupes=1)], config, AS_OF)
    require_no_errors(report)  # a downgraded alert no longer fails the stage


def test_none_overrides_keep_the_defaults():
    assert load_monitor_config(freshness_days=None, severity=None) == load_monitor_config()


def test_an_unknown_setting_is_refused():
    with pytest.raises(ConfigError, match="unknown data monitor setting.*freshnes_days"):
        load_monitor_config(freshnes_days=30)


@pytest.mark.parametrize("level", ["fatal", "Error", "", None])
def test_a_severity_other_than_error_or_warning_is_refused(level):
    with pytest.raises(ConfigError, match=r"severity of \[PK_DUPES\]"):
        load_monitor_config(severity={"[PK_DUPES]": level})


def test_a_severity_override_for_an_unknown_tag_is_refused():
    with pytest.raises(ConfigError):
        load_monitor_config(severity={"PK_DUPES": "warning"})


@pytest.mark.parametrize("setting", ["freshness_days", "null_rate_change", "row_count_tolerance_pct",
                                     "row_change_pct"])
def test_negative_limits_are_refused(setting):
    with pytest.raises(ConfigError, match="must not be negative") as err:
        load_monitor_config(**{setting: -1})
    assert setting in str(err.value)


# --- the verdict -----------------------------------------------------------------------------------

def test_warnings_alone_do_not_fail_the_stage(config):
    stale = date.fromisoformat(SNAPSHOT_DT) + timedelta(days=60)
    report = evaluate([clean_profile("part_a"), clean_profile("part_b")], config, stale)
    assert {a.severity for a in report.alerts} == {"warning"} and len(report.alerts) == 2
    require_no_errors(report)


def test_errors_fail_the_stage_naming_each_broken_table(config):
    profiles = [clean_profile("part_a", key_dupes=3), clean_profile("part_b", recorded_snapshot_dt="2026-01-01"),
                clean_profile("part_c", bucket_folders=set(ALL_BUCKETS - {9}), key_nulls=1), clean_profile("part_d")]
    report = evaluate(profiles, config, AS_OF)
    with pytest.raises(CheckFailed) as err:
        require_no_errors(report)
    assert err.value.failures == ["part_a [PK_DUPES]", "part_c [MISSING_BUCKETS]", "part_c [PK_NULL]"]
    assert err.value.stage == "data_monitor_rpt"
    assert str(err.value).startswith(
        "data monitor: 3 error(s), 1 warning(s) over 4 tables: part_a [PK_DUPES] 3 duplicate customer_user_id")
    assert "part_b" not in str(err.value) and "part_d" not in str(err.value)  # a warning, a clean table


# --- report rows -------------------------------------------------------------------------------------

def test_the_report_columns_are_the_old_monitors():
    assert REPORT_COLUMNS == [
        "input_source", "raw_input_snapshot_dt", "table", "location", "s3_partitions", "glue_partitions",
        "missing_glue_count", "table_type_ok", "contract_ok", "count_src", "count_part", "count_diff_pct",
        "pk_nulls", "pk_dupes", "file_issues_sample", "checked_at"]


def test_a_report_row_has_exactly_the_old_monitors_columns_in_order(config):
    row = report_row(clean_profile(), config, "2026-08-13T00:00:00+00:00")
    assert list(row) == REPORT_COLUMNS
    assert row == {
        "input_source": "addressable_ids", "raw_input_snapshot_dt": SNAPSHOT_DT, "table": "part_addressable_ids",
        "location": f"/lake/part_addressable_ids/{SNAPSHOT_DT}__r1", "s3_partitions": 256, "glue_partitions": 256,
        "missing_glue_count": 0, "table_type_ok": True, "contract_ok": True, "count_src": 200, "count_part": 200,
        "count_diff_pct": 0.0, "pk_nulls": 0, "pk_dupes": 0, "file_issues_sample": "",
        "checked_at": "2026-08-13T00:00:00+00:00"}


def test_a_report_row_shows_what_is_broken(config):
    broken = clean_profile(bucket_folders=set(ALL_BUCKETS - {1, 2}), catalog_partitions=set(ALL_BUCKETS - {5}),
                           rows=199, key_nulls=1, key_dupes=4, recorded_snapshot_dt=None)
    row = report_row(broken, config, "t")
    assert {k: row[k] for k in ("raw_input_snapshot_dt", "s3_partitions", "glue_partitions", "missing_glue_count",
                                "count_src", "count_part", "count_diff_pct", "pk_nulls", "pk_dupes")} == {
        "raw_input_snapshot_dt": "", "s3_partitions": 254, "glue_partitions": 255, "missing_glue_count": 1,
        "count_src": 200, "count_part": 199, "count_diff_pct": -0.5, "pk_nulls": 1, "pk_dupes": 4}


def test_report_rows_are_one_per_table_in_table_order(config):
    report = evaluate([clean_profile("part_b"), clean_profile("part_a"), clean_profile("part_c")], config, AS_OF)
    assert [r["table"] for r in report.rows] == ["part_a", "part_b", "part_c"]
    assert all(list(r) == REPORT_COLUMNS for r in report.rows)
    assert report.summary() == {"tables": 3, "alerts": 0, "errors": 0, "warnings": 0, "previous_run": None,
                                "checked_at": report.checked_at}


# --- last month's profiles ---------------------------------------------------------------------------

def make_run(runs_dir: Path, month: str, run_id: str, status: str, profiles: dict | None) -> None:
    run_dir = runs_dir / month / run_id
    (run_dir / "data_monitor_rpt").mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps({"run_id": run_id, "month": month, "status": status}))
    if profiles is not None:
        (run_dir / "data_monitor_rpt" / "profile.json").write_text(json.dumps(profiles))


@pytest.mark.parametrize("month, before", [("2026-01", "2025-12"), ("2026-10", "2026-09"), ("2026-12", "2026-11")])
def test_the_previous_month(month, before):
    assert monitor_report.previous_month(month) == before


def test_last_months_profiles_come_from_its_newest_successful_run(tmp_path):
    make_run(tmp_path, "2025-12", "20251201T030000Z", "succeeded", {"t": {"rows": 1}})
    make_run(tmp_path, "2025-12", "20251215T030000Z", "succeeded", {"t": {"rows": 2}})
    make_run(tmp_path, "2025-12", "20251215T030000Z-2", "succeeded", {"t": {"rows": 3}})  # the newest success
    make_run(tmp_path, "2025-12", "20251220T030000Z", "failed", {"t": {"rows": 4}})
    make_run(tmp_path, "2025-12", "20251221T030000Z", "succeeded", None)  # no monitor report
    make_run(tmp_path, "2025-12", "20251222T030000Z", "interrupted", {"t": {"rows": 5}})
    make_run(tmp_path, "2026-01", "20260105T030000Z", "succeeded", {"t": {"rows": 6}})  # this month: not last month
    assert monitor_report.previous_profiles(tmp_path, "2026-01") == ({"t": {"rows": 3}}, "2025-12/20251215T030000Z-2")


def test_no_successful_run_last_month_means_no_comparison(tmp_path):
    assert monitor_report.previous_profiles(tmp_path, "2026-01") == (None, None)
    make_run(tmp_path, "2025-12", "20251220T030000Z", "failed", {"t": {"rows": 4}})
    make_run(tmp_path, "2025-11", "20251120T030000Z", "succeeded", {"t": {"rows": 1}})  # two months back
    assert monitor_report.previous_profiles(tmp_path, "2026-01") == (None, None)


def test_a_profile_written_by_the_report_is_read_back_as_last_month(tmp_path, config):
    profiles = [clean_profile("part_a"), clean_profile("part_b")]
    report = evaluate(profiles, config, AS_OF)
    make_run(tmp_path, "2026-07", "20260801T030000Z", "succeeded", None)
    monitor_report.write_report(report, profiles, tmp_path / "2026-07" / "20260801T030000Z" / "data_monitor_rpt")
    previous, run = monitor_report.previous_profiles(tmp_path, "2026-08")
    assert run == "2026-07/20260801T030000Z"
    assert previous == {p.table: json.loads(json.dumps(p.to_json())) for p in profiles}
    again = evaluate([clean_profile("part_a", rows=150, source_rows=150), clean_profile("part_b")], config, AS_OF,
                     previous, run)
    assert found(again) == [("part_a", "[MOM_ROWS]", "warning")] and again.previous_run == run


# --- notification --------------------------------------------------------------------------------------

def test_alerts_are_printed_one_per_line_with_their_severity(config):
    report = evaluate([clean_profile("part_a", key_dupes=1), clean_profile("part_b", recorded_snapshot_dt="2026-01-01")],
                      config, AS_OF)
    out = io.StringIO()
    lines = monitor_report.notify_alerts(report, SimpleNamespace(env="local", is_local=True), out=out)
    assert lines == ["ERROR   [PK_DUPES] part_a: 1 duplicate customer_user_id values",
                     "WARNING [STALE_SNAPSHOT] part_b: snapshot 2026-01-01 is 224 days old (limit 45)"]
    assert out.getvalue().splitlines() == ["data monitor (local): 1 error(s), 1 warning(s) over 2 tables", *lines]


def test_a_clean_month_notifies_nothing(config):
    out = io.StringIO()
    assert monitor_report.notify_alerts(evaluate([clean_profile()], config, AS_OF), SimpleNamespace(env="local", is_local=True),
                                        out=out) == []
    assert out.getvalue() == ""


def test_a_table_published_last_month_and_missing_now_is_a_warning(config):
    gone = clean_profile("part_gone")
    report = evaluate([clean_profile()], config, AS_OF, previous={"part_gone": gone.to_json(),
                      "part_addressable_ids": clean_profile().to_json()}, previous_run="2026-07/x")
    assert found(report) == [("part_gone", "[MOM_TABLES]", "warning")]
    assert {"table": "part_gone", "change": "table gone", "before": 200, "now": None,
            "delta": None} in report.month_over_month

