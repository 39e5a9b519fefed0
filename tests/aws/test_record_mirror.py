"""The run record's copy in S3: made at every manifest write, verified like files, listed, failures survived."""

from __future__ import annotations

import io

import pytest

from flywheel_lib import record_mirror, records, review
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
    assert data["mirror"] == {"location": COPY + "/", "copied": 5, "failed": {}}
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
