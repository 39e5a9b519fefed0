"""The Glue Data Catalog side of registration: external Parquet tables and their partitions.

A table goes in and comes out as the local backend's `CatalogEntry`, so both
backends describe tables the same way. What the entry carries beyond Glue's
own fields (snapshot date, run id, dataset, source table, rows, state) is kept
in the table parameters under `flywheel.`. Columns are never dropped: a table
wider than Clean Rooms allows is registered whole and reported (`WidthReport`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import CatalogError
from ..local.catalog import CatalogEntry
from ..mapping import CLEAN_ROOMS_COLUMN_LIMIT, COLUMN_PATTERN, KEY, PARTITION_KEY
from .errors import AwsConflict, AwsQuotaExceeded

PARAM = "flywheel."
_ENTRY_PARAMS = ("run_id", "dataset", "source_table", "snapshot_dt", "row_count", "state")
MAX_PARTITIONS_PER_CALL = 100  # Glue BatchCreatePartition's limit
MAX_LISTED = 10
# The Glue quota each catalog write can use up (glue model: these operations list
# ResourceNumberLimitExceededException). It is a count that does not go down by itself: no retry.
QUOTAS = {
    "create_database": "databases per account",
    "create_table": "tables per database, tables per account",
    # UpdateTable "always creates an archived version of the table" unless SkipArchive (glue model)
    "update_table": "table versions per table, table versions per account",
    "batch_create_partition": "partitions per table, partitions per account",
}


@dataclass(frozen=True)
class WidthReport:
    """How a table's data columns compare with the Clean Rooms allow-list limit (partition keys are not in it)."""

    table: str
    width: int
    limit: int = CLEAN_ROOMS_COLUMN_LIMIT
    left_out: tuple[str, ...] = ()  # what its configured table must leave out; the data keeps them

    @property
    def over(self) -> bool:
        return self.width > self.limit

    def sentence(self) -> str:
        if not self.over:
            return f"{self.table}: {self.width} columns, within the Clean Rooms limit of {self.limit}"
        return (f"{self.table}: {self.width} columns, over the Clean Rooms limit of {self.limit}; "
                f"its configured table must leave out {', '.join(self.left_out)}")


@dataclass(frozen=True)
class TableWrite:
    entry: CatalogEntry
    created: bool  # False: an existing table was updated in place
    width: WidthReport


class PartitionsNotCreated(CatalogError):
    """Glue refused some partitions; `failures` maps id_bucket -> 'Code: message'."""

    def __init__(self, message: str, failures: dict[int, str], **context):
        super().__init__(message, **context)
        self.failures = dict(failures)


def check_columns(table: str, columns: list[tuple[str, str]]) -> None:
    """Every problem with a table's columns, in one error: case, duplicates, partition key, types."""
    names = [name for name, _ in columns]
    problems = [f"{n!r} is not lower-case [a-z0-9_]" for n in names if not COLUMN_PATTERN.fullmatch(n)]
    problems += [f"{n!r} appears {names.count(n)} times" for n in sorted(set(names)) if names.count(n) > 1]
    problems += [f"{n!r} has no type" for n, t in columns if not t]
    if PARTITION_KEY in names:
        problems.append(f"{PARTITION_KEY!r} is the partition key and cannot be a data column")
    if not columns:
        problems.append("there are no columns")
    if problems:
        raise CatalogError(f"cannot register {table}: " + "; ".join(problems), table=table,
                           hint="The catalog and Clean Rooms need unique lower-case column names")


def width_report(entry: CatalogEntry) -> WidthReport:
    """The limit check; over it, the last columns in order (never the key) are the ones left out."""
    over = len(entry.columns) - CLEAN_ROOMS_COLUMN_LIMIT
    candidates = [c for c in entry.column_names if c != KEY]
    return WidthReport(entry.name, len(entry.columns), left_out=tuple(candidates[-over:]) if over > 0 else ())


def table_input(entry: CatalogEntry) -> dict:
    """Glue's TableInput for an external Parquet table partitioned by `entry.partition_keys`."""
    parameters = {"classification": entry.classification, "EXTERNAL": "TRUE"}
    parameters.update({PARAM + name: str(getattr(entry, name)) for name in _ENTRY_PARAMS})
    return {
        "Name": entry.name,
        "TableType": entry.table_type,
        "Parameters": parameters,
        "PartitionKeys": [{"Name": n, "Type": t} for n, t in entry.partition_keys],
        "StorageDescriptor": storage(entry, entry.location),
    }


def storage(entry: CatalogEntry, location: str) -> dict:
    return {
        "Columns": [{"Name": n, "Type": t} for n, t in entry.columns],
        # A trailing slash: Athena reads the folder, not every key that starts with its name.
        "Location": location.rstrip("/") + "/",
        "InputFormat": entry.input_format,
        "OutputFormat": entry.output_format,
        "SerdeInfo": {"SerializationLibrary": entry.serde, "Parameters": {"serialization.format": "1"}},
        "Compressed": False,
    }


def entry_from_table(table: dict) -> CatalogEntry:
    """A Glue `Table` (as GetTable returns it) as a CatalogEntry."""
    storage = table.get("StorageDescriptor", {})
    params = table.get("Parameters", {})
    mine = {name: params.get(PARAM + name, "") for name in _ENTRY_PARAMS}
    return CatalogEntry(
        name=table["Name"],
        run_id=mine["run_id"], dataset=mine["dataset"], source_table=mine["source_table"],
        location=storage.get("Location", "").rstrip("/"),
        snapshot_dt=mine["snapshot_dt"],
        columns=[(c["Name"], c["Type"]) for c in storage.get("Columns", [])],
        row_count=int(mine["row_count"] or -1),
        partition_keys=[(k["Name"], k["Type"]) for k in table.get("PartitionKeys", [])],
        state=mine["state"] or "unknown",
        table_type=table.get("TableType", ""),
        input_format=storage.get("InputFormat", ""),
        output_format=storage.get("OutputFormat", ""),
        serde=storage.get("SerdeInfo", {}).get("SerializationLibrary", ""),
        classification=params.get("classification", ""),
    )


def _write(aws, method: str, where: dict, **params) -> dict:
    """A catalog write; a used-up Glue quota fails at once, naming the quota."""
    try:
        return aws.call("glue", method, where=where, **params)
    except AwsQuotaExceeded as err:
        raise AwsQuotaExceeded(f"{err.message}; the Glue quota used up is one of: {QUOTAS[method]}",
                               operation=err.operation, code=err.code, request_id=err.request_id,
                               hint="Retrying will not help: raise it in Service Quotas (AWS Glue) "
                                    "or delete what uses it", **where) from err


def ensure_database(aws, database: str) -> bool:
    """Create the catalog database if missing; True when it was created."""
    try:
        _write(aws, "create_database", {"path": database}, DatabaseInput={"Name": database})
    except AwsConflict:
        return False
    return True


def put_table(aws, database: str, entry: CatalogEntry) -> TableWrite:
    """Create the table, or update it in place if it exists; every column kept."""
    check_columns(entry.name, entry.columns)
    entry = replace(entry, location=entry.location.rstrip("/"))
    where = {"table": entry.name}
    try:
        _write(aws, "create_table", where, DatabaseName=database, TableInput=table_input(entry))
        created = True
    except AwsConflict:
        _write(aws, "update_table", where, DatabaseName=database, TableInput=table_input(entry))
        created = False
    return TableWrite(entry, created, width_report(entry))


def read_table(aws, database: str, name: str) -> CatalogEntry:
    """The table as a CatalogEntry; AwsNotFound if it does not exist."""
    response = aws.call("glue", "get_table", where={"table": name}, DatabaseName=database, Name=name)
    return entry_from_table(response["Table"])


def get_partitions(aws, database: str, table: str) -> dict[int, str]:
    """id_bucket -> location of every partition of a table (keyed by its first partition value)."""
    found = {}
    for page in aws.pages("glue", "get_partitions", where={"table": table},
                          DatabaseName=database, TableName=table):
        for partition in page.get("Partitions", []):
            value = partition["Values"][0]
            found[int(value)] = partition.get("StorageDescriptor", {}).get("Location", "").rstrip("/")
    return dict(sorted(found.items()))


def create_partitions(aws, database: str, entry: CatalogEntry, folders: dict[int, str]) -> int:
    """Add one partition per id_bucket folder, 100 a call; any refusal fails, naming each one.

    Every chunk is attempted before failing, so the error lists all refusals at
    once; what was created stays (a re-run adds only what is still missing).
    """
    inputs = [{"Values": [str(b)], "StorageDescriptor": storage(entry, url)}
              for b, url in sorted(folders.items())]
    failures: dict[int, str] = {}
    for start in range(0, len(inputs), MAX_PARTITIONS_PER_CALL):
        chunk = inputs[start:start + MAX_PARTITIONS_PER_CALL]
        response = _write(aws, "batch_create_partition", {"table": entry.name},
                          DatabaseName=database, TableName=entry.name, PartitionInputList=chunk)
        for error in response.get("Errors", []):
            detail = error.get("ErrorDetail", {})
            bucket = int(error["PartitionValues"][0])
            failures[bucket] = f"{detail.get('ErrorCode', '?')}: {detail.get('ErrorMessage', '')}"
    if failures:
        shown = "; ".join(f"{PARTITION_KEY}={b} ({why})" for b, why in list(failures.items())[:MAX_LISTED])
        more = f"; and {len(failures) - MAX_LISTED} more" if len(failures) > MAX_LISTED else ""
        raise PartitionsNotCreated(
            f"{len(failures)} of {len(inputs)} partitions of {database}.{entry.name} were not created: "
            f"{shown}{more}", failures, table=entry.name)
    return len(inputs)

