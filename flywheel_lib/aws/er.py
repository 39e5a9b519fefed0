"""Entity Resolution input tables on AWS: Athena UNLOAD into a version folder, then the switch.

Each snapshot (and run) gets its own folder, so a rebuild never meets old
files (the old system could not overwrite its ER data, DOMAIN "Get right" 2).
We UNLOAD rather than CTAS: UNLOAD writes only the data (Athena ignores the
`_flywheel.json` marker we add beside it, as it ignores every `_` file), and the
table is then registered through the same path as every other table, so the
catalog points at the new folder only after the files are counted.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .. import lake
from ..errors import CatalogError
from ..local.catalog import CatalogEntry
from ..local.types import hive_columns
from ..mapping import KEY
from ..row_ids import row_id_sql
from . import parquet_s3, s3
from .athena import Athena, ident, s3_folder, table_ref
from .split import version_url


def unload_sql(database: str, source: CatalogEntry, target: str) -> str:
    others = [c for c in source.column_names if c != KEY] if not source.name.endswith("addressable_ids") else []
    # row_id numbered per id_bucket (row_ids.py): 256 sorts Athena spreads over its workers, not one
    select = ", ".join([row_id_sql(), ident(KEY), *map(ident, others)])
    return (f"UNLOAD (SELECT {select} FROM {table_ref(database, source.name)}) "
            f"TO {s3_folder(target)} WITH (format = 'PARQUET', compression = 'SNAPPY')")


def er_version(root: str, source: CatalogEntry, run_id: str, attempt: str) -> str:
    """A folder of its own for every attempt: a retry never deletes what a finished attempt serves."""
    return version_url(root, f"{source.source_table}_er", source.snapshot_dt, f"{run_id}.{attempt}")


def build(aws, athena: Athena, database: str, source: CatalogEntry, root: str, run_id: str) -> CatalogEntry:
    """UNLOAD `<source>_er` into this run's version folder and return its (unpublished) entry."""
    attempt = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    version = er_version(root, source, run_id, attempt)
    athena.run(unload_sql(database, source, version), database, f"{source.name}_er", fetch=False)
    files = [o for o in s3.list_objects(aws, version) if o.size > 0 and not o.name.startswith("_")]
    if not files:
        raise CatalogError(f"UNLOAD wrote no file for {source.name}_er", table=f"{source.name}_er", path=version)
    metas = parquet_s3.metadata_many(aws, files)
    rows = sum(m.num_rows for m in metas)
    if rows != source.row_count:
        raise CatalogError(f"{source.name}_er has {rows:,} rows, expected {source.row_count:,}",
                           table=f"{source.name}_er", hint="Nothing was published; re-run the stage")
    folder = f"{source.source_table}_er"
    s3.write_json(aws, f"{version}/{lake.MARKER}", {
        "table": folder, "dataset": source.dataset, "snapshot_dt": source.snapshot_dt, "run_id": run_id,
        "rows": rows, "source_table": source.name, "source_location": source.location,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return CatalogEntry(
        name=f"{source.name}_er", run_id=run_id, dataset=source.dataset, source_table=folder,
        location=version, snapshot_dt=source.snapshot_dt,
        columns=hive_columns(metas[0].schema.to_arrow_schema(), folder), row_count=rows, partition_keys=[])
