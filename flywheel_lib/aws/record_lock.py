"""S3 Object Lock on the bucket that keeps the run records' copies (record_mirror.py).

Read once when the mirror starts (`GetObjectLockConfiguration`). Three answers:

- no Object Lock on the bucket: copies are written as before;
- Object Lock with a default retention rule: S3 locks every new object itself;
  we only say so, and send the checksum S3 asks for;
- Object Lock without a default rule: we lock each copy ourselves, with
  `record_lock_mode` until `record_lock_days` after the mirror started.

A bucket with Object Lock is versioned (S3 turns versioning on with it), so a
rewritten object keeps every earlier version, each under its own retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .errors import AwsError

# S3 API reference, Error responses: 404 ObjectLockConfigurationNotFoundError, "Object Lock
# configuration does not exist for this bucket" (moto 5.2.5 answers the same).
NOT_LOCKED = "ObjectLockConfigurationNotFoundError"
BUCKET_DEFAULT = "bucket default"
OURS = "flywheel"


@dataclass(frozen=True)
class RecordLock:
    """How the copies in one bucket are locked; `enabled` False: not at all."""

    enabled: bool
    by: str = ""                        # BUCKET_DEFAULT or OURS
    mode: str = ""                      # GOVERNANCE or COMPLIANCE
    retain_until: datetime | None = None  # ours only
    default_period: str = ""            # the bucket's rule, e.g. "30 days"

    def upload_args(self) -> dict | None:
        """PutObject's Object Lock parameters for a copy; None: the bucket has no Object Lock."""
        if not self.enabled:
            return None
        if self.by == OURS:
            return {"ObjectLockMode": self.mode, "ObjectLockRetainUntilDate": self.retain_until}
        return {}

    def record(self) -> dict | None:
        """What the manifest's `mirror.lock` says."""
        if not self.enabled:
            return None
        if self.by == OURS:
            return {"by": OURS, "mode": self.mode, "retain_until": self.retain_until.isoformat(timespec="seconds")}
        return {"by": BUCKET_DEFAULT, "mode": self.mode, "period": self.default_period}

    def text(self) -> str:
        """'locked until 2028-01-05 (GOVERNANCE)', for the end-of-run location; '' when not locked."""
        if not self.enabled:
            return ""
        if self.by == OURS:
            return f"locked until {self.retain_until:%Y-%m-%d} ({self.mode})"
        return f"locked by the bucket's default retention ({self.mode}, {self.default_period})"


def bucket_lock(aws, bucket: str) -> dict | None:
    """The bucket's `ObjectLockConfiguration`, or None when Object Lock is not enabled on it."""
    try:
        response = aws.call("s3", "get_object_lock_configuration", where={"path": f"s3://{bucket}"}, Bucket=bucket)
    except AwsError as err:
        if err.code == NOT_LOCKED:
            return None
        raise
    config = response.get("ObjectLockConfiguration", {})
    return config if config.get("ObjectLockEnabled") == "Enabled" else None


def read(aws, bucket: str, settings, now: datetime | None = None) -> RecordLock:
    """How copies written now to `bucket` are locked (ours: from the settings' mode and days)."""
    config = bucket_lock(aws, bucket)
    if config is None:
        return RecordLock(False)
    # botocore s3 model, DefaultRetention: Mode, and Days or Years.
    default = config.get("Rule", {}).get("DefaultRetention")
    if default:
        period = f"{default['Days']} days" if default.get("Days") else f"{default.get('Years')} years"
        return RecordLock(True, BUCKET_DEFAULT, default.get("Mode", ""), default_period=period)
    now = now or datetime.now(timezone.utc)
    return RecordLock(True, OURS, settings.record_lock_mode, now + timedelta(days=settings.record_lock_days))


def not_retained(response: dict, now: datetime) -> bool:
    """Whether a GetObject/HeadObject answer shows no retention in force on the object.

    S3 returns ObjectLockMode and ObjectLockRetainUntilDate only to a caller allowed
    s3:GetObjectRetention (S3 User Guide, "Managing Object Lock"): the runner's policy grants it.
    """
    until = response.get("ObjectLockRetainUntilDate")
    return not response.get("ObjectLockMode") or until is None or until <= now
