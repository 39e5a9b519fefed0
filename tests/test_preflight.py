"""Preflight refuses bad input before any stage runs, naming the file: the local half of the promise
(tests/aws/test_preflight_s3.py reads the same footers on S3 by ranged GET)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flywheel_lib.config import load_settings
from flywheel_lib.errors import MappingError, SnapshotError
from flywheel_lib.mapping import SOURCE_KEY, load_mapping
from flywheel_lib.preflight import checked_snapshots
from flywheel_lib.synthetic import snapshot_dir, write_snapshot

REPO = Path(__file__).resolve().parent.parent
MAPPING = REPO / "tests" / "fixtures" / "engine_mapping.csv"
SNAPSHOT_DT = "2026-10-31"


@pytest.fixture
def delivered(tmp_path):
    settings = load_settings("local", environ={"FLYWHEEL_DATA_ROOT": str(tmp_path / "data"),
                                                "FLYWHEEL_RUNS_DIR": str(tmp_path / "runs"),
                                                "FLYWHEEL_MAPPING": str(MAPPING)})
    write_snapshot(settings.data_root, SNAPSHOT_DT, 50, seed=3, mapping=load_mapping(MAPPING), files=1)
    files = {ds: next(snapshot_dir(settings.data_root, ds, SNAPSHOT_DT).glob("*.parquet"))
             for ds in ("addressable_ids", "infobase_attributes")}
    return settings, files


def test_good_input_passes(delivered):
    settings, _ = delivered
    assert checked_snapshots(settings, "2026-10").infobase.snapshot_dt == SNAPSHOT_DT


@pytest.mark.parametrize("damage, words", [
    (lambda p: p.write_bytes(p.read_bytes()[:-100]), "is not readable Parquet"),
    (lambda p: p.write_text("customer_user_id,x\n1,2\n"), "is not readable Parquet"),
    (lambda p: pq.write_table(pq.read_table(p).slice(0, 0), p), "has 0 rows"),
    (lambda p: pq.write_table(pq.read_table(p).rename_columns(
        ["cust_id" if n == SOURCE_KEY else n for n in pq.read_schema(p).names]), p),
     f"lacks the key column {SOURCE_KEY} (any case)"),
])
def test_a_damaged_addressable_file_is_refused_naming_it(delivered, damage, words):
    settings, files = delivered
    damage(files["addressable_ids"])
    with pytest.raises(SnapshotError, match=re.escape(words)) as err:
        checked_snapshots(settings, "2026-10")
    assert err.value.path in (str(files["addressable_ids"]), str(files["addressable_ids"].parent))


def test_an_infobase_file_without_a_mapping_column_is_refused_naming_column_and_file(delivered):
    settings, files = delivered
    path = files["infobase_attributes"]
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["NB_Flag"]), path)
    with pytest.raises(SnapshotError, match="lacks mapping column\\(s\\) NB_Flag \\(any case\\)") as err:
        checked_snapshots(settings, "2026-10")
    assert err.value.path == str(path)


def test_a_bad_mapping_is_refused_before_the_snapshots_are_read(delivered, tmp_path):
    settings, _ = delivered
    bad = tmp_path / "bad.csv"
    bad.write_text("OMC_FLYWHEEL_TABLE,OMC_FLYWHEEL_COLUMN\nIBE_01,x\n")
    with pytest.raises(MappingError):
        checked_snapshots(replace(settings, mapping_path=str(bad)), "2026-10")


def test_on_the_command_line_a_bad_mapping_is_one_line_and_no_stage_runs(delivered, tmp_path):
    settings, _ = delivered
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,mapping\n")
    env = dict(os.environ, FLYWHEEL_DATA_ROOT=str(settings.data_root), FLYWHEEL_RUNS_DIR=str(settings.runs_dir),
               FLYWHEEL_ENV="local", FLYWHEEL_MAPPING=str(bad))
    result = subprocess.run([sys.executable, str(REPO / "run_refresh.py"), "--month", "2026-10"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and str(bad) in result.stderr
    assert not Path(settings.runs_dir).exists()  # no run record: no stage ran
