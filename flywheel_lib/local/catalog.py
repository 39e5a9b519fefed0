"""The local catalog: a DuckDB file that records every `part_*` table and serves it as a view.

An analyst opens `data/catalog.duckdb` and queries `part_ibe_01` like the Glue
table it stands for. Tables are first registered as *staged* (visible as
`staging.part_*`), and become the `main` views only when `publish` switches
them, in one transaction, after validation. Until then the previous month's
views keep serving the previous month's folders.

DuckDB allows one writing process per file; the refresh registers from
parallel notebooks, so writers take a file lock first and retry while another
program (an analyst's session) holds the database.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from ..errors import CatalogError
from .sql import ident, literal

PARQUET_FORMATS = {
    "table_type": "EXTERNAL_TABLE",
    "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
    "classification": "parquet",
}
_DDL = """
CREATE SCHEMA IF NOT EXISTS staging;
CREATE TABLE IF NOT EXISTS flywheel_tables (
    name VARCHAR, run_id VARCHAR, state VARCHAR, dataset VARCHAR, source_table VARCHAR,
    location VARCHAR, snapshot_dt VARCHAR, columns JSON, partition_keys JSON,
    table_type VARCHAR, input_format VARCHAR, output_format VARCHAR, serde VARCHAR,
    classification VARCHAR, row_count BIGINT, registered_at TIMESTAMP, published_at TIMESTAMP,
    PRIMARY KEY (name, run_id));
CREATE TABLE IF NOT EXISTS flywheel_partitions (
    name VARCHAR, run_id VARCHAR, id_bucket INTEGER, location VARCHAR,
    PRIMARY KEY (name, run_id, id_bucket));
"""
_LOCK_WAIT_S = 60


@dataclass
class CatalogEntry:
    """A catalog table, as Glue would describe it."""

    name: str
    run_id: str
    dataset: str
    source_table: str
    location: str
    snapshot_dt: str
    columns: list[tuple[str, str]]  # (name, Hive type), partition key excluded
    row_count: int
    partition_keys: list[tuple[str, str]] = field(default_factory=lambda: [("id_bucket", "int")])
    state: str = "staged"
    table_type: str = PARQUET_FORMATS["table_type"]
    input_format: str = PARQUET_FORMATS["input_format"]
    output_format: str = PARQUET_FORMATS["output_format"]
    serde: str = PARQUET_FORMATS["serde"]
    classification: str = PARQUET_FORMATS["classification"]

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    @property
    def width(self) -> int:
        """Columns as Clean Rooms counts them: data columns plus partition keys."""
        return len(self.columns) + len(self.partition_keys)


class LocalCatalog:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # -- connections -------------------------------------------------------
    @contextmanager
    def _writing(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)  # other refresh processes: wait our turn
            con = self._connect(read_only=False)
            try:
                con.execute(_DDL)
                yield con
            finally:
                con.close()

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as err:
                if "lock" not in str(err).lower() or time.monotonic() > deadline:
                    raise CatalogError(
                        f"cannot open the catalog: {err}",
                        path=str(self.path),
                        hint="Close other programs that hold catalog.duckdb open for writing",
                    ) from err
                time.sleep(0.5)

    def _query(self, sql: str, params: list | None = None) -> list[tuple]:
        if not self.path.exists():
            return []
        con = self._connect(read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        except duckdb.CatalogException:
            return []  # a catalog file from before any registration
        finally:
            con.close()

    # -- writes ------------------------------------------------------------
    def stage(self, entries: list[CatalogEntry]) -> None:
        """Record tables of a run as staged and expose them as `staging.<name>`.

        Registering a version that is already published again keeps it published.
        """
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        with self._writing() as con:
            con.execute("BEGIN")
            for e in entries:
                was = con.execute("SELECT state, published_at FROM flywheel_tables WHERE name = ? AND run_id = ?",
                                  [e.name, e.run_id]).fetchall()
                state, published_at = was[0] if was and was[0][0] == "published" else ("staged", None)
                con.execute("DELETE FROM flywheel_tables WHERE name = ? AND run_id = ?", [e.name, e.run_id])
                con.execute(
                    "INSERT INTO flywheel_tables VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [e.name, e.run_id, state, e.dataset, e.source_table, e.location, e.snapshot_dt,
                     json.dumps(e.columns), json.dumps(e.partition_keys), e.table_type,
                     e.input_format, e.output_format, e.serde, e.classification, e.row_count, now,
                     published_at],
                )
                if state == "staged":
                    con.execute(f"CREATE OR REPLACE VIEW staging.{ident(e.name)} AS {_view_sql(e)}")
            con.execute("COMMIT")

    def record_partitions(self, run_id: str, folders: dict[str, dict[int, str]]) -> dict[str, int]:
        """Add the partitions not yet recorded (what MSCK REPAIR does), for every table at once.

        `folders`: table -> id_bucket -> folder. Returns table -> how many were added. One
        catalog connection for all tables: opening the catalog file costs ~70 ms a time.
        """
        with self._writing() as con:
            known = set(con.execute("SELECT name, id_bucket FROM flywheel_partitions WHERE run_id = ?",
                                    [run_id]).fetchall())
            new = [(name, b, loc) for name, by_bucket in folders.items()
                   for b, loc in sorted(by_bucket.items()) if (name, b) not in known]
            added = {name: 0 for name in folders} | Counter(n for n, _, _ in new)
            if new:
                # One statement for all of them: row-by-row inserts cost ~0.5 s a table.
                rows = pa.table({"name": [n for n, _, _ in new], "run_id": [run_id] * len(new),
                                 "id_bucket": pa.array([b for _, b, _ in new], pa.int32()),
                                 "location": [loc for _, _, loc in new]})
                con.register("new_partitions", rows)
                con.execute("INSERT INTO flywheel_partitions SELECT * FROM new_partitions")
                con.unregister("new_partitions")
        return added

    def publish(self, names: list[str], run_id: str) -> None:
        """Switch the `main` views of `names` to this run's staged versions, all or nothing."""
        self.publish_versions([(name, run_id) for name in names])

    def publish_versions(self, versions: list[tuple[str, str]]) -> None:
        """Switch each (name, run id) into the `main` views in one transaction (publish, rollback)."""
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        with self._writing() as con:
            con.execute("BEGIN")
            for name, run_id in versions:
                staged = _entries(con, "WHERE name = ? AND run_id = ?", [name, run_id])
                if not staged:
                    con.execute("ROLLBACK")
                    raise CatalogError(f"{name} is not registered for run {run_id}", table=name)
                con.execute("UPDATE flywheel_tables SET state = 'retired' WHERE name = ? AND state = 'published'", [name])
                con.execute(
                    "UPDATE flywheel_tables SET state = 'published', published_at = ? WHERE name = ? AND run_id = ?",
                    [now, name, run_id],
                )
                con.execute(f"CREATE OR REPLACE VIEW main.{ident(name)} AS {_view_sql(staged[0])}")
                con.execute(f"DROP VIEW IF EXISTS staging.{ident(name)}")
            con.execute("COMMIT")

    def forget(self, name: str, run_id: str) -> None:
        """Drop a retired or never-published version from the catalog (retention)."""
        with self._writing() as con:
            con.execute("DELETE FROM flywheel_partitions WHERE name = ? AND run_id = ?", [name, run_id])
            con.execute("DELETE FROM flywheel_tables WHERE name = ? AND run_id = ? AND state <> 'published'", [name, run_id])

    # -- reads -------------------------------------------------------------
    def entries(self, run_id: str | None = None, state: str | None = None) -> list[CatalogEntry]:
        clauses, params = [], []
        if run_id:
            clauses.append("run_id = ?")
            params.append(run_id)
        if state:
            clauses.append("state = ?")
            params.append(state)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        if not self.path.exists():
            return []
        con = self._connect(read_only=True)
        try:
            return _entries(con, where, params)
        except duckdb.CatalogException:
            return []
        finally:
            con.close()

    def published(self) -> list[CatalogEntry]:
        return self.entries(state="published")

    def partitions(self, name: str, run_id: str) -> list[int]:
        return self.partitions_of([(name, run_id)])[name]

    def partitions_of(self, versions: list[tuple[str, str]]) -> dict[str, list[int]]:
        """Table -> its recorded id_buckets, for each (name, run id), in one catalog read."""
        found: dict[str, list[int]] = {name: [] for name, _ in versions}
        wanted, run_ids = set(versions), sorted({run_id for _, run_id in versions})
        if not run_ids:
            return found
        rows = self._query("SELECT name, run_id, id_bucket FROM flywheel_partitions "
                           f"WHERE run_id IN ({', '.join('?' * len(run_ids))}) ORDER BY 3", run_ids)
        for name, run_id, bucket in rows:
            if (name, run_id) in wanted:
                found[name].append(bucket)
        return found

    def query(self, sql: str):
        """Run a read-only query against the catalog (and its views) and return a DataFrame."""
        con = self._connect(read_only=True)
        try:
            return con.execute(sql).df()
        finally:
            con.close()


def _entries(con, where: str, params: list) -> list[CatalogEntry]:
    rows = con.execute(
        "SELECT name, run_id, dataset, source_table, location, snapshot_dt, columns, row_count, "
        f"partition_keys, state, table_type, input_format, output_format, serde, classification "
        f"FROM flywheel_tables {where} ORDER BY name, registered_at", params
    ).fetchall()
    entries = []
    for r in rows:
        columns = [tuple(c) for c in json.loads(r[6])]
        keys = [tuple(k) for k in json.loads(r[8])]
        entries.append(CatalogEntry(r[0], r[1], r[2], r[3], r[4], r[5], columns, r[7], keys, *r[9:]))
    return entries


def _view_sql(entry: CatalogEntry) -> str:
    if not entry.partition_keys:
        return f"SELECT * FROM read_parquet({literal(entry.location + '/*.parquet')})"
    files = literal(f"{entry.location}/id_bucket=*/*.parquet")
    return (f"SELECT * FROM read_parquet({files}, hive_partitioning = true, "
            "hive_types = {'id_bucket': INTEGER})")


def entry_dict(entry: CatalogEntry) -> dict:
    return asdict(entry)
