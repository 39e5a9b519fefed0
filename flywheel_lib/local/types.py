"""Parquet (Arrow) types as the Hive types a Glue catalog records."""

from __future__ import annotations

import re

import pyarrow as pa

from ..errors import CatalogError

_COLUMN = re.compile(r"[a-z0-9_]+")


def hive_type(arrow_type: pa.DataType) -> str:
    t = arrow_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_boolean(t):
        return "boolean"
    for check, name in ((pa.types.is_int8, "tinyint"), (pa.types.is_int16, "smallint"),
                        (pa.types.is_int32, "int"), (pa.types.is_int64, "bigint"),
                        (pa.types.is_float32, "float"), (pa.types.is_float64, "double"),
                        (pa.types.is_date32, "date"), (pa.types.is_timestamp, "timestamp")):
        if check(t):
            return name
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_binary(t):
        return "binary"
    raise CatalogError(f"Parquet type {t} has no Glue catalog equivalent here")


def hive_columns(schema: pa.Schema, table: str) -> list[tuple[str, str]]:
    """(name, Hive type) of every column; names must already be lower case."""
    columns = []
    for f in schema:
        if not _COLUMN.fullmatch(f.name):
            raise CatalogError(
                f"column {f.name!r} is not lower-case [a-z0-9_] as the catalog and Clean Rooms require",
                table=table)
        try:
            columns.append((f.name, hive_type(f.type)))
        except CatalogError as err:
            raise CatalogError(f"column {f.name}: {err.message}", table=table) from err
    return columns
