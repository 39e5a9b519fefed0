"""moto in server mode, with Glue jobs and Athena queries that do the real work.

The refresh runs its stages in papermill kernels (subprocesses), so the tests
run moto as a server (`ThreadedMotoServer`, in the pytest process) and point
the kernels at it with `AWS_ENDPOINT_URL` (see `aws_env`). moto's Glue does not
run jobs and its Athena does not run queries; the fakes below patch moto's
backend classes (the server thread calls them, so pytest's `monkeypatch`
reaches it) so that:

- `FakeGlueJobs`: starting a split job runs `flywheel_lib.local.split` on the
  raw snapshot in moto's S3 and writes its output back to moto's S3;
- `FakeAthena`: a query runs in DuckDB over the S3 files of the tables in
  moto's Glue catalog (partitions as registered), `MSCK REPAIR TABLE` adds
  partitions to the catalog, `UNLOAD` writes Parquet to S3;
- `ApiCalls`: counts every API call the server handles, from any process.

The fakes read and write S3 through moto's in-process backend, never through
the server: their own traffic must not show up in `ApiCalls`, and a request
handler calling back into the server is one more thing to go wrong.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import duckdb
import pyarrow.parquet as pq
import requests
from moto.athena.models import AthenaBackend, QueryResults
from moto.athena.responses import AthenaResponse
from moto.core.responses import BaseResponse
from moto.glue.exceptions import ConcurrentRunsExceededException
from moto.glue.models import FakeJobRun, GlueBackend, glue_backends
from moto.moto_api._internal.managed_state_model import ManagedState
from moto.s3.models import s3_backends
from moto.sns.exceptions import InvalidParameterValue
from moto.sns.models import SNSBackend
from moto.server import ThreadedMotoServer

from flywheel_lib.local.split import split_snapshot
from flywheel_lib.local.types import hive_type
from flywheel_lib.mapping import load_mapping
from flywheel_lib.snapshots import RawFile, Snapshot

ACCOUNT = "123456789012"  # moto's default account, for the key "testing"
REGION = "us-east-1"
PROFILE = "flywheel-dev"
JOB_STEPS = ("addr-part", "infobase-part")
JOB_ROLE = "arn:aws:iam::123456789012:role/glue"
MSCK_FAILURE = "FAILED: Execution Error, return code 1 from org.apache.hadoop.hive.ql.exec.DDLTask"


# --- the server and the environment that reaches it -------------------------------------------

def start_server() -> tuple[ThreadedMotoServer, str]:
    """A moto server on a free port of 127.0.0.1 (port 0: the OS picks, no race); (server, URL)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in test output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def reset(endpoint: str) -> None:
    """Forget every AWS resource in moto (all services, all accounts)."""
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()


def aws_env(tmp_path, endpoint: str) -> dict:
    """os.environ for a subprocess or kernel: no real AWS setup, profile flywheel-dev -> moto."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # every real AWS setting
    config, credentials = Path(tmp_path) / "moto_aws_config", Path(tmp_path) / "moto_aws_credentials"
    config.write_text(f"[profile {PROFILE}]\nregion = {REGION}\n")
    # Keys in the profile: botocore ignores AWS_ACCESS_KEY_ID when a profile is named.
    credentials.write_text(f"[{PROFILE}]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_CONFIG_FILE=str(config),
               AWS_SHARED_CREDENTIALS_FILE=str(credentials), AWS_EC2_METADATA_DISABLED="true")
    return env


def client(endpoint: str, service: str):
    """A boto3 client against the server with moto's keys (for test setup and assertions)."""
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


# --- moto's S3, in process ---------------------------------------------------------------------

def split_url(url: str) -> tuple[str, str]:
    """s3://bucket/some/key -> (bucket, some/key)."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, key = url[5:].partition("/")
    return bucket, key


def _s3(account: str = ACCOUNT):
    return s3_backends[account]["aws"]


def _keys(bucket: str, prefix: str, account: str = ACCOUNT) -> list[str]:
    """Every key under a prefix; folder placeholders (`x/`) left out."""
    keys = list(_s3(account).get_bucket(bucket).keys.keys())  # a copy: other threads may write
    return sorted(k for k in keys if k.startswith(prefix) and not k.endswith("/"))


def _read(bucket: str, key: str, account: str = ACCOUNT) -> bytes:
    return _s3(account).get_object(bucket, key).value


def _write(bucket: str, key: str, data: bytes, account: str = ACCOUNT) -> None:
    _s3(account).put_object(bucket, key, data)


def _hidden(relative_key: str) -> bool:
    """Hive and Athena skip files and folders whose name starts with _ or . (our _flywheel.json)."""
    return any(part.startswith(("_", ".")) for part in relative_key.split("/"))


# --- Glue jobs ---------------------------------------------------------------------------------

def job_name(step: str, env: str = "dev") -> str:
    return f"etl-omc-flywheel-{env}-{step}"


def create_jobs(client_or_endpoint, env: str = "dev") -> None:
    """Create the two split jobs in moto (a client, or the endpoint URL)."""
    glue = client(client_or_endpoint, "glue") if isinstance(client_or_endpoint, str) else client_or_endpoint
    for step in JOB_STEPS:
        glue.create_job(Name=job_name(step, env), Role=JOB_ROLE, GlueVersion="5.0",
                        Command={"Name": "glueetl", "PythonVersion": "3",
                                 "ScriptLocation": f"s3://omc-flywheel-data-us-east-1-{env}/glue/{step}.py"})


@dataclass
class JobStart:
    job_name: str
    arguments: dict
    run_id: str | None  # None: the start was refused (throttled)


@dataclass
class _Outcome:
    state: str = "SUCCEEDED"  # SUCCEEDED, FAILED or TIMEOUT
    message: str | None = None
    write_tables: tuple = ()  # FAILED: tables written before the failure
    throttles: int = 0  # starts still to refuse with ConcurrentRunsExceededException


class _RunProgress:
    """A fake run's state: RUNNING until its work is done (and on the first poll, see as_dict)."""

    def __init__(self):
        self.done = threading.Event()
        self.state = "RUNNING"
        self.message: str | None = None
        self.polls = 0
        self.seconds = 0.0  # how long the split took here

    def current(self) -> str:
        return self.state if self.done.is_set() else "RUNNING"


class FakeGlueJobs:
    """Glue job runs that split for real; outcome per job, every start recorded in `starts`."""

    def __init__(self):
        self.starts: list[JobStart] = []
        self._outcomes: dict[str, _Outcome] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def set_outcome(self, job: str, outcome: str = "SUCCEEDED", *, message: str | None = None,
                    write_tables=()) -> None:
        """`job`: full name or step (`addr-part`). outcome: SUCCEEDED, FAILED, TIMEOUT or throttle:N.

        FAILED writes the `write_tables` (mapping names; any value writes addressable_ids)
        and then fails with `message`; throttle:N refuses N starts, then succeeds.
        """
        if outcome.startswith("throttle:"):
            self._outcomes[job] = _Outcome(throttles=int(outcome.split(":", 1)[1]))
        elif outcome in ("SUCCEEDED", "FAILED", "TIMEOUT"):
            default = {"FAILED": "AnalysisException: column miacs_99 not found",
                       "TIMEOUT": "Job run timed out"}.get(outcome)
            self._outcomes[job] = _Outcome(outcome, message or default, tuple(write_tables))
        else:
            raise ValueError(f"unknown outcome {outcome!r}")

    def install(self, monkeypatch) -> FakeGlueJobs:
        fake, original_start = self, GlueBackend.start_job_run
        base_status, base_advance, base_as_dict = ManagedState.status, ManagedState.advance, FakeJobRun.as_dict

        def start_job_run(backend, name, arguments=None, *args, **kwargs):
            outcome = fake._outcome(name)
            with fake._lock:
                if outcome.throttles > 0:
                    outcome.throttles -= 1
                    fake.starts.append(JobStart(name, dict(arguments or {}), None))
                    raise ConcurrentRunsExceededException(f"Concurrent runs exceeded for {name}")
            run_id = original_start(backend, name, arguments, *args, **kwargs)
            run = next(r for r in backend.get_job(name).job_runs if r.job_run_id == run_id)
            run.fake_progress = _RunProgress()
            fake.starts.append(JobStart(name, dict(run.arguments or {}), run_id))
            worker = threading.Thread(target=fake._run, args=(run, outcome), daemon=True)
            fake._threads.append(worker)
            worker.start()
            return run_id

        def status(run):
            progress = getattr(run, "fake_progress", None)
            return progress.current() if progress else base_status.fget(run)

        def advance(run):  # moto calls it on every GetJobRun / GetJobRuns
            base_advance(run)
            if getattr(run, "fake_progress", None):
                run.fake_progress.polls += 1

        def as_dict(run):
            result = base_as_dict(run)
            progress = getattr(run, "fake_progress", None)
            if progress and progress.polls <= 1:
                result["JobRunState"] = "RUNNING"  # the first poll always: callers' wait loops get exercised
            elif progress and result["JobRunState"] != "RUNNING" and progress.message:
                result["ErrorMessage"] = progress.message  # moto never reports one
            if progress and result["JobRunState"] != "RUNNING":
                # moto says ExecutionTime 123 for every run; the fake's run took what the split took here.
                # DPUSeconds: "set for FLEX or Auto Scaling runs" (botocore glue JobRun.DPUSeconds): the
                # fake reports it as one G.1X worker (1 DPU, the same documentation) for that time.
                result["ExecutionTime"] = max(1, round(progress.seconds))
                result["DPUSeconds"] = round(progress.seconds * 1.0, 3)
            return result

        monkeypatch.setattr(GlueBackend, "start_job_run", start_job_run)
        monkeypatch.setattr(FakeJobRun, "status", property(status, base_status.fset))
        monkeypatch.setattr(FakeJobRun, "advance", advance)
        monkeypatch.setattr(FakeJobRun, "as_dict", as_dict)
        return self

    def wait(self, timeout: float = 60) -> None:
        """Wait for every started run's work (call before resetting moto or ending a test)."""
        for worker in self._threads:
            worker.join(timeout)

    def _outcome(self, name: str) -> _Outcome:
        for job, outcome in self._outcomes.items():
            if name == job or name.endswith("-" + job):
                return outcome
        return _Outcome()

    def _run(self, run, outcome: _Outcome) -> None:
        progress, started = run.fake_progress, time.monotonic()
        try:
            if outcome.state == "SUCCEEDED":
                split_job(run.arguments or {})
            elif outcome.state == "FAILED" and outcome.write_tables:
                split_job(run.arguments or {}, tables=list(outcome.write_tables))
            progress.state, progress.message = outcome.state, outcome.message
        except Exception as err:  # noqa: BLE001 - whatever breaks, the run fails with it, like Glue
            progress.state, progress.message = "FAILED", f"{type(err).__name__}: {err}"
        finally:
            progress.seconds = time.monotonic() - started
            progress.done.set()


def split_job(arguments: dict, tables: list[str] | None = None) -> None:
    """What our split job does on Glue, done by the local engine against moto's S3."""
    missing = [a for a in ("--SOURCE_PATH", "--SNAPSHOT_DT", "--DATASET", "--TARGET_ROOT", "--TARGET_VERSION")
               if not arguments.get(a)]
    if missing:
        raise ValueError(f"missing job argument(s) {', '.join(missing)}")
    source, snapshot_dt = arguments["--SOURCE_PATH"].rstrip("/"), arguments["--SNAPSHOT_DT"]
    dataset = arguments["--DATASET"]
    target_root, version = arguments["--TARGET_ROOT"].rstrip("/"), arguments["--TARGET_VERSION"]
    if not version.startswith(snapshot_dt + "__"):
        raise ValueError(f"--TARGET_VERSION {version!r} is not <--SNAPSHOT_DT>__<run id>")
    if arguments.get("--BUCKET_COUNT", "256") != "256":
        raise ValueError(f"--BUCKET_COUNT {arguments['--BUCKET_COUNT']!r}: the split only makes 256")
    if dataset not in ("addressable_ids", "infobase_attributes"):
        raise ValueError(f"unknown --DATASET {dataset!r}")
    tables = tables or [t.strip() for t in arguments.get("--TABLES", "").split(",") if t.strip()] or None

    with tempfile.TemporaryDirectory(prefix="fake-glue-") as tmp:
        raw_dir = Path(tmp) / "raw"
        raw_dir.mkdir()
        bucket, prefix = split_url(source + "/")
        files = []
        for key in _keys(bucket, prefix):
            name = key[len(prefix):]
            if "/" not in name and name.endswith(".parquet") and not _hidden(name):
                path = raw_dir / name
                path.write_bytes(_read(bucket, key))
                files.append(RawFile(str(path), path.stat().st_size))
        mapping = None
        if dataset == "infobase_attributes":
            if not arguments.get("--MAPPING_PATH"):
                raise ValueError("missing job argument --MAPPING_PATH")
            mapping_file = Path(tmp) / "split_mapping.csv"
            mapping_file.write_bytes(_read(*split_url(arguments["--MAPPING_PATH"])))
            mapping = load_mapping(mapping_file)
        snapshot = Snapshot(dataset, snapshot_dt, source, tuple(files))
        outputs = split_snapshot(snapshot, str(Path(tmp) / "out"), version.split("__", 1)[1], mapping, tables)
        for output in outputs:
            folder = Path(output.location)  # <out>/<TABLE>/<version>
            out_bucket, out_prefix = split_url(f"{target_root}/{folder.parent.name}/{folder.name}/")
            # The marker last: whoever sees it sees the whole table.
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                if path.name != "_flywheel.json":
                    _write(out_bucket, out_prefix + path.relative_to(folder).as_posix(), path.read_bytes())
            _write(out_bucket, out_prefix + "_flywheel.json", (folder / "_flywheel.json").read_bytes())


# --- Athena ------------------------------------------------------------------------------------

class QueryFailed(Exception):
    """A query ends FAILED with this text as its StateChangeReason."""


_MSCK = re.compile(r"\s*MSCK\s+REPAIR\s+TABLE\s+`?([\w-]+)`?\s*\.\s*`?([\w-]+)`?\s*;?\s*", re.I)
_UNLOAD = re.compile(r"\s*UNLOAD\s*\((.*)\)\s*TO\s*'([^']+)'\s*WITH\s*\((.*)\)\s*;?\s*", re.I | re.S)
_LEADING_COMMENTS = re.compile(r"(\s*(--[^\n]*(\n|$)|/\*.*?\*/))*\s*", re.S)
_SELECT = re.compile(r"\s*\(?\s*(SELECT|WITH)\b", re.I)
# "database"."table" or database.table; also matches alias.column, told apart by the Glue catalog.
_TABLE_REF = re.compile(r'"([^"]+)"\s*\.\s*"([^"]+)"|\b([A-Za-z_]\w*)\.([A-Za-z_]\w*)\b')
_DUCK_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "smallint": "SMALLINT",
               "tinyint": "TINYINT", "double": "DOUBLE", "float": "FLOAT", "boolean": "BOOLEAN",
               "date": "DATE", "timestamp": "TIMESTAMP", "binary": "BLOB"}  # Hive -> DuckDB
# DuckDB result type -> Athena's name for it (DuckDB's sum(bigint) is a HUGEINT, Athena's a bigint).
_ATHENA_TYPES = {"VARCHAR": "varchar", "BIGINT": "bigint", "HUGEINT": "bigint", "INTEGER": "integer",
                 "SMALLINT": "smallint", "TINYINT": "tinyint", "DOUBLE": "double", "FLOAT": "real",
                 "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "timestamp", "BLOB": "varbinary"}
_TYPE_FAMILIES = {"tinyint": "integer", "smallint": "integer", "int": "integer", "bigint": "integer",
                  "float": "real", "double": "real"}


class FakeAthena:
    """Athena executions that run in DuckDB; `queries` holds every query text."""

    def __init__(self):
        self.queries: list[str] = []
        self.fail_msck = False
        self._faults: list[tuple[str, str]] = []

    def fail_when(self, substring: str, reason: str) -> None:
        """Any query containing `substring` ends FAILED with `reason`."""
        self._faults.append((substring, reason))

    def install(self, monkeypatch) -> FakeAthena:
        fake = self
        original_start, original_describe = AthenaBackend.start_query_execution, AthenaResponse.get_query_execution

        def start_query_execution(backend, query, context=None, config=None, workgroup=None,
                                  execution_parameters=None):
            exec_id = original_start(backend, query=query, context=context, config=config,
                                     workgroup=workgroup, execution_parameters=execution_parameters)
            fake._execute(backend, exec_id)
            return exec_id

        def get_query_execution(response):  # moto's answer has no StateChangeReason
            body = json.loads(original_describe(response))
            execution = response.athena_backend.executions[body["QueryExecution"]["QueryExecutionId"]]
            # DataScannedInBytes: "the number of bytes in the data that was queried" (botocore athena
            # QueryExecutionStatistics); the fake counts every file it read, all columns (an upper bound).
            body["QueryExecution"].setdefault("Statistics", {})["DataScannedInBytes"] = \
                getattr(execution, "fake_scanned", 0)
            reason = getattr(execution, "fake_reason", None)
            if reason:
                body["QueryExecution"]["Status"]["StateChangeReason"] = reason
                body["QueryExecution"]["Status"]["AthenaError"] = {
                    "ErrorCategory": 2, "ErrorType": 1301, "Retryable": False, "ErrorMessage": reason}
            return json.dumps(body)

        monkeypatch.setattr(AthenaBackend, "start_query_execution", start_query_execution)
        monkeypatch.setattr(AthenaResponse, "get_query_execution", get_query_execution)
        return self

    def _execute(self, backend, exec_id: str) -> None:
        execution = backend.executions[exec_id]
        self.queries.append(execution.query)
        query = _LEADING_COMMENTS.sub("", execution.query, count=1)  # to tell the statement kind
        glue = glue_backends[backend.account_id][backend.region_name]
        try:
            for substring, reason in self._faults:
                if substring in query:
                    raise QueryFailed(reason)
            _check_output_location(execution, backend.account_id)
            if match := _MSCK.fullmatch(query):
                if self.fail_msck:
                    raise QueryFailed(MSCK_FAILURE)
                _repair(glue, match.group(1).lower(), match.group(2).lower(), backend.account_id)
                results = QueryResults([], [])
            elif match := _UNLOAD.fullmatch(query):
                execution.fake_scanned = _unload(glue, match.group(1), match.group(2), match.group(3), exec_id,
                                                 backend.account_id)
                results = QueryResults([], [])
            elif _SELECT.match(query):
                results, execution.fake_scanned = _select(glue, query, backend.account_id)
            else:
                raise QueryFailed(f"FakeAthena does not run this statement: {query.strip()[:80]}")
        except (QueryFailed, duckdb.Error) as err:
            execution.status, execution.fake_reason = "FAILED", str(err)
            return
        except Exception as err:  # noqa: BLE001 - a fault of the fake: fail the query, not the server
            execution.status, execution.fake_reason = "FAILED", f"FakeAthena {type(err).__name__}: {err}"
            return
        backend.query_results[exec_id] = results
        backend._store_query_result_in_s3(exec_id)  # the CSV Athena leaves in the output location


def _check_output_location(execution, account: str) -> None:
    location = (execution.config or {}).get("OutputLocation")
    if not location and execution.workgroup:
        location = execution.workgroup.configuration.get("ResultConfiguration", {}).get("OutputLocation")
    if not location:
        raise QueryFailed("No output location provided. An output location is required either through "
                          "the Workgroup result configuration setting or as an API input.")
    bucket = split_url(location)[0]
    if bucket not in _s3(account).buckets:
        raise QueryFailed(f"Unable to verify/create output bucket {bucket}")


def _glue_table(glue, database: str, table: str):
    if database not in glue.databases or table not in glue.databases[database].tables:
        raise QueryFailed(f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{database}.{table}' does not exist")
    return glue.databases[database].tables[table]


def _repair(glue, database: str, table: str, account: str) -> None:
    """MSCK REPAIR TABLE: add a partition for every `key=value/` folder the catalog lacks."""
    try:
        found = _glue_table(glue, database, table)
    except QueryFailed:
        raise QueryFailed(f"FAILED: SemanticException [Error 10001]: Table not found {database}.{table}") from None
    info = found.as_dict()
    keys = [k["Name"] for k in info.get("PartitionKeys", [])]
    location = info["StorageDescriptor"]["Location"].rstrip("/") + "/"
    bucket, prefix = split_url(location)
    folder = re.compile("/".join(f"{re.escape(k)}=([^/]+)" for k in keys) + "/")
    values = {}
    for key in _keys(bucket, prefix, account) if keys else []:
        if match := folder.match(key[len(prefix):]):
            values[match.groups()] = location + match.group(0).rstrip("/")
    for value, folder_url in sorted(values.items()):
        if str(list(value)) not in found.partitions:
            descriptor = dict(info["StorageDescriptor"], Location=folder_url)
            found.create_partition({"Values": list(value), "StorageDescriptor": descriptor})


def _unload(glue, select: str, target: str, options: str, exec_id: str, account: str) -> int:
    if not re.search(r"format\s*=\s*'PARQUET'", options, re.I):
        raise QueryFailed(f"FakeAthena UNLOAD writes PARQUET only, got WITH ({options})")
    if re.search(r"partitioned_by", options, re.I):
        raise QueryFailed("FakeAthena UNLOAD does not do partitioned_by")
    bucket, prefix = split_url(target.rstrip("/") + "/")
    if _keys(bucket, prefix, account):
        raise QueryFailed(f"HIVE_PATH_ALREADY_EXISTS: Target directory for table already exists: {target}")
    over = _duckdb_over(glue, select, account)
    with over as con, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "unload.parquet"
        con.execute(f"COPY ({select}) TO '{out}' (FORMAT parquet)")
        _write(bucket, f"{prefix}{exec_id}_00000", out.read_bytes())  # Athena's files have no extension
    return over.bytes_read


def _select(glue, query: str, account: str) -> tuple[QueryResults, int]:
    over = _duckdb_over(glue, query, account)
    with over as con:
        relation = con.sql(query)
        names, types = relation.columns, [_athena_type(t) for t in relation.types]
        rows = relation.fetchall()
    header = {"Data": [{"VarCharValue": n} for n in names]}
    data = [{"Data": [{} if v is None else {"VarCharValue": _text(v)} for v in row]} for row in rows]
    columns = [{"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": n, "Label": n, "Type": t,
                "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": t == "varchar"}
               for n, t in zip(names, types)]
    return QueryResults([header] + data, columns), over.bytes_read


def _athena_type(duck_type) -> str:
    text = str(duck_type)
    return "decimal" if text.startswith("DECIMAL") else _ATHENA_TYPES.get(text, "varchar")


def _text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class _duckdb_over:
    """A DuckDB connection where every "database"."table" of `sql` in the Glue catalog is a view
    over a local copy of the table's S3 files (registered partitions only, like Athena)."""

    def __init__(self, glue, sql: str, account: str):
        self.glue, self.sql, self.account = glue, sql, account
        self.bytes_read = 0  # every file copied for the query: what the fake reports as scanned

    def __enter__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="fake-athena-")
        self.con = duckdb.connect()
        self.con.execute("SET integer_division = true")  # Trino: 5 / 2 = 2 (DuckDB says 2.5)
        refs = {((q1 or d).lower(), (q2 or t).lower()) for q1, q2, d, t in _TABLE_REF.findall(self.sql)}
        for database, table in sorted(refs):
            if database not in self.glue.databases:
                continue  # alias.column, not a table
            found = _glue_table(self.glue, database, table)
            self.con.execute(f'CREATE SCHEMA IF NOT EXISTS "{database}"')
            self.con.execute(f'CREATE VIEW "{database}"."{table}" AS {self._view(database, found)}')
        return self.con

    def __exit__(self, *exc):
        self.con.close()
        self.tmp.cleanup()

    def _view(self, database: str, table) -> str:
        info = table.as_dict()
        serde = info["StorageDescriptor"].get("SerdeInfo", {}).get("SerializationLibrary") or ""
        if "parquet" not in serde.lower():
            raise QueryFailed(f"HIVE_UNSUPPORTED_FORMAT: {database}.{table.name} has SerDe {serde!r}; "
                              "FakeAthena reads Parquet tables only")
        columns = [(c["Name"].lower(), c["Type"].lower()) for c in info["StorageDescriptor"]["Columns"]]
        keys = [(k["Name"].lower(), k["Type"].lower()) for k in info.get("PartitionKeys", [])]
        root = Path(self.tmp.name) / database / table.name
        if keys:  # only the registered partitions, each copied under key=value folders
            sources = [(p.partition_input["StorageDescriptor"]["Location"],
                        "/".join(f"{k}={v}" for (k, _), v in zip(keys, p.values)))
                       for p in table.partitions.values()]
        else:
            sources = [(info["StorageDescriptor"]["Location"], "")]
        files = []
        for location, subfolder in sources:
            bucket, prefix = split_url(location.rstrip("/") + "/")
            for key in _keys(bucket, prefix, self.account):
                if not _hidden(key[len(prefix):]):
                    path = root / subfolder / f"f{len(files)}.parquet"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(_read(bucket, key, self.account))
                    self.bytes_read += path.stat().st_size
                    files.append(path)
        if not files:
            nulls = ", ".join(f'CAST(NULL AS {_duck_type(t)}) AS "{n}"' for n, t in columns + keys)
            return f"SELECT {nulls} WHERE false"
        file_columns = _check_types(files[0], columns, f"{database}.{table.name}")
        listed = ", ".join(f"'{f}'" for f in files)
        hive = ", ".join(f"'{k}': {_duck_type(t)}" for k, t in keys)
        options = f", hive_partitioning = true, hive_types = {{{hive}}}" if keys else ", hive_partitioning = false"
        # Athena projects the catalog's columns: extra file columns are ignored, missing ones are NULL.
        select = [f'"{file_columns[n]}" AS "{n}"' if n in file_columns else f'CAST(NULL AS {_duck_type(t)}) AS "{n}"'
                  for n, t in columns] + [f'"{k}"' for k, _ in keys]
        return f"SELECT {', '.join(select)} FROM read_parquet([{listed}]{options}, union_by_name = true)"


def _check_types(path: Path, columns: list[tuple[str, str]], table: str) -> dict[str, str]:
    """Lower-case name -> file column name; Athena refuses a file column of another kind of type."""
    schema = pq.read_schema(path)
    found = {f.name.lower(): f for f in schema}
    for name, declared in columns:
        if name in found:
            actual = hive_type(found[name].type)
            if _TYPE_FAMILIES.get(actual, actual) != _TYPE_FAMILIES.get(declared, declared):
                raise QueryFailed(f"HIVE_BAD_DATA: Field {name}'s type {actual} in parquet is incompatible "
                                  f"with type {declared} defined in table schema ({table})")
    return {n: f.name for n, f in found.items()}


def _duck_type(hive: str) -> str:
    return hive.upper() if hive.startswith("decimal") else _DUCK_TYPES.get(hive, "VARCHAR")


# --- SNS ----------------------------------------------------------------------------------------

def enforce_sns_subject_rule(monkeypatch) -> None:
    """Publish refuses a Subject of 100 characters or more, a line break or a control character."""
    original = SNSBackend.publish

    def publish(backend, message, arn, *args, subject=None, **kwargs):
        # botocore sns model, PublishInput.Subject: "no line breaks or control characters, and less than
        # 100 characters long" (moto accepts 100: its issue 1503 says AWS did; 99 is right either way).
        if subject is not None and (len(subject) >= 100 or re.search(r"[\x00-\x1f\x7f]", subject)):
            raise InvalidParameterValue("Invalid parameter: Subject")
        return original(backend, message, arn, *args, subject=subject, **kwargs)

    monkeypatch.setattr(SNSBackend, "publish", publish)


# --- every API call --------------------------------------------------------------------------------

_READ_PREFIXES = ("Get", "List", "Describe", "Head", "Search", "BatchGet")


class ApiCalls:
    """(service, operation) of every request the server handles, whichever process sent it."""

    def __init__(self):
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def install(self, monkeypatch) -> ApiCalls:
        calls, original = self, BaseResponse.setup_class

        # Every service's response class goes through setup_class once a request (S3 included,
        # which does not use call_action); the operation then comes from moto's own routing.
        def setup_class(response, request, *args, **kwargs):
            original(response, request, *args, **kwargs)
            service = response.boto3_service_name
            if service and not getattr(request, "fake_aws_counted", False):
                request.fake_aws_counted = True  # some services set up twice for one request
                try:
                    operation = response._get_action() or "?"
                except Exception:  # noqa: BLE001 - a call we cannot name is still a call
                    operation = "?"
                with calls._lock:
                    calls.calls.append((service, operation))

        monkeypatch.setattr(BaseResponse, "setup_class", setup_class)
        return self

    def count(self, service: str | None = None, operation: str | None = None) -> int:
        return sum(1 for s, o in self.calls if service in (None, s) and operation in (None, o))

    def mutating(self) -> list[tuple[str, str]]:
        """The calls that may change something (reads and Athena result polling left out)."""
        return [(s, o) for s, o in self.calls
                if not o.startswith(_READ_PREFIXES)
                and (s, o) != ("sts", "GetCallerIdentity") and not (s == "athena" and o.startswith("GetQuery"))]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
