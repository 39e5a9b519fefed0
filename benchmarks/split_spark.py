"""Time the local split against the Glue job's PySpark script in Spark local mode, same machine, same data.

    python benchmarks/split_spark.py --rows 200000 [--rows 1000000] [--repeat N] [--keep-data DIR]
                                     [--cores N] [--driver-memory 8g]

The data is benchmarks/split.py's: one synthetic raw infobase file with the full
default mapping (1,742 attribute columns), reused from --keep-data. Each
measurement runs in its own child process (for the Spark one, the child and the
JVM it starts, which it waits for, so its CPU time and peak memory count):

- local: `flywheel_lib.local.split.split_snapshot` (benchmarks/split.py's child, unchanged);
- spark: `glue_jobs/split_job.py`'s `run()` on a `local[cores]` session (Spark's
  defaults otherwise: 200 shuffle partitions with adaptive execution), writing the
  same 27 tables x 256 buckets. Its time excludes starting the session (printed
  apart); its CPU seconds and peak memory include the JVM.

Prints both, and the ratio local / Spark of the split times: below 1 the local
engine is faster on this machine. It says nothing about Glue's 24 G.4X workers
(16 vCPU each); read it with the per-core figures it also prints.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _split_benchmark():
    """benchmarks/split.py as a module: its data and its local-split child."""
    spec = importlib.util.spec_from_file_location("flywheel_split_benchmark", HERE / "split.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    args = _parse(argv)
    if args.child:
        return _spark_child(Path(args.source), Path(args.out), args.cores, args.driver_memory)
    bench = _split_benchmark()
    work = Path(args.keep_data) if args.keep_data else Path(tempfile.mkdtemp(prefix="flywheel-spark-bench-"))
    results = []
    try:
        for rows in sorted(set(args.rows)):
            source = bench._snapshot_file(work, rows, args.seed)
            bench._warm(source)
            best = {}
            for attempt in range(1, args.repeat + 1):
                for kind in ("local", "spark"):
                    out = work / f"out-{kind}"
                    shutil.rmtree(out, ignore_errors=True)
                    result = (bench._run_child("split", source, out) if kind == "local"
                              else _run_spark_child(source, out, args))
                    shutil.rmtree(out, ignore_errors=True)
                    if result["rows"] != rows:
                        raise SystemExit(f"{kind} wrote {result['rows']} rows, expected {rows}")
                    _progress(f"{kind} {rows:,} rows, run {attempt}/{args.repeat}: {result['seconds']:.2f} s, "
                              f"{result['cpu_seconds']:.1f} s CPU, peak {result['peak_mib']:,.0f} MiB"
                              + (f" (+{result['session_seconds']:.1f} s session start)" if kind == "spark" else ""))
                    old = best.get(kind)
                    best[kind] = result if old is None or result["seconds"] < old["seconds"] else old
            results.append({"rows": rows, **best})
    finally:
        if not args.keep_data:
            shutil.rmtree(work, ignore_errors=True)
    _report(results, args.cores)
    return 0


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="rows to split (repeatable; default 200000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the best time counts")
    parser.add_argument("--seed", type=int, default=42, help="synthetic data seed")
    parser.add_argument("--keep-data", metavar="DIR", help="keep (and reuse) the generated snapshots in DIR; "
                        "the same folder works for benchmarks/split.py")
    parser.add_argument("--cores", type=int, default=os.cpu_count(), help="Spark local[N] (default: all)")
    parser.add_argument("--driver-memory", default="8g", help="the Spark JVM's heap (default 8g)")
    parser.add_argument("--child", choices=("spark",), help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.rows = args.rows or [200_000]
    if min(args.rows) < 1 or args.repeat < 1 or args.cores < 1:
        parser.error("--rows, --repeat and --cores must be positive")
    return args


def _run_spark_child(source: Path, out: Path, args) -> dict:
    command = [sys.executable, __file__, "--child", "spark", "--source", str(source), "--out", str(out),
               "--cores", str(args.cores), "--driver-memory", args.driver_memory]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    stdout = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("the spark measurement failed")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_mib"] = usage.ru_maxrss / 1024  # the largest of the child and the JVM it waited for
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # the child and its JVM, start-up included
    result["process_seconds"] = time.perf_counter() - started
    return result


def _spark_child(source: Path, out: Path, cores: int, driver_memory: str) -> int:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from flywheel_lib.mapping import default_mapping_path, load_mapping

    spec = importlib.util.spec_from_file_location("split_job", REPO / "glue_jobs" / "split_job.py")
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    snapshot_dt = source.parent.name.split("=", 1)[1]
    started = time.perf_counter()
    spark = (SparkSession.builder.master(f"local[{cores}]").appName("flywheel-split-benchmark")
             .config("spark.driver.memory", driver_memory)
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    session_seconds = time.perf_counter() - started
    args = {"SOURCE_PATH": str(source.parent), "SNAPSHOT_DT": snapshot_dt, "DATASET": "infobase_attributes",
            "TARGET_ROOT": str(out), "TARGET_VERSION": f"{snapshot_dt}__bench", "BUCKET_COUNT": "256",
            "MAPPING_PATH": str(default_mapping_path())}
    started = time.perf_counter()
    markers = job.run(spark, args)
    seconds = time.perf_counter() - started
    counts = {m["rows"] for m in markers}
    if len(markers) != len(load_mapping().table_names()) or len(counts) != 1:
        raise SystemExit(f"spark wrote {len(markers)} tables with row counts {sorted(counts)}")
    gateway = SparkContext._gateway
    spark.stop()
    gateway.shutdown()
    gateway.proc.stdin.close()  # the JVM exits when its stdin closes; wait so its usage counts
    gateway.proc.wait(timeout=60)
    print(json.dumps({"seconds": seconds, "session_seconds": session_seconds, "rows": counts.pop()}))
    return 0


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _report(results: list[dict], cores: int) -> None:
    header = (f"{'rows':>10}  {'engine':<6}  {'seconds':>8}  {'rows/s':>8}  {'cpu s':>7}  {'peak MiB':>8}  "
              f"{'local/spark':>11}")
    print(header)
    print("-" * len(header))
    for r in results:
        local, spark = r["local"], r["spark"]
        ratio = local["seconds"] / spark["seconds"]
        for name, m, extra in (("local", local, ""), ("spark", spark, f"{ratio:>10.2f}x")):
            print(f"{r['rows']:>10,}  {name:<6}  {m['seconds']:>8.2f}  {r['rows'] / m['seconds']:>8,.0f}  "
                  f"{m['cpu_seconds']:>7.1f}  {m['peak_mib']:>8,.0f}  {extra}")
        print(f"{'':>10}  spark session start {spark['session_seconds']:.1f} s (not in its seconds); "
              f"Spark on local[{cores}]; CPU s per row: local {local['cpu_seconds'] / r['rows'] * 1e6:.1f} us, "
              f"spark {spark['cpu_seconds'] / r['rows'] * 1e6:.1f} us")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # run from a checkout
    sys.exit(main())
