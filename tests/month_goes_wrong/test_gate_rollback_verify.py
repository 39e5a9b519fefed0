"""When a month goes wrong, as the operator meets it: the gate, the data monitor, rollback, --verify on a
real local lake.

One lake is refreshed for September and October (two full refreshes, with the
3-table test mapping); each scenario changes it and the fixture puts it back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flywheel_lib import good_runs
from flywheel_lib import lake as lake_layout
from flywheel_lib import run_end
from flywheel_lib.aws import notify
from flywheel_lib.backend import get_backend
from flywheel_lib.config import load_settings
from flywheel_lib.mapping import SOURCE_KEY, load_mapping
from flywheel_lib.synthetic import write_snapshot

REPO = Path(__file__).resolve().parents[2]
MAPPING = REPO / "tests" / "fixtures" / "engine_mapping.csv"
ROWS = 120
SNAPSHOTS = {"2026-09": "2026-09-30", "2026-10": "2026-10-31", "2026-11": "2026-11-30"}


class Lake:
    def __init__(self, root: Path):
        self.root = root
        self.env = dict(os.environ, FLYWHEEL_DATA_ROOT=str(root / "data"), FLYWHEEL_RUNS_DIR=str(root / "runs"),
                        FLYWHEEL_ENV="local", FLYWHEEL_MAPPING=str(MAPPING))

    def deliver(self, month: str, seed: int) -> None:
        write_snapshot(self.root / "data", SNAPSHOTS[month], ROWS, seed=seed, mapping=load_mapping(MAPPING), files=1)

    def run(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(REPO / "run_refresh.py"), *args], env=self.env,
                              capture_output=True, text=True, timeout=900)

    def served(self) -> set[str]:
        con = duckdb.connect(str(self.root / "data" / "catalog.duckdb"), read_only=True)
        try:
            return {r[0] for r in con.execute("SELECT DISTINCT snapshot_dt FROM flywheel_tables "
                                              "WHERE state = 'published'").fetchall()}
        finally:
            con.close()

    def run_dir(self, month: str) -> Path:
        return sorted((self.root / "runs" / month).glob("2*"))[-1]

    def rows(self, table: str) -> int:
        con = duckdb.connect(str(self.root / "data" / "catalog.duckdb"), read_only=True)
        try:
            return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        finally:
            con.close()


@pytest.fixture(scope="module")
def two_months(tmp_path_factory):
    lake = Lake(tmp_path_factory.mktemp("lake") / "lake")
    for seed, month in enumerate(("2026-09", "2026-10"), start=9):
        lake.deliver(month, seed)
        result = lake.run("--month", month)
        assert result.returncode == 0, result.stderr[-3000:]
    shutil.copytree(lake.root, lake.root.parent / "pristine")
    return lake


@pytest.fixture
def lake(two_months) -> Lake:
    """The two-month lake, put back as it was after each scenario (in place: the catalog and the
    run records hold absolute paths, so a copy elsewhere would still point at the original)."""
    yield two_months
    shutil.rmtree(two_months.root)
    shutil.copytree(two_months.root.parent / "pristine", two_months.root)


def test_a_month_with_duplicated_customers_is_blocked_and_publishes_nothing(lake):
    lake.deliver("2026-11", 11)
    raw = next((lake.root / "data").glob(f"opus/addressable_ids/raw_input/snapshot_dt={SNAPSHOTS['2026-11']}/*.parquet"))
    table = pq.read_table(raw)
    pq.write_table(pa.concat_tables([table, table.slice(5, 1)]), raw)  # one customer delivered twice
    duplicated = table.column(SOURCE_KEY)[5].as_py()
    result = lake.run("--month", "2026-11")
    assert result.returncode == 1
    manifest = json.loads((lake.run_dir("2026-11") / "manifest.json").read_text())
    error = manifest["stages"]["glue_ready"]["error"]["evalue"]
    assert f"part_addressable_ids: key duplicates (1 duplicated customer_user_id (e.g. '{duplicated}'))" in error
    assert "Nothing was published" in error
    gate = manifest["stages"]["glue_ready"]["scraps"]["gate"]
    assert gate["decision"] == "blocked"
    assert [(b["table"], b["check"]) for b in gate["blocked_by"]] == [("part_addressable_ids", "key duplicates")]
    assert lake.served() == {SNAPSHOTS["2026-10"]}


def test_a_live_month_that_lost_a_bucket_folder_fails_the_data_monitor_with_its_summary(lake):
    """The gate passed October; then a bucket folder of its live version is deleted. The operator checks the
    month again (stage 7 alone, a new run): the report is written, the run fails with the monitor's summary,
    the end-of-run message says so, and October still serves (the monitor reports, it does not unpublish)."""
    october = lake.run_dir("2026-10")
    [live] = [e for e in get_backend(load_settings("local", environ=lake.env)).published()
              if e.name == "part_addressable_ids"]
    bucket, folder = next((b, f) for b, f in sorted(lake_layout.bucket_folders(Path(live.location)).items())
                          if lake_layout.parquet_rows(sorted(f.glob("*.parquet"))))
    lost = lake_layout.parquet_rows(sorted(folder.glob("*.parquet")))
    shutil.rmtree(folder)
    result = lake.run("--month", "2026-10", "--only", "data_monitor_rpt", "--new-run")
    assert result.returncode == 1, result.stderr[-3000:]
    run_dir = lake.run_dir("2026-10")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    stage = manifest["stages"]["data_monitor_rpt"]
    summary = stage["scraps"]["summary"]
    september = lake.run_dir("2026-09").name
    assert (summary["tables"], summary["errors"], summary["previous_run"]) == (4, 2, f"2026-09/{september}")
    said = (f"data monitor: 2 error(s), {summary['warnings']} warning(s) over 4 tables: "
            f"part_addressable_ids [MISSING_BUCKETS] 255 of 256 bucket folders; missing {bucket}; "
            f"part_addressable_ids [COUNT_MISMATCH] {ROWS - lost:,} rows, source snapshot {ROWS:,}")
    # The terminal: the stage's failure line carries the monitor's summary, then the run's end.
    [failure] = [line for line in result.stderr.splitlines() if re.search(r"data_monitor_rpt +FAILED in", line)]
    assert f": CheckFailed: {said} [stage data_monitor_rpt]" in failure
    assert f"see {run_dir / 'data_monitor_rpt.ipynb'}" in result.stderr
    assert f"run {run_dir.name}: failed" in result.stderr
    assert f"the catalog serves 5 tables of snapshot(s) {SNAPSHOTS['2026-10']} (run {october.name})" in result.stderr
    # The record: the stage failed with the same text, the report files are there and checksummed.
    assert manifest["status"] == "failed" and stage["status"] == "failed"
    assert stage["error"]["ename"] == "CheckFailed" and stage["error"]["evalue"].startswith(said)
    assert {s["status"] for n, s in manifest["stages"].items() if n != "data_monitor_rpt"} == {"skipped"}
    report = json.loads((run_dir / "data_monitor_rpt" / "data_monitor_report.json").read_text())
    assert report["summary"] == summary
    assert [(a["table"], a["tag"]) for a in report["alerts"] if a["severity"] == "error"] == [
        ("part_addressable_ids", "[MISSING_BUCKETS]"), ("part_addressable_ids", "[COUNT_MISMATCH]")]
    written = {"data_monitor_rpt.ipynb", "data_monitor_rpt.html"} | {f"data_monitor_rpt/{name}" for name in (
        "data_monitor_report.json", "data_monitor_report.csv", "alerts.csv", "profile.json")}
    assert written <= set(manifest["files"]) and all((run_dir / name).is_file() for name in written)
    assert f"Data monitor: {summary['alerts']} alert(s), 2 error(s)" in (run_dir / "index.html").read_text()
    assert lake.served() == {SNAPSHOTS["2026-10"]} and manifest["serving"]["snapshots"] == [SNAPSHOTS["2026-10"]]
    # The end-of-run message dev/prod would send for this record.
    subject, body = notify.run_message(run_end.run_summary("dev", manifest, str(run_dir)))
    assert subject == "[flywheel dev] refresh 2026-10 FAILED at data_monitor_rpt"
    assert "Failed stage: data_monitor_rpt" in body and f"Error: CheckFailed: {said}" in body
    assert f"Data monitor: 2 error(s), {summary['warnings']} warning(s) over 4 tables" in body
    # What next: the same command without --only resumes this run, and every stage refreshes October again.
    plan = lake.run("--month", "2026-10", "--dry-run")
    assert f"resumes run {run_dir.name} (failed)" in plan.stdout
    assert all(re.search(rf"^  {name} +run ", plan.stdout, re.M) for name in manifest["stages"]), plan.stdout


def test_a_rollback_plans_then_serves_september_again_with_its_reason(lake):
    plan = lake.run("--rollback", "--month", "2026-10")
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert "rollback of 2026-10: 5 table(s) to switch back, all or none" in plan.stderr
    assert lake.served() == {SNAPSHOTS["2026-10"]}  # a plan changes nothing
    refused = lake.run("--rollback", "--month", "2026-10", "--apply")
    assert refused.returncode == 2 and "a rollback needs a reason" in refused.stderr
    applied = lake.run("--rollback", "--month", "2026-10", "--apply", "--reason", "partner found duplicates")
    assert applied.returncode == 0, applied.stderr[-2000:]
    assert lake.served() == {SNAPSHOTS["2026-09"]}
    plan_record, record = sorted((lake.root / "runs" / "operations" / "rollback").glob("2*"))
    assert json.loads((plan_record / "manifest.json").read_text())["parameters"]["apply"] is False
    manifest = json.loads((record / "manifest.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["parameters"]["reason"] == "partner found duplicates"
    assert manifest["stages"]["rollback"]["scraps"]["rollback"]["applied"] is True
    assert good_runs.rolled_back(lake.root / "runs") == {lake.run_dir("2026-10").name}  # never good again
    assert lake.run("--verify", str(record)).returncode == 0
    again = lake.run("--rollback", "--month", "2026-10")
    assert again.returncode == 2 and "the catalog does not serve 2026-10" in again.stderr


def test_a_rollback_to_pruned_versions_is_refused_and_switches_nothing(lake):
    september_run = lake.run_dir("2026-09").name
    for marker in (lake.root / "data").rglob(f"*__{september_run}/{lake_layout.MARKER}"):
        shutil.rmtree(marker.parent)
    result = lake.run("--rollback", "--month", "2026-10", "--apply", "--reason", "test")
    assert result.returncode == 1
    assert "was pruned" in result.stderr and "nothing was switched" in result.stderr
    assert lake.served() == {SNAPSHOTS["2026-10"]}


def test_retention_keeps_the_previous_good_month(lake):
    settings = replace(load_settings("local", environ=lake.env), retention_months=1)
    september_run = lake.run_dir("2026-09").name
    versions = sorted((lake.root / "data").rglob(f"*__{september_run}"))
    assert versions and get_backend(settings).prune() == []
    assert all(v.is_dir() for v in versions)


def test_verify_names_a_manifest_rewritten_from_failed_to_succeeded(lake):
    run_dir = lake.run_dir("2026-09")
    assert lake.run("--verify", str(run_dir)).returncode == 0
    manifest = run_dir / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"succeeded"', '"failed"', 1))
    result = lake.run("--verify", str(run_dir))
    assert result.returncode == 1
    assert f"changed: manifest.json of run 2026-09/{run_dir.name}" in result.stdout


@pytest.fixture
def full_data_folder(lake):
    """The lake's data folder on a tmpfs (we are root; else skipped), filled up to about 100 KB free."""
    data, aside = lake.root / "data", lake.root / "data-aside"
    shutil.move(data, aside)
    data.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(data)]).returncode:
        shutil.rmtree(data)
        shutil.move(aside, data)
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        shutil.copytree(aside, data, dirs_exist_ok=True)
        lake.deliver("2026-11", 11)
        stats = os.statvfs(data)
        with open(data / "filler", "wb") as filler:
            filler.truncate(0)
            filler.write(b"\0" * (stats.f_bavail * stats.f_frsize - 100_000))
        yield lake
    finally:
        subprocess.run(["umount", str(data)], check=True)


def test_a_full_data_folder_fails_the_month_clearly_and_a_rerun_completes(full_data_folder):
    lake = full_data_folder
    october = lake.run_dir("2026-10")
    result = lake.run("--month", "2026-11")
    assert result.returncode == 1, result.stderr[-2000:]
    manifest = json.loads((lake.run_dir("2026-11") / "manifest.json").read_text())
    errors = [s["error"]["evalue"] for s in manifest["stages"].values() if s["status"] == "failed"]
    assert errors and all("No space left on device" in e for e in errors), errors
    assert "No space left on device" in result.stderr
    assert lake.served() == {SNAPSHOTS["2026-10"]} and lake.rows("part_addressable_ids") == ROWS
    assert lake.run("--verify", str(october)).returncode == 0  # last month's record intact
    (lake.root / "data" / "filler").unlink()  # the operator frees space
    again = lake.run("--month", "2026-11")
    assert again.returncode == 0, again.stderr[-3000:]
    assert lake.served() == {SNAPSHOTS["2026-11"]}
