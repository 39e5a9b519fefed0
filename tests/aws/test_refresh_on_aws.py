"""The refresh on the dev environment, through the driver, against moto in server mode.

The papermill kernels reach moto through AWS_ENDPOINT_URL. moto's Glue and
Athena are made to do the real work (tests/aws/fake_aws.py): a job run splits
the raw snapshot in S3 with the local engine, and Athena runs its SQL with
DuckDB over the files the Glue catalog points at. September is refreshed
cleanly; October then meets one fault after another (a Glue run FAILED, one
TIMEOUT, a throttled start, a count that does not match, MSCK failing, SNS
gone) and, until it finally succeeds, every table must keep serving September.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from flywheel_lib.mapping import default_mapping_path, load_mapping
from flywheel_lib.synthetic import write_snapshot

from .fake_aws import ApiCalls, FakeAthena, FakeGlueJobs, aws_env, client, create_jobs, reset

REPO = Path(__file__).resolve().parents[2]
DATA_BUCKET = "omc-flywheel-data-us-east-1-dev"
ANALYSIS_BUCKET = "omc-flywheel-dev-analysis-data"
DATABASE = "omc_flywheel_dev_clean"
ACCOUNT = "123456789012"
ROWS = 120
SECRET = "SENTINEL-secret-access-key-9f2c"
# Three infobase tables keep the module quick (the local tests run all 27): one plain, one
# without a key row in the mapping, one at the Clean Rooms column limit (exactly 100 allowed columns).
INFOBASE = ("IBE_01", "IBE_04_B", "MIACS_02_A")
TABLES = 1 + len(INFOBASE)


def small_mapping(folder: Path) -> Path:
    lines = default_mapping_path().read_text(encoding="utf-8-sig").splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if line.split(",", 1)[0] in INFOBASE]
    path = folder / "split_mapping.csv"
    path.write_text("\ufeff" + "\n".join(kept) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def world(moto_endpoint, tmp_path_factory):
    """moto with buckets, jobs, topics and two months of raw snapshots; fakes installed for the module."""
    root = tmp_path_factory.mktemp("aws_refresh")
    reset(moto_endpoint)
    with pytest.MonkeyPatch.context() as patch:
        glue, athena, calls = FakeGlueJobs().install(patch), FakeAthena().install(patch), ApiCalls().install(patch)
        s3 = client(moto_endpoint, "s3")
        for bucket in (DATA_BUCKET, ANALYSIS_BUCKET):
            s3.create_bucket(Bucket=bucket)
        raw, mapping = root / "raw", small_mapping(root)
        for snapshot_dt in ("2026-09-30", "2026-10-31"):
            write_snapshot(raw, snapshot_dt, ROWS, mapping=load_mapping(mapping))
        for path in sorted(raw.rglob("*.parquet")):
            s3.upload_file(str(path), DATA_BUCKET, path.relative_to(raw).as_posix())
        create_jobs(moto_endpoint)
        sns, sqs = client(moto_endpoint, "sns"), client(moto_endpoint, "sqs")
        queue = sqs.create_queue(QueueName="refresh-messages")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for topic in ("omc-flywheel-dev-db-refresh-notifications", "omc-flywheel-dev-data-monitor-alerts"):
            arn = sns.create_topic(Name=topic)["TopicArn"]
            sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
        env = aws_env(root, moto_endpoint)
        # A recognisable secret in the profile: it must never reach a record.
        Path(env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
            f"[flywheel-dev]\naws_access_key_id = testing\naws_secret_access_key = {SECRET}\n")
        env.update(FLYWHEEL_RUNS_DIR=str(root / "runs"), FLYWHEEL_MAPPING=str(mapping))
        env.pop("FLYWHEEL_ENV", None)
        yield {"root": root, "env": env, "endpoint": moto_endpoint, "glue": glue, "athena": athena,
               "calls": calls, "queue": queue}
        glue.wait()


def refresh(world, *args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "run_refresh.py"), "--env", "dev", *args],
                          env=env or world["env"], capture_output=True, text=True, timeout=600)


def month_lock(world, month: str) -> dict | None:
    """The month's S3 lock as stored, or None when nobody holds it."""
    s3 = client(world["endpoint"], "s3")
    try:
        return json.loads(s3.get_object(Bucket=ANALYSIS_BUCKET, Key=f"runs/{month}/lock.json")["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def latest(world, month: str) -> tuple[Path, dict]:
    run_dir = sorted((world["root"] / "runs" / month).glob("2*"))[-1]
    return run_dir, json.loads((run_dir / "manifest.json").read_text())


def serving(world) -> dict[str, str]:
    """Table -> snapshot date it serves, from the main catalog database."""
    glue = client(world["endpoint"], "glue")
    tables = [t for page in glue.get_paginator("get_tables").paginate(DatabaseName=DATABASE)
              for t in page["TableList"]]
    return {t["Name"]: t["Parameters"]["flywheel.snapshot_dt"] for t in tables}


def messages(world) -> list[dict]:
    sqs = client(world["endpoint"], "sqs")
    found = []
    while True:
        batch = sqs.receive_message(QueueUrl=world["queue"], MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return found
        for m in batch:
            found.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=world["queue"], ReceiptHandle=m["ReceiptHandle"])


def partition_versions(world, table: str) -> set[str]:
    """The version folders a table's partitions point at: what Athena and Clean Rooms read."""
    glue = client(world["endpoint"], "glue")
    pages = glue.get_paginator("get_partitions").paginate(DatabaseName=DATABASE, TableName=table)
    return {p["StorageDescriptor"]["Location"].rstrip("/").split("/")[-2]
            for page in pages for p in page["Partitions"]}


def assert_september_serves(world, manifest):
    assert set(serving(world).values()) == {"2026-09-30"}
    assert manifest["serving"]["snapshots"] == ["2026-09-30"]
    for table in ("part_addressable_ids", "part_ibe_01"):
        versions = partition_versions(world, table)
        assert len(versions) == 1 and next(iter(versions)).startswith("2026-09-30__"), versions


@pytest.fixture(scope="module")
def september(world):
    result = refresh(world, "--month", "2026-09")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def test_a_clean_month_runs_every_stage_on_aws_and_publishes(world, september):
    run_dir, manifest = latest(world, "2026-09")
    assert manifest["status"] == "succeeded" and manifest["env"] == "dev"
    tables = serving(world)
    assert len(tables) == TABLES + 1 and tables["part_addressable_ids_er"] == "2026-09-30"
    starts = {s.job_name: s.arguments for s in world["glue"].starts}  # the two splits run in parallel
    assert sorted(starts) == ["etl-omc-flywheel-dev-addr-part", "etl-omc-flywheel-dev-infobase-part"]
    args = starts["etl-omc-flywheel-dev-infobase-part"]
    assert args["--TARGET_VERSION"] == f"2026-09-30__{run_dir.name}" and args["--MAPPING_PATH"].endswith(".csv")
    assert (run_dir / "addr_part" / "glue_job_runs.csv").is_file()
    monitor = manifest["stages"]["data_monitor_rpt"]["scraps"]["summary"]
    assert monitor["tables"] == TABLES and monitor["errors"] == 0
    s3 = client(world["endpoint"], "s3")
    reports = s3.list_objects_v2(Bucket=ANALYSIS_BUCKET, Prefix=f"reports/data_monitor_rpt/2026-09/{run_dir.name}/")
    assert {o["Key"].rsplit("/", 1)[-1] for o in reports["Contents"]} >= {"data_monitor_report.json",
                                                                          "data_monitor_report.csv"}
    ends = [m for m in messages(world) if "refresh 2026-09" in m.get("Subject", "")]
    assert len(ends) == 1 and "SUCCEEDED" in ends[0]["Subject"] and str(run_dir) in ends[0]["Message"]
    assert "Cost: estimated AWS cost: $" in ends[0]["Message"]
    assert manifest["invocations"][-1]["notification"]["sent"] is True
    copy = f"s3://{ANALYSIS_BUCKET}/runs/2026-09/{run_dir.name}/"
    assert f"run record: {copy}" in ends[0]["Message"] and manifest["mirror"]["failed"] == {}
    assert manifest["lock"]["kind"] == "s3" and month_lock(world, "2026-09") is None  # released


def test_a_month_on_aws_records_what_it_cost(world, september):
    """DPU-seconds from the fake Glue runs, bytes scanned from the fake Athena, calls by service."""
    run_dir, manifest = latest(world, "2026-09")
    cost = manifest["cost"]
    assert cost["backend"] == "aws" and cost["total_usd"] > 0
    split = manifest["stages"]["infobase_part"]["usage"]
    assert split["glue_runs"] and split["glue_runs"][0]["measured_by"] == "DPUSeconds"
    ready = cost["stages"]["glue_ready"]
    assert ready["athena_bytes_scanned"] > 0 and ready["aws_calls_by_service"]["athena"] > 0
    assert cost["stages"]["infobase_part"]["dpu_hours"] > 0
    page = (run_dir / "index.html").read_text()
    assert "<h2>Cost</h2>" in page and "estimated AWS cost: $" in page  # and in the message: the test above


def test_a_clean_month_costs_few_calls(world, september):
    calls = world["calls"]  # September's run is the first thing the module does
    print(sorted(set(calls.calls)), {k: calls.count(*k) for k in set(calls.calls)})
    assert calls.count("glue", "StartJobRun") == 2
    assert calls.count("glue", "GetJobRun") <= 8  # backoff, not a poll a second
    # per table: MSCK, a validation count and a data monitor count; then the ER UNLOAD and its preview
    assert calls.count("athena", "StartQueryExecution") == 3 * TABLES + 2


def test_no_secret_reaches_the_record(world, september):
    run_dir, _ = latest(world, "2026-09")
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="ignore"), path


def test_a_finished_month_re_run_makes_no_mutating_call(world, september):
    world["calls"].clear()
    result = refresh(world, "--month", "2026-09")
    assert result.returncode == 0 and "already refreshed" in result.stderr
    assert world["calls"].mutating() == []
    assert world["calls"].count() <= 10 + 4  # the snapshot listing and the preflight's ranged GET of
    # each of the 4 raw files' footers, nothing more


def test_a_dry_run_lists_the_aws_work_and_changes_nothing(world, september):
    world["calls"].clear()
    result = refresh(world, "--month", "2026-10", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "Glue job etl-omc-flywheel-dev-infobase-part: --SOURCE_PATH s3://" in result.stdout
    assert "part_miacs_02_a" in result.stdout and "MSCK REPAIR TABLE" in result.stdout
    assert world["calls"].mutating() == []


def test_a_month_whose_snapshot_has_not_arrived_exits_75_and_is_notified(world, september):
    result = refresh(world, "--month", "2026-12")
    assert result.returncode == 75, result.stderr
    assert "snapshot not arrived: no addressable_ids snapshot with Parquet files for 2026-12" in result.stderr
    ends = [m for m in messages(world) if "refresh 2026-12" in m.get("Subject", "")]
    assert len(ends) == 1 and "SNAPSHOT NOT ARRIVED at preflight" in ends[0]["Subject"]
    assert not (world["root"] / "runs" / "2026-12").exists()


def test_the_record_is_in_s3_and_verify_s3_catches_an_edited_object(world, september):
    run_dir, _ = latest(world, "2026-09")
    copy = f"s3://{ANALYSIS_BUCKET}/runs/2026-09/{run_dir.name}"
    listed = refresh(world, "--list", f"s3://{ANALYSIS_BUCKET}/runs")
    assert listed.returncode == 0 and run_dir.name in listed.stdout and "succeeded" in listed.stdout
    intact = refresh(world, "--verify", copy)
    assert intact.returncode == 0 and intact.stdout.strip().endswith(f"{copy}: intact"), intact.stdout
    s3 = client(world["endpoint"], "s3")
    key = f"runs/2026-09/{run_dir.name}/addr_part/glue_job_runs.csv"
    kept = s3.get_object(Bucket=ANALYSIS_BUCKET, Key=key)["Body"].read()
    s3.put_object(Bucket=ANALYSIS_BUCKET, Key=key, Body=kept + b"edited,afterwards\n")
    try:
        edited = refresh(world, "--verify", copy)
        assert edited.returncode == 1 and "changed: addr_part/glue_job_runs.csv" in edited.stdout
    finally:
        s3.put_object(Bucket=ANALYSIS_BUCKET, Key=key, Body=kept)
    assert (s3.get_object(Bucket=ANALYSIS_BUCKET, Key="runs/index.html")["Body"].read()
            == (world["root"] / "runs" / "index.html").read_bytes())  # the runs page, mirrored


def interactive_er(world, tmp_path, publish: bool) -> subprocess.CompletedProcess:
    """Notebook 06 as an analyst runs it in JupyterLab on dev: no run id, September."""
    return subprocess.run([sys.executable, "-m", "papermill", str(REPO / "notebooks/refresh/06_er_table.ipynb"),
                           str(tmp_path / f"er_{publish}.ipynb"), "-p", "env", "dev", "-p", "month", "2026-09",
                           "-p", "publish", str(publish)],
                          env=world["env"], capture_output=True, text=True, timeout=600)


def test_an_interactive_notebook_on_dev_cannot_publish_during_a_run(world, september, tmp_path):
    from flywheel_lib.aws.s3_lock import S3RunLock
    from flywheel_lib.aws.session import AwsClients
    from flywheel_lib.config import load_settings

    before = partition_versions(world, "part_addressable_ids_er")
    with pytest.MonkeyPatch.context() as patch:  # this process plays a driver run on another machine
        for name in ("AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            patch.setenv(name, world["env"][name])
        settings = load_settings("dev", environ={})
        lock = S3RunLock(AwsClients(settings), f"s3://{ANALYSIS_BUCKET}/runs/2026-09/lock.json", "2026-09",
                         "20261001T020000Z")
        with lock:
            during = interactive_er(world, tmp_path, publish=True)
    assert during.returncode != 0 and "RunLocked" in during.stderr + during.stdout
    assert "holds the lock: run 20261001T020000Z" in during.stderr + during.stdout
    unasked = interactive_er(world, tmp_path, publish=False)
    assert unasked.returncode != 0 and "Set publish = True" in unasked.stderr + unasked.stdout
    assert partition_versions(world, "part_addressable_ids_er") == before  # nothing changed
    asked = interactive_er(world, tmp_path, publish=True)
    assert asked.returncode == 0, asked.stderr[-3000:]
    s3 = client(world["endpoint"], "s3")
    found = s3.list_objects_v2(Bucket=ANALYSIS_BUCKET, Prefix="runs/2026-09/interactive/")["Contents"]
    record = json.loads(s3.get_object(Bucket=ANALYSIS_BUCKET, Key=found[0]["Key"])["Body"].read())
    assert len(found) == 1 and record["notebook"] == "er_table" and record["outcome"] == "succeeded"
    assert [(c["table"], c["after"]["run_id"]) for c in record["changed"]] == [("part_addressable_ids_er", "interactive")]
    assert month_lock(world, "2026-09") is None


def test_two_drivers_on_one_month_the_second_exits_3_and_ctrl_c_releases_the_lock(world, september):
    first = subprocess.Popen([sys.executable, str(REPO / "run_refresh.py"), "--env", "dev", "--month", "2026-10"],
                             env=world["env"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not list((world["root"] / "runs" / "2026-10").glob("2*/manifest.json")):  # it has started
            assert first.poll() is None and time.monotonic() < deadline, "the first run never started"
            time.sleep(0.2)
        holder = month_lock(world, "2026-10")
        other_host = {**world["env"], "FLYWHEEL_RUNS_DIR": str(world["root"] / "runs-other-host")}
        second = refresh(world, "--month", "2026-10", env=other_host)
        assert second.returncode == 3, second.stderr[-2000:]
        assert f"another run of 2026-10 holds the lock: run {holder['run_id']} by {holder['user']}@" in second.stderr
        assert f"since {holder['started_at']}" in second.stderr
        os.kill(first.pid, signal.SIGINT)
        _, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
        world["glue"].wait()  # the fake Glue runs it started finish their writing before the next test
    assert first.returncode == 130, err[-3000:]
    assert month_lock(world, "2026-10") is None
    run_dir, manifest = latest(world, "2026-10")
    assert run_dir.name == holder["run_id"] and manifest["status"] == "interrupted"


def test_a_failed_glue_run_leaves_september_serving_and_says_why(world, september):
    world["glue"].set_outcome("infobase-part", "FAILED", message="AnalysisException: column ibe9999 not found")
    # A new run: the interrupted one before it may have finished its splits (moto cannot stop a job
    # run, so the fake's keeps writing), and resuming it would rightly reuse them.
    result = refresh(world, "--month", "2026-10", "--new-run")
    assert result.returncode == 1
    _, manifest = latest(world, "2026-10")
    assert month_lock(world, "2026-10") is None  # released after a failure too
    error = manifest["stages"]["infobase_part"]["error"]["evalue"]
    assert "ended FAILED: AnalysisException: column ibe9999 not found" in error
    assert "run jr_" in error and "logs: https://us-east-1.console.aws.amazon.com/cloudwatch/" in error
    assert manifest["stages"]["glue_ready"]["status"] == "blocked"
    assert_september_serves(world, manifest)
    ends = [m for m in messages(world) if "refresh 2026-10" in m.get("Subject", "")]
    assert "FAILED at infobase_part" in ends[-1]["Subject"] and "ibe9999" in ends[-1]["Message"]


def test_a_timed_out_run_then_a_throttled_start_are_reported_and_resumed(world, september):
    world["glue"].set_outcome("infobase-part", "TIMEOUT")
    assert refresh(world, "--month", "2026-10").returncode == 1
    _, manifest = latest(world, "2026-10")
    assert "ended TIMEOUT" in manifest["stages"]["infobase_part"]["error"]["evalue"]
    assert manifest["stages"]["addr_part"]["status"] == "done_earlier"  # not redone
    assert_september_serves(world, manifest)

    world["glue"].set_outcome("infobase-part", "throttle:1")
    starts = len(world["glue"].starts)
    result = refresh(world, "--month", "2026-10", "--only", "infobase_part,infobase_glue_reg")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [s.run_id is None for s in world["glue"].starts[starts:]] == [True, False]  # refused, then started
    assert_september_serves(world, latest(world, "2026-10")[1])


def test_a_count_mismatch_fails_validation_and_publishes_nothing(world, september):
    run_dir, _ = latest(world, "2026-10")
    s3 = client(world["endpoint"], "s3")
    prefix = f"omc_cleanroom_data/split_part/infobase_attributes/IBE_01/2026-10-31__{run_dir.name}/"
    victim = next(o["Key"] for o in s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix=prefix)["Contents"]
                  if o["Key"].endswith(".parquet") and o["Size"] > 1000)
    kept = s3.get_object(Bucket=DATA_BUCKET, Key=victim)["Body"].read()
    s3.delete_object(Bucket=DATA_BUCKET, Key=victim)
    try:
        assert refresh(world, "--month", "2026-10").returncode == 1
        _, manifest = latest(world, "2026-10")
        assert "part_ibe_01" in manifest["stages"]["glue_ready"]["error"]["evalue"]
        checks = (run_dir / "glue_ready" / "checks.csv").read_text()
        assert "row count vs source" in checks
        assert_september_serves(world, manifest)
    finally:
        s3.put_object(Bucket=DATA_BUCKET, Key=victim, Body=kept)


def test_msck_failing_falls_back_and_sns_gone_does_not_hide_success(world, september):
    an_hour_ago = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat(timespec="seconds")
    stale = {"run_id": "20261101T020000Z", "host": "gone-host", "user": "ops", "pid": 99,
             "started_at": an_hour_ago, "heartbeat_at": an_hour_ago}  # a machine that died mid-run
    client(world["endpoint"], "s3").put_object(Bucket=ANALYSIS_BUCKET, Key="runs/2026-10/lock.json",
                                               Body=json.dumps(stale).encode())
    refused = refresh(world, "--month", "2026-10")
    assert refused.returncode == 3 and "run 20261101T020000Z by ops@gone-host (pid 99)" in refused.stderr
    assert "STALE" in refused.stderr and "--break-lock" in refused.stderr
    world["athena"].fail_msck = True
    sns = client(world["endpoint"], "sns")
    sns.delete_topic(TopicArn=f"arn:aws:sns:us-east-1:{ACCOUNT}:omc-flywheel-dev-db-refresh-notifications")
    result = refresh(world, "--month", "2026-10", "--break-lock")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir, manifest = latest(world, "2026-10")
    assert manifest["lock"]["broke"]["host"] == "gone-host" and "broke the stale lock" in result.stderr
    assert month_lock(world, "2026-10") is None
    assert manifest["status"] == "succeeded"
    repair = (run_dir / "glue_ready" / "repair.csv").read_text()
    assert "batch_create_partition (MSCK REPAIR TABLE FAILED" in repair
    assert set(serving(world).values()) == {"2026-10-31"}
    assert {v[:12] for v in partition_versions(world, "part_ibe_01")} == {"2026-10-31__"}
    note = manifest["invocations"][-1]["notification"]
    assert note["sent"] is False and "NotFound" in note["error"]
    assert "end-of-run notification was not sent" in result.stderr
