"""Backends for the shared contract tests: each promise is written once and run on local and on AWS (moto)."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from flywheel_lib import gate
from flywheel_lib.aws import glue_catalog, readiness
from flywheel_lib.aws.athena import Athena
from flywheel_lib.aws.session import AwsClients
from flywheel_lib.bucketing import id_bucket
from flywheel_lib.config import load_settings
from flywheel_lib.local.catalog import CatalogEntry
from flywheel_lib.local.profile import key_counts

from aws.conftest import write_profile
from aws.fake_aws import FakeAthena

TABLE = "part_ibe_01"


def table_files(keys: list, secret: list) -> dict[int, bytes]:
    """Per id_bucket, one Parquet file of the rows whose key falls in it (with another column)."""
    rows: dict[int, list] = {b: [] for b in range(256)}
    for key, other in zip(keys, secret):
        rows[id_bucket(key)].append((key, other))
    files = {}
    for bucket, pairs in rows.items():
        buffer = io.BytesIO()
        pq.write_table(pa.table({"customer_user_id": pa.array([k for k, _ in pairs], pa.string()),
                                 "ibe1802": pa.array([o for _, o in pairs], pa.string())}), buffer)
        files[bucket] = buffer.getvalue()
    return files


class LocalMeasure:
    def __init__(self, root: Path):
        self.root = root

    def key_checks(self, keys: list, secret: list):
        for bucket, data in table_files(keys, secret).items():
            folder = self.root / TABLE / f"id_bucket={bucket}"
            folder.mkdir(parents=True)
            (folder / "part-0.parquet").write_bytes(data)
        return gate.key_checks(TABLE, key_counts(sorted(self.root.glob(f"{TABLE}/id_bucket=*/*.parquet"))))


class AwsMeasure:
    def __init__(self, aws, settings):
        self.aws, self.settings = aws, settings
        self.athena = Athena(aws, settings, sleep=lambda _: None)

    def key_checks(self, keys: list, secret: list):
        bucket = f"omc-flywheel-data-us-east-1-{self.settings.env}"
        location = f"s3://{bucket}/omc_cleanroom_data/split_part/infobase_attributes/IBE_01/2026-10-01__r1"
        for b, data in table_files(keys, secret).items():
            self.aws.call("s3", "put_object", Bucket=bucket, Key=f"{location[len(bucket) + 6:]}/id_bucket={b}/part-0.parquet",
                          Body=data)
        entry = CatalogEntry(name=TABLE, run_id="r1", dataset="infobase_attributes", source_table="IBE_01",
                             location=location, snapshot_dt="2026-10-01",
                             columns=[("customer_user_id", "string"), ("ibe1802", "string")], row_count=len(keys))
        database = self.settings.staging_database
        glue_catalog.ensure_database(self.aws, database)
        glue_catalog.put_table(self.aws, database, entry)
        glue_catalog.create_partitions(self.aws, database, entry, {b: f"{location}/id_bucket={b}" for b in range(256)})
        counts = readiness.key_counts(self.athena, database, [TABLE])[TABLE]
        return gate.key_checks(TABLE, counts)


@pytest.fixture(params=["local", "aws"])
def measure(request, tmp_path, monkeypatch):
    """Each backend's own measurement of a staged table's keys (DuckDB locally, Athena's statement on AWS)."""
    if request.param == "local":
        yield LocalMeasure(tmp_path)
        return
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    files = (tmp_path / "aws_config", tmp_path / "aws_credentials")
    for path, variable in zip(files, ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")):
        path.write_text("")
        monkeypatch.setenv(variable, str(path))
    write_profile(files, "flywheel-dev")
    settings = load_settings("dev", environ={})
    with mock_aws():
        FakeAthena().install(monkeypatch)
        aws = AwsClients(settings)
        for bucket in ("omc-flywheel-data-us-east-1-dev", "omc-flywheel-dev-analysis-data"):
            aws.call("s3", "create_bucket", Bucket=bucket)
        yield AwsMeasure(aws, settings)
