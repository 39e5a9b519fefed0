"""The run record: manifest contents, checksums, verify, no secrets, recorded values."""

from __future__ import annotations

import hashlib
import math
import shutil
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flywheel_lib import records
from flywheel_lib.errors import FlywheelError
from flywheel_lib.scraps import to_json_value


@pytest.fixture
def record_copy(finished_toy, tmp_path):
    """A copy of the finished run's record that a test may damage."""
    target = tmp_path / finished_toy.outcome.run_dir.name
    shutil.copytree(finished_toy.outcome.run_dir, target)
    return target


def test_manifest_says_what_ran_on_what(finished_toy):
    run_dir = finished_toy.outcome.run_dir
    manifest = records.read_manifest(run_dir)
    assert manifest["run_id"] == run_dir.name and manifest["month"] == "2026-10"
    assert manifest["status"] == "succeeded" and manifest["env"] == "local"
    assert manifest["duration_s"] > 0 and manifest["ended_at"] > manifest["started_at"]
    assert manifest["parameters"] == {"month": "2026-10", "run_id": run_dir.name,
                                      "env": "local", "allow_snapshot_mismatch": False}
    assert manifest["settings"]["runs_dir"] == finished_toy.settings.runs_dir
    dataset = manifest["snapshots"]["datasets"]["addressable_ids"]
    assert dataset["snapshot_dt"] == "2026-10-01"
    assert dataset["files"][0]["size"] == Path(dataset["files"][0]["path"]).stat().st_size
    assert manifest["code"]["commit"] == "unknown" or len(manifest["code"]["commit"]) == 40
    assert manifest["packages"]["papermill"] and manifest["packages"]["python"]
    assert manifest["user"] and manifest["host"]
    stage = manifest["stages"]["a"]
    assert (stage["notebook"], stage["html"], stage["attempts"]) == ("a.ipynb", "a.html", 1)
    assert stage["error"] is None and stage["duration_s"] > 0


def test_values_recorded_in_a_notebook_reach_the_manifest(finished_toy):
    scraps = records.read_manifest(finished_toy.outcome.run_dir)["stages"]["a"]["scraps"]
    assert scraps["parameters"]["run_id"] == finished_toy.outcome.run_dir.name
    assert scraps["tables"] == [{"table": "a_1", "rows": 3.0}, {"table": "a_2", "rows": None}]


def test_every_file_but_the_manifest_has_its_checksum(finished_toy):
    run_dir = finished_toy.outcome.run_dir
    files = records.read_manifest(run_dir)["files"]
    on_disk = {p.name for p in run_dir.iterdir()} - {"manifest.json"}
    assert set(files) == on_disk == {f"{n}.{ext}" for n in "abcd" for ext in ("ipynb", "html")} | {"index.html"}
    content = (run_dir / "c.html").read_bytes()
    assert files["c.html"] == {"sha256": hashlib.sha256(content).hexdigest(),
                               "size": len(content)}
    assert records.verify(run_dir) == []


def test_verify_finds_a_changed_byte_a_missing_and_an_extra_file(record_copy):
    notebook = record_copy / "b.ipynb"
    data = bytearray(notebook.read_bytes())
    data[len(data) // 2] ^= 1
    notebook.write_bytes(bytes(data))
    (record_copy / "d.html").unlink()
    (record_copy / "notes.txt").write_text("added later")
    assert records.verify(record_copy) == [
        "changed: b.ipynb", "missing: d.html", "unexpected: notes.txt"]


def test_no_secret_from_the_environment_reaches_the_record(finished_toy):
    files = [p for p in finished_toy.outcome.run_dir.rglob("*") if p.is_file()]
    assert len(files) == 10  # 4 notebooks, 4 HTML copies, the review page, the manifest
    for path in files:
        text = path.read_bytes()
        for secret in finished_toy.secrets.values():
            assert secret.encode() not in text, f"{secret} leaked into {path.name}"


def test_list_runs(finished_toy):
    [run] = records.list_runs(finished_toy.settings.runs_dir)
    assert run["run_id"] == finished_toy.outcome.run_dir.name
    assert (run["month"], run["status"]) == ("2026-10", "succeeded")


def test_run_ids_are_utc_timestamps_made_unique(tmp_path):
    now = datetime(2026, 11, 27, 3, 15, tzinfo=timezone.utc)
    assert records.new_run_id(tmp_path, now) == "20261127T031500Z"
    (tmp_path / "20261127T031500Z").mkdir()
    (tmp_path / "20261127T031500Z-2").mkdir()
    assert records.new_run_id(tmp_path, now) == "20261127T031500Z-3"


def test_recorded_values_are_plain_json():
    frame = pd.DataFrame({"n": [1, None], "day": pd.to_datetime(["2026-10-01", "2026-10-02"])})
    assert to_json_value(frame) == [{"n": 1.0, "day": "2026-10-01T00:00:00.000"},
                                    {"n": None, "day": "2026-10-02T00:00:00.000"}]
    assert to_json_value({"rows": np.int64(3), "on": date(2026, 10, 1)}) == {
        "rows": 3, "on": "2026-10-01"}
    with pytest.raises(ValueError):
        to_json_value(math.nan)


def test_record_refuses_a_value_that_is_not_json():
    from flywheel_lib.scraps import record

    with pytest.raises(FlywheelError, match="cannot record 'x'"):
        record("x", object())
