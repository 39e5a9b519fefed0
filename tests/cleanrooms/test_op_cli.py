"""`run_refresh.py --op`: parameters checked before anything runs; a plan leaves a run record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flywheel_lib import plan_text

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, FLYWHEEL_DATA_ROOT=str(tmp_path / "data"), FLYWHEEL_RUNS_DIR=str(tmp_path / "runs"),
                FLYWHEEL_ENV="local")


def run(env, *args):
    return subprocess.run([sys.executable, str(REPO / "run_refresh.py"), *args], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["--op", "associate_tables", "--param", "nope=1"], "associate_tables has no parameter 'nope'"),
    (["--op", "associate_tables", "--param", "max_associations=many"], "expected a int"),
    (["--op", "configure_tables", "--apply"], "--apply needs the AWS backend"),
    (["--month", "2026-10", "--param", "x=1"], "--param and --apply go with --op"),
])
def test_bad_operation_arguments_are_one_line_and_write_nothing(env, tmp_path, args, message):
    result = run(env, *args)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_a_planned_operation_leaves_its_record(env, tmp_path):
    result = run(env, "--op", "associate_tables", "--param", "result_receivers=444455556666,777788889999")
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs" / "cleanrooms" / "associate_tables").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["parameters"]["apply"] is False
    assert manifest["parameters"]["result_receivers"] == ["444455556666", "777788889999"]
    assert (run_dir / "plan.csv").is_file() and (run_dir / "associate_tables.html").is_file()
    plan = plan_text.read(run_dir)  # printed where the command was typed, heading the run page
    assert plan.headline.startswith("Plan: ") and not plan.applied
    printed = result.stderr.splitlines()
    assert printed[printed.index(plan.headline) + 1:][:len(plan.changes) or 1] == plan_text.lines(plan)[1:]
    assert plan.headline in (run_dir / "index.html").read_text()
