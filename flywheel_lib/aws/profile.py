"""Measure a published table on AWS for the data monitor: S3 listing, footers, catalog, Athena.

The same `TableProfile` as the local backend, so the same checks apply: folders
and file sizes from one S3 listing, rows and null counts from the Parquet
footers, partitions from the catalog, and key nulls and duplicates from one
Athena statement over all the tables (asked once, by the backend).
"""

from __future__ import annotations

from collections import defaultdict

from .. import lake
from ..local.catalog import PARQUET_FORMATS, CatalogEntry
from ..mapping import KEY
from ..monitor import TableProfile
from . import glue_catalog, parquet_s3, s3


def files_by_bucket(aws, location: str) -> dict[int, list[s3.S3Object]]:
    """id_bucket -> its Parquet objects (every bucket folder present, even an empty one)."""
    found: dict[int, list[s3.S3Object]] = defaultdict(list)
    prefix = location.rstrip("/") + "/"
    for obj in s3.list_objects(aws, location):
        folder = obj.url[len(prefix):].split("/", 1)[0]
        match = lake.BUCKET_DIR.fullmatch(folder)
        if match and obj.name.endswith(".parquet"):
            found[int(match.group(1))].append(obj)
        elif match:
            found.setdefault(int(match.group(1)), [])
    return dict(sorted(found.items()))


def bucket_rows(aws, location: str, partitioned: bool = True) -> dict[int, int]:
    """Rows per id_bucket from the footers; -1 for an unpartitioned table."""
    if not partitioned:
        return {-1: parquet_s3.rows(aws, [o for o in s3.find(aws, location) if not o.name.startswith("_")])}
    by_bucket = files_by_bucket(aws, location)
    files = [o for objs in by_bucket.values() for o in objs]  # all footers at once: read in parallel
    rows = {o.url: m.num_rows for o, m in zip(files, parquet_s3.metadata_many(aws, files))}
    return {b: sum(rows[o.url] for o in objs) for b, objs in by_bucket.items()}


def profile_table(aws, database: str, entry: CatalogEntry, key_counts: dict | None,
                  source_rows_cache: dict | None = None) -> TableProfile:
    by_bucket = files_by_bucket(aws, entry.location)
    files = [o for objs in by_bucket.values() for o in objs]
    metas = dict(zip((o.url for o in files), parquet_s3.metadata_many(aws, files)))
    nulls = dict.fromkeys(entry.column_names, 0)
    rows_per_bucket = {b: sum(lake.add_null_counts(metas[o.url], nulls) for o in objs)
                       for b, objs in by_bucket.items()}
    marker = s3.read_json(aws, f"{entry.location}/{lake.MARKER}") or {}
    formats = {k: getattr(entry, k) for k in PARQUET_FORMATS}
    return TableProfile(
        table=entry.name, dataset=entry.dataset, location=entry.location,
        bucket_folders=set(by_bucket),
        catalog_partitions=set(glue_catalog.get_partitions(aws, database, entry.name)),
        table_type_ok=formats == PARQUET_FORMATS,
        contract_ok=KEY in entry.column_names and entry.partition_keys == [("id_bucket", "int")],
        recorded_snapshot_dt=marker.get("snapshot_dt"),
        source_rows=_source_rows(aws, marker.get("source_location"), {} if source_rows_cache is None
                                 else source_rows_cache),
        rows=sum(rows_per_bucket.values()),
        key_nulls=(key_counts or {}).get("key_nulls", 0), key_dupes=(key_counts or {}).get("key_dupes", 0),
        columns=entry.column_names, null_counts=nulls,
        files=[(o.url, o.size) for o in files], rows_per_bucket=rows_per_bucket,
    )


def _source_rows(aws, source_location: str | None, cache: dict) -> int | None:
    """Rows of the raw snapshot a table came from (27 tables share one: read once, kept in `cache`)."""
    if not source_location or not source_location.startswith("s3://"):
        return None
    if source_location not in cache:
        files = s3.find(aws, source_location, ".parquet", recursive=False)
        cache[source_location] = parquet_s3.rows(aws, files) if files else None
    return cache[source_location]
