"""The command line: `python run_refresh.py --month 2026-10`.

Parses arguments, loads settings, calls `runner.run_refresh`, and turns a
`FlywheelError` into one `error: ...` line on stderr and an exit code.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

# nbformat (under papermill and nbconvert) imports jsonschema, whose optional "iri" format checker
# builds a grammar when rfc3987_syntax is installed (jupyter-events pulls it in): 2.3 of papermill's
# 2.8 s of imports, in the driver's critical path. Notebook schemas never use that format; with the
# module marked absent, jsonschema leaves the checker out.
sys.modules.setdefault("rfc3987_syntax", None)

from . import history, ledger, record_mirror, records, review, rollback, runner
from .backend import get_backend
from .config import ENVIRONMENTS, load_settings
from .errors import FlywheelError, RunLocked, SnapshotNotArrived
from .op_runner import OPS, run_operation

EPILOG = """\
exit codes:
  0    success, or nothing to do (month already refreshed, --dry-run, record intact)
  1    a stage failed (downstream stages blocked), or --verify found differences
  2    bad input or preflight error: month, snapshot, stage name, configuration
  3    another run of this month holds the lock (the error names it and since when;
       on dev/prod a stale one can be taken over with --break-lock)
  75   the month's snapshot has not arrived yet: nothing was written, try again later
  130  interrupted (Ctrl-C); running again resumes where it stopped

--month previous is the calendar month before today in UTC (what a monthly
timer passes). A re-run of a month resumes its latest unfinished run: stages
that succeeded are not run again. Run records: <runs dir>/<month>/<run id>/manifest.json;
open <runs dir>/<month>/<run id>/index.html in a browser to review one,
<runs dir>/index.html for every run.
"""


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_refresh.py", description="Run the monthly Flywheel refresh notebooks.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--month", help="refresh month, YYYY-MM, or `previous`: the month before today (UTC)")
    add("--env", choices=ENVIRONMENTS, help="environment (default: $FLYWHEEL_ENV, else local)")
    add("--dry-run", action="store_true",
        help="print the plan (stages, snapshots, run record); execute and write nothing")
    add("--only", type=_names, default=(), metavar="A,B", help="run only these stages")
    add("--from", dest="start_from", type=_names, default=(), metavar="X",
        help="run X and every stage downstream of it")
    add("--skip", type=_names, default=(), metavar="A,B", help="do not run these stages")
    add("--jobs", type=int, default=2, help="stages run in parallel at most (default 2)")
    add("--new-run", action="store_true",
        help="start a fresh run even if the month has a finished or unfinished one")
    add("--allow-snapshot-mismatch", action="store_true",
        help="refresh even if the two datasets' snapshot dates differ")
    add("--demo-rows", type=int, metavar="N",
        help="local only: if the month has no raw snapshot, generate a synthetic one of N rows")
    add("--break-lock", action="store_true",
        help="dev/prod: take over the month's lock if it is stale (its heartbeat stopped); recorded")
    add("--verify", metavar="RUN",
        help="check a run record's files against its manifest checksums, and the manifest against "
             "the hash-chained <runs dir>/ledger.jsonl, then exit; RUN is a folder or its S3 copy "
             "s3://<analysis bucket>/runs/<month>/<run id>")
    add("--op", choices=sorted(OPS), metavar="OPERATION",
        help="run an operation notebook instead of the refresh: " + ", ".join(OPS))
    add("--param", action="append", default=[], metavar="NAME=VALUE",
        help="a parameter of the --op notebook (repeatable; lists comma-separated)")
    add("--apply", action="store_true",
        help="with --op: make the planned changes (without it the operation only plans)")
    add("--rollback", action="store_true",
        help="with --month: serve the previous good month again, all tables or none (plan; --apply to do it)")
    add("--reason", default="", help="with --rollback: why, kept in the rollback's run record (needed to apply)")
    add("--list", nargs="?", const="", default=None, metavar="S3_RUNS",
        help="list every run of every month, newest first (as <runs dir>/index.html), then exit; "
        "with s3://<analysis bucket>/runs, the runs copied there")
    add("--history", nargs="?", const="", metavar="TABLE",
        help="each published table (or only TABLE): which run published which snapshot, rows, columns")
    add("--iam-policy", choices=("runner", "glue-job", "cleanrooms"), metavar="ROLE",
        help="print the least-privilege IAM policy of runner, glue-job or cleanrooms for --env, then exit")
    add("--account", metavar="ID", help="with --iam-policy: the 12-digit account (default: the caller's)")
    return parser


def _verify(run_dir: str, env: str | None) -> int:
    if run_dir.startswith("s3://"):
        problems = record_mirror.verify(_aws(env), run_dir)
    else:
        problems = records.verify(run_dir) + ledger.verify(run_dir)
        if ledger.find(run_dir) is None:
            print(f"note: no {ledger.LEDGER} above {run_dir}: the manifest itself is not checked", file=sys.stderr)
    for problem in problems:
        print(problem)
    print(f"{run_dir}: {'intact' if not problems else f'{len(problems)} difference(s)'}")
    return runner.EXIT_FAILED if problems else runner.EXIT_OK


def _list(env: str | None, where: str) -> int:
    runs_dir = where or load_settings(env).runs_dir
    runs = record_mirror.list_runs(_aws(env), where) if where.startswith("s3://") else records.list_runs(runs_dir)
    print("\n".join(review.runs_table(runs)) if runs else f"no runs under {runs_dir}", flush=True)
    return runner.EXIT_OK


def _rollback(args) -> int:
    if not args.month:
        raise FlywheelError("--rollback needs --month, the month served now", hint="For example --month 2026-10")
    settings = load_settings(args.env)
    if args.apply:
        rollback.require_reason(args.reason)
    switches = rollback.plan(settings.runs_dir, args.month, get_backend(settings).published())
    print("\n".join(rollback.plan_lines(args.month, switches)), file=sys.stderr, flush=True)
    params = [f"month={args.month}", f"reason={args.reason}"]
    return run_operation("rollback", params, args.apply, settings, sys.stderr)[0]


def _iam_policy(role: str, account: str | None, settings) -> int:
    from .aws.iam import policy_json

    if settings.is_local:
        raise FlywheelError("--iam-policy is for an AWS environment", setting="env",
                            hint="add --env dev or --env prod")
    if account is None:
        from .aws.session import AwsClients  # the caller's account: one STS call

        account = AwsClients(settings).account_id()
    if not (account.isdigit() and len(account) == 12):
        raise FlywheelError(f"--account {account!r} is not a 12-digit AWS account ID", setting="account")
    print(policy_json(role, settings, account))
    return runner.EXIT_OK


def _aws(env: str | None):
    from .aws.session import AwsClients  # boto3 only where S3 is read

    return AwsClients(load_settings(env))


def take_ctrl_c() -> None:
    """Ctrl-C (and systemd's KillSignal=SIGINT) stop a run however it was started: a shell starts a
    background job with SIGINT ignored, and an ignored or blocked signal passes to child processes."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def main(argv: list[str] | None = None, today=None) -> int:
    """`today` (a date) stands in for today in UTC, for `--month previous` in tests."""
    args = build_parser().parse_args(argv)
    take_ctrl_c()
    try:
        return _main(args, today)
    except BrokenPipeError:  # the reader went away (`--history | head`): what it read is all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return runner.EXIT_OK


def _main(args, today) -> int:
    try:
        if args.verify:
            return _verify(args.verify, args.env)
        if args.list is not None:
            return _list(args.env, args.list)
        if args.history is not None:
            history.print_history(load_settings(args.env).runs_dir, args.history, sys.stdout)
            sys.stdout.flush()  # here, so a closed pipe is met inside main
            return runner.EXIT_OK
        if args.iam_policy:
            return _iam_policy(args.iam_policy, args.account, load_settings(args.env))
        if args.op:
            return run_operation(args.op, args.param, args.apply, load_settings(args.env), sys.stderr)[0]
        if args.rollback:
            return _rollback(args)
        if args.param or args.apply:
            raise FlywheelError("--param and --apply go with --op", hint="For example --op configure_tables")
        if not args.month:
            raise FlywheelError("--month is required", hint="For example --month 2026-10")
        request = runner.Request(
            month=args.month, only=args.only, start_from=args.start_from, skip=args.skip,
            jobs=args.jobs, new_run=args.new_run, dry_run=args.dry_run,
            allow_snapshot_mismatch=args.allow_snapshot_mismatch, demo_rows=args.demo_rows,
            break_lock=args.break_lock)
        return runner.run_refresh(request, load_settings(args.env), today=today).exit_code
    except RunLocked as err:
        print(f"error: {err}", file=sys.stderr)
        return runner.EXIT_LOCKED
    except SnapshotNotArrived as err:
        print(f"error: snapshot not arrived: {err}", file=sys.stderr)
        return runner.EXIT_NOT_ARRIVED
    except FlywheelError as err:
        print(f"error: {err}", file=sys.stderr)
        return runner.EXIT_USAGE
    except BrokenPipeError:
        raise  # not a folder we cannot write: main's quiet end
    except OSError as err:  # e.g. a read-only or full runs or data folder: one line, nothing half-written
        where = f" ({err.filename})" if err.filename else ""
        print(f"error: cannot write{where}: {err.strerror or err}. Free space or make the folder writable, "
              "then run the same command again", file=sys.stderr)
        return runner.EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return runner.EXIT_INTERRUPTED
