"""Keep the newest `retention_months` snapshots of every table on S3; never what the catalog serves."""

from __future__ import annotations

import re

from . import s3

_VERSION = re.compile(r"(\d{4}-\d{2}-\d{2})__(.+)")


def versions(aws, root: str) -> list[tuple[str, str, str]]:
    """(table folder, snapshot_dt, version location) of every version under an output root."""
    found = []
    for table in s3.list_folders(aws, root):
        for version in s3.list_folders(aws, table):
            match = _VERSION.fullmatch(version.rsplit("/", 1)[-1])
            if match:
                found.append((table.rsplit("/", 1)[-1], match.group(1), version))
    return found


def expired(found: list[tuple[str, str, str]], keep_months: int, in_use: set[str]) -> list[str]:
    """Versions beyond each table's newest `keep_months` snapshot dates, minus those in use."""
    by_table: dict[str, list[tuple[str, str]]] = {}
    for table, snapshot_dt, location in found:
        by_table.setdefault(table, []).append((snapshot_dt, location))
    old = []
    for items in by_table.values():
        newest = sorted({dt for dt, _ in items})[-keep_months:]
        old += [loc for dt, loc in items if dt not in newest and loc.rstrip("/") not in in_use]
    return sorted(old)


def prune(aws, roots: list[str], keep_months: int, in_use: set[str]) -> list[str]:
    removed = []
    for root in roots:
        for location in expired(versions(aws, root), keep_months, in_use):
            s3.delete_folder(aws, location)
            removed.append(location)
    return removed
