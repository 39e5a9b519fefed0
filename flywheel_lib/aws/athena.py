"""Athena: run SQL in the configured workgroup, wait with backoff, read typed results.

Every identifier that goes into SQL passes `ident`/`ddl_ident` (validated, then
quoted) and every string `literal`, so a table or location name can never
change a statement's meaning. Results land under the analysis bucket's
`athena-results/` prefix, as in the old system.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import FlywheelError
from ..progress import athena_statement
from ..usage import USAGE
from .polling import delays, retry_transient

_IDENT = re.compile(r"[a-z0-9_]{1,255}")
_S3_FOLDER = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9_./=-]*/")
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
MAX_CONCURRENT = 5  # well under Athena's default limit of 20-25 active DML queries an account
POLL_CAP_S = 20.0
_CASTS = {"bigint": int, "integer": int, "int": int, "smallint": int, "tinyint": int,
          "double": float, "float": float, "real": float,
          "boolean": lambda v: v.lower() == "true"}


class QueryFailed(FlywheelError):
    """An Athena query ended FAILED or CANCELLED; the message has Athena's reason and the query id."""


def ident(name: str) -> str:
    """A validated Glue/Athena identifier, double-quoted for SELECT and UNLOAD."""
    if not _IDENT.fullmatch(name):
        raise FlywheelError(f"{name!r} is not a valid catalog name (lower-case [a-z0-9_], 1-255)",
                            table=name)
    return f'"{name}"'


def ddl_ident(name: str) -> str:
    """The same, back-quoted, for Hive DDL such as MSCK REPAIR TABLE."""
    return f"`{ident(name)[1:-1]}`"


def table_ref(database: str, table: str, ddl: bool = False) -> str:
    quote = ddl_ident if ddl else ident
    return f"{quote(database)}.{quote(table)}"


def literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def s3_folder(url: str) -> str:
    """A location for UNLOAD: a plain s3:// folder ending in /, nothing that could close the quote."""
    url = url.rstrip("/") + "/"
    if not _S3_FOLDER.fullmatch(url):
        raise FlywheelError(f"{url!r} is not a plain s3:// folder", path=url)
    return literal(url)


@dataclass
class QueryResult:
    query_id: str
    label: str
    state: str
    reason: str = ""
    rows: list[dict] | None = None
    scanned_bytes: int = 0
    elapsed_ms: int = 0

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCEEDED"


class Athena:
    """Queries through one AwsClients, in the workgroup and result location from settings."""

    def __init__(self, aws, settings, sleep=time.sleep):
        self.aws = aws
        self.workgroup = settings.athena_workgroup
        self.output = f"{settings.analysis_root}/athena-results/"
        self.sleep = sleep
        self.history: list[QueryResult] = []  # every query this object ran, for the record

    def start(self, sql: str, database: str, label: str) -> str:
        def call():
            return self.aws.call(
                "athena", "start_query_execution", where={"table": label},
                QueryString=sql, WorkGroup=self.workgroup,
                QueryExecutionContext={"Database": database, "Catalog": "AwsDataCatalog"},
                ResultConfiguration={"OutputLocation": self.output})["QueryExecutionId"]
        return retry_transient(call, attempts=5, first=2.0, cap=30.0, sleep=self.sleep)

    def wait(self, query_id: str, label: str) -> QueryResult:
        try:
            return self._wait(query_id, label)
        except KeyboardInterrupt:  # an UNLOAD left running would keep writing after we are gone
            self.aws.call("athena", "stop_query_execution", QueryExecutionId=query_id)
            raise

    def _wait(self, query_id: str, label: str) -> QueryResult:
        for delay in delays(0.5, POLL_CAP_S):
            execution = self.aws.call("athena", "get_query_execution", where={"table": label},
                                      QueryExecutionId=query_id)["QueryExecution"]
            status = execution["Status"]
            athena_statement(query_id, label, status["State"])
            if status["State"] in TERMINAL:
                stats = execution.get("Statistics", {})
                result = QueryResult(query_id, label, status["State"], status.get("StateChangeReason", ""),
                                     scanned_bytes=stats.get("DataScannedInBytes", 0),
                                     elapsed_ms=stats.get("EngineExecutionTimeInMillis", 0))
                self.history.append(result)
                USAGE.athena_statement(label, query_id, result.scanned_bytes)
                return result
            self.sleep(delay)
        raise AssertionError("unreachable")

    def run(self, sql: str, database: str, label: str, fetch: bool = True, check: bool = True) -> QueryResult:
        """Run one statement to its end; with `check`, a failure raises QueryFailed."""
        result = self.wait(self.start(sql, database, label), label)
        if check:
            raise_if_failed(result)
        if fetch and result.succeeded:
            result.rows = self.rows(result.query_id, label)
        return result

    def run_many(self, statements: list[tuple[str, str, str]], fetch: bool = True,
                 check: bool = True) -> list[QueryResult]:
        """(sql, database, label) statements, a few at a time; results in the given order."""
        with ThreadPoolExecutor(MAX_CONCURRENT) as pool:
            return list(pool.map(lambda s: self.run(*s, fetch=fetch, check=check), statements))

    def rows(self, query_id: str, label: str) -> list[dict]:
        """The result rows as dicts, typed from Athena's column info; NULL is None."""
        names, casts, rows = None, None, []
        for page in self.aws.pages("athena", "get_query_results", where={"table": label},
                                   QueryExecutionId=query_id):
            result_set = page["ResultSet"]
            if names is None:
                info = result_set["ResultSetMetadata"]["ColumnInfo"]
                names = [c["Name"] for c in info]
                casts = [_CASTS.get(c["Type"].lower(), str) for c in info]
                data = result_set["Rows"][1:]  # the first row of the first page repeats the header
            else:
                data = result_set["Rows"]
            for row in data:
                values = [cell.get("VarCharValue") for cell in row["Data"]]
                rows.append({n: (None if v is None else cast(v)) for n, cast, v in zip(names, casts, values)})
        return rows


def raise_if_failed(result: QueryResult) -> None:
    if not result.succeeded:
        raise QueryFailed(f"Athena query {result.label} ended {result.state}: "
                          f"{result.reason or 'no reason given'} (query id {result.query_id})",
                          table=result.label if _IDENT.fullmatch(result.label) else None)
