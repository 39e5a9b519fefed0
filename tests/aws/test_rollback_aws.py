"""Rollback on Glue: the earlier definition comes from Glue's table versions, partitions from S3, and the
switch is publishing's all-or-nothing one; a pruned version is refused before anything switches."""

from __future__ import annotations

import pytest

from flywheel_lib.aws import glue_catalog, publishing
from flywheel_lib.aws.backend import AwsBackend
from flywheel_lib.errors import CatalogError
from flywheel_lib.local.catalog import CatalogEntry

ROOT = "s3://omc-flywheel-data-us-east-1-dev/omc_cleanroom_data/split_part/infobase_attributes"
TABLES = ("part_ibe_01", "part_ibe_02")


def version(aws, name: str, snapshot_dt: str, run_id: str) -> tuple[CatalogEntry, dict[int, str]]:
    location = f"{ROOT}/{name[5:].upper()}/{snapshot_dt}__{run_id}"
    for b in range(256):
        key = f"{location[len('s3://omc-flywheel-data-us-east-1-dev/'):]}/id_bucket={b}/part-0.parquet"
        aws.call("s3", "put_object", Bucket="omc-flywheel-data-us-east-1-dev", Key=key, Body=b"PAR1")
    entry = CatalogEntry(name=name, run_id=run_id, dataset="infobase_attributes", source_table=name[5:].upper(),
                         location=location, snapshot_dt=snapshot_dt, columns=[("customer_user_id", "string")],
                         row_count=1)
    return entry, {b: f"{location}/id_bucket={b}" for b in range(256)}


@pytest.fixture
def october_over_september(aws, bucket, settings):
    glue_catalog.ensure_database(aws, settings.database_name)
    for snapshot_dt, run_id in (("2026-09-30", "sep"), ("2026-10-31", "oct")):
        publishing.publish_all(aws, settings.database_name, [version(aws, n, snapshot_dt, run_id) for n in TABLES])
    return AwsBackend(settings, aws=aws, sleep=lambda _: None)


def serving(aws, settings) -> dict:
    return {e.name: (e.run_id, {url.split("/")[-2] for url in glue_catalog.get_partitions(
        aws, settings.database_name, e.name).values()}) for e in publishing.catalog_entries(aws, settings.database_name)}


def test_serve_again_switches_every_table_and_partition_back(aws, settings, october_over_september):
    october_over_september.serve_again([{"name": n, "run_id": "sep", "location": f"{ROOT}/{n[5:].upper()}/2026-09-30__sep"}
                                        for n in TABLES])
    assert serving(aws, settings) == {n: ("sep", {"2026-09-30__sep"}) for n in TABLES}


def test_a_pruned_version_is_refused_and_nothing_switches(aws, settings, october_over_september):
    gone = f"{ROOT}/IBE_02/2026-09-30__sep"
    prefix = gone[len("s3://omc-flywheel-data-us-east-1-dev/"):]
    for b in range(256):
        aws.call("s3", "delete_object", Bucket="omc-flywheel-data-us-east-1-dev", Key=f"{prefix}/id_bucket={b}/part-0.parquet")
    with pytest.raises(CatalogError, match="part_ibe_02 of run sep was pruned"):
        october_over_september.serve_again(
            [{"name": n, "run_id": "sep", "location": f"{ROOT}/{n[5:].upper()}/2026-09-30__sep"} for n in TABLES])
    assert serving(aws, settings) == {n: ("oct", {"2026-10-31__oct"}) for n in TABLES}
