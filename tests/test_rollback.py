"""Rollback's plan from the run records, its refusals, and retention keeping what a rollback needs."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from flywheel_lib import good_runs, lake, monitor_report, rollback
from flywheel_lib.config import load_settings
from flywheel_lib.errors import RunError
from flywheel_lib.local.backend import LocalBackend
from flywheel_lib.local.catalog import CatalogEntry


def good_run(runs, month: str, run_id: str, tables: dict, status="succeeded"):
    run_dir = runs / month / run_id
    run_dir.mkdir(parents=True)
    serving = {n: {"run_id": r, "snapshot_dt": dt, "location": loc} for n, (r, dt, loc) in tables.items()}
    (run_dir / "manifest.json").write_text(json.dumps({"status": status, "serving": {"tables": serving}}))


def served(name, run_id, snapshot_dt="2026-10-31"):
    return CatalogEntry(name=name, run_id=run_id, dataset="addressable_ids", source_table="x", location="/x",
                        snapshot_dt=snapshot_dt, columns=[], row_count=0, state="published")


@pytest.fixture
def runs(tmp_path):
    runs = tmp_path / "runs"
    good_run(runs, "2026-08", "20260901T000000Z", {"part_a": ("20260901T000000Z", "2026-08-31", "/aug/a")})
    good_run(runs, "2026-09", "20261001T000000Z", {"part_a": ("20261001T000000Z", "2026-09-30", "/sep/a"),
                                                    "part_b": ("20261001T000000Z", "2026-09-30", "/sep/b")})
    good_run(runs, "2026-09", "20261002T000000Z", {}, status="failed")
    good_run(runs, "2026-10", "20261101T000000Z", {"part_a": ("20261101T000000Z", "2026-10-31", "/oct/a")})
    return runs


def test_the_plan_switches_to_the_newest_good_run_of_an_earlier_month(runs):
    now = [served("part_a", "20261101T000000Z"), served("part_b", "20261101T000000Z")]
    switches = rollback.plan(runs, "2026-10", now)
    assert [(s.table, s.target_run, s.target_location) for s in switches] == [
        ("part_a", "20261001T000000Z", "/sep/a"), ("part_b", "20261001T000000Z", "/sep/b")]
    assert rollback.plan_lines("2026-10", switches)[0] == "rollback of 2026-10: 2 table(s) to switch back, all or none"


def rollback_record(runs, run_id: str, taken_off: list[str], applied=True, status="succeeded"):
    """What op_runner keeps of a rollback run: its status and the notebook's `rollback` scrap."""
    run_dir = runs / "operations" / "rollback" / run_id
    run_dir.mkdir(parents=True)
    facts = {"applied": applied, "taken_off": taken_off}
    (run_dir / "manifest.json").write_text(json.dumps(
        {"status": status, "stages": {"rollback": {"scraps": {"rollback": facts}}}}))


def test_a_month_rolled_back_is_never_served_again_by_a_later_rollback(runs):
    rollback_record(runs, "20261105T000000Z", ["20261101T000000Z"])  # October was taken off
    rollback_record(runs, "20261106T000000Z", ["20261001T000000Z"], applied=False)  # a plan only
    good_run(runs, "2026-11", "20261201T000000Z", {"part_a": ("20261201T000000Z", "2026-11-30", "/nov/a")})
    switches = rollback.plan(runs, "2026-11", [served("part_a", "20261201T000000Z")])
    assert [(s.table, s.target_run) for s in switches] == [("part_a", "20261001T000000Z"),  # September
                                                           ("part_b", "20261001T000000Z")]
    assert rollback.kept_locations(runs) == {"/nov/a", "/sep/a", "/sep/b"}


def test_a_re_refresh_of_a_rolled_back_month_is_good_again(runs):
    rollback_record(runs, "20261105T000000Z", ["20261101T000000Z"])
    good_run(runs, "2026-10", "20261110T000000Z", {"part_a": ("20261110T000000Z", "2026-10-31", "/oct2/a")})
    good_run(runs, "2026-11", "20261201T000000Z", {"part_a": ("20261201T000000Z", "2026-11-30", "/nov/a")})
    switches = rollback.plan(runs, "2026-11", [served("part_a", "20261201T000000Z")])
    assert [s.target_run for s in switches] == ["20261110T000000Z"]


def test_a_failed_rollback_takes_nothing_off(runs):
    rollback_record(runs, "20261105T000000Z", ["20261101T000000Z"], status="failed")
    assert good_runs.rolled_back(runs) == set()
    assert [month for month, _ in rollback.good_runs(runs)] == ["2026-10", "2026-09", "2026-08"]


def test_next_months_monitor_and_cost_compare_with_the_last_good_run(runs):
    good_run(runs, "2026-10", "20261102T000000Z", {"part_a": ("20261102T000000Z", "2026-10-31", "/oct2/a")})
    for run_id, rows in (("20261101T000000Z", 1), ("20261102T000000Z", 2)):
        folder = runs / "2026-10" / run_id / monitor_report.STAGE
        folder.mkdir()
        (folder / monitor_report.PROFILE_JSON).write_text(json.dumps({"part_a": {"rows": rows}}))
    assert monitor_report.previous_profiles(runs, "2026-11")[1] == "2026-10/20261102T000000Z"
    rollback_record(runs, "20261105T000000Z", ["20261102T000000Z"])
    assert monitor_report.previous_profiles(runs, "2026-11") == ({"part_a": {"rows": 1}}, "2026-10/20261101T000000Z")


def test_a_month_the_catalog_does_not_serve_is_refused(runs):
    with pytest.raises(RunError, match="the catalog does not serve 2026-10 \\(it serves run 20261001T000000Z\\)"):
        rollback.plan(runs, "2026-10", [served("part_a", "20261001T000000Z")])


def test_without_an_earlier_good_month_there_is_nothing_to_roll_back_to(runs):
    with pytest.raises(RunError, match="no earlier month has a succeeded run"):
        rollback.plan(runs, "2026-08", [served("part_a", "20260901T000000Z")])


def test_applying_needs_a_reason():
    with pytest.raises(RunError, match="a rollback needs a reason"):
        rollback.carry_out(None, "2026-10", [], apply=True, reason="  ")


def test_retention_keeps_the_previous_good_month_but_prunes_older(tmp_path):
    settings = load_settings("local", environ={"FLYWHEEL_DATA_ROOT": str(tmp_path / "data"),
                                                "FLYWHEEL_RUNS_DIR": str(tmp_path / "runs")})
    settings = replace(settings, retention_months=1)
    root = settings.output_root("addressable_ids")
    folders = {}
    runs = {"aug": "20260901T000000Z", "sep": "20261001T000000Z", "oct": "20261101T000000Z"}
    for snapshot_dt, name in (("2026-08-31", "aug"), ("2026-09-30", "sep"), ("2026-10-31", "oct")):
        folders[name] = lake.version_dir(root, "addressable_ids", snapshot_dt, runs[name])
        folders[name].mkdir(parents=True)
        lake.write_marker(folders[name], {"rows": 0})
    for month, name, snapshot_dt in (("2026-09", "sep", "2026-09-30"), ("2026-10", "oct", "2026-10-31")):
        good_run(tmp_path / "runs", month, runs[name],
                 {"part_addressable_ids": (runs[name], snapshot_dt, str(folders[name]))})
    removed = LocalBackend(settings).prune()
    assert removed == [str(folders["aug"])]
    assert folders["sep"].is_dir() and folders["oct"].is_dir()
