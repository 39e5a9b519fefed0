"""The month's lock in S3: one holder across machines, named; heartbeat; stale and --break-lock; release.

moto (5.2) implements S3's conditional writes on PutObject and DeleteObject (`IfNoneMatch="*"`,
`IfMatch=<etag>`, answering 412 PreconditionFailed), so these run against moto itself.
"""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from flywheel_lib.aws.s3_lock import S3RunLock, lock_url, read_lock
from flywheel_lib.errors import RunLocked

ANALYSIS = "omc-flywheel-dev-analysis-data"
MONTH = "2026-10"


@pytest.fixture
def url(aws, settings):
    aws.call("s3", "create_bucket", Bucket=ANALYSIS)
    return lock_url(settings, MONTH)


def stored(aws, url) -> dict | None:
    return read_lock(aws, url)[0]


def write_holder(aws, url, **holder) -> None:
    bucket, key = url[5:].split("/", 1)
    aws.call("s3", "put_object", Bucket=bucket, Key=key, Body=json.dumps(holder).encode())


def at(minutes_ago: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).isoformat(timespec="seconds")


def test_the_lock_is_an_object_under_the_analysis_root(url):
    assert url == f"s3://{ANALYSIS}/runs/{MONTH}/lock.json"


def test_a_second_run_is_refused_naming_the_holder_and_since_when(aws, url):
    with S3RunLock(aws, url, MONTH, "(starting)") as first:
        first.name_run("20261101T020000Z")
        holder = stored(aws, url)
        assert holder["run_id"] == "20261101T020000Z" and holder["pid"] > 0 and holder["host"] and holder["user"]
        with pytest.raises(RunLocked) as caught:
            S3RunLock(aws, url, MONTH, "20261101T020500Z").acquire()
        text = str(caught.value)
        assert f"another run of {MONTH} holds the lock: run 20261101T020000Z by {holder['user']}@{holder['host']}" in text
        assert f"since {holder['started_at']}" in text and "heartbeat is fresh" in text
        assert "STALE" not in text
    assert stored(aws, url) is None  # released


def test_only_one_of_many_racing_machines_gets_the_lock(aws, url):
    won, refused = [], []

    def race(n):
        try:
            won.append(S3RunLock(aws, url, MONTH, f"run-{n}", heartbeat_s=60).acquire())
        except RunLocked:
            refused.append(n)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and len(refused) == 5
    won[0].release()


def test_the_heartbeat_is_renewed_while_the_run_goes_on(aws, url):
    with S3RunLock(aws, url, MONTH, "r1", heartbeat_s=0.05) as lock:
        first = stored(aws, url)["heartbeat_at"]
        clock = datetime.now(timezone.utc) + timedelta(seconds=5)
        lock.now = lambda: clock  # later heartbeats carry a later time
        deadline = time.monotonic() + 5
        while stored(aws, url)["heartbeat_at"] == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stored(aws, url)["heartbeat_at"] > first
        assert stored(aws, url)["started_at"] == first


def test_a_stale_lock_is_reported_as_stale_and_break_lock_takes_it_over(aws, url):
    write_holder(aws, url, run_id="20261101T020000Z", host="old-host", user="ops", pid=7,
                 started_at=at(90), heartbeat_at=at(30))
    with pytest.raises(RunLocked) as caught:
        S3RunLock(aws, url, MONTH, "r2").acquire()
    assert "run 20261101T020000Z by ops@old-host (pid 7)" in str(caught.value)
    assert "STALE (limit 600 s)" in str(caught.value) and "--break-lock" in str(caught.value)
    out = io.StringIO()
    with S3RunLock(aws, url, MONTH, "r2", break_lock=True, out=out) as lock:
        assert stored(aws, url)["run_id"] == "r2"
        record = lock.record()
        assert record["broke"]["run_id"] == "20261101T020000Z" and record["broke"]["host"] == "old-host"
        assert "broke the stale lock of 2026-10" in out.getvalue()
    assert stored(aws, url) is None


def test_break_lock_does_not_take_a_live_lock(aws, url):
    with S3RunLock(aws, url, MONTH, "alive"):
        with pytest.raises(RunLocked, match="heartbeat is fresh"):
            S3RunLock(aws, url, MONTH, "intruder", break_lock=True).acquire()
        assert stored(aws, url)["run_id"] == "alive"


def test_a_holder_whose_lock_was_broken_finds_out_and_leaves_the_new_lock_alone(aws, url):
    out = io.StringIO()
    old = S3RunLock(aws, url, MONTH, "old", heartbeat_s=3600, out=out).acquire()
    later = datetime.now(timezone.utc) + timedelta(hours=1)  # the old holder looks dead from here
    new = S3RunLock(aws, url, MONTH, "new", break_lock=True, now=lambda: later, out=io.StringIO()).acquire()
    old.renew()
    assert old.lost and "taken over by run new" in out.getvalue()
    old.release()
    assert stored(aws, url)["run_id"] == "new"  # the old holder did not delete it
    new.release()
    assert stored(aws, url) is None


def test_the_lock_is_released_when_the_body_raises(aws, url):
    for error in (RuntimeError("stage failed"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            with S3RunLock(aws, url, MONTH, "r"):
                raise error
        assert stored(aws, url) is None
