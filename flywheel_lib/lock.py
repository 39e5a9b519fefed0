"""One run per month at a time: an exclusive `flock` on `runs/<month>/.lock`.

The kernel releases a `flock` when its holder dies, however it dies, so a
lock left by a killed run never needs cleaning up by hand. The file itself
stays on disk; what it holds (pid, host, start) is only there to name the
holder in the error a second run gets. A run whose manifest still says
"running" while nobody holds this lock was interrupted.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

from .errors import RunLocked

LOCK_NAME = ".lock"


def lock_path(month_dir: str | Path) -> Path:
    return Path(month_dir) / LOCK_NAME


class RunLock:
    """Held for the whole run: `with RunLock(month_dir, month):`."""

    def __init__(self, month_dir: str | Path, month: str):
        self.path = lock_path(month_dir)
        self.month = month
        self._file = None

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # "a+" so that failing to lock does not truncate the holder's details.
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(handle)
            handle.close()
            raise RunLocked(
                f"another run of {self.month} holds the lock "
                f"(pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
                f"started {holder.get('started_at', '?')})",
                month=self.month,
                path=str(self.path),
                hint="Wait for it to finish; the lock is released when that process ends",
            ) from None
        handle.seek(0)
        handle.truncate()
        json.dump(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
            handle,
        )
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def is_held(month_dir: str | Path) -> bool:
    """True while some process (this one included) holds the month's lock."""
    path = lock_path(month_dir)
    if not path.exists():
        return False
    with open(path, encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _read_holder(handle) -> dict:
    handle.seek(0)
    try:
        return json.loads(handle.read() or "{}")
    except ValueError:
        return {}
