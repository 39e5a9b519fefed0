"""Leftovers of crashed runs: `.tmp-` folders beside the table versions, removed once a day old.

A split writes each version under `.tmp-<version>` (lake.py; the Glue job's
scratch on S3 is `.tmp-empty-<version>`) and renames or deletes it when done, so
one still there after a day belongs to a run that died. Younger ones may belong
to a run going on now and are left alone. Retention calls this after pruning
and says what it removed.
"""

from __future__ import annotations

import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

TEMP_PREFIX = ".tmp-"
MAX_AGE_S = 24 * 3600


def _last_written(folder: Path) -> float:
    """The newest modification time of the folder or anything in it."""
    times = [folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.rglob("*")]
    return max(times)


def remove_local(roots, now: float | None = None, max_age_s: float = MAX_AGE_S) -> list[str]:
    """Delete `<root>/<TABLE>/.tmp-*` folders not written for `max_age_s`; returns what went."""
    now = time.time() if now is None else now
    removed = []
    for root in map(Path, roots):
        for folder in sorted(root.glob(f"*/{TEMP_PREFIX}*")) if root.is_dir() else []:
            if folder.is_dir() and now - _last_written(folder) > max_age_s:
                shutil.rmtree(folder)
                removed.append(str(folder))
    return removed


def remove_s3(aws, roots, now: datetime | None = None, max_age_s: float = MAX_AGE_S) -> list[str]:
    """The same on S3: a `.tmp-` folder whose newest object is older than `max_age_s`."""
    from .aws import s3

    now = now or datetime.now(timezone.utc)
    removed = []
    for root in roots:
        for table in s3.list_folders(aws, root):
            for folder in s3.list_folders(aws, table):
                if not folder.rsplit("/", 1)[-1].startswith(TEMP_PREFIX):
                    continue
                times = [o.modified for o in s3.list_objects(aws, folder) if o.modified]
                if times and (now - max(times)).total_seconds() > max_age_s:
                    s3.delete_folder(aws, folder)
                    removed.append(folder)
    return removed


def say(removed: list[str]) -> None:
    """One line per removed folder, in the notebook that ran retention."""
    for folder in removed:
        print(f"removed the leftover of a crashed run (not written for over a day): {folder}")
