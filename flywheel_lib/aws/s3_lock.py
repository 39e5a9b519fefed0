"""One run of a month at a time across machines (dev, prod): a lock object in S3.

The lock is `<analysis root>/runs/<month>/lock.json`, created with a
conditional put (`IfNoneMatch="*"`: S3 answers 412 when the key exists, so
two machines can never both create it). It names its holder (run id, host,
user, pid, start) and carries a heartbeat that a thread renews while the run
goes on, each renewal conditional on the ETag this holder last wrote
(`IfMatch`), so a holder whose lock was broken finds out instead of writing
over the new holder. It is deleted at the end, whatever the ending, again only
if it is still ours. A lock whose heartbeat is older than `STALE_AFTER_S` is
reported as stale, and only then can `--break-lock` take it over.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
import threading
from datetime import datetime, timezone

from ..errors import FlywheelError, RunLocked
from .errors import AwsNotFound, AwsPreconditionFailed, AwsTransientError
from .s3 import split_url

LOCK_NAME = "lock.json"
HEARTBEAT_S = 60.0
STALE_AFTER_S = 600.0  # ten missed heartbeats: the holder is gone (or cut off from S3)


def lock_url(settings, month: str) -> str:
    return f"{settings.analysis_root}/runs/{month}/{LOCK_NAME}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def holder_record(run_id: str, now: datetime, **extra) -> dict:
    """Who holds the lock: what a second run prints, and what the manifest keeps."""
    stamp = now.isoformat(timespec="seconds")
    return {"run_id": run_id, "host": socket.gethostname(), "user": _user(), "pid": os.getpid(),
            "started_at": stamp, "heartbeat_at": stamp, **extra}


def heartbeat_age(holder: dict, now: datetime) -> float | None:
    try:
        return (now - datetime.fromisoformat(holder["heartbeat_at"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


def describe(holder: dict, now: datetime, stale_after_s: float = STALE_AFTER_S) -> str:
    """'run X by user@host (pid N), since T; last heartbeat 12 s ago' (+ stale, when it is)."""
    age = heartbeat_age(holder, now)
    text = (f"run {holder.get('run_id', '?')} by {holder.get('user', '?')}@{holder.get('host', '?')} "
            f"(pid {holder.get('pid', '?')}), since {holder.get('started_at', '?')}")
    if holder.get("notebook"):
        text += f", notebook {holder['notebook']}"
    if age is None:
        return text + "; no readable heartbeat: STALE"
    text += f"; last heartbeat {age:.0f} s ago"
    if is_stale(holder, now, stale_after_s):
        text += f": STALE (limit {stale_after_s:.0f} s)"
    return text


def is_stale(holder: dict, now: datetime, stale_after_s: float = STALE_AFTER_S) -> bool:
    age = heartbeat_age(holder, now)
    return age is None or age > stale_after_s


def read_lock(aws, url: str) -> tuple[dict | None, str | None]:
    """The holder written in the lock and its ETag, or (None, None) when nobody holds it."""
    bucket, key = split_url(url)
    try:
        response = aws.call("s3", "get_object", where={"path": url}, Bucket=bucket, Key=key)
    except AwsNotFound:
        return None, None
    with aws.boundary("s3", "GetObject", path=url):
        raw = response["Body"].read()
    try:
        holder = json.loads(raw)
    except ValueError:
        holder = {"run_id": "?", "unreadable": raw[:200].decode("utf-8", "replace")}
    return holder, response["ETag"]


class S3RunLock:
    """`with S3RunLock(aws, url, month, run_id):` holds the month's lock, heartbeat included."""

    def __init__(self, aws, url: str, month: str, run_id: str, *, break_lock: bool = False,
                 heartbeat_s: float = HEARTBEAT_S, stale_after_s: float = STALE_AFTER_S,
                 now=_now, out=sys.stderr, **holder_extra):
        self.aws, self.url, self.month, self.out = aws, url, month, out
        self.break_lock, self.heartbeat_s, self.stale_after_s, self.now = (
            break_lock, heartbeat_s, stale_after_s, now)
        self.holder = holder_record(run_id, now(), **holder_extra)
        self.etag: str | None = None
        self.broke: dict | None = None  # the stale holder this run took the lock from
        self.lost: str | None = None  # set when someone else took the lock from us
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write = threading.Lock()

    # -- taking and giving back -------------------------------------------------------
    def acquire(self) -> "S3RunLock":
        for _ in range(3):  # a lock released between our put and our read: try again
            try:
                self._put(IfNoneMatch="*")
                break
            except (AwsPreconditionFailed, AwsTransientError):  # 412 it exists; 409 a concurrent put
                current, etag = read_lock(self.aws, self.url)
                if current is not None and self._take_over(current, etag):
                    break
        else:
            raise RunLocked(f"the lock of {self.month} changed hands three times while we tried to take it",
                            month=self.month, path=self.url, hint="Try again in a minute")
        self._thread = threading.Thread(target=self._beat, name="lock-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _take_over(self, current: dict, etag: str) -> bool:
        """Break a stale lock when asked (True), else refuse naming the holder."""
        now = self.now()
        if not self.break_lock or not is_stale(current, now, self.stale_after_s):
            hint = ("Pass --break-lock to take it over (it is stale: its holder stopped renewing it)"
                    if is_stale(current, now, self.stale_after_s) else
                    "Wait for it to finish; its heartbeat is fresh, so it is alive")
            raise RunLocked(f"another run of {self.month} holds the lock: {describe(current, now, self.stale_after_s)}",
                            month=self.month, path=self.url, hint=hint)
        try:
            self._put(IfMatch=etag)  # only the stale lock we read: not one taken since
        except AwsPreconditionFailed:
            return False
        self.broke = {**current, "broken_at": now.isoformat(timespec="seconds")}
        print(f"warning: broke the stale lock of {self.month}: {describe(current, now, self.stale_after_s)}",
              file=self.out, flush=True)
        return True

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.etag is None or self.lost:
            return
        bucket, key = split_url(self.url)
        try:  # only our own lock: a breaker's stays
            self.aws.call("s3", "delete_object", where={"path": self.url}, Bucket=bucket, Key=key,
                          IfMatch=self.etag)
        except (AwsPreconditionFailed, AwsNotFound):
            self.lost = "the lock was no longer ours when the run ended"
        self.etag = None

    def __enter__(self) -> "S3RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    # -- while it is held ---------------------------------------------------------------
    def name_run(self, run_id: str) -> None:
        """The run id is chosen once the lock is held: write it in."""
        self.holder["run_id"] = run_id
        self.renew()

    def renew(self) -> None:
        with self._write:
            if self.lost or self.etag is None:
                return
            self.holder["heartbeat_at"] = self.now().isoformat(timespec="seconds")
            try:
                self._put(IfMatch=self.etag)
            except (AwsPreconditionFailed, AwsNotFound):
                current, _ = read_lock(self.aws, self.url)
                self.lost = f"taken over by {describe(current, self.now()) if current else 'nobody (deleted)'}"
                print(f"warning: this run's lock of {self.month} was {self.lost}", file=self.out, flush=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.renew()
            except FlywheelError as err:  # a missed heartbeat is retried; the run goes on
                print(f"warning: lock heartbeat not written: {err}", file=self.out, flush=True)

    def _put(self, **condition) -> None:
        bucket, key = split_url(self.url)
        body = json.dumps(self.holder, indent=2, sort_keys=True).encode()
        response = self.aws.call("s3", "put_object", where={"path": self.url}, Bucket=bucket, Key=key,
                                 Body=body, ContentType="application/json", **condition)
        self.etag = response["ETag"]

    def record(self) -> dict:
        """What the run manifest says about its lock."""
        return {"kind": "s3", "location": self.url, "holder": dict(self.holder), "broke": self.broke,
                "lost": self.lost, "heartbeat_s": self.heartbeat_s, "stale_after_s": self.stale_after_s}
