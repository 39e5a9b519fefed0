"""The ER tables' `row_id`: unique and stable, without one global sort.

`row_number() OVER (ORDER BY key)` over a whole table is one sort in one
task: on Athena, every row of a 17-34 GB table through a single worker. Here
rows are numbered within their `id_bucket` (256 independent sorts) and the
bucket goes in the high bits:

    row_id = id_bucket * 2**40 + n    (n = 1, 2, ... in key order within the bucket)

so ids are unique across the table (a bucket would need 2**40 rows to reach
the next one), the same keys always get the same ids, and `row_id // 2**40`
gives the bucket back. The largest id, 255 * 2**40 + n, stays below 2**48.
The same SQL text runs on DuckDB (local backend) and Athena (AWS backend):
both order strings by their UTF-8 bytes and put null keys last as written.
Duplicate keys (flagged by the data monitor) get consecutive ids in no set order.
"""

from __future__ import annotations

from .mapping import KEY, PARTITION_KEY

POSITION_BITS = 40
BUCKET_STRIDE = 1 << POSITION_BITS


def row_id_sql() -> str:
    """The `row_id` column of a SELECT over a table partitioned by `id_bucket` (DuckDB and Athena)."""
    return (f'CAST("{PARTITION_KEY}" AS BIGINT) * {BUCKET_STRIDE} + row_number() OVER '
            f'(PARTITION BY "{PARTITION_KEY}" ORDER BY "{KEY}" NULLS LAST) AS row_id')


def row_id(bucket: int, position: int) -> int:
    """The id of the `position`-th row (1-based, key order) of `bucket`."""
    if bucket < 0 or not 1 <= position < BUCKET_STRIDE:
        raise ValueError(f"no row_id for bucket {bucket}, position {position}")
    return bucket * BUCKET_STRIDE + position


def bucket_of(row_id_value: int) -> int:
    return row_id_value >> POSITION_BITS
