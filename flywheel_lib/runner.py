"""Plan and run the refresh: select stages, resume, execute in dependency order.

`run_refresh(request, settings)` is what `run_refresh.py` calls. It checks
everything it can before writing anything (month, stage names, snapshots,
notebooks), takes the month's lock, then either resumes the month's latest
unfinished run (stages that succeeded are not run again) or starts a new one,
and runs the stages with papermill, independent ones in parallel.

Exit codes, for a scheduler:
    0    success, or nothing to do (the month is already refreshed, --dry-run)
    1    a stage failed (its downstream stages are blocked; the record says why)
    2    bad input or preflight error: month, snapshot, stage name, configuration
    3    another run of this month holds the lock
    75   the month's snapshot has not arrived yet (try again later)
    130  interrupted (Ctrl-C); the next run resumes where this one stopped
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import ledger, pipeline, record_mirror, records, review, run_end, run_guard
from .pipeline import order_stages, plan_actions, select_stages
from .cost import cost_line
from .errors import FlywheelError, RunError
from .lock import is_held
from .months import resolve_month
from .scheduler import Scheduler
from .preflight import checked_snapshots
from .snapshots import DATASETS, demo_snapshot_dt, list_snapshot_dates

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_NOT_ARRIVED = 75  # sysexits' EX_TEMPFAIL: the snapshot has not landed, try again later


@dataclass(frozen=True)
class Request:
    """What the person running the refresh asked for (the CLI flags)."""

    month: str
    only: tuple[str, ...] = ()
    start_from: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    jobs: int = 2
    new_run: bool = False
    dry_run: bool = False
    allow_snapshot_mismatch: bool = False
    demo_rows: int | None = None
    break_lock: bool = False


@dataclass
class Outcome:
    exit_code: int
    run_dir: Path | None = None


# ---- the entry point ------------------------------------------------------------------

def run_refresh(request: Request, settings, *, stages=None, preflight=None,
                out=None, today=None) -> Outcome:
    """Run (or plan, with dry_run) the refresh of one month. See the module doc for exit codes.

    `stages` defaults to `pipeline.REFRESH`; `preflight(settings, month, allow_mismatch)`
    returns the month's SnapshotPair (default: `preflight.checked_snapshots`).
    Tests replace both, and give `today` for `--month previous` (default: today in UTC).
    """
    stages = order_stages(pipeline.REFRESH if stages is None else stages)
    preflight = preflight or checked_snapshots  # mapping, snapshots and their Parquet footers
    out = out or sys.stderr
    month, resolved = resolve_month(request.month, today)
    if resolved:
        print(resolved, file=out, flush=True)
    selected = select_stages(stages, request.only, request.start_from, request.skip)
    if request.jobs < 1:
        raise RunError(f"--jobs must be at least 1, got {request.jobs}")
    _check_notebooks(stages, selected)
    demo_pending = _demo_snapshot(settings, month, request)
    try:
        pair = None if demo_pending else preflight(settings, month, request.allow_snapshot_mismatch)
    except FlywheelError as err:  # e.g. the snapshot has not landed: the scheduled run must still say so
        if not request.dry_run:
            run_end.notify_not_started(settings, month, err, out)
        raise
    month_dir = Path(settings.runs_dir) / month
    if request.dry_run:
        plan = _choose_run(month_dir, request, settings, pair, stages, selected, is_held(month_dir))
        print(_plan_text(month, settings, pair, plan, stages, demo_pending), flush=True)
        return Outcome(EXIT_OK)
    done = _choose_run(month_dir, request, settings, pair, stages, selected, is_held(month_dir))
    if done["nothing_to_do"]:  # a retried or duplicated trigger: one line, exit 0, no lock taken
        print(done["nothing_to_do"], file=out, flush=True)
        return Outcome(EXIT_OK, done["run_dir"])
    with run_guard.month_lock(settings, month_dir, month, request.break_lock, out) as lock:
        return _run_locked(lock, request, settings, pair, stages, selected, out)


def _run_locked(lock, request, settings, pair, stages, selected, out) -> Outcome:
    """Choose and run the month's run while holding its lock; the record is mirrored on dev/prod."""
    month_dir = Path(settings.runs_dir) / pair.month
    plan = _choose_run(month_dir, request, settings, pair, stages, selected, False)
    mirror = None
    try:
        if plan["nothing_to_do"]:
            print(plan["nothing_to_do"], file=out, flush=True)
            return Outcome(EXIT_OK, plan["run_dir"])
        lock.name_run(plan["run_dir"].name)
        run_guard.report_missed(settings, pair.month, out)
        run = _open_run(plan, request, settings, pair, stages, pair.month, out, lock.record())
        mirror = record_mirror.start(settings, run.run_dir, run.manifest, out)
        return _execute(run, settings, mirror)
    finally:  # whatever happened, the list of runs shows it
        write_runs_page(settings.runs_dir, out)
        if mirror is not None:
            mirror.close()


def write_runs_page(runs_dir, out) -> None:
    """Rewrite `<runs dir>/index.html`; a failure is reported, never fatal to the refresh."""
    try:
        review.write_runs_page(runs_dir, records.list_runs(runs_dir))
    except Exception as err:  # e.g. another run's unreadable manifest
        print(f"warning: {Path(runs_dir) / review.PAGE} was not rewritten: {err}",
              file=out, flush=True)


def _check_notebooks(stages, selected) -> None:
    for stage in stages:
        if stage.name in selected and not stage.notebook_path.is_file():
            raise RunError("stage notebook not found", stage=stage.name,
                           path=str(stage.notebook_path))


def _demo_snapshot(settings, month: str, request: Request) -> bool:
    """Write a synthetic snapshot for --demo-rows if the month has none. True: dry run would."""
    if not request.demo_rows:
        return False
    if not settings.is_local:
        raise RunError("--demo-rows only works with the local environment", setting="env")
    if any(d.startswith(month + "-") for ds in DATASETS
           for d in list_snapshot_dates(settings.raw_root(ds))):
        return False
    if request.dry_run:
        return True
    from .synthetic import write_snapshot  # the generator needs pyarrow; only load it here

    write_snapshot(settings.data_root, demo_snapshot_dt(month), request.demo_rows, monthly=True)
    return False


def _snapshot_dates(snapshot_record: dict | None) -> dict:
    datasets = (snapshot_record or {}).get("datasets", {})
    return {name: d.get("snapshot_dt") for name, d in datasets.items()}


def _choose_run(month_dir, request, settings, pair, stages, selected, locked: bool) -> dict:
    """Resume the month's latest run or start a new one; read-only.

    `locked`: another process holds the month's lock (only a dry run can see that).
    """
    latest = None if request.new_run else records.latest_run(month_dir)
    plan = {"latest": latest, "nothing_to_do": None, "locked": False}
    if latest is None:
        plan.update(run_dir=month_dir / records.new_run_id(month_dir), resume=False,
                    actions=plan_actions(stages, selected))
        return plan
    run_id = latest["run_id"]
    if latest.get("status") == "running":  # running with nobody holding the lock: it died
        plan["locked"] = locked
        latest["status"] = "running" if locked else "interrupted"
    if pair is not None and (latest.get("env") != settings.env or _snapshot_dates(
            latest.get("snapshots")) != _snapshot_dates(pair.as_record())):
        raise RunError(
            f"the latest run {run_id} used other snapshots or another environment "
            f"({latest.get('env')}, {_snapshot_dates(latest.get('snapshots'))})",
            month=pair.month, hint="Pass --new-run to refresh with the current snapshots")
    previous = {n: s.get("status") for n, s in latest.get("stages", {}).items()}
    actions = plan_actions(stages, selected, previous)
    plan.update(run_dir=month_dir / run_id, resume=True, actions=actions)
    if "run" not in actions.values():
        what = ("is already refreshed" if latest.get("status") == "succeeded"
                else "has nothing to run for this selection")
        plan["nothing_to_do"] = (
            f"{latest['month']} {what}: run {run_id} ({latest.get('status')}, ended "
            f"{latest.get('ended_at')}), record {plan['run_dir']}. "
            "Nothing executed; --new-run refreshes again.")
    return plan


def _plan_text(month, settings, pair, plan, stages, demo_pending) -> str:
    lines = [f"Refresh {month} (env {settings.env}): dry run, nothing executed or written", "",
             "snapshots:"]
    if pair is None:
        lines.append(f"  none yet: --demo-rows would generate snapshot_dt={demo_snapshot_dt(month)}")
    for name, d in (pair.as_record()["datasets"].items() if pair else ()):
        size = sum(f["size"] for f in d["files"])
        lines.append(f"  {name:<20} {d['snapshot_dt']}  {len(d['files'])} files, "
                     f"{size:,} bytes  {d['location']}")
    latest = plan["latest"]
    how = (f"resumes run {latest['run_id']} ({latest.get('status')})" if plan["resume"]
           else "new run")
    lines += ["", f"run record: {plan['run_dir']} ({how})"]
    if plan["locked"]:
        lines.append("  that run is in progress now: a real run would exit 3 (locked)")
    if plan["nothing_to_do"]:
        lines.append(f"  {plan['nothing_to_do']}")
    lines += ["", "stages, in dependency order:"]
    width = max(len(s.name) for s in stages)
    for stage in stages:
        lines.append(f"  {stage.name:<{width}}  {plan['actions'][stage.name]:<12} "
                     f"upstream: {', '.join(stage.upstream) or '-'}")
        lines.append(f"  {'':<{width}}  {'':<12} produces: {stage.produces}")
    if pair is not None and not settings.is_local:
        from .backend import get_backend

        lines += [""] + get_backend(settings).plan_lines(pair, plan["run_dir"].name)
    return "\n".join(lines)


# ---- execution ------------------------------------------------------------------------

def _open_run(plan, request, settings, pair, stages, month, out, lock_record=None) -> Scheduler:
    run_dir, actions = plan["run_dir"], plan["actions"]
    if plan["resume"]:
        manifest = plan["latest"]
        records.reopen(manifest, run_dir, stages, actions)
    else:
        run_dir.mkdir(parents=True)
        manifest = records.new_manifest(run_dir.name, month, settings, pair, stages, actions)
    # Only these four values reach the notebooks: never anything from the environment.
    manifest["parameters"] = {"month": month, "run_id": run_dir.name, "env": settings.env,
                              "allow_snapshot_mismatch": bool(request.allow_snapshot_mismatch)}
    manifest.update(status="running", ended_at=None, **records.provenance())
    manifest["lock"] = lock_record  # which lock held the month, and a stale one this run broke
    to_run = [s.name for s in stages if actions[s.name] == "run"]
    manifest["invocations"].append({
        "started_at": records.utc_now(), "ended_at": None, "duration_s": None, "status": "running",
        "resumed": plan["resume"], "stages": to_run, "commit": manifest["code"]["commit"]})
    records.write_manifest(run_dir, manifest)
    return Scheduler(run_dir, manifest, stages, to_run, request.jobs, out)


def _execute(run: Scheduler, settings, mirror=None) -> Outcome:
    started = time.monotonic()
    action = "resuming" if len(run.manifest["invocations"]) > 1 else "starting"
    run.say(f"{action} run {run.run_dir.name} of {run.manifest['month']}: {run.run_dir}")
    write_runs_page(run.run_dir.parent.parent, run.out)  # list the run while it runs
    for name, entry in run.manifest["stages"].items():
        if entry["status"] == "done_earlier":
            run.say("done earlier", name)
    finished = run.execute()
    statuses = [e["status"] for e in run.manifest["stages"].values()]
    status = ("interrupted" if not finished else "failed" if {"failed", "blocked"} & set(statuses)
              else "interrupted" if "interrupted" in statuses else "succeeded")
    invocation = run.manifest["invocations"][-1]
    invocation.update(ended_at=records.utc_now(), status=status,
                      duration_s=round(time.monotonic() - started, 1))
    run.manifest.update(status=status, ended_at=invocation["ended_at"], duration_s=round(
        sum(i["duration_s"] or 0 for i in run.manifest["invocations"]), 1))
    run.manifest["serving"] = run_end.serving(settings)
    run.manifest["cost"] = run_end.cost(settings, run.manifest)
    run.save()
    sealed = ledger.seal(settings.runs_dir, run.run_dir, status, records.utc_now())
    where = mirror.location_text() if mirror else str(run.run_dir)
    notification = run_end.notify(settings, run.manifest, where, sealed)
    if notification is not None:  # recorded whether or not it went out; never the run's outcome
        invocation["notification"] = notification
        run.save()
        ledger.seal(settings.runs_dir, run.run_dir, status, records.utc_now())
        if notification["error"]:
            run.say(f"warning: the end-of-run notification was not sent: {notification['error']}")
    print("\n" + "\n".join(records.summary_lines(run.manifest, run.run_dir)), file=run.out, flush=True)
    print(run_end.serving_line(run.manifest["serving"]), file=run.out, flush=True)
    if cost_line(run.manifest["cost"]):
        print(cost_line(run.manifest["cost"]), file=run.out, flush=True)
    if mirror:
        print(mirror.location_text(), file=run.out, flush=True)
    ran = {run.manifest["stages"][n]["status"] for n in run.to_run}
    code = (EXIT_INTERRUPTED if not finished
            else EXIT_FAILED if {"failed", "blocked"} & ran else EXIT_OK)
    return Outcome(code, run.run_dir)


