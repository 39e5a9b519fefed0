"""The split on the local engine: raw snapshot -> id_bucket-partitioned Parquet tables.

DuckDB reads the raw Parquet and writes each output table with one partitioned
COPY. The bucket of every source row is computed once, in Python, with the
same function the tests pin to Spark's vectors (a null key takes Spark's null
bucket); each COPY looks it up by the row's position in the snapshot, which
costs less than a join on the key (a join slices every column it carries).
Each table is written to a hidden folder and renamed when whole (see `lake`),
so an interrupted split leaves nothing half-visible, and a re-run reuses the
tables an earlier attempt finished.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import lake
from ..bucketing import BUCKETS, id_buckets
from ..errors import SnapshotError, SplitError
from ..mapping import ADDRESSABLE_TABLE, KEY, Mapping
from ..progress import SplitProgress
from ..snapshots import Snapshot
from .sql import connect, literal, parquet_source, quote_any

# DuckDB's partitioned COPY buffers rows until the average partition holds twice
# partitioned_write_flush_threshold (default 524,288: with 256 buckets, the whole table),
# and a bucket with fewer rows than the threshold takes a slower path that buffers it a
# second time. At 512, buckets take the direct path from ~130,000 source rows up, and
# DuckDB flushes about every 260,000 rows, so memory stops growing with the snapshot.
# Past partitioned_write_max_open_files (default 100) DuckDB closes bucket files and
# starts new ones; twice the bucket count keeps one file a bucket.
_PARTITIONED_WRITE = {"partitioned_write_flush_threshold": 512, "partitioned_write_max_open_files": 2 * BUCKETS}
# The bucket of a row of `source r CROSS JOIN row_buckets rb` (see _register_row_buckets);
# a cross join with one row passes the scan's columns through untouched.
_BUCKET_OF_ROW = "rb.buckets[rb.starts[r.file_index::BIGINT + 1] + r.file_row_number + 1]::INTEGER"
# DuckDB's position of a row in a read_parquet scan; a raw column of the same name hides it.
_POSITION_COLUMNS = ("file_index", "file_row_number")
_KEY_BATCH_ROWS = 100_000  # keys are hashed a batch at a time, so Python holds one batch


@dataclass(frozen=True)
class TableOutput:
    """One output table as the split left it."""

    table: str  # the mapping's name (IBE_01) or addressable_ids
    dataset: str
    location: str  # the version folder
    rows: int
    columns: list[str] = field(default_factory=list)  # data columns, id_bucket excluded
    reused: bool = False  # an earlier attempt of this run already wrote it

    @property
    def catalog_name(self) -> str:
        return "part_" + self.table.lower()

    @property
    def partition_keys(self) -> list[tuple[str, str]]:
        return [("id_bucket", "int")]


@dataclass(frozen=True)
class _Plan:
    table: str
    select: list[tuple[str, str]]  # (raw column, published column), key excluded


def split_snapshot(
    snapshot: Snapshot,
    output_root: str,
    run_id: str,
    mapping: Mapping | None = None,
    tables: list[str] | None = None,
) -> list[TableOutput]:
    """Split one dataset's snapshot. Addressable IDs when `mapping` is None, else infobase."""
    if not snapshot.files:
        raise SnapshotError("snapshot has no Parquet files", path=snapshot.location)
    con = connect()
    try:
        for name, value in _PARTITIONED_WRITE.items():
            con.execute(f"SET {name} = {value}")
        source = parquet_source([f.path for f in snapshot.files])
        raw_columns = _raw_columns(con, source, snapshot)
        key = _find_key(raw_columns, snapshot)
        plans = _plans(raw_columns, key, snapshot, mapping, tables)
        fingerprint = _fingerprint(snapshot)
        source_rows = con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
        if source_rows == 0:
            raise SplitError(f"{snapshot.dataset} snapshot has no rows", path=snapshot.location)
        _register_row_buckets(con, source, key, raw_columns, snapshot)
        shown, outputs = SplitProgress(snapshot.dataset, len(plans)), []
        for plan in plans:
            shown.start(plan.table)
            outputs.append(_write_table(con, source, key, plan, snapshot, output_root, run_id, fingerprint))
            shown.finish(outputs[-1])
        return outputs
    finally:
        con.close()


def _raw_columns(con, source: str, snapshot: Snapshot) -> list[str]:
    try:
        return [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    except duckdb.Error as err:
        raise SnapshotError(
            f"cannot read the {snapshot.dataset} snapshot: {err}", path=snapshot.location
        ) from err


def _find_key(raw_columns: list[str], snapshot: Snapshot) -> str:
    matches = [c for c in raw_columns if c.lower() == KEY]
    if len(matches) != 1:
        seen = ", ".join(raw_columns[:8]) + (" ..." if len(raw_columns) > 8 else "")
        problem = "has no" if not matches else "has more than one"
        raise SplitError(
            f"{snapshot.dataset} snapshot {problem} key column Customer_User_id "
            f"(any case); columns seen: {seen}",
            table=snapshot.dataset,
            path=snapshot.location,
        )
    return matches[0]


def _plans(raw_columns, key, snapshot, mapping, tables) -> list[_Plan]:
    if mapping is None:
        return [_addressable_plan(raw_columns, key, snapshot)]
    by_lower = {c.lower(): c for c in raw_columns}
    chosen = tables or mapping.table_names()
    missing, plans = [], []
    for table in chosen:
        select = []
        for col in mapping.columns(table):
            raw = by_lower.get(col.source.lower())
            if raw is None:
                missing.append(f"{table}.{col.source}")
            else:
                select.append((raw, col.column))
        plans.append(_Plan(table.upper(), select))
    if missing:
        shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        raise SplitError(
            f"{len(missing)} mapping column(s) missing from the infobase snapshot: {shown}",
            path=snapshot.location,
            hint="Fix the mapping or ask upstream for the columns; nothing was written",
        )
    return plans


def _addressable_plan(raw_columns, key, snapshot) -> _Plan:
    select, seen = [], {KEY: key}
    for raw in raw_columns:
        if raw == key:
            continue
        published = raw.lower()
        if published in seen:
            raise SplitError(
                f"columns {seen[published]!r} and {raw!r} both become {published!r} in lower case",
                table=ADDRESSABLE_TABLE,
                path=snapshot.location,
            )
        seen[published] = raw
        select.append((raw, published))
    return _Plan(ADDRESSABLE_TABLE, select)


def _fingerprint(snapshot: Snapshot) -> list:
    return sorted([Path(f.path).name, f.size, Path(f.path).stat().st_mtime_ns] for f in snapshot.files)


def _register_row_buckets(con, source: str, key: str, raw_columns: list[str], snapshot: Snapshot) -> None:
    """Register `row_buckets`: Spark's bucket of every source row, by the row's position.

    One row of two lists: the buckets in file and row order (a byte a row, whatever
    the keys), and where each file starts in it.
    """
    clash = [c for c in raw_columns if c.lower() in _POSITION_COLUMNS]
    if clash:
        raise SplitError(f"{snapshot.dataset} snapshot has a column named {clash[0]!r}, which the split "
                         "needs for DuckDB's row position", path=snapshot.location)
    files, rows, buckets = [], [], []
    query = f"SELECT file_index, file_row_number, {quote_any(key)} FROM {source}"
    for batch in con.sql(query).to_arrow_reader(_KEY_BATCH_ROWS):
        files.append(batch.column(0).to_numpy().astype(np.int64))
        rows.append(batch.column(1).to_numpy())
        buckets.append(np.asarray(id_buckets(batch.column(2).to_pylist()), np.uint8))
    files, rows, buckets = (np.concatenate(parts) for parts in (files, rows, buckets))
    starts = np.concatenate([[0], np.cumsum(np.bincount(files))[:-1]])  # first position of each file
    in_order = np.empty(len(buckets), np.uint8)
    in_order[starts[files] + rows] = buckets
    con.register("row_buckets", pa.table({
        name: pa.LargeListArray.from_arrays(pa.array([0, len(values)], pa.int64()), pa.array(values))
        for name, values in (("starts", starts), ("buckets", in_order))
    }))


def _write_table(con, source, key, plan, snapshot, output_root, run_id, fingerprint) -> TableOutput:
    folder = plan.table if plan.table != ADDRESSABLE_TABLE else ADDRESSABLE_TABLE
    final = lake.version_dir(output_root, folder, snapshot.snapshot_dt, run_id)
    columns = [KEY] + [published for _, published in plan.select]
    marker = lake.read_marker(final)
    if marker and marker.get("source_files") == fingerprint and marker.get("columns") == columns:
        return TableOutput(plan.table, snapshot.dataset, str(final), marker["rows"], columns, reused=True)

    temp = lake.temp_dir_for(final)
    if temp.exists():
        shutil.rmtree(temp)
    temp.parent.mkdir(parents=True, exist_ok=True)
    select = ", ".join(f"r.{quote_any(raw)} AS {quote_any(pub)}" for raw, pub in plan.select)
    query = (
        f"SELECT {_BUCKET_OF_ROW} AS id_bucket, r.{quote_any(key)} AS {KEY}"
        f"{', ' + select if select else ''} FROM {source} r CROSS JOIN row_buckets rb"
    )
    rows = con.execute(
        f"COPY ({query}) TO {literal(str(temp))} (FORMAT parquet, PARTITION_BY (id_bucket))"
    ).fetchall()[0][0]
    _fill_empty_buckets(temp)
    lake.write_marker(temp, {
        "table": plan.table,
        "dataset": snapshot.dataset,
        "snapshot_dt": snapshot.snapshot_dt,
        "run_id": run_id,
        "rows": rows,
        "columns": columns,
        "source_location": snapshot.location,
        "source_files": fingerprint,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    lake.commit_version(temp, final)
    return TableOutput(plan.table, snapshot.dataset, str(final), rows, columns)


def _fill_empty_buckets(version: Path) -> None:
    """Every table has all 256 bucket folders; a bucket with no rows gets an empty file."""
    present = lake.bucket_folders(version)
    schema = pq.read_schema(next(iter(next(iter(present.values())).glob("*.parquet"))))
    empty = pa.BufferOutputStream()
    pq.write_table(schema.empty_table(), empty)
    empty = empty.getvalue().to_pybytes()  # one file's bytes, written to each empty bucket (a small
    for bucket in range(BUCKETS):          # month has hundreds of them)
        if bucket not in present:
            folder = version / f"id_bucket={bucket}"
            folder.mkdir()
            (folder / "data_0.parquet").write_bytes(empty)


def describe(outputs: list[TableOutput]) -> list[dict]:
    """One row per table, for the notebook's summary table."""
    return [
        {"table": o.catalog_name, "rows": o.rows, "columns": len(o.columns),
         "reused": o.reused, "location": o.location}
        for o in outputs
    ]


__all__ = ["TableOutput", "split_snapshot", "describe"]
