"""glue_ready on AWS: repair partitions, then prove every staged table is query-ready.

Repair is Athena's `MSCK REPAIR TABLE`; whatever it did not add (it failed,
or it missed folders) is added from an S3 listing of the `id_bucket=` folders
with `batch_create_partition`, 100 a call. `*_er` tables are never touched.
Validation reads through Athena, as the Clean Rooms queries will: one
statement per table counts rows, key nulls and key duplicates (gate.py's
SQL, with two example duplicated keys) in one scan.
"""

from __future__ import annotations

from .. import gate
from ..checks import EXPECTED_BUCKETS, CheckResult, buckets_detail, check
from ..local.catalog import PARQUET_FORMATS, CatalogEntry
from ..mapping import KEY
from . import glue_catalog, parquet_s3, s3
from .athena import Athena, ident, table_ref


def msck(database: str, entry: CatalogEntry) -> tuple[str, str, str]:
    return f"MSCK REPAIR TABLE {table_ref(database, entry.name, ddl=True)}", database, entry.name


def repair(aws, athena: Athena, database: str, entries: list[CatalogEntry]) -> list[dict]:
    results = athena.run_many([msck(database, e) for e in entries], fetch=False, check=False)
    rows = []
    for entry, result in zip(entries, results):
        folders = s3.bucket_prefixes(aws, entry.location)
        partitions = glue_catalog.get_partitions(aws, database, entry.name)
        missing = {b: url for b, url in folders.items() if b not in partitions}
        if missing:
            glue_catalog.create_partitions(aws, database, entry, missing)
        if not result.succeeded:
            method = f"batch_create_partition (MSCK REPAIR TABLE {result.state}: {result.reason})"
        elif missing:
            method = f"MSCK REPAIR TABLE, then batch_create_partition for {len(missing)} it missed"
        else:
            method = "MSCK REPAIR TABLE"
        rows.append({"table": entry.name, "bucket_folders": len(folders),
                     "partitions_before": len(partitions), "partitions_added": len(missing),
                     "method": method, "msck_query_id": result.query_id})
    return rows


def key_counts_sql(database: str, name: str) -> str:
    """Rows, key nulls, key duplicates and two duplicated keys of a table, read as Clean Rooms will."""
    return gate.key_problems_sql(table_ref(database, name), ident(KEY))


def key_counts(athena: Athena, database: str, names: list[str]) -> dict[str, dict]:
    """Per table, a few statements at a time; a failed one fails with its table named."""
    results = athena.run_many([(key_counts_sql(database, n), database, n) for n in names])
    return {name: result.rows[0] for name, result in zip(names, results)}


def table_checks(aws, database: str, entry: CatalogEntry, counts: dict | None, source_rows: int) -> list[CheckResult]:
    folders = set(s3.bucket_prefixes(aws, entry.location))
    partitions = set(glue_catalog.get_partitions(aws, database, entry.name))
    formats = {k: getattr(entry, k) for k in PARQUET_FORMATS}
    key_ok = KEY in entry.column_names and entry.partition_keys == [("id_bucket", "int")]
    results = [
        check(entry.name, "bucket folders", folders == EXPECTED_BUCKETS, buckets_detail(folders)),
        check(entry.name, "catalog partitions", partitions == EXPECTED_BUCKETS, buckets_detail(partitions)),
        check(entry.name, "table type and formats", formats == PARQUET_FORMATS,
              "external Parquet" if formats == PARQUET_FORMATS else f"found {formats}"),
        check(entry.name, "contract", key_ok, f"key {'present' if KEY in entry.column_names else 'MISSING'}, "
                                              f"partition keys {[k for k, _ in entry.partition_keys]}"),
    ]
    if counts is None:
        return results + [check(entry.name, "row count vs source", False, "no count came back from Athena")]
    rows = int(counts["row_count"])
    return results + [
        check(entry.name, "row count vs source", rows == source_rows,
              f"{rows:,} rows through Athena, source snapshot {source_rows:,}"),
    ] + gate.key_checks(entry.name, counts)


def source_rows(aws, snapshot) -> int:
    """Rows of a raw snapshot, from its files' footers."""
    return parquet_s3.rows(aws, [s3.S3Object(f.path, f.size) for f in snapshot.files])
