"""Snapshot discovery on S3: the same rules and types as the local discovery."""

from __future__ import annotations

import pytest

from flywheel_lib.aws.s3_snapshots import find_snapshot, resolve_snapshots
from flywheel_lib.snapshots import dates_in_month
from flywheel_lib.errors import SnapshotError
from flywheel_lib.snapshots import RawFile, Snapshot, SnapshotPair

BUCKET = "omc-flywheel-data-us-east-1-dev"


@pytest.fixture
def deliver(aws):
    """A raw snapshot as upstream delivers it to the dev data bucket."""
    aws.call("s3", "create_bucket", Bucket=BUCKET)

    def deliver(dataset: str, snapshot_dt: str, files=("part-00000.parquet",)) -> str:
        folder = f"opus/{dataset}/raw_input/snapshot_dt={snapshot_dt}"
        for name in files:
            aws.call("s3", "put_object", Bucket=BUCKET, Key=f"{folder}/{name}", Body=b"PAR1 raw PAR1")
        return f"s3://{BUCKET}/{folder}"

    return deliver


def test_the_latest_snapshot_inside_the_month_is_chosen(aws, settings, deliver):
    for dt in ("2026-09-30", "2026-10-01", "2026-10-15", "2026-11-01"):
        deliver("addressable_ids", dt)
    location = deliver("addressable_ids", "2026-10-15", ("part-00001.parquet",))
    snapshot = find_snapshot(aws, settings.raw_root("addressable_ids"), "addressable_ids", "2026-10")
    assert snapshot == Snapshot("addressable_ids", "2026-10-15", location, (
        RawFile(f"{location}/part-00000.parquet", 13), RawFile(f"{location}/part-00001.parquet", 13)))
    assert snapshot.glob == f"{location}/*.parquet"


def test_a_date_folder_without_parquet_is_skipped(aws, settings, deliver):
    deliver("addressable_ids", "2026-10-01")
    deliver("addressable_ids", "2026-10-20", ("_SUCCESS", "nested/part-0.parquet"))
    snapshot = find_snapshot(aws, settings.raw_root("addressable_ids"), "addressable_ids", "2026-10")
    assert snapshot.snapshot_dt == "2026-10-01"


def test_a_month_without_snapshot_names_what_there_is(aws, settings, deliver):
    deliver("addressable_ids", "2026-09-30")
    with pytest.raises(SnapshotError, match=r"no addressable_ids snapshot .* for 2026-10 \(latest folders: 2026-09-30\)"):
        find_snapshot(aws, settings.raw_root("addressable_ids"), "addressable_ids", "2026-10")


def test_a_folder_that_is_not_a_date_is_refused(aws, settings, deliver):
    deliver("addressable_ids", "2026-10-32")
    with pytest.raises(SnapshotError, match="snapshot_dt=2026-10-32 is not a real date"):
        find_snapshot(aws, settings.raw_root("addressable_ids"), "addressable_ids", "2026-10")


def test_both_datasets_must_agree(aws, settings, deliver):
    deliver("addressable_ids", "2026-10-31")
    deliver("infobase_attributes", "2026-10-30")
    with pytest.raises(SnapshotError, match="snapshot dates differ: addressable_ids 2026-10-31, "
                                            "infobase_attributes 2026-10-30"):
        resolve_snapshots(aws, settings, "2026-10")
    pair = resolve_snapshots(aws, settings, "2026-10", allow_mismatch=True)
    assert isinstance(pair, SnapshotPair) and pair.mismatch_allowed
    assert pair.of("infobase_attributes").snapshot_dt == "2026-10-30"


def test_an_agreeing_pair_is_recorded_like_a_local_one(aws, settings, deliver):
    deliver("addressable_ids", "2026-10-31")
    deliver("infobase_attributes", "2026-10-31", ("a.parquet", "b.parquet"))
    record = resolve_snapshots(aws, settings, "2026-10").as_record()
    files = record["datasets"]["infobase_attributes"]["files"]
    assert [f["path"].rsplit("/", 1)[-1] for f in files] == ["a.parquet", "b.parquet"]
    assert record["datasets"]["addressable_ids"]["location"].startswith("s3://")


def test_dates_in_month_is_pure_and_checks_the_month():
    assert dates_in_month(["2026-10-15", "2026-09-30", "2026-10-01"], "2026-10") == ["2026-10-01", "2026-10-15"]
    with pytest.raises(SnapshotError, match="is not YYYY-MM"):
        dates_in_month([], "2026-13")
