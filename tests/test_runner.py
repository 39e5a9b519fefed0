"""The runner: stage selection, dependency order, parallel stages, failure, resume, interrupt."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import datetime

import pytest

from flywheel_lib import records
from flywheel_lib.errors import RunError
from flywheel_lib.lock import is_held
from flywheel_lib.pipeline import REFRESH, Stage, order_stages, plan_actions, select_stages
from flywheel_lib.runner import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK


def _names(stages):
    return [s.name for s in stages]


def _stages(run_dir) -> dict:
    return records.read_manifest(run_dir)["stages"]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---- planning (no notebook runs) ------------------------------------------------------

def test_the_refresh_table_is_in_dependency_order():
    order = _names(order_stages(REFRESH))
    for stage in REFRESH:
        assert all(order.index(u) < order.index(stage.name) for u in stage.upstream)


def test_a_table_with_a_cycle_or_unknown_upstream_is_refused():
    with pytest.raises(RunError, match="cycle"):
        order_stages([Stage("x", "x.ipynb", ("y",), ""), Stage("y", "y.ipynb", ("x",), "")])
    with pytest.raises(RunError, match="unknown upstream"):
        order_stages([Stage("x", "x.ipynb", ("nope",), "")])


def test_selection_flags(toy):
    stages = toy.stages
    assert select_stages(stages) == ["a", "b", "c", "d"]
    assert select_stages(stages, only=("d", "a")) == ["a", "d"]
    assert select_stages(stages, start_from=("b",)) == ["b", "c", "d"]
    assert select_stages(stages, skip=("b", "d")) == ["a", "c"]
    assert select_stages(stages, start_from=("a",), skip=("d",)) == ["a", "c"]


@pytest.mark.parametrize("flags", [{"only": ("a", "zz")}, {"start_from": ("zz",)},
                                   {"skip": ("zz",)}])
def test_an_unknown_stage_name_is_an_error_naming_it(toy, flags):
    with pytest.raises(RunError, match="unknown stage 'zz'") as caught:
        select_stages(toy.stages, **flags)
    assert "a, b, c, d" in str(caught.value)  # the message lists what exists


def test_resume_plan_reruns_what_did_not_succeed_and_everything_after_it(toy):
    previous = {"a": "succeeded", "b": "failed", "c": "blocked", "d": "blocked"}
    assert plan_actions(toy.stages, ["a", "b", "c", "d"], previous) == {
        "a": "done_earlier", "b": "run", "c": "run", "d": "run"}
    # A stage that succeeded reruns if something upstream of it reruns.
    previous = {"a": "failed", "b": "succeeded", "c": "succeeded", "d": "succeeded"}
    assert plan_actions(toy.stages, ["a", "b", "c", "d"], previous) == {
        "a": "run", "b": "done_earlier", "c": "run", "d": "run"}
    assert plan_actions(toy.stages, ["d"], previous)["c"] == "skipped"


# ---- execution ------------------------------------------------------------------------

def test_stages_run_in_dependency_order_and_independent_ones_overlap(finished_toy):
    assert finished_toy.outcome.exit_code == EXIT_OK
    stages = _stages(finished_toy.outcome.run_dir)
    assert {n: s["status"] for n, s in stages.items()} == dict.fromkeys("abcd", "succeeded")
    start = {n: _at(s["started_at"]) for n, s in stages.items()}
    end = {n: _at(s["ended_at"]) for n, s in stages.items()}
    assert start["a"] < end["b"] and start["b"] < end["a"], "a and b ran one after the other"
    assert start["c"] >= max(end["a"], end["b"]) and start["d"] >= end["c"]
    assert [finished_toy.executions(n) for n in "abcd"] == [1, 1, 1, 1]
    assert "succeeded in" in finished_toy.log and "record:" in finished_toy.log


def test_a_finished_month_is_not_run_again(finished_toy, capsys):
    outcome = finished_toy.run()
    assert outcome.exit_code == EXIT_OK
    assert outcome.run_dir == finished_toy.outcome.run_dir
    assert "already refreshed" in finished_toy.log and "--new-run" in finished_toy.log
    assert [finished_toy.executions(n) for n in "abcd"] == [1, 1, 1, 1]


def test_dry_run_prints_the_plan_and_writes_nothing(toy, capsys):
    outcome = toy.run(dry_run=True, skip=("d",))
    assert outcome.exit_code == EXIT_OK
    plan = capsys.readouterr().out
    assert "2026-10-01" in plan and str(toy.month_dir) in plan and "new run" in plan
    assert "upstream: a, b" in plan and "produces: toy output c" in plan
    assert "skipped" in plan
    assert not toy.month_dir.parent.exists()
    assert toy.executions("a") == 0


def test_a_failure_blocks_downstream_and_a_rerun_resumes_from_it(toy, capsys):
    toy.control(fail=["b"])
    first = toy.run(jobs=2)
    assert first.exit_code == EXIT_FAILED
    stages = _stages(first.run_dir)
    assert {n: s["status"] for n, s in stages.items()} == {
        "a": "succeeded", "b": "failed", "c": "blocked", "d": "blocked"}
    assert stages["b"]["error"] == {"ename": "KeyError", "evalue": "'toy failure in b'"}
    failed_notebook = json.loads((first.run_dir / "b.ipynb").read_text())
    assert any(o.get("ename") == "KeyError" for c in failed_notebook["cells"]
               for o in c.get("outputs", []))
    assert "toy failure in b" in (first.run_dir / "b.html").read_text()
    assert "FAILED" in toy.log and str(first.run_dir / "b.ipynb") in toy.log

    assert "resumes run" in (toy.run(dry_run=True) and capsys.readouterr().out)
    toy.control()
    second = toy.run(jobs=2)
    assert second.exit_code == EXIT_OK and second.run_dir == first.run_dir
    assert [toy.executions(n) for n in "abcd"] == [1, 2, 1, 1]
    stages = _stages(second.run_dir)
    assert stages["a"]["status"] == "done_earlier" and "done earlier" in toy.log
    assert stages["b"]["attempts"] == 2 and stages["b"]["history"][0]["status"] == "failed"
    assert (second.run_dir / "attempt-1" / "b.ipynb").exists()
    assert records.read_manifest(second.run_dir)["status"] == "succeeded"


def test_ctrl_c_marks_the_running_stage_interrupted_and_releases_the_lock(toy):
    toy.control(sleep={"a": 60})

    def press_ctrl_c_once_a_runs():
        deadline = time.monotonic() + 60
        while toy.executions("a") == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press_ctrl_c_once_a_runs, daemon=True).start()
    started = time.monotonic()
    outcome = toy.run(only=("a", "c"))
    assert outcome.exit_code == EXIT_INTERRUPTED
    assert time.monotonic() - started < 40, "the kernel was not stopped"
    manifest = records.read_manifest(outcome.run_dir)
    assert manifest["status"] == "interrupted"
    assert manifest["stages"]["a"]["status"] == "interrupted"
    assert manifest["stages"]["c"]["status"] == "pending"
    # The interrupted notebook's HTML copy, rendered in the background, is in the record.
    assert manifest["stages"]["a"]["html"] == "a.html" and "a.html" in manifest["files"]
    assert not is_held(toy.month_dir)
    assert records.verify(outcome.run_dir) == []
