"""The run record's copy in S3 (dev, prod), so it outlives the machine that ran it.

At every manifest write (records.AFTER_WRITE) the files that changed since the
last copy go to `<analysis root>/runs/<month>/<run id>/`, the manifest last;
`<runs dir>/index.html` goes to `<analysis root>/runs/index.html` when the run
ends. A failed upload never fails the run: the manifest's `mirror` and the
end-of-run message say what is missing, later writes retry it, and the next
run of the month copies its record whole again. Reading a copy back:
`list_runs` and `verify` (`--list s3://…`, `--verify s3://…`).

Where the bucket has S3 Object Lock (aws/record_lock.py, read once at `start`),
every copy is written under it: locked by the bucket's default retention rule,
or, without one, by ours (`record_lock_mode` until `record_lock_days` later);
`manifest['mirror']['lock']` says which. Such a bucket is versioned, so each
rewrite of `manifest.json` (one per manifest write) keeps the earlier version,
each locked: that is wanted, a history of the record no one can rewrite. A
stale copy's delete only adds a delete marker there (the locked versions stay),
which is what deleting means on a versioned bucket, not a failure. `verify`
also names the objects of a locked bucket's copy that are not under retention.
"""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import datetime, timezone
from pathlib import Path

from . import records, review
from .errors import FlywheelError, RunError

RUNS = "runs"
_MANIFEST_KEY = re.compile(r"(\d{4}-\d{2})/(\d{8}T\d{6}Z(?:-\d+)?)/" + re.escape(records.MANIFEST))


def runs_url(settings) -> str:
    return f"{settings.analysis_root}/{RUNS}"


class Mirror:
    """Copies one run record to S3 as it is written."""

    def __init__(self, aws, run_dir: Path, url: str, runs_page: Path, out):
        from .aws.record_lock import RecordLock

        self.aws, self.run_dir, self.url, self.runs_page, self.out = aws, Path(run_dir), url, runs_page, out
        self.lock = RecordLock(False)  # until read_lock
        self.uploaded: dict[str, str] = {}  # relative path -> SHA-256 copied by this process
        self.failed: dict[str, str] = {}  # relative path -> why its copy failed
        self._lock = threading.Lock()

    def sync(self, run_dir, manifest: dict) -> None:
        """Copy what changed, then the manifest; note the outcome in `manifest['mirror']`."""
        if Path(run_dir) != self.run_dir:
            return
        with self._lock:
            wanted = {name: entry["sha256"] for name, entry in manifest.get("files", {}).items()}
            for name in sorted(set(self.uploaded) - set(wanted) - {records.MANIFEST}):  # moved since
                self._delete(name)
            for name, digest in sorted(wanted.items()):
                if self.uploaded.get(name) != digest:
                    self._upload(name, digest)
            self._upload(records.MANIFEST, records.file_checksum(self.run_dir / records.MANIFEST)["sha256"])
            manifest["mirror"] = self.record()  # kept by the next manifest write

    def read_lock(self, settings) -> None:
        """The bucket's Object Lock, read once; unreadable: noted, and copies go without ours."""
        from .aws import record_lock, s3

        try:
            self.lock = record_lock.read(self.aws, s3.split_url(self.url)[0], settings)
        except FlywheelError as err:
            self.failed["(object lock)"] = f"the bucket's Object Lock configuration was not read: {err}"

    def _upload(self, name: str, digest: str) -> None:
        from .aws import s3

        try:
            s3.upload_file(self.aws, self.run_dir / name, f"{self.url}/{name}", lock_args=self.lock.upload_args())
        except (FlywheelError, OSError) as err:
            self.failed[name] = str(err)
            return
        self.uploaded[name] = digest
        self.failed.pop(name, None)

    def _delete(self, name: str) -> None:
        from .aws import s3

        try:  # on a locked (versioned) bucket: a delete marker, the locked versions stay
            bucket, key = s3.split_url(f"{self.url}/{name}")
            self.aws.call("s3", "delete_object", where={"path": f"{self.url}/{name}"}, Bucket=bucket, Key=key)
            self.uploaded.pop(name, None)
        except FlywheelError as err:
            self.failed[name] = f"stale copy not deleted: {err}"

    def remove_extras(self) -> None:
        """Objects of this record's copy that the record no longer has (an earlier process's)."""
        from .aws import s3

        try:
            names = [o.url[len(self.url) + 1:] for o in s3.list_objects(self.aws, self.url)]
        except FlywheelError as err:
            self.failed["(listing)"] = str(err)
            return
        self.uploaded.update({n: "" for n in names})  # unknown content: replaced or deleted at sync

    def record(self) -> dict:
        return {"location": self.url + "/", "copied": len(self.uploaded), "failed": dict(sorted(self.failed.items())),
                "lock": self.lock.record()}

    def location_text(self) -> str:
        """Where the record is, for the end-of-run message and the last line printed."""
        if not self.failed:
            locked = f"; {self.lock.text()}" if self.lock.enabled else ""
            return f"run record: {self.url}/ (copy of {self.run_dir}{locked})"
        first = next(iter(sorted(self.failed.items())))
        return (f"warning: {len(self.failed)} file(s) of the run record were not copied to {self.url}/ "
                f"({first[0]}: {first[1]}); the record is whole at {self.run_dir}, and the next run "
                "of the month copies what is missing")

    def close(self) -> None:
        """Stop following manifest writes; copy the runs page."""
        if self.sync in records.AFTER_WRITE:
            records.AFTER_WRITE.remove(self.sync)
        if self.runs_page.is_file():
            self._upload_page()
        if self.failed:
            print(self.location_text(), file=self.out, flush=True)

    def _upload_page(self) -> None:
        from .aws import s3

        url = f"{self.url.rsplit('/', 2)[0]}/{review.PAGE}"
        try:
            s3.upload_file(self.aws, self.runs_page, url, lock_args=self.lock.upload_args())
        except (FlywheelError, OSError) as err:
            self.failed[review.PAGE + " (runs page)"] = str(err)


def start(settings, run_dir: Path, manifest: dict, out) -> Mirror | None:
    """Copy the record of a run on dev/prod now and at every manifest write (None locally)."""
    if settings.is_local:
        return None
    from .aws.session import AwsClients

    url = f"{runs_url(settings)}/{manifest['month']}/{manifest['run_id']}"
    mirror = Mirror(AwsClients(settings), run_dir, url, Path(settings.runs_dir) / review.PAGE, out)
    mirror.read_lock(settings)
    mirror.remove_extras()
    records.AFTER_WRITE.append(mirror.sync)
    mirror.sync(run_dir, manifest)
    return mirror


# ---- reading a copy back ----------------------------------------------------------------

def verify(aws, url: str) -> list[str]:
    """Every way an S3 copy differs from its manifest, as `records.verify` says it for files;
    in a bucket with Object Lock, also every object of the copy not under retention."""
    from .aws import record_lock, s3

    url = url.rstrip("/")
    manifest = s3.read_json(aws, f"{url}/{records.MANIFEST}")
    if manifest is None:
        raise RunError("no run record here: manifest.json not found", path=url,
                       hint="Give s3://<analysis bucket>/runs/<month>/<run id> (see --list s3://…/runs)")
    locked = record_lock.bucket_lock(aws, s3.split_url(url)[0]) is not None
    now = datetime.now(timezone.utc)
    actual, unlocked = {}, []
    for obj in s3.list_objects(aws, url):
        name = obj.url[len(url) + 1:]
        data, answer = s3.read_object(aws, obj.url) or (b"", {})
        if locked and record_lock.not_retained(answer, now):
            unlocked.append(f"not under retention: {name}")
        if name != records.MANIFEST:
            actual[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    return records.differences(manifest.get("files", {}), actual) + sorted(unlocked)


def list_runs(aws, url: str) -> list[dict]:
    """Every run copied under `s3://…/runs`, oldest first, as `records.list_runs` gives them."""
    from .aws import s3
    from .aws.s3_lock import LOCK_NAME, is_stale, read_lock

    url = url.rstrip("/")
    found = []
    for obj in s3.list_objects(aws, url):
        match = _MANIFEST_KEY.fullmatch(obj.url[len(url) + 1:])
        if not match:
            continue
        manifest = s3.read_json(aws, obj.url) or {}
        status = manifest.get("status", "unknown")
        if status == "running":  # running only while its lock names it and is renewed
            holder, _ = read_lock(aws, f"{url}/{match.group(1)}/{LOCK_NAME}")
            alive = holder and holder.get("run_id") == match.group(2) and not is_stale(holder, datetime.now(timezone.utc))
            status = "running" if alive else "interrupted"
        found.append({key: manifest.get(key) for key in
                      ("month", "run_id", "started_at", "ended_at", "duration_s")}
                     | {"status": status, "path": obj.url.rsplit("/", 1)[0]})
    return sorted(found, key=lambda r: (r["month"] or "", r["run_id"] or ""))
