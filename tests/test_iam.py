"""Least-privilege IAM: the policies from flywheel_lib/aws/iam.py, held to the code both ways.

Linted with parliament (its copy of IAM's service authorization reference):
no finding, no wildcard action, `*` resources only for actions that take no
resource, every required resource type named, every dependent action granted
or waived with a reason. Then the runner's policy is compared with every AWS
call the test session recorded (tests/aws_call_log.py): nothing called is
missing, nothing granted was never called.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from parliament import analyze_policy_string, iam_definition, is_arn_match

import aws_call_log
from flywheel_lib.aws import iam
from flywheel_lib.config import load_settings

REPO = Path(__file__).resolve().parents[1]
ACCOUNT = "111122223333"
PRIVILEGES = {(s["prefix"], p["privilege"]): p for s in iam_definition for p in s["privileges"]}
ARN_FORMATS = {(s["prefix"], r["resource"]): re.sub(r"\$\{.*?\}", "*", r["arn"])  # ${Var} -> * as parliament does
               for s in iam_definition for r in s["resources"]}


def _policies():
    for env in ("dev", "prod"):
        settings = load_settings(env, environ={})
        for role in iam.ROLES:
            yield pytest.param(iam.policy(role, settings, ACCOUNT), id=f"{role}-{env}")


def privilege(action: str) -> dict:
    prefix, name = action.split(":")
    return PRIVILEGES[(prefix, name)]


@pytest.mark.parametrize("document", list(_policies()))
def test_parliament_finds_nothing_and_no_action_is_a_wildcard(document):
    findings = analyze_policy_string(json.dumps(document)).findings
    assert [(f.issue, f.detail) for f in findings] == []
    assert not [a for s in document["Statement"] for a in s["Action"] if "*" in a]


@pytest.mark.parametrize("document", list(_policies()))
def test_every_required_resource_type_is_named_and_star_only_where_an_action_takes_none(document):
    for statement in document["Statement"]:
        for action in statement["Action"]:
            types = privilege(action)["resource_types"]
            required = [t["resource_type"].rstrip("*") for t in types if t["resource_type"].endswith("*")]
            if statement["Resource"] == ["*"]:
                assert not required, f"{statement['Sid']}: {action} takes {required}, not *"
                continue
            prefix = action.split(":")[0]
            for kind in required:
                arn = ARN_FORMATS[(prefix, kind)]
                assert any(is_arn_match(kind, arn, r) for r in statement["Resource"]), \
                    f"{statement['Sid']}: {action} needs a {kind} resource ({arn})"


def test_dependent_actions_of_what_the_runner_calls_are_granted_or_waived_with_a_reason():
    granted = iam.actions(iam.RUNNER)
    for action in sorted(iam.actions(iam.RUNNER, implied=False)):
        for kind in privilege(action)["resource_types"]:
            for dependent in kind["dependent_actions"]:
                waived = (dependent in iam.NOT_NEEDED or f"{dependent}@{action}" in iam.NOT_NEEDED
                          or f"{dependent.split(':')[0]}:*@{action}" in iam.NOT_NEEDED)
                assert dependent in granted or waived, f"{action} needs {dependent}"


def test_the_glue_job_role_covers_every_s3_call_of_the_job_script():
    """The script's own boto3 calls, read from its source; Spark's reads and writes are the same actions."""
    tree = ast.parse((REPO / "glue_jobs" / "split_job.py").read_text())
    called = {node.func.attr for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "client"}
    called |= {node.args[0].value for node in ast.walk(tree)
               if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "get_paginator"}
    assert called >= {"get_object", "put_object", "delete_objects", "list_objects_v2"}
    operations = {"".join(w.capitalize() for w in name.split("_")).replace("V2", "V2") for name in called
                  if name != "get_paginator"}
    needed = {iam.action_of_call("s3", op) for op in operations}
    assert needed <= iam.actions(iam.GLUE_JOB), needed - iam.actions(iam.GLUE_JOB)
    # Spark's partitioned write and read: GET, PUT, DELETE (overwrite) and LIST.
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"} <= iam.actions(iam.GLUE_JOB)


def test_the_passed_job_role_is_the_deploy_notebooks_default():
    notebook = nbformat.read(REPO / "notebooks" / "glue" / "deploy_glue_jobs.ipynb", as_version=4)
    parameters = next(c.source for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    assert f'role_name = "{iam.GLUE_JOB_ROLE}"' in parameters


def test_scoped_by_the_environments_names():
    prod = json.dumps(iam.policy(iam.RUNNER, load_settings("prod", environ={}), ACCOUNT))
    for name in ("omc_flywheel_prod", "omc_flywheel_prod_staging", "omc-flywheel-data-us-east-1-prod",
                 "omc-flywheel-prod-analysis-data", "etl-omc-flywheel-prod-addr-part",
                 "omc-flywheel-prod-db-refresh-notifications", "workgroup/primary", "role/cleanrooms-glue-s3-access"):
        assert name in prod
    assert "arn:aws:s3:::omc-flywheel-prod-analysis-data/runs/*" in prod  # the run records' copies, the month's lock
    assert "dev" not in prod.replace("devices", "")


def test_the_command_prints_the_policy_and_refuses_a_bad_account_or_the_local_backend():
    def run(*args):
        return subprocess.run([sys.executable, str(REPO / "run_refresh.py"), "--iam-policy", *args],
                              capture_output=True, text=True, timeout=120)

    done = run("glue-job", "--env", "prod", "--account", ACCOUNT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Statement"][0]["Effect"] == "Allow"
    bad = run("runner", "--env", "prod", "--account", "12345")
    assert bad.returncode == 2 and "12-digit" in bad.stderr
    local = run("runner", "--account", ACCOUNT)
    assert local.returncode == 2 and "--env dev or --env prod" in local.stderr


@pytest.mark.iam_both_ways  # conftest runs it last, after the AWS tests recorded their calls
def test_the_runner_policy_allows_every_recorded_call_and_every_action_was_called(request):
    """In one process. Under xdist each worker sees its own calls: the controller checks the union
    at the end of the session (conftest.pytest_sessionfinish), and fails the run if it finds a gap."""
    worker = hasattr(request.config, "workerinput")
    problems = aws_call_log.both_ways(aws_call_log.CALLS, not worker and aws_call_log.whole_aws_suite_ran(request.config))
    assert not problems, "\n".join(problems)

