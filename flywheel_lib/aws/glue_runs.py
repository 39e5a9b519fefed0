"""What a Glue job run costs, and when to look at it, from the job's own history.

Cost: Glue bills DPU-seconds. A run reports `DPUSeconds` itself only with Auto
Scaling or the FLEX class (botocore glue model, JobRun.DPUSeconds); otherwise
it is `ExecutionTime` times the run's capacity: workers times the DPU of its
worker type (JobRun.WorkerType's documentation), or `MaxCapacity`.

Polling: the production split takes 15 to 60 minutes. Polling every minute
would cost 60 `GetJobRun` calls an hour; when the job has succeeded before,
we look right after the start (a run that cannot start fails in seconds),
once a minute later, then sleep until shortly before the typical duration
and back off from there, capped at a minute so the end is seen within one.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator

# DPU per worker, from botocore's glue model (JobRun.WorkerType documentation).
DPU_PER_WORKER = {"G.025X": 0.25, "G.1X": 1, "G.2X": 2, "G.4X": 4, "G.8X": 8, "G.12X": 12, "G.16X": 16,
                  "R.1X": 1, "R.2X": 2, "R.4X": 4, "R.8X": 8, "Z.2X": 2}
HISTORY_RUNS = 10          # the typical duration is the median of the last ten successful runs
EARLY_CHECK_S = 60.0       # the second look: most start-up failures show within a minute
LEAD_FRACTION = 0.1        # wake up this much of the typical duration before it ...
MAX_LEAD_S = 300.0         # ... but never more than five minutes before
POLL_FIRST_S, POLL_CAP_S = 15.0, 60.0


def dpu_seconds(job_run: dict) -> tuple[float, str]:
    """(DPU-seconds, how they were measured) of a finished run, from its GetJobRun item."""
    if job_run.get("DPUSeconds"):
        return float(job_run["DPUSeconds"]), "DPUSeconds"
    seconds = float(job_run.get("ExecutionTime") or 0)
    workers, worker_type = job_run.get("NumberOfWorkers"), job_run.get("WorkerType")
    if workers and worker_type in DPU_PER_WORKER:
        return seconds * workers * DPU_PER_WORKER[worker_type], f"ExecutionTime x {workers} {worker_type}"
    capacity = float(job_run.get("MaxCapacity") or 0)
    return seconds * capacity, f"ExecutionTime x MaxCapacity {capacity:g}"


def successful_times(job_runs: list[dict]) -> list[float]:
    """Execution times of the job's last successful runs (GetJobRuns items, newest first)."""
    return [r["ExecutionTime"] for r in job_runs
            if r.get("JobRunState") == "SUCCEEDED" and r.get("ExecutionTime")][:HISTORY_RUNS]


def typical_seconds(job_runs: list[dict]) -> float | None:
    """Median execution time of the job's last successful runs, or None."""
    done = successful_times(job_runs)
    return float(statistics.median(done)) if done else None


def poll_offsets(typical_s: float | None) -> Iterator[float]:
    """Seconds after the start at which to call GetJobRun, for ever."""
    yield 0.0
    if typical_s is None or typical_s <= 2 * EARLY_CHECK_S:
        at, delay = 0.0, 5.0  # no useful history: the plain capped backoff, 5 s doubling to 60 s
    else:
        yield EARLY_CHECK_S
        at, delay = max(EARLY_CHECK_S, typical_s - min(MAX_LEAD_S, LEAD_FRACTION * typical_s)), POLL_FIRST_S
        yield at
    while True:
        at += delay
        yield at
        delay = min(POLL_CAP_S, delay * 2)
