"""Preflight on S3: the raw files' footers are read by ranged GET (no whole object), and a snapshot
without the key or a mapping column is refused before any stage or Glue job, naming the object."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flywheel_lib import preflight
from flywheel_lib.errors import SnapshotError
from flywheel_lib.mapping import load_mapping
from flywheel_lib.synthetic import snapshot_dir, write_snapshot

BUCKET = "omc-flywheel-data-us-east-1-dev"
MAPPING = Path(__file__).resolve().parent.parent / "fixtures" / "engine_mapping.csv"


@pytest.fixture
def on_s3(aws, bucket, settings, tmp_path, monkeypatch):
    """A month delivered to the dev bucket; every S3 GetObject call's parameters are kept."""
    write_snapshot(tmp_path, "2026-10-31", 60, seed=4, mapping=load_mapping(MAPPING), files=2)
    gets, real_call = [], aws.call

    def upload(damage=None):
        for dataset in ("addressable_ids", "infobase_attributes"):
            for path in sorted(snapshot_dir(tmp_path, dataset, "2026-10-31").glob("*.parquet")):
                if damage and dataset == damage[0]:
                    pq.write_table(damage[1](pq.read_table(path)), path)
                key = f"opus/{dataset}/raw_input/snapshot_dt=2026-10-31/{path.name}"
                aws.call("s3", "put_object", Bucket=BUCKET, Key=key, Body=path.read_bytes())

    def call(service, method, /, **params):
        if (service, method) == ("s3", "get_object"):
            gets.append(params)
        return real_call(service, method, **params)

    monkeypatch.setattr(type(aws), "call", lambda self, *a, **k: call(*a, **k), raising=True)
    return replace(settings, mapping_path=str(MAPPING)), upload, gets


def test_footers_are_read_by_ranged_get_only(on_s3):
    settings, upload, gets = on_s3
    upload()
    assert preflight.checked_snapshots(settings, "2026-10").addressable.snapshot_dt == "2026-10-31"
    assert gets and all(g.get("Range", "").startswith("bytes=") for g in gets)


def test_a_snapshot_without_the_key_column_is_refused_naming_the_object(on_s3):
    settings, upload, _ = on_s3
    upload(("addressable_ids", lambda t: t.rename_columns(["cust" if c == "Customer_User_id" else c
                                                          for c in t.column_names])))
    with pytest.raises(SnapshotError, match="lacks the key column Customer_User_id") as err:
        preflight.checked_snapshots(settings, "2026-10")
    assert err.value.path.startswith(f"s3://{BUCKET}/opus/addressable_ids/raw_input/snapshot_dt=2026-10-31/")


def test_a_snapshot_without_a_mapping_column_is_refused_naming_it(on_s3):
    settings, upload, _ = on_s3
    upload(("infobase_attributes", lambda t: t.drop_columns(["NB_Flag"])))
    with pytest.raises(SnapshotError, match="lacks mapping column\\(s\\) NB_Flag"):
        preflight.checked_snapshots(settings, "2026-10")
