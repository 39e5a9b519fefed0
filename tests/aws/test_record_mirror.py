"""The run record's copy in S3: made at every manifest write, verified like files, listed, failures survived."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest

from flywheel_lib import record_mirror, records, review
from flywheel_lib.aws.errors import AwsPermissionError
from flywheel_lib.config import load_settings
from flywheel_lib.errors import RunError

ANALYSIS = "omc-flywheel-dev-analysis-data"
MONTH, RUN = "2026-10", "20261101T020000Z"
COPY = f"s3://{ANALYSIS}/runs/{MONTH}/{RUN}"


@pytest.fixture
def dev(tmp_path):
    return load_settings("dev", environ={"FLYWHEEL_RUNS_DIR": str(tmp_path / "runs")})


@pytest.fixture
def run_dir(dev):
    folder = records.Path(dev.runs_dir) / MONTH / RUN
    (folder / "addr_part").mkdir(parents=True)
    (folder / "addr_part.ipynb").write_text('{"cells": []}')
    (folder / "addr_part" / "checks.csv").write_text("table,ok\npart_x,true\n")
    return folder


def manifest() -> dict:
    return {"run_id": RUN, "month": MONTH, "status": "running", "started_at": "2026-11-01T02:00:00+00:00",
            "stages": {}}


def keys(aws, prefix: str) -> set[str]:
    response = aws.call("s3", "list_objects_v2", Bucket=ANALYSIS, Prefix=prefix)
    return {o["Key"][len(prefix):] for o in response.get("Contents", [])}


def put(aws, name: str, body: bytes) -> None:
    aws.call("s3", "put_object", Bucket=ANALYSIS, Key=f"runs/{MONTH}/{RUN}/{name}", Body=body)


@pytest.fixture
def mirrored(aws, dev, run_dir):
    aws.call("s3", "create_bucket", Bucket=ANALYSIS)
    data = manifest()
    records.write_manifest(run_dir, data)
    mirror = record_mirror.start(dev, run_dir, data, io.StringIO())
    yield mirror, data
    mirror.close()


def test_every_manifest_write_copies_what_changed(aws, run_dir, mirrored):
    mirror, data = mirrored
    assert keys(aws, f"runs/{MONTH}/{RUN}/") == {"addr_part.ipynb", "addr_part/checks.csv", "index.html",
                                                  "manifest.json"}
    (run_dir / "addr_part.html").write_text("<p>ran</p>")
    data["status"] = "succeeded"
    records.write_manifest(run_dir, data)
    assert "addr_part.html" in keys(aws, f"runs/{MONTH}/{RUN}/")
    assert record_mirror.verify(aws, COPY) == []
    assert data["mirror"] == {"location": COPY + "/", "copied": 5, "failed": {}, "lock": None}
    assert mirror.location_text() == f"run record: {COPY}/ (copy of {run_dir})"


def test_verify_s3_reports_an_edited_a_missing_and_an_unexpected_object(aws, mirrored):
    put(aws, "addr_part/checks.csv", b"table,ok\npart_x,false\n")
    aws.call("s3", "delete_object", Bucket=ANALYSIS, Key=f"runs/{MONTH}/{RUN}/addr_part.ipynb")
    put(aws, "extra.txt", b"slipped in")
    assert record_mirror.verify(aws, COPY + "/") == [
        "missing: addr_part.ipynb", "changed: addr_part/checks.csv", "unexpected: extra.txt"]


def test_verify_of_a_location_without_a_record_is_an_error(aws, mirrored):
    with pytest.raises(RunError, match="manifest.json not found"):
        record_mirror.verify(aws, f"s3://{ANALYSIS}/runs/{MONTH}/nothing-here")


def test_a_failed_copy_never_fails_the_run_is_recorded_and_the_next_run_copies_it(aws, dev, run_dir):
    data, out = manifest(), io.StringIO()
    records.write_manifest(run_dir, data)
    mirror = record_mirror.start(dev, run_dir, data, out)  # the analysis bucket does not exist
    records.write_manifest(run_dir, data)
    assert set(data["mirror"]["failed"]) >= {"addr_part.ipynb", "manifest.json"}
    assert "NoSuchBucket" in data["mirror"]["failed"]["manifest.json"]
    text = mirror.location_text()
    assert text.startswith("warning: ") and str(run_dir) in text and "next run of the month copies" in text
    mirror.close()
    assert "were not copied" in out.getvalue()
    assert records.read_manifest(run_dir)["mirror"]["failed"]  # the local manifest says so too

    aws.call("s3", "create_bucket", Bucket=ANALYSIS)
    put(aws, "attempt-9/gone.ipynb", b"left by an earlier process")
    later = record_mirror.start(dev, run_dir, records.read_manifest(run_dir), io.StringIO())
    review.write_runs_page(dev.runs_dir, records.list_runs(dev.runs_dir))
    later.close()
    assert record_mirror.verify(aws, COPY) == []  # everything copied, the stray copy removed
    assert "index.html" in keys(aws, "runs/")  # the runs page too


def test_list_s3_shows_the_copied_runs_and_a_dead_running_one_as_interrupted(aws, mirrored, capsys):
    runs = record_mirror.list_runs(aws, f"s3://{ANALYSIS}/runs")
    assert [(r["month"], r["run_id"], r["status"]) for r in runs] == [(MONTH, RUN, "interrupted")]
    assert runs[0]["path"] == COPY


# ---- a bucket with S3 Object Lock ----------------------------------------------------------

def lock_of(aws, name: str, version: str | None = None) -> tuple[str | None, datetime | None]:
    params = {"VersionId": version} if version else {}
    head = aws.call("s3", "head_object", Bucket=ANALYSIS, Key=f"runs/{MONTH}/{RUN}/{name}", **params)
    return head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")


def start_locked(aws, dev, run_dir, default_rule: dict | None = None):
    aws.call("s3", "create_bucket", Bucket=ANALYSIS, ObjectLockEnabledForBucket=True)
    if default_rule:  # moto wants the bucket empty for this, as a new bucket is
        aws.call("s3", "put_object_lock_configuration", Bucket=ANALYSIS, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": default_rule}})
    data = manifest()
    records.write_manifest(run_dir, data)
    return record_mirror.start(dev, run_dir, data, io.StringIO()), data


def test_a_locked_bucket_without_a_default_rule_gets_every_copy_locked_by_us(aws, dev, run_dir, monkeypatch):
    # Our checksum is explicit: moto, like S3, refuses a locked PutObject without one.
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
    # 9 MB, above the multipart threshold: moto 5.2.5 drops the lock of a multipart upload, so this
    # shows a locked copy goes in one PutObject.
    (run_dir / "big.html").write_bytes(b"<p>" * (3 * 1024 * 1024))
    started = datetime.now(timezone.utc)
    mirror, data = start_locked(aws, dev, run_dir)
    data["status"] = "succeeded"
    records.write_manifest(run_dir, data)

    names = keys(aws, f"runs/{MONTH}/{RUN}/")
    assert "big.html" in names and "manifest.json" in names
    for name in names:
        mode, until = lock_of(aws, name)
        assert mode == "GOVERNANCE", name
        assert started + timedelta(days=400) - timedelta(minutes=1) < until < started + timedelta(days=401)
    lock = data["mirror"]["lock"]
    assert lock["by"] == "flywheel" and lock["mode"] == "GOVERNANCE"
    assert lock["retain_until"][:10] == (started + timedelta(days=400)).date().isoformat()
    assert f"locked until {lock['retain_until'][:10]} (GOVERNANCE)" in mirror.location_text()

    # Each manifest write left a version, each locked; moto, like S3, refuses to delete one by id.
    versions = aws.call("s3", "list_object_versions", Bucket=ANALYSIS,
                        Prefix=f"runs/{MONTH}/{RUN}/manifest.json")["Versions"]
    assert len(versions) >= 2
    assert all(lock_of(aws, "manifest.json", v["VersionId"])[0] == "GOVERNANCE" for v in versions)
    with pytest.raises(AwsPermissionError):
        aws.call("s3", "delete_object", Bucket=ANALYSIS, Key=f"runs/{MONTH}/{RUN}/manifest.json",
                 VersionId=versions[-1]["VersionId"])
    mirror.close()


def test_a_stale_copy_in_a_locked_bucket_gets_a_delete_marker_which_is_no_failure(aws, dev, run_dir):
    mirror, data = start_locked(aws, dev, run_dir)
    (run_dir / "addr_part" / "checks.csv").rename(run_dir / "addr_part" / "checks_v2.csv")
    records.write_manifest(run_dir, data)
    assert data["mirror"]["failed"] == {}
    assert "addr_part/checks.csv" not in keys(aws, f"runs/{MONTH}/{RUN}/")
    old = aws.call("s3", "list_object_versions", Bucket=ANALYSIS, Prefix=f"runs/{MONTH}/{RUN}/addr_part/checks.csv")
    assert [m["IsLatest"] for m in old["DeleteMarkers"]] == [True] and len(old["Versions"]) == 1  # kept, locked
    assert record_mirror.verify(aws, COPY) == []
    mirror.close()


def test_a_bucket_default_rule_locks_the_copies_and_the_manifest_says_so(aws, dev, run_dir):
    mirror, data = start_locked(aws, dev, run_dir, default_rule={"Mode": "COMPLIANCE", "Days": 30})
    assert data["mirror"]["lock"] == {"by": "bucket default", "mode": "COMPLIANCE", "period": "30 days"}
    for name in keys(aws, f"runs/{MONTH}/{RUN}/"):
        mode, until = lock_of(aws, name)
        assert mode == "COMPLIANCE" and until > datetime.now(timezone.utc) + timedelta(days=29), name
    assert "locked by the bucket's default retention (COMPLIANCE, 30 days)" in mirror.location_text()
    mirror.close()


def test_verify_s3_names_the_objects_of_a_locked_bucket_that_are_not_under_retention(aws, dev, run_dir):
    mirror, _ = start_locked(aws, dev, run_dir)
    put(aws, "extra.txt", b"slipped in, unlocked")
    assert record_mirror.verify(aws, COPY) == ["unexpected: extra.txt", "not under retention: extra.txt"]
    mirror.close()
