"""The fakes of fake_aws do the real work, against moto in server mode."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from flywheel_lib.mapping import default_mapping_path
from flywheel_lib.synthetic import write_snapshot

from .fake_aws import MSCK_FAILURE, ApiCalls, FakeAthena, FakeGlueJobs, aws_env, client, create_jobs, job_name, reset

DATA_BUCKET = "omc-flywheel-data-us-east-1-dev"
ANALYSIS_BUCKET = "omc-flywheel-dev-analysis-data"
SNAPSHOT_DT = "2026-10-31"
RAW = f"s3://{DATA_BUCKET}/opus/addressable_ids/raw_input/snapshot_dt={SNAPSHOT_DT}"
ADDR_ROOT = f"s3://{DATA_BUCKET}/omc_cleanroom_data/split_part/addressable_ids"
VERSION = f"{SNAPSHOT_DT}__r1"
DATABASE = "omc_flywheel_dev_clean"
ROWS = 50


@pytest.fixture(scope="module")
def snapshot_dir(tmp_path_factory):
    """One tiny synthetic addressable snapshot, written once for the module."""
    root = tmp_path_factory.mktemp("raw")
    write_snapshot(root, SNAPSHOT_DT, ROWS, datasets=("addressable_ids",))
    return root


@pytest.fixture
def endpoint(moto_endpoint, snapshot_dir):
    """A clean moto with the buckets, the raw snapshot, the mapping and the split jobs."""
    reset(moto_endpoint)
    s3 = client(moto_endpoint, "s3")
    for bucket in (DATA_BUCKET, ANALYSIS_BUCKET):
        s3.create_bucket(Bucket=bucket)
    for path in sorted(snapshot_dir.rglob("*.parquet")):
        s3.upload_file(str(path), DATA_BUCKET, path.relative_to(snapshot_dir).as_posix())
    s3.upload_file(str(default_mapping_path()), DATA_BUCKET, "config/split_mapping.csv")
    create_jobs(moto_endpoint)
    return moto_endpoint


@pytest.fixture
def glue_jobs(monkeypatch):
    jobs = FakeGlueJobs().install(monkeypatch)
    yield jobs
    jobs.wait()  # no split still writing when the next test resets moto


def start_addr_split(endpoint, **extra):
    arguments = {"--SOURCE_PATH": RAW, "--SNAPSHOT_DT": SNAPSHOT_DT, "--DATASET": "addressable_ids",
                 "--TARGET_ROOT": ADDR_ROOT, "--TARGET_VERSION": VERSION, "--BUCKET_COUNT": "256", **extra}
    return client(endpoint, "glue").start_job_run(JobName=job_name("addr-part"), Arguments=arguments)["JobRunId"]


def wait_job(endpoint, run_id) -> tuple[list[str], dict]:
    glue, states = client(endpoint, "glue"), []
    for _ in range(200):
        run = glue.get_job_run(JobName=job_name("addr-part"), RunId=run_id)["JobRun"]
        states.append(run["JobRunState"])
        if states[-1] not in ("STARTING", "RUNNING"):
            return states, run
        time.sleep(0.05)
    raise AssertionError(f"job run still {states[-1]}")


def keys(endpoint, prefix, bucket=DATA_BUCKET) -> list[str]:
    pages = client(endpoint, "s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def athena(endpoint, sql) -> dict:
    """Run a query to its end; the final QueryExecution."""
    api = client(endpoint, "athena")
    exec_id = api.start_query_execution(
        QueryString=sql, WorkGroup="primary",
        ResultConfiguration={"OutputLocation": f"s3://{ANALYSIS_BUCKET}/athena-results/"})["QueryExecutionId"]
    for _ in range(50):
        execution = api.get_query_execution(QueryExecutionId=exec_id)["QueryExecution"]
        if execution["Status"]["State"] not in ("QUEUED", "RUNNING"):
            return execution
    raise AssertionError("query still running")


def rows_of(endpoint, execution) -> list[list[str | None]]:
    result = client(endpoint, "athena").get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    return [[cell.get("VarCharValue") for cell in row["Data"]] for row in result["ResultSet"]["Rows"]]


def column_types(endpoint, execution) -> list[str]:
    result = client(endpoint, "athena").get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    return [c["Type"] for c in result["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]


def register_addr_table(endpoint, location) -> None:
    glue = client(endpoint, "glue")
    glue.create_database(DatabaseInput={"Name": DATABASE})
    glue.create_table(DatabaseName=DATABASE, TableInput={
        "Name": "part_addressable_ids", "TableType": "EXTERNAL_TABLE",
        "PartitionKeys": [{"Name": "id_bucket", "Type": "int"}],
        "StorageDescriptor": {
            "Location": location, "Columns": [{"Name": "customer_user_id", "Type": "string"}],
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary":
                          "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}})


def test_the_addr_split_job_writes_256_buckets_and_the_marker(endpoint, glue_jobs):
    run_id = start_addr_split(endpoint)
    states, run = wait_job(endpoint, run_id)

    assert states[0] == "RUNNING" and states[-1] == "SUCCEEDED" and "ErrorMessage" not in run
    written = keys(endpoint, f"omc_cleanroom_data/split_part/addressable_ids/addressable_ids/{VERSION}/")
    buckets = {k.split("/")[-2] for k in written if "/id_bucket=" in k}
    assert buckets == {f"id_bucket={n}" for n in range(256)}
    assert any(k.endswith(f"{VERSION}/_flywheel.json") for k in written)
    assert [(s.job_name, s.arguments["--DATASET"]) for s in glue_jobs.starts] == [
        (job_name("addr-part"), "addressable_ids")]


def test_a_failing_job_reports_failed_with_its_error_and_throttles_refuse_starts(endpoint, glue_jobs):
    glue_jobs.set_outcome("addr-part", "FAILED", message="AnalysisException: column miacs_99 not found")
    states, run = wait_job(endpoint, start_addr_split(endpoint))
    assert states[-1] == "FAILED"
    assert run["ErrorMessage"] == "AnalysisException: column miacs_99 not found"
    assert keys(endpoint, "omc_cleanroom_data/") == []

    glue_jobs.set_outcome("addr-part", "throttle:1")
    with pytest.raises(Exception, match="ConcurrentRunsExceededException"):
        start_addr_split(endpoint)
    # A real error in the job's input fails the run with it, as on Glue.
    states, run = wait_job(endpoint, start_addr_split(endpoint, **{"--SOURCE_PATH": RAW + "-missing"}))
    assert states[-1] == "FAILED" and "no Parquet files" in run["ErrorMessage"]


def test_athena_repairs_partitions_and_counts_rows(endpoint, glue_jobs, monkeypatch):
    fake = FakeAthena().install(monkeypatch)
    wait_job(endpoint, start_addr_split(endpoint))
    register_addr_table(endpoint, f"{ADDR_ROOT}/addressable_ids/{VERSION}/")
    count = f'SELECT count(*) AS n, max(id_bucket) AS b FROM "{DATABASE}"."part_addressable_ids"'

    before = athena(endpoint, count)  # no partitions registered yet: Athena reads nothing
    assert rows_of(endpoint, before) == [["n", "b"], ["0", None]]
    repair = athena(endpoint, f"MSCK REPAIR TABLE `{DATABASE}`.`part_addressable_ids`")
    assert repair["Status"]["State"] == "SUCCEEDED"
    partitions = client(endpoint, "glue").get_partitions(DatabaseName=DATABASE, TableName="part_addressable_ids")
    assert len(partitions["Partitions"]) == 256
    after = athena(endpoint, count)
    (_, (n, top)), types = rows_of(endpoint, after), column_types(endpoint, after)
    assert n == str(ROWS) and int(top) < 256 and types == ["bigint", "integer"]
    assert fake.queries[-1] == count

    missing = athena(endpoint, f'SELECT nope FROM "{DATABASE}"."part_addressable_ids"')
    assert missing["Status"]["State"] == "FAILED" and "nope" in missing["Status"]["StateChangeReason"]
    fake.fail_msck = True
    failed = athena(endpoint, f"MSCK REPAIR TABLE `{DATABASE}`.`part_addressable_ids`")
    assert failed["Status"]["StateChangeReason"] == MSCK_FAILURE
    fake.fail_when("count(*)", "Query exhausted resources at this scale factor")
    assert athena(endpoint, count)["Status"]["StateChangeReason"] == "Query exhausted resources at this scale factor"


def test_unload_writes_one_parquet_file_and_refuses_a_used_prefix(endpoint, glue_jobs, monkeypatch):
    FakeAthena().install(monkeypatch)
    wait_job(endpoint, start_addr_split(endpoint))
    register_addr_table(endpoint, f"{ADDR_ROOT}/addressable_ids/{VERSION}/")
    athena(endpoint, f"MSCK REPAIR TABLE `{DATABASE}`.`part_addressable_ids`")
    unload = (f'UNLOAD (SELECT row_number() OVER (ORDER BY customer_user_id) AS row_id, customer_user_id '
              f'FROM "{DATABASE}"."part_addressable_ids") TO \'s3://{DATA_BUCKET}/er/v1/\' '
              "WITH (format = 'PARQUET')")

    assert athena(endpoint, unload)["Status"]["State"] == "SUCCEEDED"
    written = keys(endpoint, "er/v1/")
    assert len(written) == 1
    body = client(endpoint, "s3").get_object(Bucket=DATA_BUCKET, Key=written[0])["Body"].read()
    assert pq.read_table(io.BytesIO(body)).num_rows == ROWS
    again = athena(endpoint, unload)
    assert again["Status"]["State"] == "FAILED" and "already exists" in again["Status"]["StateChangeReason"]


def test_api_calls_are_counted_from_another_process(endpoint, tmp_path, monkeypatch):
    calls = ApiCalls().install(monkeypatch)
    script = ("import boto3; boto3.Session(profile_name='flywheel-dev')"
              f".client('s3').list_objects_v2(Bucket='{DATA_BUCKET}', Prefix='config/')")
    subprocess.run([sys.executable, "-c", script], env=aws_env(tmp_path, endpoint), check=True, timeout=60)
    client(endpoint, "sns").create_topic(Name="omc-flywheel-dev-data-monitor-alerts")

    assert calls.calls == [("s3", "ListObjectsV2"), ("sns", "CreateTopic")]
    assert calls.mutating() == [("sns", "CreateTopic")]
    calls.clear()
    assert calls.count() == 0
