"""Glue waits informed by the job's history, and what a run costs, on a fake clock.

The clock is the sum of the waits the runner asked for; the fake job's state
follows that clock (RUNNING until its duration has passed), so the number of
GetJobRun calls and how late the end is seen are measured, not assumed.
"""

from __future__ import annotations

import pytest

from flywheel_lib.aws.glue_jobs import GlueJobs
from flywheel_lib.aws.glue_runs import dpu_seconds, poll_offsets, typical_seconds
from flywheel_lib.usage import USAGE

from .glue_fake import FakeAws, FakeGlue

JOB = "etl-omc-flywheel-dev-infobase-part"
ARGS = {"--TARGET_VERSION": "2026-10-31__r1", "--SNAPSHOT_DT": "2026-10-31"}


class TimedGlue(FakeGlue):
    """A run stays RUNNING until `duration_s` of the fake clock has passed, then SUCCEEDED."""

    def __init__(self, duration_s: float, history_s: list[float]):
        super().__init__()
        self.now = 0.0
        self.duration_s = duration_s
        self.seen_end_at = None
        for i, took in enumerate(history_s):  # earlier successful runs of the job, as GetJobRuns lists them
            self.runs[f"jr_old{i}"] = {"Id": f"jr_old{i}", "JobName": JOB, "Arguments": {},
                                       "JobRunState": "SUCCEEDED", "ExecutionTime": took, "_states": []}

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def get_job_run(self, JobName, RunId):
        run = self.runs[RunId]
        done = self.now >= self.duration_s
        run["_states"] = ["SUCCEEDED"] if done else ["RUNNING"]
        if done:
            run.update(ExecutionTime=int(self.duration_s), NumberOfWorkers=24, WorkerType="G.4X")
            self.seen_end_at = self.seen_end_at if self.seen_end_at is not None else self.now
        return super().get_job_run(JobName, RunId)


def wait_for(glue: TimedGlue) -> GlueJobs:
    jobs = GlueJobs(FakeAws(glue), "us-east-1", sleep=glue.sleep, say=lambda *_: None)
    jobs.run([(JOB, ARGS)], "--TARGET_VERSION")
    return jobs


def polls(glue: TimedGlue) -> int:
    return sum(1 for name, _ in glue.calls if name == "GetJobRun")


def test_an_hour_long_job_with_history_costs_at_most_15_polls_and_its_end_is_seen_within_a_minute():
    glue = TimedGlue(duration_s=3600, history_s=[3500, 3650, 3600, 3700])
    wait_for(glue)
    assert polls(glue) <= 15, polls(glue)
    assert glue.seen_end_at - 3600 <= 60


def test_a_job_that_ends_early_is_still_seen_early_enough():
    """History says an hour; this run fails to start properly after 30 s: seen at the one-minute look."""
    glue = TimedGlue(duration_s=30, history_s=[3600] * 3)
    wait_for(glue)
    assert glue.seen_end_at <= 60


def test_without_history_the_wait_is_todays_capped_backoff():
    glue = TimedGlue(duration_s=3600, history_s=[])
    wait_for(glue)
    assert 60 <= polls(glue) <= 70  # about one a minute: what history saves
    assert glue.seen_end_at - 3600 <= 60


def test_history_is_the_median_of_successful_runs_only():
    runs = [{"JobRunState": "FAILED", "ExecutionTime": 10},
            {"JobRunState": "SUCCEEDED", "ExecutionTime": 1000},
            {"JobRunState": "SUCCEEDED", "ExecutionTime": 3000},
            {"JobRunState": "SUCCEEDED", "ExecutionTime": 2000}]
    assert typical_seconds(runs) == 2000
    assert typical_seconds([{"JobRunState": "RUNNING"}]) is None


def test_poll_offsets_with_history_look_at_the_start_after_a_minute_then_near_the_typical_end():
    offsets = poll_offsets(3600)
    assert [next(offsets) for _ in range(4)] == [0, 60, 3300, 3315]


@pytest.mark.parametrize("run, expected", [
    ({"DPUSeconds": 1234.5, "ExecutionTime": 100, "NumberOfWorkers": 24, "WorkerType": "G.4X"}, 1234.5),
    ({"ExecutionTime": 100, "NumberOfWorkers": 24, "WorkerType": "G.4X"}, 100 * 24 * 4),
    ({"ExecutionTime": 100, "NumberOfWorkers": 2, "WorkerType": "G.1X"}, 200),
    ({"ExecutionTime": 100, "MaxCapacity": 10.0}, 1000),
])
def test_dpu_seconds_come_from_the_run_or_its_time_times_capacity(run, expected):
    assert dpu_seconds(run)[0] == expected


def test_a_finished_run_adds_its_dpu_seconds_to_the_stage_usage():
    before = len(USAGE.glue)
    glue = TimedGlue(duration_s=600, history_s=[])
    jobs = wait_for(glue)
    assert jobs.runs[0].dpu_seconds == 600 * 24 * 4
    assert USAGE.glue[before:] == [{"job": JOB, "run_id": jobs.runs[0].run_id, "dpu_seconds": 57600.0,
                                    "measured_by": "ExecutionTime x 24 G.4X"}]
