"""The Glue split job (glue_jobs/split_job.py, PySpark) against the local engine, on the same snapshot.

One small raw snapshot (a few hundred synthetic rows, three infobase tables, and
rows with awkward keys: empty, non-ASCII, 5,000 characters, null, and the DOMAIN's
Spark vectors) goes through `flywheel_lib.local.split.split_snapshot` and through the
job's `run()` in Spark local mode. Both outputs must have the same tables, the same
Arrow schema in every file, and in every one of the 256 buckets the same rows. The
job is loaded from its file, as Glue runs it. One Spark session serves the module.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyspark")
if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
    pytest.skip("Spark needs Java (17, as Glue 5.0) and none is installed", allow_module_level=True)

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from flywheel_lib.errors import SplitError  # noqa: E402
from flywheel_lib.lake import MARKER, bucket_folders  # noqa: E402
from flywheel_lib.local.split import ADDRESSABLE_TABLE, split_snapshot  # noqa: E402
from flywheel_lib.mapping import default_mapping_path, load_mapping  # noqa: E402
from flywheel_lib.snapshots import RawFile, Snapshot  # noqa: E402
from flywheel_lib.synthetic import snapshot_dir, write_snapshot  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
JOB = REPO / "glue_jobs" / "split_job.py"
SNAPSHOT_DT = "2026-10-31"
RUN_ID = "20261101T020000Z-parity"
VERSION = f"{SNAPSHOT_DT}__{RUN_ID}"
ROWS = 300
INFOBASE = ("IBE_01", "IBE_04_B", "MIACS_02_A")  # plain, no key row, exactly 100 allowed columns
SPARK_VECTORS = {"434439589175": 32, "0IgxL": 98, "KLzd": 125, "é": 180, "": 4}  # DOMAIN.md
AWKWARD_KEYS = [*SPARK_VECTORS, "x" * 5000, "Zoë-\u4e2d\u6587-\U0001f600", None]
MARKER_KEYS = {"table", "dataset", "snapshot_dt", "run_id", "rows", "columns", "source_location",
               "source_files", "written_at"}


def _load_job():
    spec = importlib.util.spec_from_file_location("flywheel_glue_split_job", JOB)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


job = _load_job()


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    # SparkContext takes over SIGINT (to cancel its jobs) and leaves its handler behind after
    # stop(), where it breaks the driver's Ctrl-C tests later in the session: give it back.
    ctrl_c = signal.getsignal(signal.SIGINT)
    session = (SparkSession.builder.master("local[2]").appName("flywheel-glue-parity")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.default.parallelism", "2")
               .config("spark.driver.memory", "1g")
               .config("spark.sql.session.timeZone", "UTC")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    signal.signal(signal.SIGINT, ctrl_c)
    yield session
    session.stop()
    signal.signal(signal.SIGINT, ctrl_c)


def small_mapping(folder: Path, extra_rows: tuple[str, ...] = ()) -> Path:
    lines = default_mapping_path().read_text(encoding="utf-8-sig").splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if line.split(",", 1)[0] in INFOBASE]
    path = folder / "split_mapping.csv"
    path.write_text("\ufeff" + "\n".join([*kept, *extra_rows]) + "\n", encoding="utf-8")
    return path


def _add_awkward_rows(folder: Path) -> None:
    """A third raw file: the first rows of the first file, with the awkward keys."""
    first = sorted(folder.glob("*.parquet"))[0]
    table = pq.read_table(first).slice(0, len(AWKWARD_KEYS))
    key = table.schema.get_field_index("Customer_User_id")
    table = table.set_column(key, table.schema.field(key), pa.array(AWKWARD_KEYS, pa.string()))
    pq.write_table(table, folder / "part-awkward.parquet")


def _snapshot(data_root: Path, dataset: str) -> Snapshot:
    folder = snapshot_dir(data_root, dataset, SNAPSHOT_DT)
    files = tuple(RawFile(str(p), p.stat().st_size) for p in sorted(folder.glob("*.parquet")))
    return Snapshot(dataset, SNAPSHOT_DT, str(folder), files)


def _job_args(data_root: Path, out_root: Path, dataset: str, mapping: Path, **extra) -> dict[str, str]:
    return {"SOURCE_PATH": str(snapshot_dir(data_root, dataset, SNAPSHOT_DT)), "SNAPSHOT_DT": SNAPSHOT_DT,
            "DATASET": dataset, "TARGET_ROOT": str(out_root / dataset), "TARGET_VERSION": VERSION,
            "BUCKET_COUNT": "256", "MAPPING_PATH": str(mapping), **extra}


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    """The same raw snapshot split by both engines: {dataset: (local outputs, Spark markers)}."""
    root = tmp_path_factory.mktemp("glue_parity")
    mapping_path = small_mapping(root)
    mapping = load_mapping(mapping_path)
    data = root / "data"
    write_snapshot(data, SNAPSHOT_DT, ROWS, mapping=mapping)
    for dataset in ("addressable_ids", "infobase_attributes"):
        _add_awkward_rows(snapshot_dir(data, dataset, SNAPSHOT_DT))
    results = {}
    for dataset in ("addressable_ids", "infobase_attributes"):
        local = split_snapshot(_snapshot(data, dataset), str(root / "local" / dataset), RUN_ID,
                               mapping if dataset == "infobase_attributes" else None)
        markers = job.run(spark, _job_args(data, root / "spark", dataset, mapping_path))
        results[dataset] = (local, markers)
    return {"root": root, "data": data, "mapping": mapping_path, "results": results}


# --- parity -------------------------------------------------------------------------------------

def _tables(out: Path) -> set[str]:
    return {p.name for p in out.iterdir() if p.is_dir()}


def _version(root: Path, side: str, dataset: str, table: str) -> Path:
    return root / side / dataset / table / VERSION


def _rows(folder: Path) -> list[tuple]:
    files = sorted(folder.glob("*.parquet"))
    assert files, f"no Parquet file in {folder}"
    table = pa.concat_tables([pq.read_table(f, partitioning=None) for f in files])
    rows = [tuple(r.values()) for r in table.to_pylist()]
    return sorted(rows, key=repr)


@pytest.mark.parametrize("dataset", ["addressable_ids", "infobase_attributes"])
def test_same_tables_markers_and_schemas(world, dataset):
    root = world["root"]
    local, markers = world["results"][dataset]
    expected = {ADDRESSABLE_TABLE} if dataset == "addressable_ids" else set(INFOBASE)
    assert _tables(root / "local" / dataset) == _tables(root / "spark" / dataset) == expected
    assert [m["table"] for m in markers] == [o.table for o in local]
    for output, marker in zip(local, markers):
        spark_version = _version(root, "spark", dataset, output.table)
        on_disk = json.loads((spark_version / MARKER).read_text())
        assert on_disk == marker and set(on_disk) == MARKER_KEYS
        local_marker = json.loads((Path(output.location) / MARKER).read_text())
        same = ("table", "dataset", "snapshot_dt", "run_id", "rows", "columns", "source_location")
        assert {k: on_disk[k] for k in same} == {k: local_marker[k] for k in same}
        assert on_disk["rows"] == ROWS + len(AWKWARD_KEYS)
        assert on_disk["source_files"] == [[Path(f.path).name, f.size]
                                           for f in _snapshot(world["data"], dataset).files]
        # Nothing but the buckets and the marker: no _SUCCESS, no .crc, no leftover temp folder.
        assert sorted(p.name for p in spark_version.iterdir() if not p.is_dir()) == [MARKER]
        assert not [p for p in spark_version.parent.iterdir() if p.name.startswith(".")]
        assert not [p for p in spark_version.rglob("*") if p.name.startswith((".", "_")) and p.name != MARKER]
        schemas = {}
        for side, version in (("local", Path(output.location)), ("spark", spark_version)):
            found = {pq.read_schema(f).remove_metadata() for f in version.rglob("*.parquet")}
            assert len(found) == 1, f"{side} {output.table}: files disagree on the schema: {found}"
            schemas[side] = found.pop()
        assert schemas["spark"].names == output.columns == marker["columns"]
        assert schemas["spark"] == schemas["local"], output.table


@pytest.mark.parametrize("dataset", ["addressable_ids", "infobase_attributes"])
def test_same_rows_in_every_bucket(world, dataset):
    root = world["root"]
    for output in world["results"][dataset][0]:
        local = bucket_folders(Path(output.location))
        spark = bucket_folders(_version(root, "spark", dataset, output.table))
        assert sorted(local) == sorted(spark) == list(range(256)), output.table
        for bucket in range(256):
            assert _rows(spark[bucket]) == _rows(local[bucket]), f"{output.table} id_bucket={bucket}"


def test_awkward_keys_land_in_sparks_buckets(world):
    version = _version(world["root"], "spark", "addressable_ids", ADDRESSABLE_TABLE)
    buckets = bucket_folders(version)
    found = {}
    for bucket, folder in buckets.items():
        for f in folder.glob("*.parquet"):
            for key in pq.read_table(f, columns=["customer_user_id"]).column(0).to_pylist():
                if key in AWKWARD_KEYS:
                    found.setdefault(key, set()).add(bucket)
    for key, bucket in SPARK_VECTORS.items():
        assert found[key] == {bucket}, key
    assert found[None] == {42}  # Spark's xxhash64(NULL) is the seed
    assert set(found) >= set(AWKWARD_KEYS)


# --- failing loudly -----------------------------------------------------------------------------

def test_missing_mapping_columns_are_all_named_and_nothing_is_written(world, spark, tmp_path):
    extra = ("IBE_01,ibe9990_01,Made up,IBE9990_01,9990", "IBE_04_B,ibe9991,Also made up,IBE9991,9991")
    mapping = small_mapping(tmp_path, extra)
    with pytest.raises(SplitError) as caught:
        job.run(spark, _job_args(world["data"], tmp_path / "out", "infobase_attributes", mapping))
    message = str(caught.value)
    assert "2 mapping column(s) missing from the infobase snapshot" in message
    assert "IBE_01.IBE9990_01" in message and "IBE_04_B.IBE9991" in message
    assert not (tmp_path / "out").exists()


def test_missing_key_and_empty_snapshot_fail(world, spark, tmp_path):
    raw = tmp_path / "raw" / "snapshot_dt=2026-10-31"
    raw.mkdir(parents=True)
    pq.write_table(pa.table({"Hashed_Email": ["a", "b"]}), raw / "part-0.parquet")
    args = _job_args(world["data"], tmp_path / "out", "addressable_ids", world["mapping"],
                     SOURCE_PATH=str(raw))
    with pytest.raises(SplitError, match="has no key column Customer_User_id"):
        job.run(spark, args)
    pq.write_table(pa.table({"CUSTOMER_USER_ID": pa.array([], pa.string())}), raw / "part-0.parquet")
    with pytest.raises(SplitError, match="addressable_ids snapshot has no rows"):
        job.run(spark, args)
    (raw / "part-0.parquet").unlink()
    with pytest.raises(SplitError, match="snapshot has no Parquet files"):
        job.run(spark, args)
    assert not (tmp_path / "out").exists()


def test_unknown_table_and_bad_arguments_fail(world, spark, tmp_path):
    args = _job_args(world["data"], tmp_path / "out", "infobase_attributes", world["mapping"])
    with pytest.raises(Exception, match="'IBE_99' is not in the split mapping"):
        job.run(spark, {**args, "TABLES": "IBE_01,IBE_99"})
    with pytest.raises(SplitError, match="BUCKET_COUNT"):
        job.run(spark, {**args, "BUCKET_COUNT": "128"})
    with pytest.raises(SplitError, match="TARGET_VERSION"):
        job.run(spark, {**args, "TARGET_VERSION": "2026-09-30__r1"})
    with pytest.raises(SplitError, match="MAPPING_PATH"):
        job.run(spark, {k: v for k, v in args.items() if k != "MAPPING_PATH"})


# --- arguments, the modules zip, the script itself ------------------------------------------------

def test_arguments_as_glue_passes_them():
    argv = ["split_job.py", "--JOB_ID", "j_1", "--job-bookmark-option", "job-bookmark-disable",
            "--SOURCE_PATH", "s3://b/raw/snapshot_dt=2026-10-31", "--SNAPSHOT_DT", "2026-10-31",
            "--DATASET=infobase_attributes", "--TARGET_ROOT", "s3://b/out", "--TARGET_VERSION", VERSION,
            "--BUCKET_COUNT", "256", "--MAPPING_PATH", "s3://b/m.csv", "--TABLES", "IBE_01,MIACS_02_A",
            "--enable-metrics", "--JOB_NAME", "etl-omc-flywheel-dev-infobase-part"]
    args = job.parse_arguments(argv)
    assert args["TABLES"] == "IBE_01,MIACS_02_A" and args["DATASET"] == "infobase_attributes"
    assert args["JOB_NAME"] == "etl-omc-flywheel-dev-infobase-part" and "JOB_ID" not in args
    with pytest.raises(SplitError, match="missing job argument.*--TARGET_ROOT"):
        job.parse_arguments([a for a in argv if a not in ("--TARGET_ROOT", "s3://b/out")])


def test_modules_zip_imports_without_duckdb_or_pandas(tmp_path):
    sys.path.insert(0, str(JOB.parent))
    try:
        import build_modules
    finally:
        sys.path.remove(str(JOB.parent))
    first, second = build_modules.build_zip(tmp_path / "a.zip"), build_modules.build_zip(tmp_path / "b.zip")
    assert first.read_bytes() == second.read_bytes()  # same sources, same bytes
    build_modules.check_imports(first)


def test_the_script_runs_outside_glue(world, tmp_path):
    """`python glue_jobs/split_job.py --NAME value ...`: plain PySpark, with the zip as its flywheel_lib."""
    sys.path.insert(0, str(JOB.parent))
    try:
        import build_modules
    finally:
        sys.path.remove(str(JOB.parent))
    modules = build_modules.build_zip(tmp_path / "modules.zip")
    args = _job_args(world["data"], tmp_path / "out", "infobase_attributes", world["mapping"], TABLES="IBE_04_B")
    argv = [a for name, value in args.items() for a in (f"--{name}", value)]
    # As on Glue: flywheel_lib comes from the zip (asserted), the script runs as __main__.
    launcher = (f"import runpy, sys, flywheel_lib; assert flywheel_lib.__file__.startswith({str(modules)!r}), "
                f"flywheel_lib.__file__; sys.argv = {[str(JOB), *argv]!r}; "
                f"runpy.run_path({str(JOB)!r}, run_name='__main__')")
    env = {**os.environ, "PYTHONPATH": str(modules), "PYSPARK_SUBMIT_ARGS": (
        "--master local[2] --conf spark.ui.enabled=false --conf spark.ui.showConsoleProgress=false "
        "--conf spark.sql.shuffle.partitions=2 pyspark-shell")}
    done = subprocess.run([sys.executable, "-c", launcher], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = ROWS + len(AWKWARD_KEYS)
    assert f"IBE_04_B: {rows} rows, 16 columns" in done.stdout
    written = tmp_path / "out" / "infobase_attributes"
    assert _tables(written) == {"IBE_04_B"}
    version = written / "IBE_04_B" / VERSION
    assert len(bucket_folders(version)) == 256 and json.loads((version / MARKER).read_text())["rows"] == rows


def test_s3_side_of_the_job_against_moto(monkeypatch, tmp_path):
    """What boto3 does on S3 (Spark's own S3 writes need Glue): listing, empty files, marker, mapping."""
    from moto import mock_aws

    import boto3

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="data")
        for key in ("raw/snapshot_dt=2026-10-31/a.parquet", "raw/snapshot_dt=2026-10-31/_tmp/x.parquet",
                    "out/T/v/id_bucket=0/p.parquet", "out/T/v/id_bucket=7/p.parquet", "out/T/v/_SUCCESS"):
            s3.put_object(Bucket="data", Key=key, Body=b"1234")
        store = job._store("s3://data/raw")
        assert store.list_files("s3://data/raw/snapshot_dt=2026-10-31") == [("a.parquet", 4)]
        assert store.list_dirs("s3://data/out/T/v/") == ["id_bucket=0", "id_bucket=7"]
        store.tidy("s3://data/out/T/v")
        store.write("s3://data/out/T/v/_flywheel.json", b"{}")
        assert store.read("s3://data/out/T/v/_flywheel.json") == b"{}"
        assert store.list_files("s3://data/out/T/v") == [("_flywheel.json", 2)]
        store.delete_folder("s3://data/out/T")
        assert "Contents" not in s3.list_objects_v2(Bucket="data", Prefix="out/")

        mapping = small_mapping(tmp_path)
        s3.put_object(Bucket="data", Key="config/m.csv", Body=mapping.read_bytes())
        assert job._mapping({"MAPPING_PATH": "s3://data/config/m.csv"}).table_names() == list(INFOBASE)
        s3.put_object(Bucket="data", Key="config/bad.csv", Body=b"\xef\xbb\xbfOMC_FLYWHEEL_TABLE\nIBE_01\n")
        with pytest.raises(Exception, match="header") as caught:
            job._mapping({"MAPPING_PATH": "s3://data/config/bad.csv"})
        assert caught.value.path == "s3://data/config/bad.csv"
