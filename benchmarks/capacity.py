"""How far the split scales: measure it at three sizes, fit a line, project production volumes.

    python benchmarks/capacity.py --rows 50000 --rows 100000 --rows 200000 [--keep-data DIR]
                                  [--project-rows 250000000 --project-gb 34] [--workers 24]
    python benchmarks/capacity.py --from-json results.json --project-rows ... --project-gb ...

Measures the local engine and the Glue job's script (Spark local mode) on the
same synthetic full-width infobase file at each size (benchmarks/split.py and
split_spark.py do the measuring), fits seconds = fixed + per_row x rows by
least squares for each (wall and CPU), and from the Spark fit projects, for the
volumes given:

- the Glue split: executor CPU-hours, the G.4X workers that finish within the
  job's timeout with room to spare, the time on the deployed worker count, and
  its DPU-hours and cost;
- Athena: bytes scanned by stage 5's validation (the key column of every table)
  and by the ER table's UNLOAD (the key column of addressable_ids), and their cost.

The assumptions (efficiency on Glue, bytes per row) are printed with the figures;
benchmarks/CAPACITY.md records a run and reads it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TABLES, BUCKETS = 27, 256
VCPU_PER_G4X, DPU_PER_G4X = 16, 4
GLUE_EFFICIENCY = 0.5   # of a local core's work per Glue vCPU: S3 instead of a local disk, shuffle over the network
TIMEOUT_SHARE = 0.5     # plan to finish within half the job's timeout: a month's growth and retries fit


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"flywheel_{name}_benchmark", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(rows_list: list[int], work: Path, seed: int, cores: int, driver_memory: str) -> list[dict]:
    split, spark = _module("split"), _module("split_spark")
    results = []
    for rows in sorted(set(rows_list)):
        source = split._snapshot_file(work, rows, seed)
        split._warm(source)
        local = split._run_child("split", source, work / "out-local")
        shutil.rmtree(work / "out-local", ignore_errors=True)
        args = argparse.Namespace(cores=cores, driver_memory=driver_memory)
        glue = spark._run_spark_child(source, work / "out-spark", args)
        key_bytes = _key_bytes_per_row(work / "out-spark")
        shutil.rmtree(work / "out-spark", ignore_errors=True)
        results.append({"rows": rows, "raw_bytes": source.stat().st_size, "key_bytes_per_row": key_bytes,
                        "local": {k: local[k] for k in ("seconds", "cpu_seconds", "peak_mib")},
                        "spark": {k: glue[k] for k in ("seconds", "cpu_seconds", "peak_mib", "session_seconds")}})
        print(f"measured {rows:,} rows: local {local['seconds']:.1f} s, spark {glue['seconds']:.1f} s",
              file=sys.stderr, flush=True)
    return results


def _key_bytes_per_row(out: Path) -> float:
    """Compressed bytes of customer_user_id per row in one written table: what Athena scans for it."""
    import pyarrow.parquet as pq

    table = sorted(p for p in out.iterdir() if p.is_dir())[0]
    total, rows = 0, 0
    for path in table.rglob("*.parquet"):
        meta = pq.ParquetFile(path).metadata
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            rows += group.num_rows
            total += sum(group.column(c).total_compressed_size for c in range(group.num_columns)
                         if group.column(c).path_in_schema == "customer_user_id")
    return total / rows if rows else 0.0


def fit(results: list[dict], engine: str, key: str) -> tuple[float, float]:
    """(fixed seconds, seconds per row) by least squares over the measured sizes."""
    xs = [r["rows"] for r in results]
    ys = [r[engine][key] for r in results]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread if spread else 0.0
    return mean_y - slope * mean_x, slope


def project(results: list[dict], rows: int, table_gb: float, workers: int, timeout_min: int,
            prices: dict) -> dict:
    fixed_cpu, cpu_per_row = fit(results, "spark", "cpu_seconds")
    # Per row at full width, or per raw byte: the larger, since synthetic data compresses differently.
    raw_per_row = sum(r["raw_bytes"] for r in results) / sum(r["rows"] for r in results)
    production_raw_bytes = table_gb * 1e9 * TABLES   # the split tables' sum stands in for the raw file
    cpu_by_bytes = cpu_per_row * production_raw_bytes / raw_per_row
    cpu_seconds = max(cpu_per_row * rows, cpu_by_bytes) + fixed_cpu
    per_worker = VCPU_PER_G4X * GLUE_EFFICIENCY
    needed = max(1, math.ceil(cpu_seconds / (per_worker * TIMEOUT_SHARE * timeout_min * 60)))
    minutes = cpu_seconds / (per_worker * workers) / 60
    dpu_hours = workers * DPU_PER_G4X * minutes / 60
    key_bytes = max(r["key_bytes_per_row"] for r in results)
    validation = key_bytes * rows * (TABLES + 1)  # one statement per table reads its key column
    er = key_bytes * rows                         # UNLOAD reads addressable_ids' key
    tb = 1024 ** 4
    return {"rows": rows, "table_gb": table_gb, "fixed_cpu_s": fixed_cpu, "cpu_us_per_row": cpu_per_row * 1e6,
            "raw_bytes_per_row_measured": raw_per_row, "executor_cpu_hours": cpu_seconds / 3600,
            "workers_needed": needed, "workers": workers, "minutes": minutes, "timeout_min": timeout_min,
            "dpu_hours": dpu_hours, "glue_usd": dpu_hours * prices["glue_dpu_hour"],
            "athena_validation_bytes": validation, "athena_er_bytes": er,
            "athena_usd": (validation + er) / tb * prices["athena_tb_scanned"],
            "bytes_per_bucket_file": table_gb * 1e9 / BUCKETS}


def report(results: list[dict], projection: dict | None) -> None:
    print(f"{'rows':>10}  {'engine':<6}  {'seconds':>8}  {'cpu s':>8}  {'peak MiB':>8}")
    for r in results:
        for engine in ("local", "spark"):
            m = r[engine]
            print(f"{r['rows']:>10,}  {engine:<6}  {m['seconds']:>8.1f}  {m['cpu_seconds']:>8.1f}  {m['peak_mib']:>8,.0f}")
    for engine in ("local", "spark"):
        for key in ("seconds", "cpu_seconds"):
            fixed, per_row = fit(results, engine, key)
            print(f"fit {engine:<5} {key:<11}: {fixed:7.1f} s fixed ({fixed / TABLES:.2f} s a table, "
                  f"{fixed / (TABLES * BUCKETS) * 1000:.1f} ms a file) + {per_row * 1e6:.1f} us a row")
    if projection:
        p = projection
        print(f"\nprojection for {p['rows']:,} rows, {p['table_gb']:g} GB a table ({TABLES} tables):")
        print(f"  Glue split: {p['executor_cpu_hours']:.1f} executor CPU-hours at {GLUE_EFFICIENCY:.0%} "
              f"of a local core per vCPU; {p['workers_needed']} G.4X workers finish within "
              f"{TIMEOUT_SHARE:.0%} of the {p['timeout_min']}-minute timeout")
        print(f"  on {p['workers']} G.4X workers: about {p['minutes']:.0f} minutes, {p['dpu_hours']:.0f} "
              f"DPU-hours, ${p['glue_usd']:.2f}")
        print(f"  Athena: validation scans {p['athena_validation_bytes'] / 1e9:.1f} GB, the ER table "
              f"{p['athena_er_bytes'] / 1e9:.1f} GB: ${p['athena_usd']:.2f}")
        print(f"  each of the 256 bucket files of a table: {p['bytes_per_bucket_file'] / 1e6:,.0f} MB")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="measured sizes (three; default 50k, 100k, 200k)")
    parser.add_argument("--from-json", help="reuse measurements saved by --save-json instead of measuring")
    parser.add_argument("--save-json", help="write the measurements here")
    parser.add_argument("--keep-data", metavar="DIR", help="keep and reuse the synthetic snapshots")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cores", type=int, default=2, help="Spark local[N]")
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--project-rows", type=int, help="production rows (customers) to project")
    parser.add_argument("--project-gb", type=float, help="production GB per split table")
    parser.add_argument("--workers", type=int, default=24, help="deployed G.4X workers (default 24)")
    parser.add_argument("--timeout-min", type=int, default=180, help="the job's timeout (default 180)")
    args = parser.parse_args(argv)
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
    else:
        work = Path(args.keep_data) if args.keep_data else Path(tempfile.mkdtemp(prefix="flywheel-capacity-"))
        try:
            results = measure(args.rows or [50_000, 100_000, 200_000], work, args.seed, args.cores,
                              args.driver_memory)
        finally:
            if not args.keep_data:
                shutil.rmtree(work, ignore_errors=True)
    if args.save_json:
        Path(args.save_json).write_text(json.dumps(results, indent=1))
    if len(results) < 2:
        parser.error("a fit needs at least two sizes")
    projection = None
    if args.project_rows and args.project_gb:
        from flywheel_lib.cost import load_prices

        projection = project(results, args.project_rows, args.project_gb, args.workers, args.timeout_min,
                             load_prices())
    report(results, projection)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
