"""Glue job runs: start them together, wait with backoff, report every terminal state.

A split stage starts its Glue job and waits. What can happen, and what we do:
- starting is refused for a while (throttling, the concurrent-runs limit, an
  internal error): retried on a bounded budget, then the stage fails;
- the run ends SUCCEEDED: done; FAILED, ERROR, TIMEOUT, STOPPED or EXPIRED:
  the stage fails at once with Glue's message, the run ID and its logs;
- a run of the same job for the same target is already going (an earlier
  attempt was interrupted): we wait for that one instead of starting a twin;
- Ctrl-C while waiting: the runs we started are stopped, and if stopping
  fails the message says they still run and gives the command that stops them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

from ..errors import FlywheelError
from ..progress import GlueProgress
from ..usage import USAGE
from .errors import AwsError
from .glue_runs import dpu_seconds, poll_offsets, typical_seconds
from .polling import retry_transient

log = logging.getLogger(__name__)

RUNNING = ("STARTING", "RUNNING", "STOPPING", "WAITING")
FAILED = ("FAILED", "ERROR", "TIMEOUT", "STOPPED", "EXPIRED")
START_ATTEMPTS = 6  # with waits of 15, 30, 60, 120, 120 s: about six minutes of refusals


def job_name(env: str, stage: str) -> str:
    """DOMAIN's `etl-omc-flywheel-<env>-<step>`: stage addr_part -> etl-omc-flywheel-dev-addr-part."""
    return f"etl-omc-flywheel-{env}-{stage.replace('_', '-')}"


def logs_url(region: str, run_id: str, group: str = "error") -> str:
    """The CloudWatch console page of a run's logs: log group /aws-glue/jobs/error (or /output), its
    streams filtered on the run ID.

    Glue 5.0 always logs there, one stream per driver and executor named
    `<run id>-driver`, `<run id>-<executor>` (Glue guide, "Logging for AWS Glue
    jobs"), so no single stream is the run's: the link filters on the prefix.
    """
    group_path = quote(quote(f"/aws-glue/jobs/{group}", safe=""), safe="").replace("%", "$")
    # The console's fragment: the group URL-encoded twice, then "?logStreamNameFilter=" once; % written $.
    return (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#logsV2:log-groups/log-group/{group_path}$3FlogStreamNameFilter$3D{quote(run_id, safe='')}")


@dataclass
class JobRun:
    job_name: str
    run_id: str
    arguments: dict
    region: str
    state: str = "STARTING"
    error_message: str = ""
    execution_time_s: int = 0
    attached: bool = False  # an earlier attempt started it; we only waited
    typical_s: float | None = None  # median duration of the job's earlier successful runs
    dpu_seconds: float = 0.0
    next_poll: float = 0.0  # on the GlueJobs clock
    polls: Iterator[float] | None = field(default=None, repr=False)

    @property
    def logs(self) -> str:
        return logs_url(self.region, self.run_id)

    def as_record(self) -> dict:
        return {"job": self.job_name, "run_id": self.run_id, "state": self.state,
                "error": self.error_message, "execution_time_s": self.execution_time_s,
                "dpu_seconds": self.dpu_seconds, "typical_s": self.typical_s,
                "attached_to_earlier_run": self.attached, "logs": self.logs,
                "output_logs": logs_url(self.region, self.run_id, "output")}

    def sentence(self) -> str:
        why = f": {self.error_message}" if self.error_message else ""
        return f"Glue job {self.job_name} run {self.run_id} ended {self.state}{why} (logs: {self.logs})"


class GlueJobFailed(FlywheelError):
    """One or more job runs ended in a state other than SUCCEEDED; `runs` has them all."""

    def __init__(self, runs: list[JobRun], **context):
        failed = [r for r in runs if r.state != "SUCCEEDED"]
        super().__init__("; ".join(r.sentence() for r in failed), **context)
        self.runs = runs


@dataclass
class GlueJobs:
    aws: object
    region: str
    sleep: object = time.sleep
    say: object = print
    runs: list[JobRun] = field(default_factory=list)
    previous: dict = field(default_factory=dict)  # job -> its GetJobRuns list: history and time left
    # Time spent waiting, as the poll schedule's clock: the sleeps are what a test can fake.
    waited_s: float = field(default=0.0, init=False)

    def run(self, jobs: list[tuple[str, dict]], identity_argument: str) -> list[JobRun]:
        """Start every (job name, arguments) without waiting between them, then wait for all.

        `identity_argument` names the argument that identifies the target
        (e.g. --TARGET_VERSION): a live run with the same value is reused.
        """
        started: list[JobRun] = []
        try:
            for name, arguments in jobs:
                history = self._recent_runs(name)
                run = (self._running_twin(name, history, arguments, identity_argument)
                       or self._start(name, arguments))
                self._schedule(run, typical_seconds(history))
                started.append(run)
                self.runs.append(run)
            self._wait(started)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(self._stop([r for r in started if r.state in RUNNING])) from None
        if any(r.state != "SUCCEEDED" for r in started):
            raise GlueJobFailed(started)
        return started

    def _recent_runs(self, name: str) -> list[dict]:
        """The job's latest runs, newest first: a twin to wait for, and how long runs take."""
        response = self.aws.call("glue", "get_job_runs", where={"table": name}, JobName=name, MaxResults=25)
        self.previous[name] = response.get("JobRuns", [])
        return self.previous[name]

    def _running_twin(self, name: str, history: list[dict], arguments: dict,
                      identity_argument: str) -> JobRun | None:
        for item in history:
            same = item.get("Arguments", {}).get(identity_argument) == arguments[identity_argument]
            if same and item.get("JobRunState") in RUNNING:
                self.say(f"{name}: an earlier attempt's run {item['Id']} is still {item['JobRunState']}; "
                         "waiting for it instead of starting another")
                return JobRun(name, item["Id"], arguments, self.region, item["JobRunState"], attached=True)
        return None

    def _start(self, name: str, arguments: dict) -> JobRun:
        def start():
            return self.aws.call("glue", "start_job_run", where={"table": name},
                                 JobName=name, Arguments=arguments)["JobRunId"]

        def on_retry(attempt, delay, err):
            self.say(f"{name}: start refused ({err.code or 'transient'}), try {attempt} of "
                     f"{START_ATTEMPTS}; trying again in {delay:.0f} s")

        # Retried: throttling, internal errors and ConcurrentRunsExceededException ("Too many jobs are
        # being run concurrently", glue model), which pass as other runs end. Not retried:
        # ResourceNumberLimitExceededException, documented only as "A resource numerical limit was
        # exceeded" (no quota that frees itself is named), so it fails at once like every Glue call.
        run_id = retry_transient(start, attempts=START_ATTEMPTS, first=15.0, cap=120.0,
                                 sleep=self.sleep, on_retry=on_retry)
        self.say(f"{name}: started run {run_id}")
        return JobRun(name, run_id, arguments, self.region)

    def _schedule(self, run: JobRun, typical_s: float | None) -> None:
        """Poll times from the job's history (see glue_runs.poll_offsets), counted from now."""
        run.typical_s, start = typical_s, self.waited_s
        offsets = poll_offsets(typical_s)
        run.polls = (start + offset for offset in offsets)
        run.next_poll = next(run.polls)
        if typical_s:
            self.say(f"{run.job_name}: earlier runs took {typical_s / 60:.0f} min (median); "
                     "checking at the start, then near that time")

    def _wait(self, runs: list[JobRun]) -> None:
        shown = GlueProgress(self.previous)
        while True:
            now = self.waited_s
            for run in runs:
                if run.state in RUNNING and run.next_poll <= now:
                    self._refresh(run)
                    run.next_poll = next(run.polls)
            shown.update(runs)
            going = [r for r in runs if r.state in RUNNING]
            if not going:
                return
            delay = max(0.0, min(r.next_poll for r in going) - self.waited_s)
            self.sleep(delay)
            self.waited_s += delay

    def _refresh(self, run: JobRun) -> None:
        def get():
            return self.aws.call("glue", "get_job_run", where={"table": run.job_name},
                                 JobName=run.job_name, RunId=run.run_id)["JobRun"]

        item = retry_transient(get, attempts=5, first=5.0, cap=60.0, sleep=self.sleep)
        previous, run.state = run.state, item["JobRunState"]
        run.error_message = item.get("ErrorMessage", "")
        run.execution_time_s = item.get("ExecutionTime", 0)
        if run.state != previous:
            self.say(f"{run.job_name}: run {run.run_id} {run.state}")
        if run.state not in RUNNING and previous in RUNNING:
            run.dpu_seconds, how = dpu_seconds(item)
            USAGE.glue_run(run.job_name, run.run_id, run.dpu_seconds, how)

    def _stop(self, runs: list[JobRun]) -> str:
        """Stop what we started; the sentence says what happened (it becomes the error)."""
        if not runs:
            return "interrupted; no Glue job run was still going"
        lines, still = [], []
        for run in runs:
            try:
                response = self.aws.call("glue", "batch_stop_job_run", JobName=run.job_name,
                                         JobRunIds=[run.run_id])
                errors = response.get("Errors", [])
            except AwsError as err:
                errors = [{"ErrorDetail": {"ErrorMessage": str(err)}}]
            if errors:
                still.append(run)
                lines.append(f"could not stop {run.job_name} run {run.run_id}: "
                             f"{errors[0].get('ErrorDetail', {}).get('ErrorMessage', '?')}")
            else:
                lines.append(f"stopping {run.job_name} run {run.run_id}")
        for run in still:
            lines.append(f"{run.job_name} run {run.run_id} is still running; stop it with: aws glue "
                         f"batch-stop-job-run --job-name {run.job_name} --job-run-ids {run.run_id} "
                         f"--region {run.region}")
        return "interrupted: " + "; ".join(lines)
