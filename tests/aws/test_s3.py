"""S3 listing (paginated), bucket folders, markers, uploads."""

from __future__ import annotations

import json

import pytest

from flywheel_lib.aws import s3
from flywheel_lib.errors import FlywheelError

BUCKET = "omc-flywheel-data-us-east-1-dev"
TABLES = f"s3://{BUCKET}/omc_cleanroom_data/split_part/infobase_attributes"


def put(aws, key: str, body: bytes = b"x") -> None:
    aws.call("s3", "put_object", Bucket=BUCKET, Key=key, Body=body)


def test_listing_follows_every_page(aws, bucket):
    client = aws.client("s3")
    for i in range(1100):  # S3 answers at most 1,000 keys a call
        client.put_object(Bucket=BUCKET, Key=f"many/part-{i:05d}.parquet", Body=b"")
    pages = list(aws.pages("s3", "list_objects_v2", Bucket=BUCKET, Prefix="many/"))
    assert len(pages) == 2
    found = s3.find(aws, f"s3://{BUCKET}/many", ".parquet")
    assert len(found) == 1100
    assert found[-1].url == f"s3://{BUCKET}/many/part-01099.parquet"


def test_find_keeps_to_the_folder_and_the_suffix(aws, bucket):
    for key in ("t/IBE_01/a.parquet", "t/IBE_01/sub/b.parquet", "t/IBE_01/_SUCCESS", "t/IBE_01_A/c.parquet"):
        put(aws, key, b"12345")
    assert [o.name for o in s3.find(aws, f"s3://{BUCKET}/t/IBE_01", ".parquet")] == ["a.parquet", "b.parquet"]
    direct = s3.find(aws, f"s3://{BUCKET}/t/IBE_01/", ".parquet", recursive=False)
    assert [(o.name, o.size) for o in direct] == [("a.parquet", 5)]


def test_bucket_prefixes_of_a_table_location(aws, bucket):
    location = f"{TABLES}/IBE_01/2026-10-31__r1"
    for b in (0, 1, 2, 10, 255):
        put(aws, f"{s3.split_url(location)[1]}/id_bucket={b}/part-0.parquet")
    put(aws, f"{s3.split_url(location)[1]}/_flywheel.json")
    put(aws, f"{s3.split_url(location)[1]}/other=1/x.parquet")
    found = s3.bucket_prefixes(aws, location)
    assert list(found) == [0, 1, 2, 10, 255]
    assert found[10] == f"{location}/id_bucket=10"


def test_all_256_bucket_folders_are_found(aws, bucket):
    client = aws.client("s3")
    key = "omc_cleanroom_data/split_part/addressable_ids/ADDRESSABLE_IDS/2026-10-31__r1"
    for b in range(256):
        client.put_object(Bucket=BUCKET, Key=f"{key}/id_bucket={b}/part-0.parquet", Body=b"")
    assert list(s3.bucket_prefixes(aws, f"s3://{BUCKET}/{key}")) == list(range(256))


def test_a_marker_is_written_and_read_back(aws, bucket):
    url = f"{TABLES}/IBE_01/2026-10-31__r1/_flywheel.json"
    s3.write_json(aws, url, {"snapshot_dt": "2026-10-31", "rows": 20000})
    assert s3.read_json(aws, url) == {"rows": 20000, "snapshot_dt": "2026-10-31"}
    head = aws.call("s3", "head_object", Bucket=BUCKET, Key=s3.split_url(url)[1])
    assert head["ContentType"] == "application/json"
    assert s3.read_json(aws, f"{TABLES}/IBE_01/none/_flywheel.json") is None


def test_a_local_file_is_uploaded(aws, bucket, tmp_path):
    report = tmp_path / "data_monitor_report.json"
    report.write_text(json.dumps({"alerts": []}))
    url = f"s3://{BUCKET}/reports/2026-10/data_monitor_report.json"
    uploaded = s3.upload_file(aws, report, url)
    assert uploaded.size == report.stat().st_size
    assert s3.read_json(aws, url) == {"alerts": []}


@pytest.mark.parametrize("url", ["s3://Bad_Bucket/x", "/local/path", "s3:/missing"])
def test_a_location_that_is_not_s3_is_refused(url):
    with pytest.raises(FlywheelError, match="is not an s3://bucket/key location"):
        s3.split_url(url)


def test_uploading_to_a_missing_bucket_is_not_found(aws, tmp_path):
    from flywheel_lib.aws.errors import AwsNotFound

    (tmp_path / "f.csv").write_text("a\n")
    with pytest.raises(AwsNotFound, match="NoSuchBucket"):
        s3.upload_file(aws, tmp_path / "f.csv", "s3://missing-bucket/f.csv")
