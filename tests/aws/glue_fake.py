"""A stateful fake of the Glue job-run API, for what moto does not model.

moto's job runs always succeed and it has no BatchStopJobRun, so the split's
failure handling is tested against this: the real operation names, job-name
and run-ID rules, error codes, and runs that move through states as they are
polled. Errors are botocore ClientErrors, so they pass through the package's
real error boundary.
"""

from __future__ import annotations

import itertools
import re

from botocore.exceptions import ClientError

from flywheel_lib.aws.errors import aws_errors

_JOB_NAME = re.compile(r"[\u0020-\uD7FF\uE000-\uFFFD\t]{1,255}")


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
            raise client_error(refusals.pop(0), "Concurrent runs exceeded for " + JobName, "StartJobRun")
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
        with aws_errors(service, method, **(where or {})):
            return getattr(self.glue, method)(**params)

    def mutating_calls(self) -> list[str]:
        return [name for name, _ in self.glue.calls if not name.startswith("Get")]
