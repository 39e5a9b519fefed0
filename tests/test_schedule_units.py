"""The schedule on a host: the systemd units pass `systemd-analyze verify`, the timer fires on the 1st at
02:00 UTC, and the crontab line runs the same command at the same time."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNITS = REPO / "deploy" / "systemd"
INSTALL_DIR = "/opt/flywheel-runbook"
ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (apt-get install -y systemd)")


def installed_copy(folder: Path) -> Path:
    """The units as installed from this checkout: verify checks that ExecStart's program exists."""
    service = (UNITS / "flywheel-refresh.service").read_text()
    service = service.replace(INSTALL_DIR + "/.venv/bin/python", sys.executable).replace(INSTALL_DIR, str(REPO))
    service = service.replace("/etc/flywheel/refresh.env", str(UNITS / "refresh.env.example"))
    (folder / "flywheel-refresh.service").write_text(service)
    shutil.copy(UNITS / "flywheel-refresh.timer", folder)
    return folder


@needs_systemd
def test_the_units_pass_systemd_analyze_verify(tmp_path):
    folder = installed_copy(tmp_path)
    done = subprocess.run([ANALYZE, "verify", "flywheel-refresh.service", "flywheel-refresh.timer"],
                          cwd=folder, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@needs_systemd
def test_a_broken_unit_fails_verify(tmp_path):
    """The check above can fail: a setting systemd refuses is caught."""
    folder = installed_copy(tmp_path)
    service = folder / "flywheel-refresh.service"
    service.write_text(service.read_text().replace("Type=exec", "Type=oneshot"))
    done = subprocess.run([ANALYZE, "verify", "flywheel-refresh.service"], cwd=folder,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "RestartForceExitStatus" in done.stderr


def timer_setting(name: str) -> str:
    return re.search(rf"^{name}=(.*)$", (UNITS / "flywheel-refresh.timer").read_text(), re.M).group(1)


@needs_systemd
def test_the_timer_fires_on_the_first_at_two_utc():
    assert timer_setting("Persistent") == "true"
    done = subprocess.run([ANALYZE, "calendar", "--iterations=3", "--base-time=2026-12-31 23:00 UTC",
                           timer_setting("OnCalendar")], capture_output=True, text=True, timeout=60,
                          env={"TZ": "UTC", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    elapses = re.findall(r"(?:Next elapse|Iter\. #\d):\s+\w{3} (\S+ \S+ \S+)", done.stdout)
    assert elapses == ["2027-01-01 02:00:00 UTC", "2027-02-01 02:00:00 UTC", "2027-03-01 02:00:00 UTC"]


def test_the_service_and_crontab_run_the_same_command_at_the_same_time():
    service = (UNITS / "flywheel-refresh.service").read_text()
    command = re.search(r"^ExecStart=(.*)$", service, re.M).group(1)
    assert command.endswith("run_refresh.py --month previous")
    assert re.search(r"^EnvironmentFile=/etc/flywheel/refresh.env$", service, re.M)
    assert re.search(r"^KillSignal=SIGINT$", service, re.M)  # a stop releases the lock like Ctrl-C
    cron = [line for line in (REPO / "deploy" / "cron" / "flywheel-refresh").read_text().splitlines()
            if line and not line.startswith("#")]
    assert len(cron) == 1
    minute, hour, day, month, weekday, user, rest = cron[0].split(None, 6)
    assert (minute, hour, day, month, weekday) == ("0", "2", "1", "*", "*")
    assert ". /etc/flywheel/refresh.env" in rest and "run_refresh.py --month previous" in rest


def test_the_retried_exit_code_is_the_one_the_driver_gives_for_a_late_snapshot():
    from flywheel_lib.runner import EXIT_NOT_ARRIVED

    service = (UNITS / "flywheel-refresh.service").read_text()
    assert re.search(r"^RestartForceExitStatus=(\d+)$", service, re.M).group(1) == str(EXIT_NOT_ARRIVED)


def test_the_environment_file_sets_only_known_names():
    from flywheel_lib.config import ENV_VARIABLE, OVERRIDES

    allowed = {ENV_VARIABLE, "AWS_PROFILE", *OVERRIDES.values()}
    names = [line.split("=", 1)[0].lstrip("# ").strip() for line in
             (UNITS / "refresh.env.example").read_text().splitlines() if re.match(r"#? ?[A-Z_]+=", line)]
    assert names and set(names) <= allowed, set(names) - allowed
