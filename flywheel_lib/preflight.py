"""Preflight: everything about the input that can be known before any stage runs or any Glue job starts.

The mapping file must load; both snapshots must be found and agree on their
date; and every raw file must be Parquet whose footer (locally read from disk,
on S3 by ranged GET: no data is read) shows the key column and, for the
infobase snapshot, every mapping column (in any case, as the split matches
them), with at least one row in the snapshot. A refusal names the file and
what to do; nothing has been written yet.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import SnapshotError
from .mapping import SOURCE_KEY, Mapping, load_mapping
from .snapshots import Snapshot, SnapshotPair, resolve_snapshots

REDELIVER = "Ask the upstream to redeliver it; nothing was written"


def checked_snapshots(settings, month: str, allow_mismatch: bool = False) -> SnapshotPair:
    """The runner's preflight: the month's SnapshotPair, refused early if any input cannot work."""
    mapping = load_mapping(settings.mapping_path or None)
    pair = resolve_snapshots(settings, month, allow_mismatch)
    read = _footer_reader(settings)
    for snapshot in (pair.addressable, pair.infobase):
        footers = [(f.path, read(f)) for f in snapshot.files]
        check_snapshot(snapshot, footers, mapping if snapshot.dataset == "infobase_attributes" else None)
    return pair


def check_snapshot(snapshot: Snapshot, footers: list[tuple[str, pq.FileMetaData]], mapping: Mapping | None) -> None:
    """Refuse a snapshot with no rows, or a file without the key or a mapping column."""
    if sum(meta.num_rows for _, meta in footers) == 0:
        raise SnapshotError(f"the {snapshot.dataset} snapshot {snapshot.snapshot_dt} has 0 rows in "
                            f"{len(footers)} file(s)", path=snapshot.location, hint=REDELIVER)
    needed = [SOURCE_KEY] + (sorted(set(mapping.source_columns()) - {SOURCE_KEY}) if mapping else [])
    for path, meta in footers:
        present = {name.lower() for name in meta.schema.to_arrow_schema().names}
        missing = [name for name in needed if name.lower() not in present]
        if missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            what = "the key column" if missing[0] == SOURCE_KEY else "mapping column(s)"
            raise SnapshotError(f"a raw {snapshot.dataset} file lacks {what} {shown} (any case)", path=path,
                                hint=REDELIVER if missing[0] == SOURCE_KEY else
                                "Fix the mapping (FLYWHEEL_MAPPING) or ask the upstream to redeliver")


def _footer_reader(settings):
    """A function RawFile -> FileMetaData for the backend's storage; unreadable files are named."""
    if settings.is_local:
        return lambda raw: _named(raw.path, lambda: pq.read_metadata(raw.path))
    from .aws import parquet_s3, s3  # boto3 only where AWS is used
    from .aws.session import AwsClients

    aws = AwsClients(settings)
    return lambda raw: _named(raw.path, lambda: parquet_s3.metadata(aws, s3.S3Object(raw.path, raw.size)))


def _named(path: str, read):
    try:
        return read()
    except (pa.ArrowInvalid, OSError) as err:  # truncated, not Parquet, unreadable
        raise SnapshotError(f"a raw file is not readable Parquet ({err})", path=path, hint=REDELIVER) from err

