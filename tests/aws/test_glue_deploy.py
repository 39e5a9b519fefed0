"""Deploying the split jobs against moto: planned, applied, idempotent, updated when the shape changes."""

from __future__ import annotations

import pytest
from moto.core.responses import ActionResult
from moto.glue.responses import GlueResponse

from flywheel_lib.aws.glue_deploy import JobShape, plan_deploy
from flywheel_lib.changes import PacedApi, apply

ASSETS = "s3://aws-glue-assets-123456789012-us-east-1"
ROLE = "arn:aws:iam::123456789012:role/omc-flywheel-glue-job"
FILES = {"split_job.py": b"print('split')\n", "flywheel_glue_modules.zip": b"PK zip bytes"}
# JobUpdate field -> moto's FakeJob attribute (moto 5.2 has no UpdateJob: the test adds it)
_FIELDS = {"Role": "role", "Command": "command", "DefaultArguments": "default_arguments",
           "ExecutionProperty": "execution_property", "GlueVersion": "glue_version", "WorkerType": "worker_type",
           "NumberOfWorkers": "number_of_workers", "Timeout": "timeout", "MaxRetries": "max_retries"}


@pytest.fixture(autouse=True)
def update_job(monkeypatch):
    def handler(response):
        name, update = response._get_param("JobName"), response._get_param("JobUpdate")
        job = response.glue_backend.get_job(name)  # EntityNotFoundException as Glue would
        unknown = set(update) - set(_FIELDS)
        assert not unknown, f"the test's UpdateJob does not model {unknown}"
        for field, attribute in _FIELDS.items():
            setattr(job, attribute, update.get(field))  # UpdateJob replaces the whole definition
        return ActionResult({"JobName": name})

    monkeypatch.setattr(GlueResponse, "update_job", handler, raising=False)


def test_deploy_uploads_by_content_creates_both_jobs_and_is_idempotent(aws, settings):
    aws.call("s3", "create_bucket", Bucket="aws-glue-assets-123456789012-us-east-1")
    api = PacedApi(aws, sleep=lambda _: None)
    changes = plan_deploy(api, settings, ASSETS, ROLE, files=FILES)
    assert [(c.action, c.kind) for c in changes] == [("create", "job file")] * 2 + [("create", "Glue job")] * 2
    apply(api, changes)
    job = aws.call("glue", "get_job", JobName="etl-omc-flywheel-dev-infobase-part")["Job"]
    assert job["GlueVersion"] == "5.0" and job["WorkerType"] == "G.4X" and job["NumberOfWorkers"] == 24
    assert job["DefaultArguments"]["--DATASET"] == "infobase_attributes"
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
    assert bigger[2].reason == "NumberOfWorkers differ"
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
