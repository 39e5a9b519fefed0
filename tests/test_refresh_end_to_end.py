"""The real refresh, driven as an operator drives it: run_refresh.py over the six notebooks.

One tiny lake is shared by the module (each full run costs tens of seconds):
October refreshes cleanly; November is first refused by the preflight (a mapping
column is missing upstream), which must leave October serving; once the data is
fixed, the same command refreshes the month. (Resuming from a failed stage:
tests/test_runner.py and tests/month_goes_wrong/.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from flywheel_lib import drift, records
from flywheel_lib.mapping import load_mapping
from flywheel_lib.synthetic import write_snapshot

REPO = Path(__file__).resolve().parent.parent
ROWS = 400
OCTOBER_ROWS = drift.customers(ROWS, "2026-10-31")[1]  # --demo-rows varies the count by month


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    env = dict(os.environ, FLYWHEEL_DATA_ROOT=str(root / "data"), FLYWHEEL_RUNS_DIR=str(root / "runs"),
               FLYWHEEL_ENV="local", AWS_SECRET_ACCESS_KEY="SENTINEL-secret-value")
    env.pop("FLYWHEEL_MAPPING", None)
    return root, env


def refresh(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "run_refresh.py"), *args], env=env,
                          capture_output=True, text=True, timeout=600)


def manifest_of(root: Path, month: str) -> tuple[Path, dict]:
    run_dir = sorted((root / "runs" / month).glob("2*"))[-1]
    return run_dir, json.loads((run_dir / "manifest.json").read_text())


def catalog(root: Path, sql: str):
    con = duckdb.connect(str(root / "data" / "catalog.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def october(lake):
    root, env = lake
    result = refresh(env, "--month", "2026-10", "--demo-rows", str(ROWS))
    assert result.returncode == 0, result.stderr[-3000:]
    return root, env, result


def test_a_month_refreshes_end_to_end(october):
    root, _, result = october
    run_dir, manifest = manifest_of(root, "2026-10")
    assert manifest["status"] == "succeeded"
    assert {s["status"] for s in manifest["stages"].values()} == {"succeeded"}
    for stage in manifest["stages"]:
        assert (run_dir / f"{stage}.ipynb").is_file() and (run_dir / f"{stage}.html").is_file()
    assert manifest["snapshots"]["datasets"]["infobase_attributes"]["snapshot_dt"] == "2026-10-31"
    assert manifest["stages"]["addr_part"]["scraps"]["rows"] == OCTOBER_ROWS
    assert len(manifest["stages"]["glue_ready"]["scraps"]["published"]) == 28
    assert (run_dir / "addr_part" / "rows_per_bucket.png").is_file()
    assert '"image/png"' in (run_dir / "addr_part.ipynb").read_text()  # the chart shows in the notebook
    assert records.verify(run_dir) == []
    assert "succeeded" in result.stderr


def test_published_tables_answer_queries(october):
    root, _, _ = october
    [(tables,)] = catalog(root, "SELECT count(*) FROM flywheel_tables WHERE state = 'published'")
    assert tables == 29  # addressable_ids, 27 infobase tables, the ER table
    rows = catalog(root, "SELECT count(*), min(id_bucket), max(id_bucket) FROM part_ibe_01 WHERE id_bucket = 7")
    assert rows[0][0] > 0 and rows[0][1:] == (7, 7)
    [(er_rows, ids)] = catalog(root, "SELECT count(*), count(DISTINCT row_id) FROM part_addressable_ids_er")
    assert (er_rows, ids) == (OCTOBER_ROWS, OCTOBER_ROWS)  # one unique row_id a row (row_ids.py)


def test_no_secret_enters_the_record(october):
    root, _, _ = october
    for path in (root / "runs").rglob("*"):
        if path.is_file():
            assert b"SENTINEL-secret-value" not in path.read_bytes(), path


def test_a_finished_month_is_not_refreshed_again(october):
    root, env, _ = october
    before = sorted((root / "runs" / "2026-10").glob("2*"))
    result = refresh(env, "--month", "2026-10")
    assert result.returncode == 0
    assert "already" in (result.stdout + result.stderr)
    assert sorted((root / "runs" / "2026-10").glob("2*")) == before


@pytest.fixture(scope="module")
def november_failed(october):
    root, env, _ = october
    full = load_mapping()
    broken = replace(full, tables={**full.tables, "IBE_08": full.tables["IBE_08"][:-1]})
    write_snapshot(root / "data", "2026-11-01", ROWS, seed=11, mapping=broken)
    result = refresh(env, "--month", "2026-11")
    return root, env, result, full


def test_a_missing_mapping_column_is_refused_before_any_stage_and_october_serves(november_failed):
    root, _, result, full = november_failed
    assert result.returncode == 2
    missing = full.tables["IBE_08"][-1].source
    [line] = result.stderr.strip().splitlines()
    assert f"lacks mapping column(s) {missing}" in line and "snapshot_dt=2026-11-01" in line
    assert not (root / "runs" / "2026-11").exists()  # preflight: no stage ran, no record
    served = catalog(root, "SELECT DISTINCT snapshot_dt FROM flywheel_tables WHERE state = 'published'")
    assert served == [("2026-10-31",)]
    assert catalog(root, "SELECT count(*) FROM part_addressable_ids")[0][0] == OCTOBER_ROWS


def test_once_the_data_is_fixed_the_same_command_refreshes_the_month(november_failed):
    root, env, _, full = november_failed
    write_snapshot(root / "data", "2026-11-01", ROWS, seed=11, mapping=full, overwrite=True,
                   datasets=("infobase_attributes",))
    result = refresh(env, "--month", "2026-11")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dirs = sorted((root / "runs" / "2026-11").glob("2*"))
    assert len(run_dirs) == 1
    manifest = json.loads((run_dirs[0] / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    served = catalog(root, "SELECT DISTINCT snapshot_dt FROM flywheel_tables WHERE state = 'published'")
    assert served == [("2026-11-01",)]


def test_bad_input_is_one_line_and_writes_nothing(lake):
    root, env = lake
    for args, words, code in ((["--month", "2026-13"], "YYYY-MM", 2),
                              (["--month", "2031-01"], "snapshot not arrived: no addressable_ids snapshot", 75),
                              (["--month", "2026-10", "--only", "nope"], "nope", 2)):
        before = sorted(p for p in (root / "runs").rglob("*")) if (root / "runs").exists() else []
        result = refresh(env, *args)
        assert result.returncode == code
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], result.stderr
        after = sorted(p for p in (root / "runs").rglob("*")) if (root / "runs").exists() else []
        assert after == before

