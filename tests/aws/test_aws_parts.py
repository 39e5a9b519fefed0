"""Pieces of the AWS backend against moto in process: footers, Athena, publishing, retention."""

from __future__ import annotations

import io
from dataclasses import replace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from flywheel_lib.aws import glue_catalog, parquet_s3, publishing, retention, s3
from flywheel_lib.aws.athena import Athena, QueryFailed, ident, s3_folder
from flywheel_lib.aws.er import build as aws_er_build
from flywheel_lib.bucketing import id_buckets
from flywheel_lib.errors import CatalogError, FlywheelError
from flywheel_lib.local.catalog import CatalogEntry
from flywheel_lib.local.er import write_er_table as local_er_table
from flywheel_lib.row_ids import bucket_of, row_id

from .fake_aws import FakeAthena

BUCKET = "omc-flywheel-data-us-east-1-dev"
ROOT = f"s3://{BUCKET}/omc_cleanroom_data/split_part/infobase_attributes"


def put_parquet(aws, key: str, table: pa.Table) -> s3.S3Object:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    aws.call("s3", "put_object", Bucket=BUCKET, Key=key, Body=buffer.getvalue())
    return s3.S3Object(f"s3://{BUCKET}/{key}", len(buffer.getvalue()))


def test_footers_give_schema_rows_and_nulls_without_reading_the_data(aws, bucket):
    import random
    rng = random.Random(1)  # incompressible keys, so the file is larger than the tail read
    table = pa.table({"customer_user_id": [f"{rng.getrandbits(64):016x}" for _ in range(5000)],
                      "ibe1802": [None if i % 4 else f"{rng.getrandbits(128):032x}" for i in range(5000)]})
    obj = put_parquet(aws, "t/id_bucket=0/part-0.parquet", table)
    assert obj.size > parquet_s3.TAIL_BYTES  # the footer is not the whole file
    assert parquet_s3.schema(aws, obj) == table.schema
    assert parquet_s3.rows(aws, [obj, obj]) == 10000
    meta = parquet_s3.metadata(aws, obj)
    nulls = {"ibe1802": 0}
    from flywheel_lib import lake
    assert lake.add_null_counts(meta, nulls) == 5000 and nulls == {"ibe1802": 3750}


def test_identifiers_and_locations_are_validated_before_they_reach_sql():
    assert ident("part_ibe_01") == '"part_ibe_01"'
    for bad in ('part"; DROP TABLE x; --', "Part_IBE", "", "a" * 256):
        with pytest.raises(FlywheelError):
            ident(bad)
    assert s3_folder(f"{ROOT}/IBE_01_ER/2026-10-31__r1") == f"'{ROOT}/IBE_01_ER/2026-10-31__r1/'"
    with pytest.raises(FlywheelError):
        s3_folder("s3://bucket/x' WITH (format='TEXTFILE') --")


def seed_athena_results(rows, columns):
    """moto's own API for query results (in process, its fake host answers)."""
    body = {"results": [{"rows": [{"Data": [{"VarCharValue": c} for c in columns]}] +
                         [{"Data": [{} if v is None else {"VarCharValue": str(v)} for v in row]} for row in rows],
                         "column_info": [{"Name": c, "Type": t} for c, t in columns.items()]}]}
    assert requests.post("http://motoapi.amazonaws.com/moto-api/static/athena/query-results", json=body).ok


def test_athena_results_come_back_typed_with_nulls(aws, settings):
    seed_athena_results([["part_a", 10, None, True]],
                        {"table_name": "varchar", "row_count": "bigint", "ratio": "double", "ok": "boolean"})
    athena = Athena(aws, settings, sleep=lambda _: None)
    result = athena.run('SELECT 1 FROM "x"."y"', settings.database_name, "part_a")
    assert result.rows == [{"table_name": "part_a", "row_count": 10, "ratio": None, "ok": True}]
    execution = aws.call("athena", "get_query_execution", QueryExecutionId=result.query_id)["QueryExecution"]
    assert execution["ResultConfiguration"]["OutputLocation"].startswith("s3://omc-flywheel-dev-analysis-data/athena-results/")
    assert execution["WorkGroup"] == "primary"


def test_a_failed_query_names_its_reason_and_id(aws, settings, monkeypatch):
    athena = Athena(aws, settings, sleep=lambda _: None)
    real = aws.call

    def call(service, method, /, where=None, **params):
        response = real(service, method, where=where, **params)
        if method == "get_query_execution":
            response["QueryExecution"]["Status"] = {"State": "FAILED", "StateChangeReason": "TABLE_NOT_FOUND"}
        return response

    monkeypatch.setattr(aws, "call", call)
    with pytest.raises(QueryFailed, match=r"ended FAILED: TABLE_NOT_FOUND \(query id "):
        athena.run("SELECT 1", "db", "part_a")


def entry(name: str, version: str) -> CatalogEntry:
    return CatalogEntry(name=name, run_id=version.split("__")[1], dataset="infobase_attributes",
                        source_table=name[5:].upper(), location=f"{ROOT}/{name[5:].upper()}/{version}",
                        snapshot_dt=version.split("__")[0], columns=[("customer_user_id", "string")], row_count=1)


def folders(e: CatalogEntry) -> dict[int, str]:
    return {b: f"{e.location}/id_bucket={b}" for b in range(256)}


@pytest.fixture
def september(aws, settings):
    """Two tables published from September: what must still serve if October's publish fails."""
    db = settings.database_name
    glue_catalog.ensure_database(aws, db)
    old = [entry(n, "2026-09-30__sep") for n in ("part_ibe_01", "part_ibe_02")]
    publishing.publish_all(aws, db, [(e, folders(e)) for e in old])
    return db, old


def fail_writing(monkeypatch, table: str, error: BaseException, run_id: str | None = None) -> None:
    """Make writing `table` (of `run_id`, or any run) to the catalog raise `error`, as a refused call would."""
    real = glue_catalog.put_table

    def put_table(aws_, database, e):
        if e.name == table and run_id in (None, e.run_id):
            raise error
        return real(aws_, database, e)

    monkeypatch.setattr(glue_catalog, "put_table", put_table)


def serving(aws, db):
    return {e.name: (e.snapshot_dt, set(glue_catalog.get_partitions(aws, db, e.name).values()))
            for e in publishing.catalog_entries(aws, db)}


def test_publishing_switches_every_table_and_every_partition(aws, september):
    db, _ = september
    new = [entry(n, "2026-10-31__oct") for n in ("part_ibe_01", "part_ibe_02")]
    previous = publishing.publish_all(aws, db, [(e, folders(e)) for e in new])
    assert previous["part_ibe_01"].entry.snapshot_dt == "2026-09-30"
    for name, (snapshot_dt, locations) in serving(aws, db).items():
        assert snapshot_dt == "2026-10-31" and len(locations) == 256
        assert all("2026-10-31__oct" in url for url in locations)


def test_a_switch_to_fewer_partitions_deletes_the_ones_left_over(aws, september):
    db, old = september
    publishing.switch_table(aws, db, old[0], {b: url for b, url in folders(old[0]).items() if b < 200})
    assert sorted(glue_catalog.get_partitions(aws, db, old[0].name)) == list(range(200))


def test_ctrl_c_while_a_query_runs_stops_it(aws, settings):
    """A statement left running (an UNLOAD, say) would go on writing after we are gone."""
    from botocore.stub import Stubber

    from flywheel_lib.aws.athena import Athena

    def interrupted(_seconds):
        raise KeyboardInterrupt

    athena = Athena(aws, settings, sleep=interrupted)
    with Stubber(aws.client("athena")) as stub:
        stub.add_response("get_query_execution", {"QueryExecution": {
            "QueryExecutionId": "q-1", "Status": {"State": "RUNNING"}}}, {"QueryExecutionId": "q-1"})
        stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-1"})
        with pytest.raises(KeyboardInterrupt):
            athena.wait("q-1", "part_ibe_01")
        stub.assert_no_pending_responses()


def test_a_failed_switch_puts_back_every_table_already_switched(aws, september, monkeypatch):
    db, _ = september
    before = serving(aws, db)
    fail_writing(monkeypatch, "part_ibe_02", CatalogError("AccessDeniedException on UpdateTable"), run_id="oct")
    new = [entry(n, "2026-10-31__oct") for n in ("part_ibe_01", "part_ibe_02")]
    with pytest.raises(CatalogError, match="publishing failed at part_ibe_02.*were put back"):
        publishing.publish_all(aws, db, [(e, folders(e)) for e in new])
    assert serving(aws, db) == before


def test_a_new_table_that_fails_to_publish_is_removed_again(aws, september, monkeypatch):
    db, _ = september
    fail_writing(monkeypatch, "part_ibe_02", CatalogError("throttled"))
    new = [entry("part_ibe_03", "2026-10-31__oct"), entry("part_ibe_02", "2026-10-31__oct")]
    with pytest.raises(CatalogError):
        publishing.publish_all(aws, db, [(e, folders(e)) for e in new])
    assert sorted(serving(aws, db)) == ["part_ibe_01", "part_ibe_02"]


def test_retention_keeps_the_newest_months_and_anything_in_use():
    found = [("IBE_01", dt, f"{ROOT}/IBE_01/{dt}__r") for dt in ("2026-07-31", "2026-08-31", "2026-09-30",
                                                                    "2026-10-31")]
    found.append(("IBE_01", "2026-10-31", f"{ROOT}/IBE_01/2026-10-31__r2"))
    in_use = {f"{ROOT}/IBE_01/2026-07-31__r"}
    assert retention.expired(found, 2, in_use) == [f"{ROOT}/IBE_01/2026-08-31__r"]


def test_pruning_on_s3_keeps_what_the_catalog_serves(aws, bucket, settings):
    from flywheel_lib.aws.backend import AwsBackend

    for snapshot_dt in ("2026-06-30", "2026-07-31", "2026-08-31", "2026-09-30", "2026-10-31"):
        for n in (0, 1):
            aws.call("s3", "put_object", Bucket=BUCKET, Body=b"x",
                     Key=f"omc_cleanroom_data/split_part/infobase_attributes/IBE_01/{snapshot_dt}__r/id_bucket={n}/a.parquet")
    glue_catalog.ensure_database(aws, settings.database_name)
    old = entry("part_ibe_01", "2026-07-31__r")  # still served: a month that failed to be replaced
    publishing.publish_all(aws, settings.database_name, [(old, {0: f"{old.location}/id_bucket=0"})])
    backend = AwsBackend(settings, aws=aws)
    removed = backend.prune()  # dev keeps 3 snapshots
    assert removed == [f"{ROOT}/IBE_01/2026-06-30__r"]
    left = {o.url.split("/")[-3] for o in s3.list_objects(aws, f"{ROOT}/IBE_01")}
    assert left == {"2026-07-31__r", "2026-08-31__r", "2026-09-30__r", "2026-10-31__r"}


def test_a_driver_run_without_credentials_is_one_line_naming_the_profile(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true", FLYWHEEL_RUNS_DIR=str(tmp_path / "runs"))
    script = Path(__file__).resolve().parents[2] / "run_refresh.py"
    result = subprocess.run([sys.executable, str(script), "--month", "2026-10", "--env", "dev"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no usable AWS credentials from profile flywheel-dev" in lines[0]
    assert "aws configure sso --profile flywheel-dev" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_ctrl_c_in_the_middle_of_publishing_puts_everything_back(aws, september, monkeypatch):
    db, _ = september
    before = serving(aws, db)
    fail_writing(monkeypatch, "part_ibe_02", KeyboardInterrupt(), run_id="oct")
    new = [entry(n, "2026-10-31__oct") for n in ("part_ibe_01", "part_ibe_02")]
    with pytest.raises(KeyboardInterrupt, match="publishing interrupted at part_ibe_02; all 2 switched"):
        publishing.publish_all(aws, db, [(e, folders(e)) for e in new])
    assert serving(aws, db) == before


def test_split_output_is_reused_only_from_the_same_snapshot_and_mapping(tmp_path):
    from flywheel_lib.aws.split import _reusable
    from flywheel_lib.mapping import load_mapping
    from flywheel_lib.snapshots import Snapshot

    mapping = load_mapping()
    snapshot = Snapshot("infobase_attributes", "2026-10-31", "s3://b/raw/snapshot_dt=2026-10-31", ())
    marker = {"source_location": snapshot.location, "columns": mapping.published_columns("IBE_08")}
    assert _reusable(marker, snapshot, mapping, "IBE_08")
    assert not _reusable(None, snapshot, mapping, "IBE_08")
    assert not _reusable({**marker, "source_location": "s3://b/raw/snapshot_dt=2026-10-30"}, snapshot, mapping,
                         "IBE_08")
    assert not _reusable({**marker, "columns": marker["columns"][:-1]}, snapshot, mapping, "IBE_08")


# --- the ER table's row_id: the same ids from the local engine and from Athena --------------------

ER_KEYS = ["", "é", "0IgxL", "KLzd", "434439589175", "x" * 5000, "Z", "a", "ß", "日本", "a b", "A"] + [
    f"k{i:05d}" for i in range(3000)]


def _bucketed(keys: list[str]) -> dict[int, pa.Table]:
    by_bucket: dict[int, list[str]] = {}
    for key, b in zip(keys, id_buckets(keys)):
        by_bucket.setdefault(b, []).append(key)
    return {b: pa.table({"customer_user_id": pa.array(ks, pa.string())}) for b, ks in by_bucket.items()}


def test_er_row_ids_are_the_same_from_duckdb_and_athena_sql_and_unique_per_bucket(aws, settings, tmp_path,
                                                                                  monkeypatch):
    FakeAthena().install(monkeypatch)  # runs the UNLOAD's SQL text in DuckDB over moto's S3
    aws.call("s3", "create_bucket", Bucket=BUCKET)
    aws.call("s3", "create_bucket", Bucket="omc-flywheel-dev-analysis-data")
    version, tables = "2026-10-31__r1", _bucketed(ER_KEYS)
    local = CatalogEntry(name="part_addressable_ids", run_id="r1", dataset="addressable_ids",
                         source_table="ADDRESSABLE_IDS", location=str(tmp_path / "ADDRESSABLE_IDS" / version),
                         snapshot_dt="2026-10-31", columns=[("customer_user_id", "string")], row_count=len(ER_KEYS))
    remote = replace(local, location=f"{ROOT}/ADDRESSABLE_IDS/{version}")
    for b, table in tables.items():
        (tmp_path / "ADDRESSABLE_IDS" / version / f"id_bucket={b}").mkdir(parents=True)
        pq.write_table(table, tmp_path / "ADDRESSABLE_IDS" / version / f"id_bucket={b}" / "part-0.parquet")
        put_parquet(aws, f"{remote.location[len(f's3://{BUCKET}/'):]}/id_bucket={b}/part-0.parquet", table)
    db = settings.database_name
    glue_catalog.ensure_database(aws, db)
    glue_catalog.put_table(aws, db, remote)
    glue_catalog.create_partitions(aws, db, remote, {b: f"{remote.location}/id_bucket={b}" for b in tables})

    local_er = local_er_table(local, str(tmp_path / "er"), "r1")
    aws_er = aws_er_build(aws, Athena(aws, settings, sleep=lambda _: None), db, remote, ROOT, "r1")
    mine = pq.read_table(f"{local_er.location}/data_0.parquet").to_pylist()
    theirs = [row for o in s3.list_objects(aws, aws_er.location) if not o.name.startswith("_")
              for row in pq.read_table(io.BytesIO(aws.call("s3", "get_object", Bucket=BUCKET,
                                                           Key=s3.split_url(o.url)[1])["Body"].read())).to_pylist()]
    as_pairs = sorted((r["row_id"], r["customer_user_id"]) for r in mine)
    assert as_pairs == sorted((r["row_id"], r["customer_user_id"]) for r in theirs)
    assert len({i for i, _ in as_pairs}) == len(ER_KEYS)  # unique
    for b, table in tables.items():  # within a bucket: 1, 2, ... in key (UTF-8 byte) order
        in_bucket = sorted((i, k) for i, k in as_pairs if bucket_of(i) == b)
        assert [k for _, k in in_bucket] == sorted(table.column("customer_user_id").to_pylist(),
                                                   key=lambda k: k.encode())
        assert [i for i, _ in in_bucket] == [row_id(b, n) for n in range(1, len(in_bucket) + 1)]
