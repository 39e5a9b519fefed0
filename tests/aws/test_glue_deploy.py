"""Deploying the split jobs against moto: planned, applied, idempotent, updated when the shape changes."""

from __future__ import annotations

import pytest

from flywheel_lib.aws.errors import AwsInvalidRequest
from flywheel_lib.aws.glue_deploy import JobShape, plan_deploy
from flywheel_lib.changes import PacedApi, apply

from .glue_fake import install_update_job

ASSETS = "s3://aws-glue-assets-123456789012-us-east-1"
ROLE = "arn:aws:iam::123456789012:role/omc-flywheel-glue-job"
FILES = {"split_job.py": b"print('split')\n", "flywheel_glue_modules.zip": b"PK zip bytes"}


@pytest.fixture(autouse=True)
def update_job(monkeypatch):
    """moto has no UpdateJob: the fake's replaces the whole definition, as Glue does."""
    return install_update_job(monkeypatch)


def test_deploy_uploads_by_content_creates_both_jobs_and_is_idempotent(aws, settings):
    aws.call("s3", "create_bucket", Bucket="aws-glue-assets-123456789012-us-east-1")
    api = PacedApi(aws, sleep=lambda _: None)
    changes = plan_deploy(api, settings, ASSETS, ROLE, files=FILES)
    assert [(c.action, c.kind) for c in changes] == [("create", "job file")] * 2 + [("create", "Glue job")] * 2
    apply(api, changes)
    job = aws.call("glue", "get_job", JobName="etl-omc-flywheel-dev-infobase-part")["Job"]
    assert job["GlueVersion"] == "5.0" and job["WorkerType"] == "G.4X" and job["NumberOfWorkers"] == 24
    assert job["DefaultArguments"]["--DATASET"] == "infobase_attributes"
    assert "--enable-continuous-cloudwatch-log" not in job["DefaultArguments"]  # Glue 5.0 always logs
    script = job["Command"]["ScriptLocation"]
    assert script.startswith(f"{ASSETS}/flywheel/") and script.endswith("/split_job.py")
    body = aws.call("s3", "get_object", Bucket="aws-glue-assets-123456789012-us-east-1",
                    Key=script.split("/", 3)[3])["Body"].read()
    assert body == FILES["split_job.py"]

    api.calls.clear()
    again = plan_deploy(api, settings, ASSETS, ROLE, files=FILES)
    assert {c.action for c in again} == {"unchanged"}
    apply(api, again)
    assert [m for _, m in api.calls if not m.startswith(("get_", "head_"))] == []

    bigger = plan_deploy(api, settings, ASSETS, ROLE, JobShape(workers=40), files=FILES)
    assert [c.action for c in bigger] == ["unchanged", "unchanged", "update", "update"]
    assert bigger[2].reason.startswith("~ NumberOfWorkers: 24 -> 40")
    apply(api, bigger)
    assert aws.call("glue", "get_job", JobName="etl-omc-flywheel-dev-addr-part")["Job"]["NumberOfWorkers"] == 40


def test_new_code_goes_to_a_new_folder_and_the_jobs_follow(aws, settings):
    aws.call("s3", "create_bucket", Bucket="aws-glue-assets-123456789012-us-east-1")
    api = PacedApi(aws, sleep=lambda _: None)
    apply(api, plan_deploy(api, settings, ASSETS, ROLE, files=FILES))
    changed = dict(FILES, **{"split_job.py": b"print('split v2')\n"})
    changes = plan_deploy(api, settings, ASSETS, ROLE, files=changed)
    assert [c.action for c in changes] == ["create", "create", "update", "update"]
    assert "Command" in changes[2].reason and "DefaultArguments" in changes[2].reason


def _deploy(aws, settings, **shape):
    aws.call("s3", "create_bucket", Bucket="aws-glue-assets-123456789012-us-east-1")
    api = PacedApi(aws, sleep=lambda _: None)
    return api, plan_deploy(api, settings, ASSETS, ROLE, JobShape(**shape), files=FILES)


def test_the_fake_update_job_replaces_the_whole_definition(aws):
    aws.call("glue", "create_job", Name="j", Role=ROLE, Command={"Name": "glueetl", "ScriptLocation": "s3://b/k"},
             SecurityConfiguration="kms-at-rest", DefaultArguments={"--TempDir": "s3://b/tmp/"})
    aws.call("glue", "update_job", JobName="j", JobUpdate={"Role": ROLE, "Command": {"Name": "glueetl",
                                                                                     "ScriptLocation": "s3://b/v2"}})
    job = aws.call("glue", "get_job", JobName="j")["Job"]
    assert "SecurityConfiguration" not in job and job["DefaultArguments"] == {}


def test_an_update_keeps_every_setting_we_do_not_manage_and_names_what_changes(aws, settings):
    theirs = {"SecurityConfiguration": "kms-at-rest", "Connections": {"Connections": ["vpc-link"]},
              "Description": "split job", "NotificationProperty": {"NotifyDelayAfter": 10}}
    arguments = {"--TempDir": "s3://b/tmp/", "--enable-metrics": "true", "--DATASET": "addressable_ids",
                 "--enable-continuous-cloudwatch-log": "true"}
    aws.call("glue", "create_job", Name="etl-omc-flywheel-dev-addr-part", Role=ROLE, GlueVersion="4.0",
             Command={"Name": "glueetl", "ScriptLocation": "s3://old/split_job.py", "PythonVersion": "3"},
             WorkerType="G.1X", NumberOfWorkers=2, DefaultArguments=arguments, **theirs)
    api, changes = _deploy(aws, settings)
    [update] = [c for c in changes if c.name == "etl-omc-flywheel-dev-addr-part"]
    assert update.action == "update"
    for line in ("~ GlueVersion: '4.0' -> '5.0'", "~ NumberOfWorkers: 2 -> 24", "~ WorkerType: 'G.1X' -> 'G.4X'",
                 "- DefaultArguments.--enable-continuous-cloudwatch-log (was 'true'): Glue 5.0 always logs",
                 "+ DefaultArguments.--extra-py-files = 's3://aws-glue-assets"):
        assert line in update.reason
    assert "keeps Connections, DefaultArguments.--TempDir, DefaultArguments.--enable-metrics" in update.reason
    apply(api, changes)
    job = aws.call("glue", "get_job", JobName="etl-omc-flywheel-dev-addr-part")["Job"]
    assert {k: job.get(k) for k in theirs} == theirs
    assert job["DefaultArguments"]["--TempDir"] == "s3://b/tmp/" and job["DefaultArguments"]["--enable-metrics"] == "true"
    assert "--enable-continuous-cloudwatch-log" not in job["DefaultArguments"]
    assert (job["WorkerType"], job["NumberOfWorkers"], job["GlueVersion"]) == ("G.4X", 24, "5.0")
    assert {c.action for c in plan_deploy(api, settings, ASSETS, ROLE, files=FILES)} == {"unchanged"}


def test_a_job_sized_by_capacity_moves_to_workers_without_sending_max_capacity(aws, settings, update_job):
    aws.call("glue", "create_job", Name="etl-omc-flywheel-dev-infobase-part", Role=ROLE, MaxCapacity=10.0,
             GlueVersion="1.0", Command={"Name": "glueetl", "ScriptLocation": "s3://old/split_job.py"})
    api, changes = _deploy(aws, settings)
    [update] = [c for c in changes if c.name == "etl-omc-flywheel-dev-infobase-part"]
    assert "- MaxCapacity (was 10.0): sized by WorkerType and NumberOfWorkers now" in update.reason
    apply(api, changes)
    assert "MaxCapacity" not in update_job[-1]
    with pytest.raises(AwsInvalidRequest, match="MaxCapacity"):  # the rule the fake follows
        aws.call("glue", "update_job", JobName="etl-omc-flywheel-dev-infobase-part",
                 JobUpdate={**update_job[-1], "MaxCapacity": 10.0})
