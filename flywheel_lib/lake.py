"""Where the local backend keeps each table's data, and the marker beside it.

Every table has one folder per published version:

    <output root>/<TABLE>/<snapshot_dt>__<run id>/id_bucket=<n>/*.parquet
    <output root>/<TABLE>/<snapshot_dt>__<run id>/_flywheel.json

A version is written under a hidden `.tmp-` name and renamed when complete, so
a folder without the prefix is always whole. Versions never overwrite each
other: last month's stays readable until the catalog switches to the new one.
Version names hold no `=`, which Parquet readers would take for a partition.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

MARKER = "_flywheel.json"
BUCKET_DIR = re.compile(r"id_bucket=(\d+)")
_VERSION = re.compile(r"(\d{4}-\d{2}-\d{2})__(.+)")


def version_name(snapshot_dt: str, run_id: str) -> str:
    return f"{snapshot_dt}__{run_id}"


def table_dir(output_root: str, folder: str) -> Path:
    return Path(output_root) / folder


def version_dir(output_root: str, folder: str, snapshot_dt: str, run_id: str) -> Path:
    return table_dir(output_root, folder) / version_name(snapshot_dt, run_id)


def temp_dir_for(final: Path) -> Path:
    return final.parent / f".tmp-{final.name}"


def read_marker(version: Path) -> dict | None:
    """The marker of a complete version, or None when there is none."""
    try:
        return json.loads((Path(version) / MARKER).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_marker(version: Path, marker: dict) -> None:
    path = Path(version) / MARKER
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(marker, indent=2, sort_keys=True))
    os.replace(tmp, path)


def commit_version(temp: Path, final: Path) -> None:
    """Make a fully written version visible under its final name."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(temp, final)


def bucket_folders(version: Path) -> dict[int, Path]:
    """id_bucket -> folder, for every `id_bucket=<n>` folder of a version."""
    found = {}
    for child in Path(version).iterdir():
        match = BUCKET_DIR.fullmatch(child.name)
        if match and child.is_dir():
            found[int(match.group(1))] = child
    return found


def versions(output_root: str, folder: str) -> list[tuple[str, str, Path]]:
    """(snapshot_dt, run id, path) of every complete version of a table, oldest first."""
    root = table_dir(output_root, folder)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _VERSION.fullmatch(child.name)
        if match and child.is_dir():
            found.append((match.group(1), match.group(2), child))
    return sorted(found)


def parquet_rows(paths) -> int:
    """Rows of Parquet files, from their footers (no data is read)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def bucket_row_counts(location: str | Path, partitioned: bool = True) -> dict[int, int]:
    """Rows per id_bucket from the Parquet footers (no data is read); -1 for an unpartitioned table."""
    location = Path(location)
    folders = bucket_folders(location) if partitioned else {-1: location}
    return {
        bucket: parquet_rows(folder.glob("*.parquet"))
        for bucket, folder in sorted(folders.items())
    }


def add_null_counts(metadata, nulls: dict[str, int]) -> int:
    """Add a file's per-column null counts (from its footer) into `nulls`; returns its rows.

    A column chunk without statistics counts as all null rather than hide a problem.
    """
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for i in range(group.num_columns):
            chunk = group.column(i)
            if chunk.path_in_schema in nulls:
                stats = chunk.statistics
                nulls[chunk.path_in_schema] += (stats.null_count if stats is not None and stats.has_null_count
                                                else group.num_rows)
    return metadata.num_rows
