"""A month a scheduler can give: `--month previous`, a quiet re-run, a snapshot not arrived, missed months."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest

from flywheel_lib import months, run_guard
from flywheel_lib.cli import main
from flywheel_lib.errors import SnapshotError


@pytest.mark.parametrize("today, expected", [
    (date(2027, 1, 1), "2026-12"),   # January gives December of the year before
    (date(2026, 3, 1), "2026-02"),
    (date(2026, 12, 31), "2026-11"),
    (date(2026, 11, 1), "2026-10"),
])
def test_previous_is_the_calendar_month_before_today(today, expected):
    month, said = months.resolve_month("previous", today)
    assert month == expected and said == f"--month previous: {expected} (the month before {today}, UTC)"


def test_a_month_given_as_such_is_taken_as_it_is():
    assert months.resolve_month("2026-07", date(2026, 12, 1)) == ("2026-07", None)
    with pytest.raises(SnapshotError, match="is not YYYY-MM"):
        months.resolve_month("last", date(2026, 12, 1))


def test_missed_months_are_those_between_the_last_served_and_the_asked():
    assert months.missed_months("2026-07", "2026-10") == ["2026-08", "2026-09"]
    assert months.missed_months("2026-11", "2027-02") == ["2026-12", "2027-01"]
    assert months.missed_months("2026-09", "2026-10") == []
    assert months.missed_months("2026-10", "2026-10") == []  # a re-run of the served month
    assert months.missed_months("2026-10", "2026-08") == []  # an older month redone
    assert months.missed_months(None, "2026-10") == []  # nothing ever refreshed: no gap to speak of
    assert months.last_served_month({"snapshots": ["2026-06-30", "2026-07-31"]}) == "2026-07"
    assert months.last_served_month({"error": "catalog not read"}) is None


def test_the_run_says_which_months_were_never_refreshed(toy, monkeypatch):
    monkeypatch.setattr(run_guard.run_end, "serving", lambda settings: {"snapshots": ["2026-07-31"], "tables": {}})
    out = io.StringIO()
    assert run_guard.report_missed(toy.settings, "2026-10", out) == ["2026-08", "2026-09"]
    assert "2 month(s) before 2026-10 were never refreshed: 2026-08, 2026-09" in out.getvalue()


def test_previous_month_runs_then_a_repeated_trigger_is_a_quiet_success(cli_toy, capsys):
    assert main(["--month", "previous"], today=date(2026, 11, 1)) == 0
    err = capsys.readouterr().err
    assert err.startswith("--month previous: 2026-10 (the month before 2026-11-01, UTC)\n")
    assert "run " in err and "succeeded" in err
    assert main(["--month", "previous"], today=date(2026, 11, 1)) == 0  # the timer fired twice
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "2026-10 is already refreshed" in err[1]
    assert cli_toy.executions("a") == 1


def test_a_snapshot_not_arrived_has_its_own_exit_code_and_writes_nothing(cli_toy, capsys):
    assert main(["--month", "previous"], today=date(2026, 10, 1)) == 75
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "--month previous: 2026-09 (the month before 2026-10-01, UTC)"
    assert err[1].startswith("error: snapshot not arrived: no addressable_ids snapshot for 2026-09")
    assert not Path(cli_toy.settings.runs_dir).exists()


def test_a_snapshot_mismatch_is_still_bad_input(cli_toy, capsys):
    other = cli_toy.root / "data" / "opus" / "infobase_attributes" / "raw_input" / "snapshot_dt=2026-10-02"
    other.mkdir()
    (other / "part-0.parquet").write_bytes(b"PAR1 toy PAR1")
    assert main(["--month", "2026-10"]) == 2
    assert "snapshot dates differ" in capsys.readouterr().err
