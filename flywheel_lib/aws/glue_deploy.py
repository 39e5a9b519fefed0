"""Deploy the split jobs: the script and its modules to S3, the two Glue job definitions.

Planned like the Clean Rooms operations (flywheel_lib/changes.py): each
artifact and job is create / update / unchanged with the reason, and nothing
changes without apply. Artifacts go under a folder named by their content
digest, so a job already running keeps reading the files it started with,
and deploying the same code twice uploads nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import tempfile
from dataclasses import dataclass
from pathlib import Path

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
                             "--DATASET": DATASETS[stage], "--enable-continuous-cloudwatch-log": "true"},
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
        differ = sorted(k for k, v in wanted.items() if current.get(k) != v)
        if differ:
            changes.append(Change("update", "Glue job", name, f"{', '.join(differ)} differ",
                                  [Step("glue", "UpdateJob", {"JobName": name, "JobUpdate": wanted})]))
        else:
            changes.append(Change("unchanged", "Glue job", name, f"code {digest}, as wanted"))
    return changes


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
