"""What the driver holds and checks around a run of a month, before it writes anything.

- The month's lock: the machine's `flock` always (lock.py: it tells an
  interrupted run from a running one), and on dev/prod also the S3 lock every
  machine sees (aws/s3_lock.py).
- Months a schedule missed: if the catalog's newest month is older than the
  month before the one asked for, say which were never refreshed (and, on AWS,
  send it to the refresh topic).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from . import months, run_end
from .errors import FlywheelError
from .lock import RunLock, lock_path


class LocalLock:
    """The local backend's lock is the flock alone; this gives it the same face as the S3 lock."""

    def __init__(self, month_dir):
        self.path = lock_path(month_dir)

    def name_run(self, run_id: str) -> None:
        """The flock names no run: its holder is this process."""

    def record(self) -> dict:
        return {"kind": "flock", "location": str(self.path), "broke": None, "lost": None}


@contextmanager
def month_lock(settings, month_dir: str | Path, month: str, break_lock: bool = False, out=None):
    """Hold the month for one run: `with month_lock(...) as lock: ...; lock.name_run(run_id)`."""
    with RunLock(month_dir, month):
        if settings.is_local:
            if break_lock and out is not None:
                print("note: --break-lock is for the S3 lock of dev/prod; the local lock is released "
                      "when its holder dies", file=out, flush=True)
            yield LocalLock(month_dir)
            return
        from .aws.s3_lock import S3RunLock, lock_url  # boto3 only where AWS is used
        from .aws.session import AwsClients

        kwargs = {"out": out} if out is not None else {}
        with S3RunLock(AwsClients(settings), lock_url(settings, month), month, "(starting)",
                       break_lock=break_lock, **kwargs) as lock:
            yield lock


def report_missed(settings, month: str, out) -> list[str]:
    """Months between the catalog's newest and `month` that were never refreshed; said, and sent on AWS."""
    missed = months.missed_months(months.last_served_month(run_end.serving(settings)), month)
    if not missed:
        return []
    sentence = months.gap_sentence(missed, month)
    print(sentence, file=out, flush=True)
    if not settings.is_local:
        note = _notify_missed(settings, month, sentence)
        if note.get("error"):
            print(f"warning: the missed-months notification was not sent: {note['error']}", file=out, flush=True)
    return missed


def _notify_missed(settings, month: str, sentence: str) -> dict:
    from .aws.notify import publish, topic_arn
    from .aws.session import AwsClients

    try:
        aws = AwsClients(settings)
        subject = f"[flywheel {settings.env}] refresh {month}: months never refreshed"
        return publish(aws, topic_arn(aws, settings, "refresh"), subject, sentence).as_record()
    except FlywheelError as err:  # no identity, so no topic: the printed line stands
        return {"error": str(err)}
