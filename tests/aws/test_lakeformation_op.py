"""`run_refresh.py --op grant_lake_formation`: a plan locally; on dev (moto server) apply, then nothing left."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3

from flywheel_lib.aws import glue_catalog
from flywheel_lib.aws.lakeformation import s3_arn

from .fake_aws import aws_env, reset
from .test_lakeformation import ROOT, entry

REPO = Path(__file__).resolve().parents[2]
OP = "grant_lake_formation"


def run(env, *args):
    return subprocess.run([sys.executable, str(REPO / "run_refresh.py"), "--op", OP, *args], env=env,
                          capture_output=True, text=True, timeout=300)


def rows(run_dir: Path, name: str) -> list[dict]:
    with open(run_dir / f"{name}.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def newest(runs: Path) -> Path:
    return sorted((runs / "lakeformation" / OP).iterdir())[-1]


def test_locally_the_operation_plans_grants_and_skips_local_folders(tmp_path):
    env = dict(os.environ, FLYWHEEL_DATA_ROOT=str(tmp_path / "data"), FLYWHEEL_RUNS_DIR=str(tmp_path / "runs"),
               FLYWHEEL_ENV="local")
    result = run(env)
    assert result.returncode == 0, result.stderr
    plan = rows(newest(tmp_path / "runs"), "plan")
    assert [r["action"] for r in plan if r["kind"] == "data location"] == ["skipped", "skipped"]
    assert {r["action"] for r in plan if r["kind"] == "grant"} == {"create"}
    assert json.loads((newest(tmp_path / "runs") / "manifest.json").read_text())["status"] == "succeeded"


class _Glue:
    """Calls straight to the moto server, shaped like AwsClients.call for glue_catalog."""

    def __init__(self, endpoint: str):
        self.client = boto3.client("glue", region_name="us-east-1", endpoint_url=endpoint,
                                   aws_access_key_id="testing", aws_secret_access_key="testing")

    def call(self, service, method, /, where=None, **params):
        return getattr(self.client, method)(**params)


def test_on_dev_apply_grants_and_a_second_apply_finds_everything_unchanged(tmp_path, moto_endpoint):
    reset(moto_endpoint)
    glue = _Glue(moto_endpoint)
    for database in ("omc_flywheel_dev_clean", "omc_flywheel_dev_clean_staging"):
        glue.client.create_database(DatabaseInput={"Name": database})
        glue_catalog.put_table(glue, database, entry("part_ibe_01"))
    env = dict(aws_env(tmp_path, moto_endpoint), FLYWHEEL_RUNS_DIR=str(tmp_path / "runs"))
    env.pop("FLYWHEEL_ENV", None)
    first = run(env, "--env", "dev", "--apply")
    assert first.returncode == 0, first.stdout + first.stderr
    outcome = rows(newest(tmp_path / "runs"), "outcome")
    assert {r["status"] for r in outcome} == {"applied"} and len(outcome) == 10  # 2 locations, 8 grants
    lakeformation = boto3.client("lakeformation", region_name="us-east-1", endpoint_url=moto_endpoint,
                                 aws_access_key_id="testing", aws_secret_access_key="testing")
    registered = sorted(r["ResourceArn"] for r in lakeformation.list_resources()["ResourceInfoList"])
    assert registered == [s3_arn(f"{ROOT}/addressable_ids"), s3_arn(f"{ROOT}/infobase_attributes")]
    second = run(env, "--env", "dev", "--apply")
    assert second.returncode == 0, second.stdout + second.stderr
    again = newest(tmp_path / "runs")
    assert {r["action"] for r in rows(again, "plan")} == {"unchanged"}
    assert {r["status"] for r in rows(again, "outcome")} == {"nothing to do"}
