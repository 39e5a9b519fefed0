"""Deploy the split jobs: the script and its modules to S3, the two Glue job definitions.

Planned like the Clean Rooms operations (flywheel_lib/changes.py): each
artifact and job is create / update / unchanged with the reason, and nothing
changes without apply. Artifacts go under a folder named by their content
digest, so a job already running keeps reading the files it started with,
and deploying the same code twice uploads nothing.

UpdateJob replaces the whole job definition ("The previous job definition is
completely overwritten", botocore glue model; JobUpdate: "Unspecified
configuration is removed or reset to default values"). So an update starts
from GetJob's job, keeps every setting we do not manage (security
configuration, connections, --TempDir, metrics arguments...), lays ours over
it, and the plan names every setting that changes or goes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..api_rules import service_model
from ..changes import Change, PacedApi, PlannedOperation, Step
from ..config import PROJECT_ROOT, load_settings
from .errors import AwsNotFound
from .glue_jobs import job_name
from .s3 import split_url
from .session import AwsClients

JOBS_DIR = PROJECT_ROOT / "glue_jobs"
SCRIPT = "split_job.py"
MODULES_ZIP = "flywheel_glue_modules.zip"
DATASETS = {"addr_part": "addressable_ids", "infobase_part": "infobase_attributes"}
# Arguments an earlier deploy set that we now take away, with why (shown in the plan).
RETIRED_ARGUMENTS = {"--enable-continuous-cloudwatch-log": "Glue 5.0 always logs to /aws-glue/jobs/output and "
                                                            "/aws-glue/jobs/error (Glue guide, 'Logging for AWS Glue jobs')"}
# glue model, JobUpdate.MaxCapacity: "Do not set MaxCapacity if using WorkerType and NumberOfWorkers";
# AllocatedCapacity: "deprecated. Use MaxCapacity instead". Glue derives both from the workers.
DERIVED_CAPACITY = ("MaxCapacity", "AllocatedCapacity")


@dataclass(frozen=True)
class JobShape:
    """What each split job runs on: the production split is 24 G.4X workers for 15 to 60 minutes."""

    worker_type: str = "G.4X"
    workers: int = 24
    timeout_minutes: int = 180
    glue_version: str = "5.0"


def artifacts() -> dict[str, bytes]:
    """The job script and the zip of the flywheel_lib modules it imports, as bytes."""
    spec = importlib.util.spec_from_file_location("build_modules", JOBS_DIR / "build_modules.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    with tempfile.TemporaryDirectory() as tmp:
        archive = builder.build_zip(Path(tmp) / MODULES_ZIP)
        return {SCRIPT: (JOBS_DIR / SCRIPT).read_bytes(), MODULES_ZIP: archive.read_bytes()}


def job_definition(env: str, stage: str, role_arn: str, urls: dict[str, str], shape: JobShape) -> dict:
    return {
        "Role": role_arn,
        "Command": {"Name": "glueetl", "ScriptLocation": urls[SCRIPT], "PythonVersion": "3"},
        "DefaultArguments": {"--extra-py-files": urls[MODULES_ZIP], "--job-language": "python",
                             "--DATASET": DATASETS[stage]},
        "ExecutionProperty": {"MaxConcurrentRuns": 1},  # one run per job: a twin would write the same target
        "GlueVersion": shape.glue_version, "WorkerType": shape.worker_type,
        "NumberOfWorkers": shape.workers, "Timeout": shape.timeout_minutes, "MaxRetries": 0,
    }


def plan_deploy(api, settings, assets_root: str, role_arn: str, shape: JobShape = JobShape(),
                files: dict[str, bytes] | None = None) -> list[Change]:
    """`api`: a changes.PacedApi over AwsClients, or None to plan without reading AWS (all to create)."""
    files = files or artifacts()
    digest = hashlib.sha256(b"".join(files[n] for n in sorted(files))).hexdigest()[:16]
    urls = {name: f"{assets_root.rstrip('/')}/flywheel/{digest}/{name}" for name in files}
    changes = [_artifact_change(api, urls[name], body) for name, body in sorted(files.items())]
    for stage in DATASETS:
        name = job_name(settings.env, stage)
        wanted = job_definition(settings.env, stage, role_arn, urls, shape)
        current = _job(api, name)
        if current is None:
            changes.append(Change("create", "Glue job", name, f"{shape.workers} {shape.worker_type} workers, "
                                  f"{shape.timeout_minutes} min, code {digest}",
                                  [Step("glue", "CreateJob", {"Name": name, **wanted})]))
            continue
        changes.append(_update_change(name, current, wanted, digest))
    return changes


def _update_change(name: str, current: dict, wanted: dict, digest: str) -> Change:
    update = job_update(current, wanted)
    lines = setting_changes(current, update)
    if not lines:
        return Change("unchanged", "Glue job", name, f"code {digest}, as wanted")
    if "ProfileName" in current:  # Job has it, JobUpdate does not; the API reference does not say if it stays
        lines.append(f"? ProfileName {current['ProfileName']!r}: UpdateJob cannot send it and the API "
                     "reference does not say whether Glue keeps it; check it after applying")
    kept = {k if k.startswith("DefaultArguments.") else k.split(".")[0]
            for k in _flat(update).keys() - _flat(wanted).keys()}
    keeps = f"; keeps {', '.join(sorted(kept))}" if kept else ""
    return Change("update", "Glue job", name, "; ".join(lines) + keeps,
                  [Step("glue", "UpdateJob", {"JobName": name, "JobUpdate": update})])


def updatable_fields() -> frozenset[str]:
    """What UpdateJob can carry: the members of botocore's glue JobUpdate shape."""
    return frozenset(service_model("glue").shape_for("JobUpdate").members)


def job_update(current: dict, wanted: dict) -> dict:
    """The JobUpdate: GetJob's job minus what JobUpdate cannot carry, with our settings laid over it.

    Dict settings (Command, DefaultArguments, ExecutionProperty) are merged key
    by key, so arguments we do not set (--TempDir, metrics) stay; RETIRED_ARGUMENTS go.
    """
    fields = updatable_fields()
    update = {k: v for k, v in current.items() if k in fields and k not in DERIVED_CAPACITY}
    if "WorkerType" not in wanted:  # capacity only counts when we do not size the job by workers
        update.update({k: current[k] for k in DERIVED_CAPACITY if k in current})
    for key, value in wanted.items():
        both_dicts = isinstance(value, dict) and isinstance(update.get(key), dict)
        update[key] = {**update[key], **value} if both_dicts else value
    if "DefaultArguments" in update:
        update["DefaultArguments"] = {k: v for k, v in update["DefaultArguments"].items()
                                      if k not in RETIRED_ARGUMENTS}
    return update


def setting_changes(current: dict, update: dict) -> list[str]:
    """One line per setting UpdateJob would change (~), add (+) or remove (-), with the reason for removals."""
    before, after = _flat(current), _flat(update)
    skip = {k for k in current if k not in updatable_fields()}  # read-only: Name, CreatedOn...
    if "WorkerType" in current:
        skip.update(DERIVED_CAPACITY)  # Glue's own figures for the workers, not a setting
    lines = []
    for key in sorted(before.keys() | after.keys()):
        if key.split(".")[0] in skip or before.get(key) == after.get(key):
            continue
        if key not in after:
            why = RETIRED_ARGUMENTS.get(key.removeprefix("DefaultArguments."),
                                        "sized by WorkerType and NumberOfWorkers now" if key in DERIVED_CAPACITY
                                        else "not set by this deploy")
            lines.append(f"- {key} (was {_short(before[key])}): {why}")
        elif key not in before:
            lines.append(f"+ {key} = {_short(after[key])}")
        else:
            lines.append(f"~ {key}: {_short(before[key])} -> {_short(after[key])}")
    return lines


def _flat(job: dict) -> dict:
    """{'Command.ScriptLocation': ..., 'Timeout': ...}: dict settings one level deep, for comparing."""
    flat = {}
    for key, value in job.items():
        if isinstance(value, dict) and value:
            flat.update({f"{key}.{inner}": v for inner, v in value.items()})
        elif value not in (None, {}):
            flat[key] = value
    return flat


def _short(value, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _artifact_change(api, url: str, body: bytes) -> Change:
    bucket, key = split_url(url)
    if api is not None:
        try:
            api.call("s3", "head_object", Bucket=bucket, Key=key)
            return Change("unchanged", "job file", url, "already uploaded (the folder is named by its content)")
        except AwsNotFound:
            pass
    return Change("create", "job file", url, f"{len(body):,} bytes",
                  [Step("s3", "PutObject", {"Bucket": bucket, "Key": key, "Body": body})])


def _job(api, name: str) -> dict | None:
    if api is None:
        return None
    try:
        return api.call("glue", "get_job", JobName=name)["Job"]
    except AwsNotFound:
        return None


class Deployment(PlannedOperation):
    """The deploy_glue_jobs notebook's context: settings, AWS (None locally), the record."""

    records_folder = "glue"
    needs_aws = "deploying writes to S3 and Glue"

    def __init__(self, settings, api, account_id: str, op: str, run_id: str):
        self.settings, self.api, self.account_id, self.op, self.run_id = settings, api, account_id, op, run_id

    def default_assets_root(self) -> str:
        """Glue's own assets bucket in this account and region."""
        return f"s3://aws-glue-assets-{self.account_id}-{self.settings.region}"

    def default_role_arn(self, role_name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{role_name}"


def open_deployment(env: str = "", run_id: str = "") -> Deployment:
    settings = load_settings(env or None)
    if settings.is_local:
        return Deployment(settings, None, "000000000000", "deploy_glue_jobs", run_id or "interactive")
    aws = AwsClients(settings)
    return Deployment(settings, PacedApi(aws), aws.account_id(), "deploy_glue_jobs", run_id or "interactive")
