"""Interactive notebook runs on dev publish only on purpose and only while nobody holds the month; they
leave a record. (The same, through a real notebook and catalog: tests/aws/test_refresh_on_aws.py.)"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from flywheel_lib.aws.s3_lock import S3RunLock, lock_url, read_lock
from flywheel_lib.errors import RunError, RunLocked
from flywheel_lib.interactive import publishing
from flywheel_lib.local.catalog import CatalogEntry

ANALYSIS = "omc-flywheel-dev-analysis-data"
MONTH = "2026-10"


def entry(name: str, run_id: str, snapshot_dt: str) -> CatalogEntry:
    return CatalogEntry(name, run_id, "addressable_ids", "addressable_ids", f"s3://b/{name}/{run_id}",
                        snapshot_dt, [("customer_user_id", "string")], 10, state="published")


@dataclass
class Catalog:
    """What the gate reads of a backend: the published entries, changed by the body of the `with`."""

    entries: list = field(default_factory=lambda: [entry("part_addressable_ids_er", "20261001T020000Z", "2026-09-30")])

    def published(self):
        return list(self.entries)


@dataclass
class Ctx:
    settings: object
    run_id: str
    backend: Catalog = field(default_factory=Catalog)
    stage: str = "er_table"
    month: str = MONTH


@pytest.fixture
def dev(aws, tmp_path):
    from flywheel_lib.config import load_settings

    aws.call("s3", "create_bucket", Bucket=ANALYSIS)
    return load_settings("dev", environ={"FLYWHEEL_RUNS_DIR": str(tmp_path / "runs")})


def test_an_interactive_run_does_not_publish_unless_asked(dev):
    ran = []
    with pytest.raises(RunError, match="does not change what the catalog serves") as caught:
        with publishing(Ctx(dev, "interactive"), allowed=False):
            ran.append(True)
    assert ran == [] and "publish = True" in str(caught.value)


def test_an_interactive_run_cannot_publish_while_a_run_holds_the_month(aws, dev):
    ran = []
    with S3RunLock(aws, lock_url(dev, MONTH), MONTH, "20261101T020000Z", out=io.StringIO()):
        with pytest.raises(RunLocked, match="holds the lock: run 20261101T020000Z"):
            with publishing(Ctx(dev, "interactive"), allowed=True):
                ran.append(True)
        with pytest.raises(RunLocked, match="run 20261101T020000Z"):  # nor another driver run's notebook
            with publishing(Ctx(dev, "20261101T030000Z"), allowed=False):
                ran.append(True)
        with publishing(Ctx(dev, "20261101T020000Z")):  # the holder's own notebooks publish
            ran.append("holder")
    assert ran == ["holder"]


def test_what_an_interactive_run_changed_is_recorded_beside_the_runs(aws, dev, capsys):
    ctx = Ctx(dev, "interactive")
    with publishing(ctx, allowed=True):
        assert read_lock(aws, lock_url(dev, MONTH))[0]["notebook"] == "er_table"  # it holds the month
        ctx.backend.entries = [entry("part_addressable_ids_er", "interactive", "2026-09-30")]
    assert read_lock(aws, lock_url(dev, MONTH))[0] is None
    keys = [o["Key"] for o in aws.call("s3", "list_objects_v2", Bucket=ANALYSIS,
                                       Prefix=f"runs/{MONTH}/interactive/")["Contents"]]
    assert len(keys) == 1 and keys[0].endswith("-er_table.json")
    record = json.loads(aws.call("s3", "get_object", Bucket=ANALYSIS, Key=keys[0])["Body"].read())
    assert record["notebook"] == "er_table" and record["outcome"] == "succeeded" and record["user"]
    assert [c["table"] for c in record["changed"]] == ["part_addressable_ids_er"]
    change = record["changed"][0]
    assert change["before"]["run_id"] == "20261001T020000Z" and change["after"]["run_id"] == "interactive"
    local = list(Path(dev.runs_dir).glob(f"{MONTH}/interactive/*.json"))
    assert len(local) == 1 and json.loads(local[0].read_text()) == record
    assert "1 served table(s) changed" in capsys.readouterr().out
