"""Retention on S3 removes `.tmp-` folders a crashed run left over a day ago; younger ones stay."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flywheel_lib import leftovers


def test_s3_leftovers_older_than_a_day_go(aws, bucket):
    root = f"s3://{bucket}/omc_cleanroom_data/split_part/infobase_attributes"
    for key in ("IBE_01/.tmp-empty-2026-09-30__r1/id_bucket=0/x.parquet",
                "IBE_01/2026-09-30__r1/id_bucket=0/x.parquet"):
        aws.call("s3", "put_object", Bucket=bucket, Key=f"omc_cleanroom_data/split_part/infobase_attributes/{key}",
                 Body=b"x")
    assert leftovers.remove_s3(aws, [root]) == []  # written just now
    tomorrow = datetime.now(timezone.utc) + timedelta(days=1, minutes=1)
    assert leftovers.remove_s3(aws, [root], now=tomorrow) == [f"{root}/IBE_01/.tmp-empty-2026-09-30__r1"]
    left = aws.call("s3", "list_objects_v2", Bucket=bucket)["Contents"]
    assert [o["Key"].split("/")[-3] for o in left] == ["2026-09-30__r1"]
