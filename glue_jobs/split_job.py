"""The split job on AWS Glue 5.0 (PySpark): one script for both Glue jobs.

    etl-omc-flywheel-<env>-addr-part       --DATASET addressable_ids
    etl-omc-flywheel-<env>-infobase-part   --DATASET infobase_attributes

It does what `flywheel_lib.local.split.split_snapshot` does, at Glue's scale,
and honours the contract of `flywheel_lib/aws/split.py`:

    --SOURCE_PATH     the raw snapshot folder (s3://... or a local folder)
    --SNAPSHOT_DT     YYYY-MM-DD
    --DATASET         addressable_ids | infobase_attributes
    --TARGET_ROOT     where the tables go: <TARGET_ROOT>/<TABLE>/<TARGET_VERSION>/
    --TARGET_VERSION  <SNAPSHOT_DT>__<run id>
    --BUCKET_COUNT    256 (the only count the lake knows)
    --MAPPING_PATH    the split mapping CSV (infobase only)
    --TABLES          optional comma list of infobase tables (default: every table of the mapping)

For every table it writes `id_bucket=0` .. `id_bucket=255` (an empty Parquet
file with the table's schema where a bucket has no rows: S3 has no empty
folders), then the `_flywheel.json` marker, last: whoever sees the marker sees
the whole table. `id_bucket` is Spark's own `pmod(xxhash64(customer_user_id), 256)`,
which `flywheel_lib.bucketing` reproduces for the local engine.

What the old jobs swallowed fails the job, with every name in the message:
mapping columns missing from the source, a missing or ambiguous key column, an
empty snapshot. The mapping is read and validated by `flywheel_lib.mapping`
(shipped to Glue as `--extra-py-files`, see `build_modules.py`); nothing else of
`flywheel_lib` is imported, and none of it needs duckdb, pandas or pyarrow.

Outside Glue (tests, benchmarks, a laptop) the same file runs on plain PySpark:

    python glue_jobs/split_job.py --SOURCE_PATH ... --SNAPSHOT_DT ... (same arguments)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from flywheel_lib.errors import FlywheelError, SplitError
from flywheel_lib.lake import MARKER
from flywheel_lib.mapping import ADDRESSABLE_TABLE, KEY, PARTITION_KEY, Mapping, load_mapping

DATASETS = ("addressable_ids", "infobase_attributes")
BUCKETS = 256
REQUIRED = ("SOURCE_PATH", "SNAPSHOT_DT", "DATASET", "TARGET_ROOT", "TARGET_VERSION", "BUCKET_COUNT")
OPTIONAL = ("MAPPING_PATH", "TABLES", "JOB_NAME")
MAX_LISTED = 20
EMPTY_FILE = "part-00000-empty.c000.snappy.parquet"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BUCKET_DIR = re.compile(r"id_bucket=(\d+)")


# --- arguments ---------------------------------------------------------------------------------

def parse_arguments(argv: list[str]) -> dict[str, str]:
    """The job's arguments: awsglue's resolver on Glue, the same `--NAME value` form otherwise."""
    present = [name for name in OPTIONAL if f"--{name}" in argv]
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        args = _parse_plain(argv, REQUIRED + tuple(present))
    else:
        args = getResolvedOptions(argv, list(REQUIRED) + present)
    return check_arguments(args)


def _parse_plain(argv: list[str], names: tuple[str, ...]) -> dict[str, str]:
    """`--NAME value` and `--NAME=value`; arguments Glue adds that we do not know are ignored."""
    found, i = {}, 0
    while i < len(argv):
        item = argv[i]
        i += 1
        if not item.startswith("--"):
            continue
        name, eq, value = item[2:].partition("=")
        if not eq and i < len(argv) and not argv[i].startswith("--"):
            value, i = argv[i], i + 1
        if name in names:
            found[name] = value
    missing = [f"--{n}" for n in REQUIRED if n not in found]
    if missing:
        raise SplitError(f"missing job argument(s) {', '.join(missing)}",
                         hint="See flywheel_lib/aws/split.py job_arguments for what the backend passes")
    return found


def check_arguments(args: dict[str, str]) -> dict[str, str]:
    args = {k: v for k, v in dict(args).items() if v is not None}
    empty = [f"--{n}" for n in REQUIRED if not str(args.get(n, "")).strip()]
    if empty:
        raise SplitError(f"missing job argument(s) {', '.join(empty)}")
    if args["DATASET"] not in DATASETS:
        raise SplitError(f"unknown --DATASET {args['DATASET']!r}", hint=f"Use {' or '.join(DATASETS)}")
    if not _DATE.fullmatch(args["SNAPSHOT_DT"]):
        raise SplitError(f"--SNAPSHOT_DT {args['SNAPSHOT_DT']!r} is not a YYYY-MM-DD date")
    if not args["TARGET_VERSION"].startswith(args["SNAPSHOT_DT"] + "__") or \
            args["TARGET_VERSION"] == args["SNAPSHOT_DT"] + "__":
        raise SplitError(f"--TARGET_VERSION {args['TARGET_VERSION']!r} is not <--SNAPSHOT_DT>__<run id>")
    if args["BUCKET_COUNT"] != str(BUCKETS):
        raise SplitError(f"--BUCKET_COUNT {args['BUCKET_COUNT']!r}: the lake has exactly {BUCKETS} buckets")
    if args["DATASET"] == "infobase_attributes" and not args.get("MAPPING_PATH"):
        raise SplitError("missing job argument --MAPPING_PATH (the infobase split needs the mapping)")
    return args


# --- storage: local folders or S3 (Spark writes the data; these write the rest) -------------------

class _Local:
    def __init__(self, root: str):
        self.root = root

    def list_files(self, folder: str) -> list[tuple[str, int]]:
        """(name, size) of the files directly in `folder`."""
        path = Path(folder)
        if not path.is_dir():
            raise SplitError("the snapshot folder does not exist", path=folder)
        return sorted((p.name, p.stat().st_size) for p in path.iterdir() if p.is_file())

    def list_dirs(self, folder: str) -> list[str]:
        path = Path(folder)
        return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []

    def read(self, url: str) -> bytes:
        return Path(url).read_bytes()

    def write(self, url: str, data: bytes) -> None:
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(url).with_name(Path(url).name + ".tmp")  # no half-written marker, ever
        tmp.write_bytes(data)
        os.replace(tmp, url)

    def delete_folder(self, folder: str) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    def tidy(self, folder: str) -> None:
        """Hadoop's local checksum files and `_SUCCESS`: the local engine writes neither."""
        for path in Path(folder).rglob("*"):
            if path.is_file() and (path.name.endswith(".crc") or path.name == "_SUCCESS"):
                path.unlink()


class _S3:
    def __init__(self):
        import boto3  # on Glue and in the test venv; only needed for s3:// locations

        self.client = boto3.client("s3")

    @staticmethod
    def split(url: str) -> tuple[str, str]:
        bucket, _, key = url[len("s3://"):].partition("/")
        return bucket, key

    def _list(self, folder: str, delimiter: bool):
        bucket, prefix = self.split(folder.rstrip("/") + "/")
        kwargs = {"Bucket": bucket, "Prefix": prefix, **({"Delimiter": "/"} if delimiter else {})}
        for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
            yield prefix, page

    def list_files(self, folder: str) -> list[tuple[str, int]]:
        found = []
        for prefix, page in self._list(folder, True):
            found += [(o["Key"][len(prefix):], o["Size"]) for o in page.get("Contents", [])]
        return sorted(f for f in found if f[0])

    def list_dirs(self, folder: str) -> list[str]:
        found = []
        for prefix, page in self._list(folder, True):
            found += [p["Prefix"][len(prefix):].rstrip("/") for p in page.get("CommonPrefixes", [])]
        return sorted(found)

    def read(self, url: str) -> bytes:
        bucket, key = self.split(url)
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def write(self, url: str, data: bytes) -> None:
        bucket, key = self.split(url)
        content_type = "application/json" if key.endswith(".json") else "application/octet-stream"
        self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    def delete_folder(self, folder: str) -> None:
        """Every object under `folder`, 1,000 a call; any object S3 could not delete fails the job."""
        bucket = self.split(folder)[0]
        keys = []
        for prefix, page in self._list(folder, False):
            keys += [o["Key"] for o in page.get("Contents", [])]
        failed = []
        for start in range(0, len(keys), 1000):
            response = self.client.delete_objects(Bucket=bucket, Delete={
                "Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})
            # s3 model, DeleteObjectsOutput.Errors: each object it could not delete; the call still succeeds
            failed += response.get("Errors", [])
        if failed:
            shown = "; ".join(f"{e.get('Key')} ({e.get('Code')}: {e.get('Message')})" for e in failed[:5])
            raise SplitError(f"S3 did not delete {len(failed)} of {len(keys)} objects: {shown}", path=folder,
                             hint="Check the job role's s3:DeleteObject on this prefix; the folder is left over")

    def tidy(self, folder: str) -> None:
        bucket, key = self.split(folder.rstrip("/") + "/_SUCCESS")
        self.client.delete_object(Bucket=bucket, Key=key)


def _store(url: str):
    return _S3() if url.startswith("s3://") else _Local(url)


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


# --- the split ----------------------------------------------------------------------------------

def run(spark, args: dict[str, str]) -> list[dict]:
    """Split the snapshot named by `args` (without the `--`); returns the markers written, in order."""
    from pyspark.sql import functions as F

    args = check_arguments(args)
    _configure(spark)
    source_url = args["SOURCE_PATH"].rstrip("/")
    store = _store(source_url)
    files = [(name, size) for name, size in store.list_files(source_url)
             if name.endswith(".parquet") and not name.startswith((".", "_"))]
    if not files:
        raise SplitError("snapshot has no Parquet files", path=source_url)
    mapping = _mapping(args) if args["DATASET"] == "infobase_attributes" else None
    source = spark.read.parquet(*[_join(source_url, name) for name, _ in files])
    key = _find_key(source, args)
    plans = _plans(source.columns, key, args, mapping)
    source_rows = source.count()
    if source_rows == 0:
        raise SplitError(f"{args['DATASET']} snapshot has no rows", path=source_url)

    bucket = F.pmod(F.xxhash64(F.col(KEY)), F.lit(BUCKETS)).cast("int")
    markers = []
    for table, select in plans:
        columns = [KEY] + [published for _, published in select]
        data = source.select(_col(key).alias(KEY), *[_col(raw).alias(pub) for raw, pub in select])
        rows = _write_table(spark, data.withColumn(PARTITION_KEY, bucket), table, args)
        if rows != source_rows:
            raise SplitError(f"wrote {rows} rows, the snapshot has {source_rows}", table=table,
                             path=_join(args["TARGET_ROOT"], table, args["TARGET_VERSION"]))
        marker = {
            "table": table,
            "dataset": args["DATASET"],
            "snapshot_dt": args["SNAPSHOT_DT"],
            "run_id": args["TARGET_VERSION"].split("__", 1)[1],
            "rows": rows,
            "columns": columns,
            "source_location": args["SOURCE_PATH"],
            "source_files": [[name, size] for name, size in files],
            "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        _finish_table(spark, data, table, args, marker)
        markers.append(marker)
    return markers


def _configure(spark) -> None:
    # Columns are chosen by their exact raw name, matched without case by us (DOMAIN "Get right" 7).
    spark.conf.set("spark.sql.caseSensitive", "true")
    # Spark's default INT96 timestamps are what the local engine and Athena's Parquet types are not.
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    spark.sparkContext._jsc.hadoopConfiguration().set("mapreduce.fileoutputcommitter.marksuccessfuljobs",
                                                      "false")


def _col(name: str):
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _mapping(args: dict[str, str]) -> Mapping:
    url = args["MAPPING_PATH"]
    if not url.startswith("s3://"):
        return load_mapping(url)
    with tempfile.TemporaryDirectory(prefix="flywheel-mapping-") as tmp:
        local = Path(tmp) / "split_mapping.csv"
        local.write_bytes(_store(url).read(url))
        try:
            return load_mapping(local)
        except FlywheelError as err:
            err.path = url  # name the file people can open, not our copy
            raise


def _find_key(source, args) -> str:
    from pyspark.sql.types import StringType

    matches = [c for c in source.columns if c.lower() == KEY]
    if len(matches) != 1:
        seen = ", ".join(source.columns[:8]) + (" ..." if len(source.columns) > 8 else "")
        problem = "has no" if not matches else "has more than one"
        raise SplitError(f"{args['DATASET']} snapshot {problem} key column Customer_User_id (any case); "
                         f"columns seen: {seen}", table=args["DATASET"], path=args["SOURCE_PATH"])
    field = source.schema[matches[0]]
    if not isinstance(field.dataType, StringType):
        raise SplitError(f"the key column {matches[0]} is {field.dataType.simpleString()}, not a string; "
                         "its buckets would not be the local engine's", table=args["DATASET"],
                         path=args["SOURCE_PATH"])
    return matches[0]


def _plans(raw_columns: list[str], key: str, args: dict, mapping: Mapping | None):
    """[(table folder, [(raw column, published column), ...])], the key left out (it goes first)."""
    if mapping is None:
        select, seen = [], {KEY: key, PARTITION_KEY: "the partition key"}
        for raw in raw_columns:
            if raw == key:
                continue
            published = raw.lower()
            if published in seen:
                raise SplitError(f"columns {seen[published]!r} and {raw!r} both become {published!r} "
                                 "in lower case", table=ADDRESSABLE_TABLE, path=args["SOURCE_PATH"])
            seen[published] = raw
            select.append((raw, published))
        return [(ADDRESSABLE_TABLE, select)]
    by_lower: dict[str, list[str]] = {}
    for raw in raw_columns:
        by_lower.setdefault(raw.lower(), []).append(raw)
    chosen = [t.strip() for t in args.get("TABLES", "").split(",") if t.strip()] or mapping.table_names()
    missing, ambiguous, plans = [], [], []
    for table in chosen:
        select = []
        for column in mapping.columns(table):
            raws = by_lower.get(column.source.lower(), [])
            if not raws:
                missing.append(f"{table}.{column.source}")
            elif len(raws) > 1:
                ambiguous.append(f"{table}.{column.source} ({' and '.join(raws)})")
            else:
                select.append((raws[0], column.column))
        plans.append((table.upper(), select))
    if missing:
        raise SplitError(f"{len(missing)} mapping column(s) missing from the infobase snapshot: "
                         f"{_listed(missing)}", path=args["SOURCE_PATH"],
                         hint="Fix the mapping or ask upstream for the columns; nothing was written")
    if ambiguous:
        raise SplitError(f"{len(ambiguous)} mapping column(s) match more than one source column when case "
                         f"is ignored: {_listed(ambiguous)}", path=args["SOURCE_PATH"])
    return plans


def _listed(items: list[str]) -> str:
    more = len(items) - MAX_LISTED
    return ", ".join(items[:MAX_LISTED]) + (f" and {more} more" if more > 0 else "")


def _write_table(spark, data, table: str, args: dict) -> int:
    """Spark writes the buckets, one file a bucket; returns the rows it wrote."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    target = _write_location(args, table)
    written = Observation(f"split_{table}")
    observed = data.observe(written, F.count(F.lit(1)).alias("rows"))
    # One shuffle by bucket: every bucket lands in one task, so one file a bucket.
    (observed.repartition(F.col(PARTITION_KEY))
     .write.mode("overwrite").partitionBy(PARTITION_KEY).parquet(target))
    return int(written.get["rows"])


def _write_location(args: dict, table: str) -> str:
    """Locally a hidden `.tmp-` folder renamed when whole (as `flywheel_lib.lake`); on S3 the version."""
    final = _join(args["TARGET_ROOT"], table, args["TARGET_VERSION"])
    if final.startswith("s3://"):
        return final
    return _join(args["TARGET_ROOT"], table, f".tmp-{args['TARGET_VERSION']}")


def _finish_table(spark, data, table: str, args: dict, marker: dict) -> None:
    """Empty buckets get an empty file with the schema; then the marker, last; locally, the rename."""
    final = _join(args["TARGET_ROOT"], table, args["TARGET_VERSION"])
    written = _write_location(args, table)
    store = _store(written)
    store.tidy(written)
    present = {int(m.group(1)) for d in store.list_dirs(written) if (m := _BUCKET_DIR.fullmatch(d))}
    empty = [b for b in range(BUCKETS) if b not in present]
    if empty:
        content = _empty_parquet(spark, data, args, table)
        for bucket in empty:
            store.write(_join(written, f"{PARTITION_KEY}={bucket}", EMPTY_FILE), content)
    store.write(_join(written, MARKER), json.dumps(marker, indent=2, sort_keys=True).encode())
    if written != final:
        if Path(final).exists():
            shutil.rmtree(final)
        os.replace(written, final)


def _empty_parquet(spark, data, args: dict, table: str) -> bytes:
    """Spark's own Parquet file of the table's schema and no rows (the data files' writer and types)."""
    scratch = _join(args["TARGET_ROOT"], table, f".tmp-empty-{args['TARGET_VERSION']}")
    store = _store(scratch)
    try:
        data.limit(0).coalesce(1).write.mode("overwrite").parquet(scratch)
        names = [n for n, _ in store.list_files(scratch) if n.endswith(".parquet") and not n.startswith(".")]
        if len(names) != 1:
            raise SplitError(f"Spark wrote {len(names)} files for an empty table, expected 1", table=table,
                             path=scratch)
        return store.read(_join(scratch, names[0]))
    finally:
        store.delete_folder(scratch)


# --- entry point ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> list[dict]:
    argv = list(sys.argv if argv is None else argv)
    args = parse_arguments(argv)
    try:
        from awsglue.context import GlueContext
        from awsglue.job import Job
    except ImportError:
        from pyspark.sql import SparkSession

        spark, job = SparkSession.builder.appName(f"flywheel-split-{args['DATASET']}").getOrCreate(), None
    else:
        from pyspark.context import SparkContext

        glue = GlueContext(SparkContext.getOrCreate())
        spark, job = glue.spark_session, Job(glue)
        job.init(args.get("JOB_NAME", f"flywheel-split-{args['DATASET']}"), args)
    markers = run(spark, args)
    for marker in markers:
        print(f"{marker['table']}: {marker['rows']} rows, {len(marker['columns'])} columns -> "
              f"{_join(args['TARGET_ROOT'], marker['table'], args['TARGET_VERSION'])}", flush=True)
    if job is not None:
        job.commit()
    return markers


if __name__ == "__main__":
    main()
