"""Settings: committed defaults per environment, overridden by environment variables.

`load_settings()` is the only entry point. It is called from `main()` or a
notebook's first cell, never at import. Every value is validated here, so a
wrong one fails at start with the setting's name and where it came from.
Credentials are not settings: AWS uses its default chain (a profile name is
the most that is kept here).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

ENVIRONMENTS = ("local", "dev", "prod")
ENV_VARIABLE = "FLYWHEEL_ENV"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Setting name -> environment variable that overrides it.
OVERRIDES = {
    "region": "AWS_REGION",
    "database_name": "DATABASE_NAME",
    "s3_root_addressable": "S3_ROOT_ADDRESSABLE",
    "s3_root_infobase": "S3_ROOT_INFOBASE",
    "role_name": "ROLE_NAME",
    "sns_topic_arn": "SNS_TOPIC_ARN",
    "data_root": "FLYWHEEL_DATA_ROOT",
    "runs_dir": "FLYWHEEL_RUNS_DIR",
    "mapping_path": "FLYWHEEL_MAPPING",
    "membership_id": "CLEAN_ROOMS_MEMBERSHIP_ID",
    "runner_role_arn": "FLYWHEEL_RUNNER_ROLE_ARN",
    "record_lock_mode": "FLYWHEEL_RECORD_LOCK_MODE",
    "record_lock_days": "FLYWHEEL_RECORD_LOCK_DAYS",
}

_PATTERNS = {
    "region": (r"[a-z]{2}(-[a-z]+)+-\d", "an AWS region such as us-east-1"),
    "database_name": (r"[a-z0-9_]{1,255}", "lower-case letters, digits and _ (Glue database name)"),
    "staging_database": (r"[a-z0-9_]{1,255}", "lower-case letters, digits and _ (Glue database name)"),
    # Clean Rooms' RoleArn pattern (botocore model): an optional path, then the name; no commas.
    "role_name": (r"([\w+=.@-]+/)*[\w+=.@-]{1,64}", "an IAM role name, with its path if any (path/name)"),
    "athena_workgroup": (r"[a-zA-Z0-9._-]{1,128}", "an Athena workgroup name"),
    "sns_topic_arn": (r"(arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256})?", "an SNS topic ARN"),
    "monitor_topic_arn": (r"(arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256})?", "an SNS topic ARN"),
    "aws_profile": (r"[\w.+=,@-]*", "an AWS profile name"),
    "membership_id": (r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?",
                      "a Clean Rooms membership ID (a lower-case UUID)"),
    "runner_role_arn": (r"(arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512})?",
                        "an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)"),
    # botocore s3 model, ObjectLockMode: GOVERNANCE | COMPLIANCE.
    "record_lock_mode": (r"GOVERNANCE|COMPLIANCE", "an S3 Object Lock mode, GOVERNANCE or COMPLIANCE"),
}
_WHOLE_NUMBERS = {"retention_months": 1, "record_lock_days": 1}  # setting -> its least value


@dataclass(frozen=True)
class Settings:
    """Everything a stage needs to know about where it runs. Holds no secret."""

    env: str
    region: str
    database_name: str
    staging_database: str  # where a run's tables wait for validation before they are published
    data_root: str
    s3_root_addressable: str
    s3_root_infobase: str
    analysis_root: str
    athena_workgroup: str
    role_name: str
    sns_topic_arn: str
    monitor_topic_arn: str
    aws_profile: str
    retention_months: int
    record_lock_mode: str  # run records' S3 copies in a bucket with Object Lock but no default rule
    record_lock_days: int  # locked this many days after the run's copy started
    membership_id: str  # our Clean Rooms membership, for the cr_rpt stage; empty: not reported
    runner_role_arn: str  # who runs the refresh, for grant_lake_formation; empty: the caller
    runs_dir: str
    mapping_path: str
    sources: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_local(self) -> bool:
        return self.env == "local"

    @property
    def catalog_path(self) -> Path:
        """The local catalog, a DuckDB file an analyst can open and query."""
        return Path(self.data_root) / "catalog.duckdb"

    def output_root(self, dataset: str) -> str:
        return self.s3_root_addressable if dataset == "addressable_ids" else self.s3_root_infobase

    def raw_root(self, dataset: str) -> str:
        return f"{self.data_root}/opus/{dataset}/raw_input"

    def public_dict(self) -> dict:
        """The settings as recorded in a run manifest (no secrets exist here)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "sources"}


def _read_defaults() -> dict:
    return tomllib.loads((Path(__file__).parent / "conf" / "environments.toml").read_text())


def load_settings(env: str | None = None, environ: dict | None = None) -> Settings:
    """Settings for `env` (or $FLYWHEEL_ENV, or "local"), with overrides applied.

    `environ` defaults to `os.environ`; tests pass their own.
    """
    environ = os.environ if environ is None else environ
    chosen = env or environ.get(ENV_VARIABLE) or "local"
    source = "--env" if env else (ENV_VARIABLE if environ.get(ENV_VARIABLE) else "default")
    if chosen not in ENVIRONMENTS:
        raise ConfigError(
            f"unknown environment {chosen!r} (from {source})",
            setting="env",
            hint=f"Use one of {', '.join(ENVIRONMENTS)}",
        )
    values = dict(_read_defaults()[chosen])
    sources = {k: f"environments.toml [{chosen}]" for k in values}
    values.setdefault("runs_dir", "")
    values.setdefault("mapping_path", "")
    values.setdefault("staging_database", "")
    values.setdefault("membership_id", "")
    values.setdefault("runner_role_arn", "")
    for name, variable in OVERRIDES.items():
        if environ.get(variable):
            values[name] = environ[variable]
            sources[name] = f"${variable}"

    if not values["staging_database"]:
        values["staging_database"] = f"{values['database_name']}_staging"
        sources["staging_database"] = f"{sources.get('database_name')} + _staging"
    if not values["data_root"]:
        values["data_root"] = str(PROJECT_ROOT / "data")
    if not values["runs_dir"]:
        values["runs_dir"] = str(PROJECT_ROOT / "runs")
    fill = {"env": chosen, "region": values["region"]}
    values["data_root"] = _fill(values["data_root"], fill, "data_root")
    fill["data_root"] = values["data_root"].rstrip("/")
    for name in ("s3_root_addressable", "s3_root_infobase", "analysis_root"):
        values[name] = _fill(values[name], fill, name).rstrip("/")
    if chosen == "local":
        for name in ("data_root", "s3_root_addressable", "s3_root_infobase", "analysis_root", "runs_dir"):
            _refuse_s3(name, values[name], sources)
            values[name] = str(Path(values[name]).expanduser().resolve())
    else:
        values["runs_dir"] = str(Path(values["runs_dir"]).expanduser().resolve())

    settings = Settings(env=chosen, sources=sources, **_coerce(values, sources))
    _validate(settings)
    return settings


def _fill(template: str, fill: dict, name: str) -> str:
    try:
        return template.format(**fill)
    except KeyError as err:
        raise ConfigError(f"unknown placeholder {{{err.args[0]}}} in {template!r}", setting=name) from err


def _coerce(values: dict, sources: dict) -> dict:
    for name in _WHOLE_NUMBERS:
        try:
            values[name] = int(values[name])
        except (TypeError, ValueError) as err:
            raise ConfigError(
                f"{name} must be a whole number, got {values[name]!r} (from {sources.get(name)})",
                setting=name,
            ) from err
    return values


def _validate(settings: Settings) -> None:
    for name, (pattern, meaning) in _PATTERNS.items():
        value = getattr(settings, name)
        if not re.fullmatch(pattern, value):
            raise ConfigError(
                f"{name} = {value!r} (from {settings.sources.get(name)}) is not {meaning}",
                setting=name,
            )
    for name, least in _WHOLE_NUMBERS.items():
        if getattr(settings, name) < least:
            raise ConfigError(f"{name} must be at least {least} (from {settings.sources.get(name)})", setting=name)
    cloud = settings.env != "local"
    for name in ("data_root", "s3_root_addressable", "s3_root_infobase", "analysis_root"):
        value = getattr(settings, name)
        if cloud and not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?", value):
            raise ConfigError(
                f"{name} = {value!r} (from {settings.sources.get(name)}) is not an s3:// location",
                setting=name,
                hint=f"The {settings.env} environment reads and writes S3",
            )


def _refuse_s3(name: str, value: str, sources: dict) -> None:
    """Checked before local paths are resolved, which would turn s3:// into a folder name."""
    if value.startswith("s3://"):
        raise ConfigError(
            f"{name} = {value!r} (from {sources.get(name)}) is an S3 location, "
            "but the local environment works on files",
            setting=name,
            hint="Unset it, or choose --env dev/prod",
        )
