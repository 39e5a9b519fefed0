"""Glue job runs: parallel start, capped backoff, every terminal state, retry budget, Ctrl-C."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from botocore.stub import Stubber

from flywheel_lib.aws.errors import AwsNotFound, AwsQuotaExceeded, AwsTransientError
from flywheel_lib.aws.glue_jobs import GlueJobFailed, GlueJobs, job_name, logs_url
from flywheel_lib.errors import SplitError

from .glue_fake import FakeAws, FakeGlue

ADDR, INFO = "etl-omc-flywheel-dev-addr-part", "etl-omc-flywheel-dev-infobase-part"
ARGS = {"--TARGET_VERSION": "2026-10-31__r1", "--SNAPSHOT_DT": "2026-10-31"}


@pytest.fixture
def glue():
    return FakeGlue()


def runner(glue, sleep=None):
    waits = []
    jobs = GlueJobs(FakeAws(glue), "us-east-1", sleep=sleep or waits.append, say=lambda *_: None)
    return jobs, waits


def test_job_names_follow_the_domain_pattern():
    assert job_name("dev", "addr_part") == ADDR
    assert job_name("prod", "infobase_part") == "etl-omc-flywheel-prod-infobase-part"


def test_both_jobs_start_before_either_is_polled_and_polls_back_off_to_a_cap(glue):
    glue.script[ADDR] = ["RUNNING"] * 9 + ["SUCCEEDED"]
    glue.script[INFO] = ["RUNNING", "SUCCEEDED"]
    jobs, waits = runner(glue)
    runs = jobs.run([(ADDR, ARGS), (INFO, dict(ARGS))], "--TARGET_VERSION")
    assert [r.state for r in runs] == ["SUCCEEDED", "SUCCEEDED"]
    names = [n for n, _ in glue.calls if n != "GetJobRuns"]
    assert names[:2] == ["StartJobRun", "StartJobRun"]
    assert waits == [5, 10, 20, 40, 60, 60, 60, 60, 60]  # not a fixed 30 s
    assert names.count("GetJobRun") == 10 + 2


@pytest.mark.parametrize("state", ["FAILED", "ERROR", "TIMEOUT", "STOPPED", "EXPIRED"])
def test_every_terminal_state_other_than_succeeded_fails_with_message_run_id_and_logs(glue, state):
    glue.script[INFO] = ["RUNNING", state]
    glue.errors[INFO] = "AnalysisException: Column 'IBE9999' does not exist"
    jobs, _ = runner(glue)
    with pytest.raises(GlueJobFailed) as caught:
        jobs.run([(ADDR, ARGS), (INFO, ARGS)], "--TARGET_VERSION")
    run = next(r for r in caught.value.runs if r.job_name == INFO)
    text = str(caught.value)
    assert f"ended {state}" in text and run.run_id in text and ADDR not in text
    assert "logs: https://us-east-1.console.aws.amazon.com/cloudwatch/" in text
    if state in ("FAILED", "ERROR", "TIMEOUT"):
        assert "IBE9999" in text


def test_the_logs_link_is_the_glue_5_log_group_filtered_on_the_run_id():
    # Glue 5.0: /aws-glue/jobs/error and /output, streams named <run id>-driver, <run id>-<executor>
    url = logs_url("us-east-1", "jr_abc")
    assert url.endswith("#logsV2:log-groups/log-group/$252Faws-glue$252Fjobs$252Ferror$3FlogStreamNameFilter$3Djr_abc")
    assert "$252Faws-glue$252Fjobs$252Foutput$3F" in logs_url("us-east-1", "jr_abc", "output")


def test_a_refused_start_is_retried_on_a_bounded_budget(glue):
    glue.refuse_start[ADDR] = ["ConcurrentRunsExceededException", "ThrottlingException"]
    jobs, waits = runner(glue)
    assert jobs.run([(ADDR, ARGS)], "--TARGET_VERSION")[0].state == "SUCCEEDED"
    assert waits[:2] == [15, 30]


def test_a_used_up_resource_limit_on_start_fails_at_once(glue):
    glue.refuse_start[ADDR] = ["ResourceNumberLimitExceededException", "ResourceNumberLimitExceededException"]
    jobs, waits = runner(glue)
    with pytest.raises(AwsQuotaExceeded, match="ResourceNumberLimitExceededException: A resource numerical limit"):
        jobs.run([(ADDR, ARGS)], "--TARGET_VERSION")
    assert waits == [] and [n for n, _ in glue.calls].count("StartJobRun") == 1


def test_a_start_refused_past_the_budget_fails_the_stage(glue):
    glue.refuse_start[ADDR] = ["ConcurrentRunsExceededException"] * 10
    jobs, waits = runner(glue)
    with pytest.raises(AwsTransientError, match="ConcurrentRunsExceeded"):
        jobs.run([(ADDR, ARGS)], "--TARGET_VERSION")
    assert [n for n, _ in glue.calls].count("StartJobRun") == 6
    assert max(waits) == 120


def test_a_real_error_on_start_fails_at_once(glue):
    jobs, waits = runner(glue)
    with pytest.raises(AwsNotFound, match="etl-omc-flywheel-dev-nope"):
        jobs.run([("etl-omc-flywheel-dev-nope", ARGS)], "--TARGET_VERSION")
    assert waits == []


def test_ctrl_c_stops_the_runs_it_started(glue):
    glue.script[ADDR] = ["RUNNING"] * 50

    def interrupt(_):
        raise KeyboardInterrupt

    jobs, _ = runner(glue, sleep=interrupt)
    with pytest.raises(KeyboardInterrupt, match="stopping etl-omc-flywheel-dev-addr-part run jr_"):
        jobs.run([(ADDR, ARGS)], "--TARGET_VERSION")
    assert [n for n, _ in glue.calls][-1] == "BatchStopJobRun"


def test_ctrl_c_says_how_to_stop_a_run_that_would_not_stop(glue):
    glue.script[ADDR] = ["RUNNING"] * 50
    glue.stop_fails = True

    def interrupt(_):
        raise KeyboardInterrupt

    jobs, _ = runner(glue, sleep=interrupt)
    with pytest.raises(KeyboardInterrupt) as caught:
        jobs.run([(ADDR, ARGS)], "--TARGET_VERSION")
    assert "still running; stop it with: aws glue batch-stop-job-run --job-name " + ADDR in str(caught.value)


def test_a_run_still_going_from_an_interrupted_attempt_is_waited_for_not_doubled(glue):
    glue.script[ADDR] = ["RUNNING"] * 3
    first, _ = runner(glue, sleep=lambda _: (_ for _ in ()).throw(KeyboardInterrupt))
    glue.stop_fails = True
    with pytest.raises(KeyboardInterrupt):
        first.run([(ADDR, ARGS)], "--TARGET_VERSION")
    glue.runs[next(iter(glue.runs))]["_states"] = ["RUNNING", "SUCCEEDED"]
    again, _ = runner(glue)
    runs = again.run([(ADDR, ARGS)], "--TARGET_VERSION")
    assert runs[0].attached and runs[0].state == "SUCCEEDED"
    assert [n for n, _ in glue.calls].count("StartJobRun") == 1


# --- the job script's S3 folder delete (glue_jobs/split_job.py; no Spark needed) ------------------

def split_job_module():
    spec = importlib.util.spec_from_file_location(
        "split_job", Path(__file__).resolve().parents[2] / "glue_jobs" / "split_job.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_job_deletes_a_scratch_folder_on_s3(aws):
    aws.call("s3", "create_bucket", Bucket="scratch-bucket")
    for key in ("t/.tmp-empty-v/part-0.parquet", "t/.tmp-empty-v/_SUCCESS", "t/keep.parquet"):
        aws.call("s3", "put_object", Bucket="scratch-bucket", Key=key, Body=b"x")
    split_job_module()._S3().delete_folder("s3://scratch-bucket/t/.tmp-empty-v")
    listed = aws.call("s3", "list_objects_v2", Bucket="scratch-bucket")["Contents"]
    assert [o["Key"] for o in listed] == ["t/keep.parquet"]


def test_objects_s3_did_not_delete_fail_the_job_naming_them(aws):
    store = split_job_module()._S3()
    keys = ["t/.tmp-empty-v/part-0.parquet", "t/.tmp-empty-v/_SUCCESS"]
    with Stubber(store.client) as stub:
        stub.add_response("list_objects_v2", {"Contents": [{"Key": k, "Size": 1} for k in keys]},
                          {"Bucket": "b", "Prefix": "t/.tmp-empty-v/"})
        # s3 model, DeleteObjectsOutput.Errors: what could not be deleted, in a successful response
        stub.add_response("delete_objects", {"Errors": [{"Key": keys[0], "Code": "AccessDenied",
                                                        "Message": "Access Denied"}]})
        with pytest.raises(SplitError, match=r"S3 did not delete 1 of 2 objects: t/.tmp-empty-v/part-0.parquet "
                                             r"\(AccessDenied: Access Denied\)"):
            store.delete_folder("s3://b/t/.tmp-empty-v")
