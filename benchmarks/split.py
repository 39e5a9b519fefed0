"""Time the local split against its floor: one DuckDB COPY of the same raw infobase file.

    python benchmarks/split.py --rows 200000 [--rows 1000000] [--repeat N] [--keep-data DIR]

For each row count a synthetic raw infobase snapshot with the full default
mapping is written as one Parquet file (or reused from --keep-data), then two
things are measured, each in its own child process so that the peak memory is
that measurement's alone:

- floor: `COPY (SELECT * FROM read_parquet(file)) TO out.parquet (FORMAT parquet)`
  on a DuckDB connection with its defaults (every column decoded and encoded once);
- split: `split_snapshot` of the same file into the 27 tables x 256 buckets.

Each is run --repeat times, floor and split in turn; the best time (and CPU
time) and the largest peak are reported. Targets (from the issue): at 200,000
rows the split takes at most 1.2x the floor; its peak memory stays under
2 GiB. The exit status is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SNAPSHOT_DT = "2026-10-01"
DATASET = "infobase_attributes"
RATIO_TARGET, RATIO_ROWS = 1.2, 200_000
MEMORY_TARGET_MIB = 2048


def main(argv=None) -> int:
    args = _parse(argv)
    if args.child:
        return _child(args.child, Path(args.source), Path(args.out))
    work = Path(args.keep_data) if args.keep_data else Path(tempfile.mkdtemp(prefix="flywheel-split-bench-"))
    try:
        results = [_measure_size(work, rows, args.seed, args.repeat) for rows in sorted(set(args.rows))]
        code = _report(results)
        if args.spark:  # the same data through the Glue job's script in Spark local mode: local / Spark
            code = max(code, _spark_benchmark().main(
                [a for rows in sorted(set(args.rows)) for a in ("--rows", str(rows))]
                + ["--repeat", str(args.repeat), "--seed", str(args.seed), "--keep-data", str(work)]))
    finally:
        if not args.keep_data:
            shutil.rmtree(work, ignore_errors=True)
    return code


def _spark_benchmark():
    import importlib.util

    spec = importlib.util.spec_from_file_location("split_spark", Path(__file__).with_name("split_spark.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="rows to split (repeatable; default 200000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the best time counts")
    parser.add_argument("--seed", type=int, default=42, help="synthetic data seed")
    parser.add_argument("--keep-data", metavar="DIR",
                        help="keep the generated snapshots in DIR and reuse them on later runs")
    parser.add_argument("--spark", action="store_true",
                        help="also run the Glue job's PySpark script in Spark local mode (benchmarks/split_spark.py) "
                             "and print the ratio local engine / Spark")
    parser.add_argument("--child", choices=("floor", "split"), help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.rows = args.rows or [RATIO_ROWS]
    if min(args.rows) < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be positive")
    return args


# --- the parent: data, child processes, report ----------------------------------------------

def _measure_size(work: Path, rows: int, seed: int, repeat: int) -> dict:
    source = _snapshot_file(work, rows, seed)
    _warm(source)
    best = {"floor": None, "split": None}
    for attempt in range(1, repeat + 1):
        for kind in best:  # in turn, so a busy moment of the machine hits both alike
            out = work / f"out-{kind}"
            shutil.rmtree(out, ignore_errors=True)
            result = _run_child(kind, source, out)
            shutil.rmtree(out, ignore_errors=True)
            if result["rows"] != rows:
                raise SystemExit(f"{kind} wrote {result['rows']} rows, expected {rows}")
            _progress(f"{kind} {rows:,} rows, run {attempt}/{repeat}: {result['seconds']:.2f} s, "
                      f"{result['cpu_seconds']:.1f} s CPU, peak {result['peak_mib']:,.0f} MiB")
            old = best[kind]
            best[kind] = result if old is None else {
                "seconds": min(old["seconds"], result["seconds"]),
                "cpu_seconds": min(old["cpu_seconds"], result["cpu_seconds"]),
                "peak_mib": max(old["peak_mib"], result["peak_mib"]), "rows": rows}
    return {"rows": rows, **best}


def _snapshot_file(work: Path, rows: int, seed: int) -> Path:
    """The one raw infobase file of `rows` rows, written on first use (about 20,000 rows a second)."""
    root = work / f"rows-{rows}_seed-{seed}"
    folder = root / "opus" / DATASET / "raw_input" / f"snapshot_dt={SNAPSHOT_DT}"
    files = sorted(folder.glob("*.parquet"))
    if len(files) != 1:
        from flywheel_lib.synthetic import write_snapshot

        _progress(f"writing a {rows:,}-row raw infobase snapshot under {root} ...")
        started = time.perf_counter()
        write_snapshot(root, SNAPSHOT_DT, rows, seed=seed, files=1, datasets=(DATASET,), overwrite=True)
        _progress(f"  written in {time.perf_counter() - started:.0f} s")
        files = sorted(folder.glob("*.parquet"))
    return files[0]


def _warm(path: Path) -> None:
    """Read the file once, so neither measurement pays for the first read from disk."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def _run_child(kind: str, source: Path, out: Path) -> dict:
    """Run one measurement in a child; its own rusage gives its peak resident memory."""
    command = [sys.executable, __file__, "--child", kind, "--source", str(source), "--out", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    stdout = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"the {kind} measurement failed (exit status {proc.returncode})")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_mib"] = usage.ru_maxrss / 1024  # Linux reports KiB
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # the whole child, start-up included
    return result


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _report(results: list[dict]) -> int:
    header = (f"{'rows':>10}  {'run':<5}  {'seconds':>8}  {'rows/s':>8}  {'cpu s':>7}  {'peak MiB':>8}  "
              f"{'split/floor':>11}  verdict")
    print(header)
    print("-" * len(header))
    failed = False
    for r in results:
        floor, split = r["floor"], r["split"]
        ratio = split["seconds"] / floor["seconds"]
        verdicts = [f"memory {'PASS' if split['peak_mib'] < MEMORY_TARGET_MIB else 'FAIL'} (< 2 GiB)"]
        if r["rows"] == RATIO_ROWS:
            verdicts.insert(0, f"time {'PASS' if ratio <= RATIO_TARGET else 'FAIL'} (<= {RATIO_TARGET}x)")
        failed |= any("FAIL" in v for v in verdicts)
        for name, m, extra in (("floor", floor, ""), ("split", split, f"{ratio:>10.2f}x  {', '.join(verdicts)}")):
            print(f"{r['rows']:>10,}  {name:<5}  {m['seconds']:>8.2f}  {r['rows'] / m['seconds']:>8,.0f}  "
                  f"{m['cpu_seconds']:>7.1f}  {m['peak_mib']:>8,.0f}  {extra}")
    for small, large in zip(results, results[1:]):
        grown = large["split"]["peak_mib"] - small["split"]["peak_mib"]
        per_100k = grown / (large["rows"] - small["rows"]) * 100_000
        print(f"split peak memory {small['rows']:,} -> {large['rows']:,} rows: {grown:+,.0f} MiB "
              f"({per_100k:+.1f} MiB per 100,000 rows)")
    return 1 if failed else 0


# --- the children: one measurement each --------------------------------------------------------

def _child(kind: str, source: Path, out: Path) -> int:
    seconds, rows = (_floor if kind == "floor" else _split)(source, out)
    print(json.dumps({"seconds": seconds, "rows": rows}))
    return 0


def _floor(source: Path, out: Path) -> tuple[float, int]:
    """Decode and encode every column once, with DuckDB's defaults."""
    import duckdb

    from flywheel_lib.local.sql import literal

    out.mkdir(parents=True)
    started = time.perf_counter()
    con = duckdb.connect()
    # hive_partitioning off: the file's own columns, without its snapshot_dt= folder as one more.
    rows = con.execute(f"COPY (SELECT * FROM read_parquet({literal(str(source))}, hive_partitioning = false)) "
                       f"TO {literal(str(out / 'out.parquet'))} (FORMAT parquet)").fetchone()[0]
    con.close()
    return time.perf_counter() - started, rows


def _split(source: Path, out: Path) -> tuple[float, int]:
    from flywheel_lib.local.split import split_snapshot
    from flywheel_lib.mapping import load_mapping
    from flywheel_lib.snapshots import find_snapshot

    mapping = load_mapping()
    snapshot = find_snapshot(source.parent.parent, DATASET, SNAPSHOT_DT[:7])
    started = time.perf_counter()
    outputs = split_snapshot(snapshot, str(out), "bench", mapping)
    seconds = time.perf_counter() - started
    counts = {o.rows for o in outputs}
    if len(outputs) != len(mapping.table_names()) or len(counts) != 1:
        raise SystemExit(f"split wrote {len(outputs)} tables with row counts {sorted(counts)}")
    return seconds, counts.pop()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
    sys.exit(main())
