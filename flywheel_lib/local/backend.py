"""The local backend: DuckDB over Parquet folders on disk, a DuckDB file as catalog."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq

from .. import gate, lake, leftovers, rollback
from ..backend import Backend
from ..checks import EXPECTED_BUCKETS, CheckResult, buckets_detail, check
from ..errors import CatalogError
from ..mapping import KEY, Mapping
from ..snapshots import Snapshot, SnapshotPair
from .catalog import PARQUET_FORMATS, CatalogEntry, LocalCatalog
from .er import write_er_table
from . import profile
from .split import TableOutput, split_snapshot
from .sql import ident
from .types import hive_columns

ER_SUFFIX = "_er"
MEASURE_THREADS = min(4, os.cpu_count() or 1)  # tables validated or profiled side by side


class LocalBackend(Backend):
    name = "local"

    def __init__(self, settings, mapping: Mapping | None = None):
        super().__init__(settings, mapping)
        self.catalog = LocalCatalog(settings.catalog_path)

    # -- split ---------------------------------------------------------------
    def split(self, snapshot: Snapshot, run_id: str, tables: list[str] | None = None) -> list[TableOutput]:
        return split_snapshot(snapshot, self.settings.output_root(snapshot.dataset), run_id,
                              self.mapping_for(snapshot.dataset), tables)

    # -- registration ----------------------------------------------------------
    def register(self, snapshot: Snapshot, run_id: str) -> list[CatalogEntry]:
        root = self.settings.output_root(snapshot.dataset)
        missing, entries = [], []
        for table in self.tables_of(snapshot.dataset):
            version = lake.version_dir(root, table, snapshot.snapshot_dt, run_id)
            marker = lake.read_marker(version)
            if marker is None:
                missing.append(table)
                continue
            entries.append(_entry(table, snapshot, run_id, version, marker))
        if missing:
            raise CatalogError(
                f"no split output of run {run_id} for {len(missing)} table(s): {', '.join(missing)}",
                hint="Run the split stage for this month first",
            )
        self.catalog.stage(entries)
        return entries

    # -- repair and validation ---------------------------------------------------
    def repair(self, run_id: str) -> list[dict]:
        folders = {e.name: {b: str(p) for b, p in lake.bucket_folders(Path(e.location)).items()}
                   for e in self._staged(run_id)}
        added = self.catalog.record_partitions(run_id, folders)
        return [{"table": name, "bucket_folders": len(found), "partitions_added": added[name]}
                for name, found in folders.items()]

    def validate(self, pair: SnapshotPair, run_id: str) -> list[CheckResult]:
        staged = {e.name: e for e in self._staged(run_id)}
        results = [check(n, "registered", n in staged, "staged for this run" if n in staged else "not registered")
                   for n in self.expected_tables()]
        source_rows = {ds: self.source_rows(pair.of(ds)) for ds in ("addressable_ids", "infobase_attributes")}
        partitions = self.catalog.partitions_of([(e.name, e.run_id) for e in staged.values()])
        for checks in _at_once(lambda e: self._table_checks(e, source_rows[e.dataset], partitions[e.name]),
                               staged.values()):
            results += checks
        return results

    def _table_checks(self, entry: CatalogEntry, source_rows: int, partitions: list[int]) -> list[CheckResult]:
        folders = set(lake.bucket_folders(Path(entry.location)))
        partitions = set(partitions)
        formats = {k: getattr(entry, k) for k in PARQUET_FORMATS}
        key_counts = profile.key_counts(sorted(Path(entry.location).glob("id_bucket=*/*.parquet")))
        rows = int(key_counts["row_count"])  # the rows the query engine reads, as Athena's count on AWS
        return [
            check(entry.name, "bucket folders", folders == EXPECTED_BUCKETS, buckets_detail(folders)),
            check(entry.name, "catalog partitions", partitions == EXPECTED_BUCKETS, buckets_detail(partitions)),
            check(entry.name, "table type and formats", formats == PARQUET_FORMATS,
                  "external Parquet" if formats == PARQUET_FORMATS else f"found {formats}"),
            check(entry.name, "contract", KEY in entry.column_names and entry.partition_keys == [("id_bucket", "int")],
                  f"key {'present' if KEY in entry.column_names else 'MISSING'}, "
                  f"partition keys {[k for k, _ in entry.partition_keys]}"),
            check(entry.name, "row count vs source", rows == source_rows,
                  f"{rows:,} rows, source snapshot {source_rows:,}"),
        ] + gate.key_checks(entry.name, key_counts)

    def publish(self, run_id: str) -> list[CatalogEntry]:
        staged = self._staged(run_id)
        self.catalog.publish([e.name for e in staged], run_id)
        self.prune()
        return staged

    # -- ER table ------------------------------------------------------------
    def build_er_table(self, pair: SnapshotPair, run_id: str, copies: bool = False) -> list[CatalogEntry]:
        published = {e.name: e for e in self.catalog.published() if not e.name.endswith(ER_SUFFIX)}
        sources = [published[n] for n in sorted(published)] if copies else [published.get("part_addressable_ids")]
        if sources[0] is None:
            raise CatalogError("part_addressable_ids is not published", hint="Run glue_ready first")
        entries = []
        for source in sources:
            expected = pair.of(source.dataset).snapshot_dt
            if source.snapshot_dt != expected:
                raise CatalogError(
                    f"{source.name} serves snapshot {source.snapshot_dt}, not {expected}",
                    table=source.name, hint="Run glue_ready for this month first")
            entries.append(write_er_table(source, self.settings.output_root(source.dataset), run_id))
        self.catalog.stage(entries)
        for entry in entries:
            rows = self.count_rows(entry)
            if rows != entry.row_count:
                raise CatalogError(f"{entry.name} has {rows} rows, expected {entry.row_count}", table=entry.name)
        self.catalog.publish([e.name for e in entries], run_id)
        return entries

    # -- rollback --------------------------------------------------------------
    def serve_again(self, versions: list[dict]) -> list[CatalogEntry]:
        for v in versions:
            known = any(e.name == v["name"] for e in self.catalog.entries(run_id=v["run_id"]))
            if not known or lake.read_marker(Path(v["location"])) is None:
                raise CatalogError(f"{v['name']} of run {v['run_id']} was pruned ({v['location']} is gone): "
                                   "cannot roll back; nothing was switched", table=v["name"],
                                   hint="Re-run the refresh of that month instead")
        self.catalog.publish_versions([(v["name"], v["run_id"]) for v in versions])
        return self.catalog.published()

    # -- reads ---------------------------------------------------------------
    def published(self) -> list[CatalogEntry]:
        return self.catalog.published()

    def source_rows(self, snapshot: Snapshot) -> int:
        return lake.parquet_rows(f.path for f in snapshot.files)

    def count_rows(self, entry: CatalogEntry) -> int:
        return sum(self.bucket_rows(entry).values())

    def bucket_rows(self, entry: CatalogEntry) -> dict[int, int]:
        """Rows per id_bucket of a catalog entry or split output, from the Parquet footers."""
        return lake.bucket_row_counts(entry.location, partitioned=bool(entry.partition_keys))

    def profile(self, entry: CatalogEntry):
        return profile.profile_table(entry, self.catalog.partitions(entry.name, entry.run_id))

    def profiles(self, entries) -> list:
        entries = list(entries)
        partitions = self.catalog.partitions_of([(e.name, e.run_id) for e in entries])
        return _at_once(lambda e: profile.profile_table(e, partitions[e.name]), entries)

    def preview(self, table: str, limit: int = 5):
        return self.catalog.query(f"SELECT * FROM {ident(table)} LIMIT {int(limit)}")

    def _staged(self, run_id: str) -> list[CatalogEntry]:
        """This run's registered tables (not *_er), also once published: glue_ready may run again."""
        return [e for e in self.catalog.entries(run_id=run_id)
                if e.state in ("staged", "published") and not e.name.endswith(ER_SUFFIX)]

    # -- retention -------------------------------------------------------------
    def prune(self) -> list[str]:
        """Delete versions beyond the newest `retention_months` snapshots, never a published one or a rollback's."""
        keep_published = {(e.name, e.run_id) for e in self.catalog.published()}
        needed = rollback.kept_locations(self.settings.runs_dir)  # the previous good month
        removed = []
        for entry_name, root, folder in self._table_folders():
            versions = lake.versions(root, folder)
            newest = sorted({dt for dt, _, _ in versions})[-self.settings.retention_months:]
            for snapshot_dt, run_id, path in versions:
                if (snapshot_dt not in newest and (entry_name, run_id) not in keep_published
                        and str(path).rstrip("/") not in needed):
                    shutil.rmtree(path)
                    self.catalog.forget(entry_name, run_id)
                    removed.append(str(path))
        temp = leftovers.remove_local(self.settings.output_root(ds) for ds in ("addressable_ids", "infobase_attributes"))
        leftovers.say(temp)
        return removed + temp

    def _table_folders(self):
        for dataset in ("addressable_ids", "infobase_attributes"):
            root = self.settings.output_root(dataset)
            if Path(root).is_dir():
                for child in sorted(Path(root).iterdir()):
                    if child.is_dir() and not child.name.startswith("."):
                        yield Mapping.catalog_name(child.name), root, child.name


def _entry(table: str, snapshot: Snapshot, run_id: str, version: Path, marker: dict) -> CatalogEntry:
    first_file = next(version.glob("id_bucket=*/*.parquet"))
    columns = hive_columns(pq.read_schema(first_file), table)
    return CatalogEntry(
        name=Mapping.catalog_name(table), run_id=run_id, dataset=snapshot.dataset, source_table=table,
        location=str(version), snapshot_dt=snapshot.snapshot_dt, columns=columns, row_count=marker["rows"],
    )


def _at_once(measure, entries) -> list:
    """`measure` of each table, a few tables at a time, in order.

    A table's measurement is mostly DuckDB scans and Parquet footer reads, which let
    other threads run; on a small month most of it is per-file work over 256 buckets,
    so measuring tables side by side uses the cores one table alone leaves idle.
    """
    with ThreadPoolExecutor(MEASURE_THREADS) as pool:
        return list(pool.map(measure, entries))
