"""Find a month's raw snapshots on S3: the same rules and types as `flywheel_lib.snapshots`.

The snapshot of month `YYYY-MM` is the latest `snapshot_dt=` folder inside the
month that holds Parquet files, and both datasets must agree on the date.
Only the listing differs from the local discovery: one delimiter listing for
the dates, then the month's folders newest first until one holds Parquet.
"""

from __future__ import annotations

from ..errors import SnapshotNotArrived
from ..snapshots import (SNAPSHOT_DIR, RawFile, Snapshot, SnapshotPair, check_date, cross_check,
                         dates_in_month, parse_month)
from .s3 import find, list_folders


def snapshot_dates(aws, raw_root: str) -> list[str]:
    """Every `snapshot_dt=` folder date under a raw root, oldest first (Parquet not yet checked)."""
    dates = []
    for url in list_folders(aws, raw_root):
        match = SNAPSHOT_DIR.fullmatch(url.rsplit("/", 1)[-1])
        if match:
            dates.append(match.group(1))
    return sorted(dates)


def find_snapshot(aws, raw_root: str, dataset: str, month: str) -> Snapshot:
    """The latest snapshot of `dataset` within `month` that holds Parquet files."""
    month = parse_month(month)
    dates = snapshot_dates(aws, raw_root)
    for snapshot_dt in reversed(dates_in_month(dates, month)):
        location = f"{raw_root.rstrip('/')}/snapshot_dt={snapshot_dt}"
        files = find(aws, location, ".parquet", recursive=False)
        if files:
            check_date(snapshot_dt, raw_root)
            return Snapshot(dataset, snapshot_dt, location, tuple(RawFile(f.url, f.size) for f in files))
    shown = ", ".join(dates[-3:]) if dates else "none"
    raise SnapshotNotArrived(
        f"no {dataset} snapshot with Parquet files for {month} (latest folders: {shown})",
        month=month,
        path=raw_root,
        hint="Check that the upstream delivery landed, or pick another --month",
    )


def resolve_snapshots(aws, settings, month: str, allow_mismatch: bool = False) -> SnapshotPair:
    """Both snapshots of `month` on S3, cross-checked."""
    month = parse_month(month)
    addressable = find_snapshot(aws, settings.raw_root("addressable_ids"), "addressable_ids", month)
    infobase = find_snapshot(aws, settings.raw_root("infobase_attributes"), "infobase_attributes", month)
    return cross_check(month, addressable, infobase, allow_mismatch)
