"""Faults of the driver and its kernels, on the toy project (tiny notebooks, seconds a run): what the
operator sees (exit code, message, the record) and that running the same command again finishes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

from flywheel_lib import pipeline, records
from flywheel_lib.cli import main
from flywheel_lib.lock import is_held
from flywheel_lib.runner import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK


def when_running(toy, stage: str, act, timeout: float = 120) -> threading.Thread:
    """Call `act()` once `stage`'s notebook has started (its marker file is written)."""
    def wait_then_act():
        deadline = time.monotonic() + timeout
        while toy.executions(stage) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        act()

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread


def kernels_of(pid: int) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if "ipykernel" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # a child already gone (or a zombie not yet reaped): not a kernel to kill
            pass
    return found


def assert_resumes_and_finishes(toy, run_dir):
    toy.control()
    outcome = toy.run()
    assert outcome.exit_code == EXIT_OK, toy.log
    assert outcome.run_dir == run_dir  # the same run, resumed
    manifest = records.read_manifest(run_dir)
    assert manifest["status"] == "succeeded" and len(manifest["invocations"]) == 2
    assert {s["status"] for s in manifest["stages"].values()} <= {"succeeded", "done_earlier"}
    assert records.verify(run_dir) == []


def test_ctrl_c_then_the_same_command_resumes_and_finishes(toy):
    toy.control(sleep={"a": 60})
    when_running(toy, "a", lambda: os.kill(os.getpid(), signal.SIGINT))
    first = toy.run()
    assert first.exit_code == EXIT_INTERRUPTED
    assert records.read_manifest(first.run_dir)["stages"]["a"]["status"] == "interrupted"
    assert_resumes_and_finishes(toy, first.run_dir)
    assert toy.executions("a") == 2 and toy.executions("d") == 1


def test_kill_9_of_a_stage_kernel_fails_that_stage_then_a_rerun_finishes(toy):
    toy.control(sleep={"a": 60})
    when_running(toy, "a", lambda: [k.kill() for k in kernels_of(os.getpid())])
    started = time.monotonic()
    first = toy.run()
    assert first.exit_code == EXIT_FAILED and time.monotonic() - started < 60
    stages = records.read_manifest(first.run_dir)["stages"]
    assert stages["a"]["status"] == "failed" and stages["a"]["error"]["ename"]
    assert stages["c"]["status"] == "blocked" and stages["d"]["status"] == "blocked"
    assert "a" in toy.log and "FAILED" in toy.log
    assert_resumes_and_finishes(toy, first.run_dir)


DRIVER = textwrap.dedent("""
    import sys
    from flywheel_lib import runner
    from flywheel_lib.config import load_settings
    from flywheel_lib.pipeline import Stage
    notebooks, data, runs = sys.argv[1:4]
    upstream = {"a": (), "b": (), "c": ("a", "b"), "d": ("c",)}
    stages = tuple(Stage(n, f"{notebooks}/{n}.ipynb", up, "toy") for n, up in upstream.items())
    settings = load_settings("local", environ={"FLYWHEEL_DATA_ROOT": data, "FLYWHEEL_RUNS_DIR": runs})
    sys.exit(runner.run_refresh(runner.Request(month="2026-10"), settings, stages=stages).exit_code)
""")


def test_kill_9_of_the_driver_mid_stage_then_the_same_command_resumes(toy):
    toy.control(sleep={"a": 60})
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(toy.notebooks), str(toy.root / "data"),
                               toy.settings.runs_dir], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    when_running(toy, "a", lambda: os.killpg(driver.pid, signal.SIGKILL)).join()  # the machine "crashes"
    assert driver.wait(30) == -signal.SIGKILL
    [run_dir] = records.month_runs(toy.month_dir)
    manifest = records.read_manifest(run_dir)
    assert manifest["status"] == "running" and not is_held(toy.month_dir)
    assert records.effective_status(manifest, toy.month_dir) == "interrupted"
    assert_resumes_and_finishes(toy, run_dir)
    assert "resuming run" in toy.log


@pytest.fixture
def read_only_runs(toy, monkeypatch):
    """The toy's runs folder with one finished run, then mounted read-only (chmod does not stop root)."""
    toy.control()
    assert toy.run().exit_code == EXIT_OK
    runs = toy.settings.runs_dir
    if subprocess.run(["mount", "--bind", runs, runs]).returncode != 0:
        pytest.skip("cannot bind-mount here (needs root)")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", runs], check=True)
        monkeypatch.setenv("FLYWHEEL_DATA_ROOT", str(toy.root / "data"))
        monkeypatch.setenv("FLYWHEEL_RUNS_DIR", runs)
        monkeypatch.delenv("FLYWHEEL_ENV", raising=False)
        monkeypatch.setattr(pipeline, "REFRESH", toy.stages)
        yield toy
    finally:
        subprocess.run(["umount", runs], check=True)


def test_a_read_only_runs_folder_is_one_clear_line_and_the_last_record_stays_intact(read_only_runs, capsys):
    toy = read_only_runs
    [previous] = records.month_runs(toy.month_dir)
    assert main(["--month", "2026-10", "--new-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Read-only file system" in err[0] and toy.settings.runs_dir in err[0]
    assert records.month_runs(toy.month_dir) == [previous] and records.verify(previous) == []


def test_a_snapshot_redelivered_under_a_new_date_during_a_resume(cli_toy, capsys):
    toy = cli_toy
    toy.control(fail=["c"])
    assert main(["--month", "2026-10"]) == EXIT_FAILED
    [failed] = records.month_runs(toy.month_dir)
    for dataset in ("addressable_ids", "infobase_attributes"):  # upstream redelivers the month on the 15th
        raw = toy.root / "data" / "opus" / dataset / "raw_input"
        shutil.copytree(raw / "snapshot_dt=2026-10-01", raw / "snapshot_dt=2026-10-15")
    toy.control()
    capsys.readouterr()
    assert main(["--month", "2026-10"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert f"the latest run {failed.name} used other snapshots" in line and "2026-10-01" in line
    assert "Pass --new-run to refresh with the current snapshots" in line
    assert records.month_runs(toy.month_dir) == [failed]  # nothing started
    assert main(["--month", "2026-10", "--new-run"]) == EXIT_OK
    old, new = records.month_runs(toy.month_dir)
    assert old == failed and records.read_manifest(old)["status"] == "failed"  # kept as it was
    manifest = records.read_manifest(new)
    assert manifest["status"] == "succeeded"
    assert {d["snapshot_dt"] for d in manifest["snapshots"]["datasets"].values()} == {"2026-10-15"}
    assert toy.executions("a") == 2  # a new run starts from the first stage
