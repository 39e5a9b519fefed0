"""Staged tables and the switch that publishes them, without a multi-table transaction.

Registration writes this run's tables to the staging database (`<database>_staging`),
where repair and validation work on them while the main database still serves
last month. Publishing copies each staged table into the main database and
points its partitions at the new version. Glue has no transaction across
tables, so before switching we keep each table's previous definition and
partitions, and if any switch fails every table already switched is put back:
the main database then serves last month, exactly as before, and the error
says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from ..errors import CatalogError
from ..local.catalog import CatalogEntry
from . import glue_catalog
from .errors import AwsNotFound

log = logging.getLogger(__name__)

MAX_UPDATE = 100  # BatchUpdatePartition entries per call
MAX_DELETE = 25   # BatchDeletePartition entries per call


@dataclass
class Previous:
    """What a main-database table was before the switch (None: it did not exist)."""

    entry: CatalogEntry | None
    partitions: dict[int, str]

    def describe(self, name: str) -> str:
        if self.entry is None:
            return f"{name}: did not exist"
        return f"{name}: snapshot {self.entry.snapshot_dt or '?'} (run {self.entry.run_id or '?'})"


def catalog_entries(aws, database: str, prefix: str = "part_") -> list[CatalogEntry]:
    """Every table of a database whose name starts with `prefix`, sorted by name (none if no database)."""
    entries = []
    try:
        for page in aws.pages("glue", "get_tables", where={"path": database}, DatabaseName=database):
            entries += [glue_catalog.entry_from_table(t) for t in page.get("TableList", [])
                        if t["Name"].startswith(prefix)]
    except AwsNotFound:  # before the first registration or publish
        return []
    return sorted(entries, key=lambda e: e.name)


def read_or_none(aws, database: str, name: str) -> CatalogEntry | None:
    try:
        return glue_catalog.read_table(aws, database, name)
    except AwsNotFound:
        return None


def earlier_version(aws, database: str, name: str, run_id: str) -> CatalogEntry | None:
    """The newest archived definition of a table that described `run_id` (Glue keeps one per UpdateTable)."""
    try:
        for page in aws.pages("glue", "get_table_versions", where={"table": name}, DatabaseName=database,
                              TableName=name):
            for version in sorted(page.get("TableVersions", []), key=lambda v: -int(v.get("VersionId", 0))):
                entry = glue_catalog.entry_from_table(version["Table"])
                if entry.run_id == run_id:
                    return entry
    except AwsNotFound:
        return None
    return None


def remember(aws, database: str, name: str) -> Previous:
    entry = read_or_none(aws, database, name)
    partitions = glue_catalog.get_partitions(aws, database, name) if entry and entry.partition_keys else {}
    return Previous(entry, partitions)


def switch_table(aws, database: str, entry: CatalogEntry, partitions: dict[int, str]) -> None:
    """Make `database.<entry.name>` describe `entry`, with exactly `partitions` (id_bucket -> folder)."""
    glue_catalog.put_table(aws, database, entry)
    if not entry.partition_keys:
        return
    current = glue_catalog.get_partitions(aws, database, entry.name)
    update = {b: url for b, url in partitions.items() if b in current and current[b] != url}
    create = {b: url for b, url in partitions.items() if b not in current}
    delete = sorted(set(current) - set(partitions))
    _update_partitions(aws, database, entry, update)
    if create:
        glue_catalog.create_partitions(aws, database, entry, create)
    for start in range(0, len(delete), MAX_DELETE):
        chunk = delete[start:start + MAX_DELETE]
        response = aws.call("glue", "batch_delete_partition", where={"table": entry.name}, DatabaseName=database,
                            TableName=entry.name, PartitionsToDelete=[{"Values": [str(b)]} for b in chunk])
        _refuse_errors(response, entry.name, "deleted")


def _update_partitions(aws, database: str, entry: CatalogEntry, folders: dict[int, str]) -> None:
    items = [{"PartitionValueList": [str(b)],
              "PartitionInput": {"Values": [str(b)], "StorageDescriptor": glue_catalog.storage(entry, url)}}
             for b, url in sorted(folders.items())]
    for start in range(0, len(items), MAX_UPDATE):
        response = aws.call("glue", "batch_update_partition", where={"table": entry.name}, DatabaseName=database,
                            TableName=entry.name, Entries=items[start:start + MAX_UPDATE])
        _refuse_errors(response, entry.name, "updated")


def _refuse_errors(response: dict, table: str, what: str) -> None:
    errors = response.get("Errors", [])
    if errors:
        first = errors[0].get("ErrorDetail", {})
        raise CatalogError(f"{len(errors)} partition(s) of {table} were not {what}: "
                           f"{first.get('ErrorCode', '?')}: {first.get('ErrorMessage', '')}", table=table)


def restore(aws, database: str, name: str, previous: Previous) -> None:
    if previous.entry is None:
        aws.call("glue", "delete_table", where={"table": name}, DatabaseName=database, Name=name)
    else:
        switch_table(aws, database, previous.entry, previous.partitions)


def publish_all(aws, database: str, staged: list[tuple[CatalogEntry, dict[int, str]]]) -> dict[str, Previous]:
    """Switch every (entry, partitions) into `database`, or none of them; returns what each replaced."""
    previous = {entry.name: remember(aws, database, entry.name) for entry, _ in staged}
    switched: list[str] = []
    try:
        for entry, partitions in staged:
            switched.append(entry.name)
            switch_table(aws, database, replace(entry, state="published"), partitions)
    except BaseException as err:  # Ctrl-C (SIGINT from the driver) too: never leave half a switch
        undone, stuck = _roll_back(aws, database, switched, previous)
        state = (f"all {len(undone)} switched table(s) were put back and serve what they served before"
                 if not stuck else f"could NOT put back {', '.join(stuck)}: they may be half switched")
        hint = ("Fix the cause and re-run; nothing else was changed" if not stuck else
                "Re-run the stage to finish the switch, or restore those tables from the run record's "
                "'previous' definitions")
        if not isinstance(err, Exception):
            raise KeyboardInterrupt(f"publishing interrupted at {switched[-1]}; {state}") from err
        raise CatalogError(f"publishing failed at {switched[-1]}: {getattr(err, 'message', err)}; {state}",
                           table=switched[-1], hint=hint) from err
    return previous


def _roll_back(aws, database: str, names: list[str], previous: dict[str, Previous]):
    undone, stuck = [], []
    for name in reversed(names):
        try:
            restore(aws, database, name, previous[name])
            undone.append(name)
        except Exception as err:  # keep putting back the others
            log.error("could not restore %s.%s: %s", database, name, err)
            stuck.append(name)
    return undone, stuck
