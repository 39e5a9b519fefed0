"""Measure a published local table for the data monitor, mostly from Parquet footers.

Row counts and per-column null counts come from the footers' statistics (no
data is read); only the key's nulls and duplicates need a scan, of one column.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from .. import gate, lake
from ..mapping import KEY
from ..monitor import TableProfile
from .catalog import PARQUET_FORMATS, CatalogEntry
from .sql import connect, parquet_source, quote_any


def profile_table(entry: CatalogEntry, partitions: list[int]) -> TableProfile:
    location = Path(entry.location)
    marker = lake.read_marker(location) or {}
    files = sorted(location.glob("id_bucket=*/*.parquet"))
    rows_per_bucket, null_counts = _footer_counts(location, entry.column_names)
    counts = key_counts(files) if files else {"key_nulls": 0, "key_dupes": 0}
    formats = {k: getattr(entry, k) for k in PARQUET_FORMATS}
    return TableProfile(
        table=entry.name, dataset=entry.dataset, location=str(location),
        bucket_folders=set(lake.bucket_folders(location)), catalog_partitions=set(partitions),
        table_type_ok=formats == PARQUET_FORMATS,
        contract_ok=KEY in entry.column_names and entry.partition_keys == [("id_bucket", "int")],
        recorded_snapshot_dt=marker.get("snapshot_dt"),
        source_rows=_source_rows(marker.get("source_location")),
        rows=sum(rows_per_bucket.values()), key_nulls=int(counts["key_nulls"]), key_dupes=int(counts["key_dupes"]),
        columns=entry.column_names, null_counts=null_counts,
        files=[(str(f), f.stat().st_size) for f in files], rows_per_bucket=rows_per_bucket,
    )


def _footer_counts(location: Path, columns: list[str]) -> tuple[dict[int, int], dict[str, int]]:
    rows_per_bucket: dict[int, int] = {}
    nulls = dict.fromkeys(columns, 0)
    for bucket, folder in lake.bucket_folders(location).items():
        rows_per_bucket[bucket] = 0
        for path in folder.glob("*.parquet"):
            rows_per_bucket[bucket] += lake.add_null_counts(pq.ParquetFile(path).metadata, nulls)
    return rows_per_bucket, nulls


def key_counts(files: list[Path]) -> dict:
    """gate.py's key measurement (rows, key nulls, key duplicates, example keys) over the files."""
    con = connect()
    try:
        cursor = con.execute(gate.key_problems_sql(parquet_source([str(f) for f in files]), quote_any(KEY)))
        return dict(zip([d[0] for d in cursor.description], cursor.fetchall()[0]))
    finally:
        con.close()


def _source_rows(source_location: str | None) -> int | None:
    if not source_location or not Path(source_location).is_dir():
        return None
    files = sorted(Path(source_location).glob("*.parquet"))
    return lake.parquet_rows(files) if files else None
