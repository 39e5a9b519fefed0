"""A stateful fake of the Glue job-run API, for what moto does not model.

moto's job runs always succeed and it has no BatchStopJobRun, so the split's
failure handling is tested against this: the real operation names, job-name
and run-ID rules, error codes, and runs that move through states as they are
polled. Errors are botocore ClientErrors, so they pass through the package's
real error boundary.

`install_update_job` adds UpdateJob to moto's Glue (moto 5.2 has none), as
the API reference describes it: the definition is replaced, not patched.
"""

from __future__ import annotations

import itertools
import re

from botocore.exceptions import ClientError
from moto.core.responses import ActionResult
from moto.glue.exceptions import InvalidInputException
from moto.glue.responses import GlueResponse

from flywheel_lib.aws.errors import aws_errors

import aws_call_log

_JOB_NAME = re.compile(r"[\u0020-\uD7FF\uE000-\uFFFD\t]{1,255}")
# StartJobRun's error shapes and their documentation strings (glue model)
_START_REFUSALS = {"ConcurrentRunsExceededException": "Too many jobs are being run concurrently",
                   "ResourceNumberLimitExceededException": "A resource numerical limit was exceeded"}


def client_error(code: str, message: str, operation: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "req-fake"}}, operation)


class FakeGlue:
    """Jobs by name; each start makes a run that follows `script[name]` (states seen per poll)."""

    def __init__(self, jobs=("etl-omc-flywheel-dev-addr-part", "etl-omc-flywheel-dev-infobase-part")):
        self.jobs = set(jobs)
        self.script: dict[str, list[str]] = {}     # job -> states returned by successive polls
        self.errors: dict[str, str] = {}           # job -> ErrorMessage of a failed run
        self.refuse_start: dict[str, list[str]] = {}  # job -> error codes for the next starts
        self.runs: dict[str, dict] = {}
        self.calls: list[tuple[str, dict]] = []
        self.stop_fails = False
        self._ids = itertools.count(1)

    def _job(self, name: str, operation: str) -> None:
        if not _JOB_NAME.fullmatch(name or ""):
            raise client_error("InvalidInputException", f"JobName {name!r} is not valid", operation)
        if name not in self.jobs:
            raise client_error("EntityNotFoundException", f"Job {name} not found", operation)

    def start_job_run(self, JobName, Arguments=None):
        self.calls.append(("StartJobRun", {"JobName": JobName, "Arguments": Arguments}))
        self._job(JobName, "StartJobRun")
        refusals = self.refuse_start.get(JobName, [])
        if refusals:
            code = refusals.pop(0)
            raise client_error(code, _START_REFUSALS.get(code, code) + " for " + JobName, "StartJobRun")
        run_id = f"jr_{next(self._ids):064x}"
        states = list(self.script.get(JobName, ["RUNNING", "SUCCEEDED"]))
        self.runs[run_id] = {"Id": run_id, "JobName": JobName, "Arguments": Arguments or {},
                             "JobRunState": "STARTING", "_states": states}
        return {"JobRunId": run_id}

    def get_job_run(self, JobName, RunId):
        self.calls.append(("GetJobRun", {"JobName": JobName, "RunId": RunId}))
        self._job(JobName, "GetJobRun")
        run = self.runs.get(RunId)
        if run is None or run["JobName"] != JobName:
            raise client_error("EntityNotFoundException", f"Job run {RunId} not found", "GetJobRun")
        if run["_states"]:
            run["JobRunState"] = run["_states"].pop(0)
        item = {k: v for k, v in run.items() if not k.startswith("_")}
        if run["JobRunState"] in ("FAILED", "ERROR", "TIMEOUT") and JobName in self.errors:
            item["ErrorMessage"] = self.errors[JobName]
        return {"JobRun": item}

    def get_job_runs(self, JobName, MaxResults=25):
        self.calls.append(("GetJobRuns", {"JobName": JobName}))
        self._job(JobName, "GetJobRuns")
        runs = [{k: v for k, v in r.items() if not k.startswith("_")} for r in self.runs.values()
                if r["JobName"] == JobName]
        return {"JobRuns": list(reversed(runs))[:MaxResults]}

    def batch_stop_job_run(self, JobName, JobRunIds):
        self.calls.append(("BatchStopJobRun", {"JobName": JobName, "JobRunIds": JobRunIds}))
        self._job(JobName, "BatchStopJobRun")
        if self.stop_fails:
            return {"SuccessfulSubmissions": [], "Errors": [
                {"JobName": JobName, "JobRunId": i, "ErrorDetail": {"ErrorCode": "InternalServiceException",
                                                                    "ErrorMessage": "try again"}}
                for i in JobRunIds]}
        for run_id in JobRunIds:
            self.runs[run_id].update(JobRunState="STOPPING", _states=["STOPPED"])
        return {"SuccessfulSubmissions": [{"JobName": JobName, "JobRunId": i} for i in JobRunIds], "Errors": []}


class FakeAws:
    """Stands in for AwsClients: `call('glue', ...)` reaches the fake through the real error boundary."""

    def __init__(self, glue: FakeGlue):
        self.glue = glue

    def call(self, service, method, /, where=None, **params):
        assert service == "glue"
        aws_call_log.record(service, "".join(w.capitalize() for w in method.split("_")))
        with aws_errors(service, method, **(where or {})):
            return getattr(self.glue, method)(**params)

    def mutating_calls(self) -> list[str]:
        return [name for name, _ in self.glue.calls if not name.startswith("Get")]


# JobUpdate member -> (moto FakeJob attribute, what a member left out becomes: moto's CreateJob default)
_JOB_UPDATE = {
    "Description": ("description", None), "LogUri": ("log_uri", None), "Role": ("role", None),
    "ExecutionProperty": ("execution_property", {}), "Command": ("command", None),
    "DefaultArguments": ("default_arguments", {}), "NonOverridableArguments": ("non_overridable_arguments", None),
    "Connections": ("connections", None), "MaxRetries": ("max_retries", None),
    "AllocatedCapacity": ("allocated_capacity", None), "Timeout": ("timeout", None),
    "MaxCapacity": ("max_capacity", None), "WorkerType": ("worker_type", None),
    "NumberOfWorkers": ("number_of_workers", None), "SecurityConfiguration": ("security_configuration", None),
    "NotificationProperty": ("notification_property", None), "GlueVersion": ("glue_version", None),
    "CodeGenConfigurationNodes": ("code_gen_configuration_nodes", None),
    "ExecutionClass": ("execution_class", "STANDARD"), "SourceControlDetails": ("source_control_details", None),
}


def install_update_job(monkeypatch) -> list[dict]:
    """moto's Glue answers UpdateJob like Glue; returns the list every JobUpdate received is appended to."""
    received: list[dict] = []

    def update_job(response):
        name, update = response._get_param("JobName"), response._get_param("JobUpdate")
        job = response.glue_backend.get_job(name)  # EntityNotFoundException, as Glue
        unmodelled = set(update) - set(_JOB_UPDATE)
        assert not unmodelled, f"the fake's UpdateJob does not model {unmodelled}"
        # glue model, JobUpdate.MaxCapacity: "Do not set MaxCapacity if using WorkerType and NumberOfWorkers."
        if update.get("MaxCapacity") is not None and (update.get("WorkerType") or update.get("NumberOfWorkers")):
            raise InvalidInputException("UpdateJob", "MaxCapacity cannot be set with WorkerType/NumberOfWorkers")
        received.append(update)
        # glue model, UpdateJob: "The previous job definition is completely overwritten by this information";
        # JobUpdate: "Unspecified configuration is removed or reset to default values."
        for member, (attribute, default) in _JOB_UPDATE.items():
            setattr(job, attribute, update.get(member, default))
        return ActionResult({"JobName": name})

    monkeypatch.setattr(GlueResponse, "update_job", update_job, raising=False)
    return received
