"""Find the raw snapshots of a refresh month, and cross-check the two datasets.

Raw data arrives as `<raw root>/snapshot_dt=YYYY-MM-DD/*.parquet`, one root per
dataset. The snapshot of month `YYYY-MM` is the latest `snapshot_dt` inside
that month that holds Parquet files. The two datasets must agree on the date
(the old system picked them independently, DOMAIN "Get right" 4).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .errors import SnapshotError, SnapshotNotArrived

DATASETS = ("addressable_ids", "infobase_attributes")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
SNAPSHOT_DIR = re.compile(r"snapshot_dt=(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class RawFile:
    path: str
    size: int


@dataclass(frozen=True)
class Snapshot:
    dataset: str
    snapshot_dt: str
    location: str
    files: tuple[RawFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def glob(self) -> str:
        return f"{self.location}/*.parquet"


@dataclass(frozen=True)
class SnapshotPair:
    month: str
    addressable: Snapshot
    infobase: Snapshot
    mismatch_allowed: bool = False

    def of(self, dataset: str) -> Snapshot:
        return self.addressable if dataset == "addressable_ids" else self.infobase

    def as_record(self) -> dict:
        """What a run manifest says about its inputs."""
        return {
            "month": self.month,
            "mismatch_allowed": self.mismatch_allowed,
            "datasets": {
                s.dataset: {
                    "snapshot_dt": s.snapshot_dt,
                    "location": s.location,
                    "files": [{"path": f.path, "size": f.size} for f in s.files],
                }
                for s in (self.addressable, self.infobase)
            },
        }


def parse_month(text: str) -> str:
    """'2026-10' -> '2026-10'; anything else is a clear error."""
    match = _MONTH.fullmatch(str(text).strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise SnapshotError(
            f"month {text!r} is not YYYY-MM",
            hint="Give the refresh month like --month 2026-10",
        )
    return match.group(0)


def demo_snapshot_dt(month: str) -> str:
    """The date a generated demo snapshot gets: the month's last day (data as of month end)."""
    year, number = map(int, parse_month(month).split("-"))
    return f"{month}-{calendar.monthrange(year, number)[1]:02d}"


def list_snapshot_dates(raw_root: str | Path) -> list[str]:
    """Every snapshot date under a raw root that holds at least one Parquet file, oldest first."""
    root = Path(raw_root)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = SNAPSHOT_DIR.fullmatch(child.name)
        if match and child.is_dir() and any(child.glob("*.parquet")):
            found.append(match.group(1))
    return sorted(found)


def find_snapshot(raw_root: str | Path, dataset: str, month: str) -> Snapshot:
    """The latest snapshot of `dataset` within `month`."""
    month = parse_month(month)
    in_month = dates_in_month(list_snapshot_dates(raw_root), month)
    if not in_month:
        return _missing(raw_root, dataset, month)
    snapshot_dt = in_month[-1]
    check_date(snapshot_dt, raw_root)
    location = Path(raw_root) / f"snapshot_dt={snapshot_dt}"
    files = tuple(
        RawFile(str(p), p.stat().st_size) for p in sorted(location.glob("*.parquet"))
    )
    return Snapshot(dataset, snapshot_dt, str(location), files)


def resolve_snapshots(settings, month: str, allow_mismatch: bool = False) -> SnapshotPair:
    """Both snapshots of `month`, cross-checked: files on disk, or on S3 for dev and prod."""
    month = parse_month(month)
    if not settings.is_local:
        from .aws import s3_snapshots  # boto3 only where AWS is used
        from .aws.session import AwsClients

        return s3_snapshots.resolve_snapshots(AwsClients(settings), settings, month, allow_mismatch)
    addressable = find_snapshot(settings.raw_root("addressable_ids"), "addressable_ids", month)
    infobase = find_snapshot(settings.raw_root("infobase_attributes"), "infobase_attributes", month)
    return cross_check(month, addressable, infobase, allow_mismatch)


def dates_in_month(dates, month: str) -> list[str]:
    """The snapshot dates that fall inside `month`, oldest first."""
    month = parse_month(month)
    return sorted(d for d in dates if d.startswith(month + "-"))


def cross_check(month: str, addressable: Snapshot, infobase: Snapshot,
                allow_mismatch: bool = False) -> SnapshotPair:
    """The pair, unless the two dates differ and that was not explicitly allowed (DOMAIN "Get right" 4)."""
    if addressable.snapshot_dt != infobase.snapshot_dt and not allow_mismatch:
        raise SnapshotError(
            f"snapshot dates differ: addressable_ids {addressable.snapshot_dt}, "
            f"infobase_attributes {infobase.snapshot_dt}",
            month=month,
            hint="Wait for the matching snapshot, or pass --allow-snapshot-mismatch "
            "to refresh with both as they are",
        )
    return SnapshotPair(month, addressable, infobase, allow_mismatch)


def latest_month(settings) -> str:
    """The newest month for which both datasets have a snapshot (for notebooks run without one)."""
    if settings.is_local:
        dates = {ds: list_snapshot_dates(settings.raw_root(ds)) for ds in DATASETS}
    else:
        from .aws import s3_snapshots
        from .aws.session import AwsClients

        aws = AwsClients(settings)
        dates = {ds: s3_snapshots.snapshot_dates(aws, settings.raw_root(ds)) for ds in DATASETS}
    months = [{d[:7] for d in dates[ds]} for ds in DATASETS]
    common = sorted(months[0] & months[1])
    if not common:
        raise SnapshotError(
            "no month has snapshots of both datasets",
            path=settings.raw_root("addressable_ids"),
            hint="Generate a demo snapshot: python run_refresh.py --month YYYY-MM --demo-rows 5000",
        )
    return common[-1]


def check_date(snapshot_dt: str, raw_root) -> None:
    try:
        date.fromisoformat(snapshot_dt)
    except ValueError as err:
        raise SnapshotError(
            f"folder snapshot_dt={snapshot_dt} is not a real date", path=str(raw_root)
        ) from err


def _missing(raw_root, dataset: str, month: str):
    available = list_snapshot_dates(raw_root)
    shown = ", ".join(available[-3:]) if available else "none"
    raise SnapshotNotArrived(
        f"no {dataset} snapshot for {month} (latest available: {shown})",
        month=month,
        path=str(raw_root),
        hint="Check that the upstream delivery landed, or pick another --month",
    )
