"""The command line: one-line errors, exit codes, nothing written on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flywheel_lib import records
from flywheel_lib.cli import main
from flywheel_lib.lock import RunLock

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("argv, message", [
    (["--month", "2026-13"], "month '2026-13' is not YYYY-MM"),
    (["--month", "Oct 2026"], "is not YYYY-MM"),
    (["--month", "2026-10", "--only", "a,nope"], "unknown stage 'nope' in --only"),
    (["--month", "2026-10", "--from", "nope"], "unknown stage 'nope' in --from"),
    (["--month", "2026-10", "--jobs", "0"], "--jobs must be at least 1"),
    ([], "--month is required"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli_toy, capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and message in captured.err
    assert captured.err.count("\n") == 1 and captured.out == ""
    assert not Path(cli_toy.settings.runs_dir).exists()


def test_a_month_locked_by_another_run_exits_3_naming_it(cli_toy, capsys):
    with RunLock(cli_toy.month_dir, "2026-10"):
        assert main(["--month", "2026-10"]) == 3
    err = capsys.readouterr().err
    assert "another run of 2026-10 holds the lock" in err and f"pid {os.getpid()}" in err
    assert err.count("\n") == 1
    assert cli_toy.executions("a") == 0 and records.month_runs(cli_toy.month_dir) == []


def test_dry_run_prints_the_plan_and_writes_nothing(cli_toy, capsys):
    assert main(["--month", "2026-10", "--dry-run", "--from", "c"]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and "2026-10-01" in out and "new run" in out
    actions = {line.split()[0]: line.split()[1] for line in out.splitlines()
               if "upstream:" in line}
    assert actions == {"a": "skipped", "b": "skipped", "c": "run", "d": "run"}
    assert not Path(cli_toy.settings.runs_dir).exists()


def test_demo_rows_generates_a_missing_snapshot_first(cli_toy, capsys, monkeypatch):
    from flywheel_lib import synthetic

    calls = []
    monkeypatch.setattr(synthetic, "write_snapshot", lambda *args, **kwargs: calls.append((args, kwargs)))
    assert main(["--month", "2026-11", "--demo-rows", "50", "--dry-run"]) == 0
    assert "--demo-rows would generate snapshot_dt=2026-11-30" in capsys.readouterr().out
    assert calls == []
    assert main(["--month", "2026-11", "--demo-rows", "50"]) == 75  # the fake wrote nothing: not arrived
    assert calls == [((str(cli_toy.root / "data"), "2026-11-30", 50), {"monthly": True})]
    assert main(["--month", "2026-10", "--demo-rows", "50", "--dry-run"]) == 0
    assert len(calls) == 1  # the month has its snapshot: nothing generated


def test_verify_exit_codes(tmp_path, capsys):
    (tmp_path / "a.ipynb").write_text("{}")
    records.write_manifest(tmp_path, {"run_id": "x"})
    assert main(["--verify", str(tmp_path)]) == 0
    (tmp_path / "a.ipynb").write_text("{ }")
    assert main(["--verify", str(tmp_path)]) == 1
    assert "changed: a.ipynb" in capsys.readouterr().out


def test_run_refresh_script_exits_2_on_a_bad_month(tmp_path):
    env = {**os.environ, "FLYWHEEL_RUNS_DIR": str(tmp_path / "runs")}
    done = subprocess.run([sys.executable, str(REPO / "run_refresh.py"), "--month", "2026-1"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("error: month '2026-1' is not YYYY-MM")
    assert not (tmp_path / "runs").exists()
