"""The AWS backend: Glue jobs split, the Glue catalog registers, Athena repairs and checks.

Same stages and answers as the local backend; where the work happens differs:

    split          Glue jobs (aws/split.py, aws/glue_jobs.py)
    register       tables in the staging database (`<database>_staging`)
    repair         Athena MSCK REPAIR TABLE, batch_create_partition fallback
    validate       S3 listing, catalog, one Athena statement over all tables
    publish        staged tables switched into the main database, or none
    build_er_table Athena UNLOAD into a version folder, then switched in
    monitor        S3 listing, Parquet footers, catalog, one Athena statement

The previous month stays in the main database until `publish`, and its files
stay on S3 for `retention_months` snapshots.
"""

from __future__ import annotations

import time

import pandas as pd

from .. import leftovers, rollback
from ..backend import Backend
from ..checks import check
from ..errors import CatalogError, FlywheelError
from ..local.catalog import CatalogEntry
from ..local.split import TableOutput
from ..local.types import hive_columns
from ..mapping import Mapping
from ..snapshots import Snapshot, SnapshotPair
from . import er, glue_catalog, parquet_s3, profile, publishing, readiness, retention, s3
from .athena import Athena, table_ref
from .glue_jobs import GlueJobs
from .session import AwsClients
from .split import planned_job, read_marker, split_on_glue, version_url

ER_SUFFIX = "_er"


class AwsBackend(Backend):
    name = "aws"

    def __init__(self, settings, mapping: Mapping | None = None, aws: AwsClients | None = None,
                 sleep=time.sleep, say=print):
        super().__init__(settings, mapping)
        self.aws = aws or AwsClients(settings)
        self.database = settings.database_name
        self.staging = settings.staging_database
        self.athena = Athena(self.aws, settings, sleep=sleep)
        self.jobs = GlueJobs(self.aws, settings.region, sleep=sleep, say=say)
        self._key_counts: dict[str, dict] | None = None
        self._source_rows: dict[str, int | None] = {}  # raw location -> rows: each snapshot read once

    # -- split ---------------------------------------------------------------
    def split(self, snapshot: Snapshot, run_id: str, tables: list[str] | None = None) -> list[TableOutput]:
        return split_on_glue(self.aws, self.settings, snapshot, run_id, self.mapping_for(snapshot.dataset),
                             tables, self.jobs, self._in_use())

    def _in_use(self, entries: list[CatalogEntry] | None = None) -> set[str]:
        """Every location the main or the staging database points at (`entries`: both, already read)."""
        if entries is None:
            entries = [e for db in (self.database, self.staging) for e in publishing.catalog_entries(self.aws, db)]
        return {e.location.rstrip("/") for e in entries}

    @property
    def job_runs(self) -> pd.DataFrame:
        """The Glue job runs this backend started or waited for, with their logs."""
        return pd.DataFrame([r.as_record() for r in self.jobs.runs])

    # -- registration ----------------------------------------------------------
    def register(self, snapshot: Snapshot, run_id: str) -> list[CatalogEntry]:
        root = self.settings.output_root(snapshot.dataset)
        entries, missing = [], []
        for table in self.tables_of(snapshot.dataset):
            version = version_url(root, table, snapshot.snapshot_dt, run_id)
            marker = read_marker(self.aws, version)
            if marker is None:
                missing.append(table)
                continue
            first = next((o for o in s3.list_objects(self.aws, version) if o.name.endswith(".parquet")), None)
            if first is None:
                raise CatalogError(f"{version} has a marker but no Parquet file", table=table, path=version)
            entries.append(CatalogEntry(
                name=Mapping.catalog_name(table), run_id=run_id, dataset=snapshot.dataset, source_table=table,
                location=version, snapshot_dt=snapshot.snapshot_dt, row_count=int(marker["rows"]),
                columns=hive_columns(parquet_s3.schema(self.aws, first), table)))
        if missing:
            raise CatalogError(f"no split output of run {run_id} for {len(missing)} table(s): {', '.join(missing)}",
                               hint="Run the split stage for this month first")
        glue_catalog.ensure_database(self.aws, self.staging)
        for entry in entries:
            # Re-created, not updated: an old staging table's partitions would point at last month.
            self._drop_staged(entry.name)
            glue_catalog.put_table(self.aws, self.staging, entry)
        return entries

    def _drop_staged(self, name: str) -> None:
        if publishing.read_or_none(self.aws, self.staging, name) is not None:
            self.aws.call("glue", "delete_table", where={"table": name}, DatabaseName=self.staging, Name=name)

    def _staged(self, run_id: str) -> list[CatalogEntry]:
        """This run's registered tables (not *_er), from the staging database."""
        return [e for e in publishing.catalog_entries(self.aws, self.staging)
                if e.run_id == run_id and not e.name.endswith(ER_SUFFIX)]

    # -- repair, validation, publishing ------------------------------------------
    def repair(self, run_id: str) -> list[dict]:
        return readiness.repair(self.aws, self.athena, self.staging, self._staged(run_id))

    def validate(self, pair: SnapshotPair, run_id: str):
        staged = {e.name: e for e in self._staged(run_id)}
        results = [check(n, "registered", n in staged, "staged for this run" if n in staged
                                   else "not registered") for n in self.expected_tables()]
        counts = readiness.key_counts(self.athena, self.staging, sorted(staged))
        sources = {ds: readiness.source_rows(self.aws, pair.of(ds)) for ds in ("addressable_ids", "infobase_attributes")}
        for name, entry in sorted(staged.items()):
            snapshot_dt = pair.of(entry.dataset).snapshot_dt
            results.append(check(name, "snapshot", entry.snapshot_dt == snapshot_dt,
                                           f"staged {entry.snapshot_dt}, month's snapshot {snapshot_dt}"))
            results += readiness.table_checks(self.aws, self.staging, entry, counts.get(name), sources[entry.dataset])
        return results

    def publish(self, run_id: str) -> list[CatalogEntry]:
        staged = self._staged(run_id)
        missing = sorted(set(self.expected_tables()) - {e.name for e in staged})
        if missing:  # e.g. another run re-registered them since validation: publish all or nothing
            raise CatalogError(f"{len(missing)} table(s) of run {run_id} are no longer staged: "
                               f"{', '.join(missing)}", hint="Re-run from the registration stages")
        pairs = [(e, glue_catalog.get_partitions(self.aws, self.staging, e.name)) for e in staged]
        glue_catalog.ensure_database(self.aws, self.database)
        publishing.publish_all(self.aws, self.database, pairs)
        try:
            self.prune()
        except FlywheelError as err:  # the switch is done; old versions stay until the next run
            print(f"warning: old versions were not pruned: {err}")
        return [e for e in self.published() if e.run_id == run_id]

    # -- ER table ------------------------------------------------------------
    def build_er_table(self, pair: SnapshotPair, run_id: str, copies: bool = False) -> list[CatalogEntry]:
        published = {e.name: e for e in self.published() if not e.name.endswith(ER_SUFFIX)}
        sources = [published[n] for n in sorted(published)] if copies else [published.get("part_addressable_ids")]
        if sources[0] is None:
            raise CatalogError("part_addressable_ids is not published", hint="Run glue_ready first")
        for source in sources:
            expected = pair.of(source.dataset).snapshot_dt
            if source.snapshot_dt != expected:
                raise CatalogError(f"{source.name} serves snapshot {source.snapshot_dt}, not {expected}",
                                   table=source.name, hint="Run glue_ready for this month first")
        entries = [er.build(self.aws, self.athena, self.database, s, self.settings.output_root(s.dataset), run_id)
                   for s in sources]
        glue_catalog.ensure_database(self.aws, self.staging)
        for entry in entries:
            self._drop_staged(entry.name)
            glue_catalog.put_table(self.aws, self.staging, entry)
        publishing.publish_all(self.aws, self.database, [(e, {}) for e in entries])
        return [publishing.read_or_none(self.aws, self.database, e.name) for e in entries]

    # -- rollback --------------------------------------------------------------
    def serve_again(self, versions: list[dict]) -> list[CatalogEntry]:
        """Earlier definitions from Glue's table versions, partitions from S3; then the all-or-nothing switch."""
        pairs = []
        for v in versions:
            entry = publishing.earlier_version(self.aws, self.database, v["name"], v["run_id"])
            if entry is None or next(iter(s3.list_objects(self.aws, v["location"])), None) is None:
                raise CatalogError(f"{v['name']} of run {v['run_id']} was pruned ({v['location']} or its catalog "
                                   "version is gone): cannot roll back; nothing was switched", table=v["name"],
                                   hint="Re-run the refresh of that month instead")
            pairs.append((entry, s3.bucket_prefixes(self.aws, entry.location) if entry.partition_keys else {}))
        publishing.publish_all(self.aws, self.database, pairs)
        return self.published()

    # -- reads ---------------------------------------------------------------
    def published(self) -> list[CatalogEntry]:
        return [e for e in publishing.catalog_entries(self.aws, self.database) if e.state == "published"]

    def bucket_rows(self, entry) -> dict[int, int]:
        return profile.bucket_rows(self.aws, entry.location, partitioned=bool(entry.partition_keys))

    def profile(self, entry: CatalogEntry):
        if self._key_counts is None:  # every table's key counts, asked together on the first call
            names = [e.name for e in self.published() if not e.name.endswith(ER_SUFFIX)]
            self._key_counts = readiness.key_counts(self.athena, self.database, names)
        return profile.profile_table(self.aws, self.database, entry, self._key_counts.get(entry.name),
                                     self._source_rows)

    def preview(self, table: str, limit: int = 5) -> pd.DataFrame:
        result = self.athena.run(f"SELECT * FROM {table_ref(self.database, table)} LIMIT {int(limit)}",
                                 self.database, table)
        return pd.DataFrame(result.rows)

    # -- retention -------------------------------------------------------------
    def prune(self) -> list[str]:
        """Delete S3 versions beyond the newest `retention_months` snapshots, never a served, staged or rollback one."""
        main = publishing.catalog_entries(self.aws, self.database)
        if not any(e.state == "published" for e in main):  # an empty catalog must not make all look unused
            return []
        in_use = self._in_use(main + publishing.catalog_entries(self.aws, self.staging))
        in_use |= rollback.kept_locations(self.settings.runs_dir)  # the previous good month
        roots = [self.settings.s3_root_addressable, self.settings.s3_root_infobase]
        temp = leftovers.remove_s3(self.aws, roots)
        leftovers.say(temp)
        return retention.prune(self.aws, roots, self.settings.retention_months, in_use) + temp

    # -- dry run -----------------------------------------------------------------
    def plan_lines(self, pair: SnapshotPair, run_id: str) -> list[str]:
        """Every job, table, location and statement a run would touch; makes no AWS call."""
        lines = ["AWS work (nothing is called in a dry run):"]
        for snapshot in (pair.addressable, pair.infobase):
            name, arguments = planned_job(self.settings, snapshot, run_id, self.mapping_for(snapshot.dataset))
            lines.append(f"  Glue job {name}: " + " ".join(f"{k} {v}" for k, v in arguments.items()))
        tables = [(ds, t) for ds in ("addressable_ids", "infobase_attributes") for t in self.tables_of(ds)]
        lines.append(f"  catalog: {len(tables)} tables staged in {self.staging}, "
                     f"then switched into {self.database}:")
        for dataset, table in tables:
            version = version_url(self.settings.output_root(dataset), table, pair.of(dataset).snapshot_dt, run_id)
            lines.append(f"    {Mapping.catalog_name(table):<24} {version}")
        lines.append(f"  Athena (workgroup {self.settings.athena_workgroup}, results "
                     f"{self.athena.output}): MSCK REPAIR TABLE on each staged table; one validation "
                     "query over all; UNLOAD of part_addressable_ids_er; one data monitor query")
        lines.append(f"  S3: versions beyond the newest {self.settings.retention_months} snapshots are deleted "
                     "after publishing (never one the catalog serves)")
        lines.append("  SNS: the run's end to the refresh topic, data monitor alerts to the monitor topic")
        return lines
