"""Entity Resolution input tables, rebuilt for every snapshot into a new version folder.

`part_addressable_ids_er` holds (`row_id`, `customer_user_id`); the optional
copies `part_<t>_er` add the table's columns. `row_id` numbers rows in key
order within each `id_bucket`, the bucket in its high bits (`row_ids.py`, the
same rule as on AWS), so the same snapshot always gets the same ids. The old system never
rebuilt this table once it existed (DOMAIN "Get right" 2): here each run
writes its own version and the catalog switches to it.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone

import pyarrow.parquet as pq

from .. import lake
from ..mapping import KEY
from ..row_ids import row_id_sql
from .catalog import CatalogEntry
from .sql import connect, literal, parquet_source, quote_any
from .types import hive_columns


def write_er_table(source: CatalogEntry, output_root: str, run_id: str) -> CatalogEntry:
    """Write `<source>_er` from a published source table; returns its staged catalog entry."""
    folder = f"{source.source_table}_er"
    final = lake.version_dir(output_root, folder, source.snapshot_dt, run_id)
    temp = lake.temp_dir_for(final)
    if temp.exists():
        shutil.rmtree(temp)
    temp.mkdir(parents=True)
    others = [c for c in source.column_names if c != KEY] if not source.name.endswith("addressable_ids") else []
    select = ", ".join([row_id_sql(), quote_any(KEY), *map(quote_any, others)])
    files = parquet_source([f"{source.location}/id_bucket=*/*.parquet"], hive=True)
    con = connect()
    try:
        rows = con.execute(
            f"COPY (SELECT {select} FROM {files}) TO {literal(str(temp / 'data_0.parquet'))} (FORMAT parquet)"
        ).fetchall()[0][0]
    finally:
        con.close()
    lake.write_marker(temp, {
        "table": folder, "dataset": source.dataset, "snapshot_dt": source.snapshot_dt, "run_id": run_id,
        "rows": rows, "source_table": source.name, "source_location": source.location,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    lake.commit_version(temp, final)
    columns = hive_columns(pq.read_schema(final / "data_0.parquet"), folder)
    return CatalogEntry(
        name=f"{source.name}_er", run_id=run_id, dataset=source.dataset, source_table=folder,
        location=str(final), snapshot_dt=source.snapshot_dt, columns=columns, row_count=rows,
        partition_keys=[],
    )


__all__ = ["write_er_table"]
