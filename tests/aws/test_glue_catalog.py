"""Glue catalog: tables in and out as CatalogEntry, the column limit as data, partitions 100 a call."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from flywheel_lib.aws import glue_catalog as gc
from flywheel_lib.aws.errors import AwsQuotaExceeded
from flywheel_lib.aws.polling import retry_transient
from flywheel_lib.errors import CatalogError
from flywheel_lib.local.catalog import PARQUET_FORMATS, CatalogEntry

LOCATION = "s3://omc-flywheel-data-us-east-1-dev/omc_cleanroom_data/split_part/infobase_attributes/IBE_01"


def entry(name="part_ibe_01", columns=None, run_id="r1", location=f"{LOCATION}/2026-10-31__r1") -> CatalogEntry:
    columns = columns or [("customer_user_id", "string"), ("ibe1802", "string"), ("miacs_arealatitude", "double")]
    return CatalogEntry(name=name, run_id=run_id, dataset="infobase_attributes", source_table=name[5:].upper(),
                        location=location, snapshot_dt="2026-10-31", columns=columns, row_count=20000)


@pytest.fixture
def db(aws, settings):
    assert gc.ensure_database(aws, settings.database_name) is True
    assert gc.ensure_database(aws, settings.database_name) is False
    return settings.database_name


def test_a_table_reads_back_as_the_entry_that_was_written(aws, db):
    written = gc.put_table(aws, db, entry())
    assert written.created and not written.width.over
    assert gc.read_table(aws, db, "part_ibe_01") == entry()


def test_the_glue_table_is_an_external_parquet_table(aws, db):
    gc.put_table(aws, db, entry())
    table = aws.call("glue", "get_table", DatabaseName=db, Name="part_ibe_01")["Table"]
    storage = table["StorageDescriptor"]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["Parameters"]["classification"] == "parquet"
    assert table["Parameters"]["EXTERNAL"] == "TRUE"
    assert table["Parameters"]["flywheel.snapshot_dt"] == "2026-10-31"
    assert table["Parameters"]["flywheel.run_id"] == "r1"
    assert table["PartitionKeys"] == [{"Name": "id_bucket", "Type": "int"}]
    assert storage["SerdeInfo"]["SerializationLibrary"] == PARQUET_FORMATS["serde"]
    assert (storage["InputFormat"], storage["OutputFormat"]) == (PARQUET_FORMATS["input_format"],
                                                                 PARQUET_FORMATS["output_format"])
    assert storage["Location"] == f"{LOCATION}/2026-10-31__r1/"


def test_registering_again_updates_the_table_in_place(aws, db):
    gc.put_table(aws, db, entry())
    newer = entry(run_id="r2", location=f"{LOCATION}/2026-11-30__r2",
                  columns=[("customer_user_id", "string"), ("ibe1802", "bigint")])
    written = gc.put_table(aws, db, newer)
    assert not written.created
    assert gc.read_table(aws, db, "part_ibe_01") == newer
    assert len(aws.call("glue", "get_tables", DatabaseName=db)["TableList"]) == 1


def test_bad_columns_are_refused_all_at_once(aws, db):
    bad = [("customer_user_id", "string"), ("IBE1802", "string"), ("x", "int"), ("x", "int"),
           ("id_bucket", "int")]
    with pytest.raises(CatalogError) as caught:
        gc.put_table(aws, db, entry(columns=bad))
    text = str(caught.value)
    assert "'IBE1802' is not lower-case" in text and "'x' appears 2 times" in text
    assert "'id_bucket' is the partition key" in text and "table part_ibe_01" in text
    assert aws.call("glue", "get_tables", DatabaseName=db)["TableList"] == []


def test_a_table_over_the_clean_rooms_limit_is_registered_whole_and_reported(aws, db):
    columns = [("customer_user_id", "string")] + [(f"ibe{i:04d}", "string") for i in range(100)]
    written = gc.put_table(aws, db, entry("part_miacs_02_a", columns))
    report = written.width
    assert report.over and report.width == 101  # key + 100 attributes; id_bucket is not allowed
    assert report.left_out == ("ibe0099",)
    assert "must leave out ibe0099" in report.sentence()
    assert len(gc.read_table(aws, db, "part_miacs_02_a").columns) == 101


def test_a_table_at_the_limit_is_not_over(aws, db):
    columns = [("customer_user_id", "string")] + [(f"c{i}", "int") for i in range(99)]  # + id_bucket
    report = gc.put_table(aws, db, entry(columns=columns)).width
    assert (report.width, report.over, report.left_out) == (100, False, ())


def _folders(buckets) -> dict[int, str]:
    return {b: f"{LOCATION}/2026-10-31__r1/id_bucket={b}" for b in buckets}


def test_256_partitions_go_in_chunks_of_at_most_100_and_read_back(aws, db):
    written = gc.put_table(aws, db, entry()).entry
    sizes = []
    aws.client("glue").meta.events.register(
        "provide-client-params.glue.BatchCreatePartition", lambda params, **_: sizes.append(len(params["PartitionInputList"])))
    assert gc.create_partitions(aws, db, written, _folders(range(256))) == 256
    assert sizes == [100, 100, 56]
    partitions = gc.get_partitions(aws, db, "part_ibe_01")
    assert list(partitions) == list(range(256))
    assert partitions[7] == f"{LOCATION}/2026-10-31__r1/id_bucket=7"


def test_refused_partitions_fail_naming_table_and_each_partition(aws, db):
    written = gc.put_table(aws, db, entry()).entry
    gc.create_partitions(aws, db, written, _folders([3, 150]))
    with pytest.raises(gc.PartitionsNotCreated) as caught:
        gc.create_partitions(aws, db, written, _folders(range(256)))
    err = caught.value
    assert sorted(err.failures) == [3, 150]
    assert "2 of 256 partitions of omc_flywheel_dev_clean.part_ibe_01 were not created" in str(err)
    assert "id_bucket=3 (AlreadyExistsException" in str(err) and "id_bucket=150" in str(err)
    assert err.table == "part_ibe_01"
    assert len(gc.get_partitions(aws, db, "part_ibe_01")) == 256  # the others went in


def test_get_partitions_follows_next_token(aws, db):
    def page(buckets, token=None):
        response = {"Partitions": [{"Values": [str(b)], "StorageDescriptor": {"Location": f"s3://b/t/id_bucket={b}/"}}
                                   for b in buckets]}
        return {**response, "NextToken": token} if token else response

    with Stubber(aws.client("glue")) as stub:  # moto answers in one page; AWS pages
        stub.add_response("get_partitions", page(range(0, 150), "t1"), {"DatabaseName": db, "TableName": "t"})
        stub.add_response("get_partitions", page(range(150, 256)),
                          {"DatabaseName": db, "TableName": "t", "NextToken": "t1"})
        partitions = gc.get_partitions(aws, db, "t")
    assert list(partitions) == list(range(256)) and partitions[200] == "s3://b/t/id_bucket=200"


def test_a_table_not_written_by_flywheel_reads_with_blanks(aws, db):
    aws.call("glue", "create_table", DatabaseName=db, TableInput={
        "Name": "other", "StorageDescriptor": {"Columns": [{"Name": "a", "Type": "int"}], "Location": "s3://b/o/"}})
    other = gc.read_table(aws, db, "other")
    assert (other.run_id, other.row_count, other.partition_keys, other.state) == ("", -1, [], "unknown")
    assert other.location == "s3://b/o"


@pytest.mark.parametrize(("existing", "operation", "quota"), [
    (False, "create_table", "tables per database, tables per account"),
    (True, "update_table", "table versions per table, table versions per account"),
])
def test_a_used_up_catalog_quota_fails_at_once_naming_it(aws, db, existing, operation, quota):
    # CreateTable and UpdateTable list ResourceNumberLimitExceededException (glue model): a count, not a rate
    waits = []
    with Stubber(aws.client("glue")) as stub:
        if existing:
            stub.add_client_error("create_table", "AlreadyExistsException", "Table already exists", 400)
        stub.add_client_error(operation, "ResourceNumberLimitExceededException", "Number limit exceeded", 400)
        with pytest.raises(AwsQuotaExceeded) as caught:
            retry_transient(lambda: gc.put_table(aws, db, entry()), attempts=3, first=1, cap=1, sleep=waits.append)
    assert waits == [] and not caught.value.retryable
    text = str(caught.value)
    assert f"the Glue quota used up is one of: {quota}" in text and "table part_ibe_01" in text
    assert "Retrying will not help" in text


def test_a_used_up_partition_quota_fails_naming_it(aws, db):
    gc.put_table(aws, db, entry())
    with Stubber(aws.client("glue")) as stub:
        stub.add_client_error("batch_create_partition", "ResourceNumberLimitExceededException", "limit", 400)
        with pytest.raises(AwsQuotaExceeded, match="partitions per table, partitions per account"):
            gc.create_partitions(aws, db, entry(), {0: f"{LOCATION}/2026-10-31__r1/id_bucket=0"})
