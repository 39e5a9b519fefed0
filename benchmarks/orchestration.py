"""The driver against a plain papermill loop over the same eight notebooks, and where a stage's time goes.

    .venv/bin/python benchmarks/orchestration.py [--rows 20000] [--repeat 2] [--keep-data DIR]

One synthetic month (the demo month's size by default) is written once. Then,
--repeat times and alternating which goes first, each on a fresh data root (the
raw snapshot hard-linked in, nothing else) and a fresh runs folder:

- driver: `run_refresh.py --month M` (its defaults: two stages at a time, run
  record, HTML copies, review pages);
- loop: `papermill` (the CLI) over the eight refresh notebooks, one after the
  other, with the parameters the driver passes (no record, no HTML).

Wall time is measured around each child; CPU time is the children's user +
system time from `getrusage(RUSAGE_CHILDREN)` (kernels included: they are the
children's children and are waited for). Medians and the driver/loop ratios are
printed, with PASS/FAIL against the issue's goals: wall at most 0.6x, CPU at
most 1.0x.

Then the breakdown of the last driver run, per stage, from the manifest and
papermill's per-cell times in each executed notebook: time before the first
cell (kernel start, unless the kernel was started ahead), each cell, time after
the last (papermill writing the notebook, the driver reading scraps), and
apart, what the driver does off the critical path: the HTML copy and a
manifest write (checksums and review page), each timed again here. The import
of the library in a fresh interpreter is timed too. `work` is the time in the
cells after the one that opens the stage (`open_stage`, which also imports the
library unless the kernel was started ahead), but for cells that only record
scraps (`scraps.record`); `overhead` is the stage's wall time minus its work: the issue's goal for a trivial stage (addr_glue_reg) is
at most 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MONTH = "2026-10"
WALL_GOAL, CPU_GOAL, OVERHEAD_GOAL_S = 0.6, 1.0, 3.0
TRIVIAL_STAGE = "addr_glue_reg"


def main(argv=None) -> int:
    args = _parse(argv)
    keep = Path(args.keep_data) if args.keep_data else None
    with tempfile.TemporaryDirectory(prefix="orchestration-") as scratch:
        raw = _raw_snapshot(keep or Path(scratch) / "raw", args.rows)
        figures = {"driver": [], "loop": []}
        last_driver = None
        for i in range(args.repeat):
            order = ("driver", "loop") if i % 2 == 0 else ("loop", "driver")
            for kind in order:
                root = Path(scratch) / f"{kind}-{i}"
                took = _measure(kind, root, raw)
                figures[kind].append(took)
                print(f"run {i + 1} {kind:<6} wall {took['wall']:7.1f} s  cpu {took['cpu']:7.1f} s",
                      flush=True)
                if kind == "driver":
                    if last_driver:
                        shutil.rmtree(last_driver, ignore_errors=True)
                    last_driver = root
                else:
                    shutil.rmtree(root, ignore_errors=True)
        ok = _summary(figures, args.rows)
        ok = _breakdown(last_driver / "runs" / MONTH) and ok
    return 0 if ok else 1


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000, help="customers in the month (default 20000)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, alternating (default 2)")
    parser.add_argument("--keep-data", metavar="DIR", help="keep (and reuse) the raw snapshot here")
    return parser.parse_args(argv)


def _raw_snapshot(folder: Path, rows: int) -> Path:
    from flywheel_lib.snapshots import demo_snapshot_dt
    from flywheel_lib.synthetic import write_snapshot

    data = folder / f"rows-{rows}"
    if not (data / "opus").is_dir():
        write_snapshot(data, demo_snapshot_dt(MONTH), rows)
    return data


def _environment(root: Path, raw: Path) -> dict:
    (root / "data").mkdir(parents=True)
    subprocess.run(["cp", "-al", str(raw / "opus"), str(root / "data" / "opus")], check=True)
    # PYTHONPATH: the kernels import this checkout's library, whatever is installed.
    env = dict(os.environ, PYTHONPATH=str(REPO), FLYWHEEL_DATA_ROOT=str(root / "data"), FLYWHEEL_RUNS_DIR=str(root / "runs"),
               FLYWHEEL_ENV="local")
    env.pop("FLYWHEEL_MAPPING", None)
    return env


def _measure(kind: str, root: Path, raw: Path) -> dict:
    env = _environment(root, raw)
    before, clock = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    if kind == "driver":
        _run([sys.executable, str(REPO / "run_refresh.py"), "--month", MONTH], env)
    else:
        _loop(root, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": time.monotonic() - clock, "cpu": cpu}


def _loop(root: Path, env: dict) -> None:
    from flywheel_lib.pipeline import REFRESH

    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = root / "runs" / MONTH / run_id
    out.mkdir(parents=True)  # stages save their tables and charts there, as in a driver run
    papermill = str(Path(sys.executable).parent / "papermill")
    for stage in REFRESH:
        _run([papermill, str(stage.notebook_path), str(out / f"{stage.name}.ipynb"),
              "-k", "python3", "--cwd", str(stage.notebook_path.parent), "--no-progress-bar",
              "-p", "month", MONTH, "-p", "run_id", run_id, "-p", "env", "local",
              "-p", "allow_snapshot_mismatch", "False"], env)


def _run(command: list[str], env: dict) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-3000:]}")


def _summary(figures: dict, rows: int) -> bool:
    med = {k: {m: statistics.median(r[m] for r in runs) for m in ("wall", "cpu")}
           for k, runs in figures.items()}
    wall = med["driver"]["wall"] / med["loop"]["wall"]
    cpu = med["driver"]["cpu"] / med["loop"]["cpu"]
    print(f"\n{rows:,} rows, medians of {len(figures['driver'])} runs each")
    print(f"{'':8}{'wall s':>9}{'cpu s':>9}")
    for kind in ("driver", "loop"):
        print(f"{kind:8}{med[kind]['wall']:9.1f}{med[kind]['cpu']:9.1f}")
    print(f"driver/loop wall {wall:.2f} (goal <= {WALL_GOAL}): {_verdict(wall <= WALL_GOAL)}")
    print(f"driver/loop cpu  {cpu:.2f} (goal <= {CPU_GOAL}): {_verdict(cpu <= CPU_GOAL)}")
    return wall <= WALL_GOAL and cpu <= CPU_GOAL


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _breakdown(month_dir: Path) -> bool:
    from flywheel_lib import html_copies, records

    run_dir = records.month_runs(month_dir)[-1]
    manifest = records.read_manifest(run_dir)
    print(f"\nwhere each stage's time goes (seconds; driver run {run_dir.name})")
    print(f"{'stage':<18}{'wall':>6}{'before':>7}  {'code cells, in order (* opens the stage)':<44}"
          f"{'after':>6}{'html+':>7}{'work':>6}{'overhead':>9}")
    ok, verdict = True, ""
    for name, entry in manifest["stages"].items():
        cells, opening, recording = _cell_times(run_dir / entry["notebook"])
        before = _seconds(entry["started_at"], cells[0][0])
        after = _seconds(cells[-1][1], entry["ended_at"])
        durations = [_seconds(start, end) for start, end in cells]
        work = sum(d for i, d in enumerate(durations) if i > opening and i not in recording)
        overhead = entry["duration_s"] - work
        html = _timed(html_copies.write_html, run_dir / entry["notebook"])
        shown = " ".join(f"{d:.1f}" + ("*" if i == opening else "") for i, d in enumerate(durations))
        print(f"{name:<18}{entry['duration_s']:6.1f}{before:7.1f}  {shown:<44}{after:6.1f}"
              f"{html:7.1f}{work:6.1f}{overhead:9.1f}")
        if name == TRIVIAL_STAGE:
            ok = overhead <= OVERHEAD_GOAL_S
            verdict = f"{TRIVIAL_STAGE} overhead {overhead:.1f} s (goal <= {OVERHEAD_GOAL_S}): {_verdict(ok)}"
    print("+ html: the copy rendered again here (the first includes importing nbconvert); "
          "in a run it is rendered in the background")
    print(f"manifest write (checksums + review page): {_timed(records.write_manifest, run_dir, manifest):.2f} s")
    print(f"library import in a fresh interpreter: {_import_time():.2f} s")
    print(verdict)
    return ok


def _cell_times(notebook: Path) -> tuple[list[tuple[str, str]], int, set[int]]:
    """(start, end) of every code cell papermill executed, in order; the index of the one
    that opens the stage; the indexes of those that only record scraps."""
    node = json.loads(notebook.read_text(encoding="utf-8"))
    cells = [c for c in node["cells"] if c["cell_type"] == "code"
             and c["metadata"].get("papermill", {}).get("end_time")]
    opening = next((i for i, c in enumerate(cells) if "open_stage(" in "".join(c["source"])), 0)
    recording = {i for i, c in enumerate(cells) if all(
        line.startswith("scraps.record(") for line in "".join(c["source"]).splitlines() if line.strip())}
    return [(c["metadata"]["papermill"]["start_time"], c["metadata"]["papermill"]["end_time"])
            for c in cells], opening, recording


def _seconds(start: str, end: str) -> float:
    return (_utc(end) - _utc(start)).total_seconds()


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # papermill: naive UTC


def _timed(function, *args) -> float:
    clock = time.monotonic()
    function(*args)
    return time.monotonic() - clock


def _import_time() -> float:
    code = ("import time; t = time.perf_counter(); import pandas, flywheel_lib.stage, flywheel_lib.display, "
            "flywheel_lib.scraps, flywheel_lib.local.backend; print(time.perf_counter() - t)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(result.stdout.strip())


if __name__ == "__main__":
    sys.exit(main())
