"""Small helpers to write DuckDB SQL safely (identifiers and literals quoted)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import duckdb

from ..errors import CatalogError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")


def ident(name: str) -> str:
    """A double-quoted identifier; refuses names a catalog table could never have."""
    if not _IDENTIFIER.fullmatch(name):
        raise CatalogError(f"{name!r} is not a valid table or column name")
    return f'"{name}"'


def quote_any(name: str) -> str:
    """A double-quoted identifier for a raw upstream column, whatever it contains."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def parquet_source(paths: list[str], hive: bool = False) -> str:
    """`read_parquet([...])` over the given files or globs.

    Hive partitioning is off unless asked for: DuckDB would otherwise turn the raw
    snapshot's `snapshot_dt=...` folder into a column of the data.
    """
    listed = ", ".join(literal(p) for p in paths)
    options = (", hive_partitioning = true, hive_types = {'id_bucket': INTEGER}" if hive
               else ", hive_partitioning = false")
    return f"read_parquet([{listed}]{options})"


def connect(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for one piece of work, bounded in memory."""
    # Spill (if ever) to the system temp folder, never into the working directory.
    spill = Path(tempfile.gettempdir()) / "flywheel-duckdb"
    config = {"preserve_insertion_order": False, "temp_directory": str(spill)}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = threads
    return duckdb.connect(config=config)
