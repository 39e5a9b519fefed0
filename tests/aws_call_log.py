"""Every AWS action the package's own code calls during the test session, for the IAM test.

The runner's IAM policy is generated from `flywheel_lib/aws/iam.py`; `tests/test_iam.py`
checks it both ways against what is recorded here. Only calls the package makes count,
not a test's own setup (creating a bucket or a collaboration in moto, say), even when the
test makes them through `AwsClients`. Three places see the calls:

- botocore in the pytest process (moto in process, Stubber): `BaseClient._make_api_call`,
  kept when the first caller outside botocore and the fakes is package code, not a test;
- the moto server, which runs in the pytest process but answers the kernels of a refresh
  run by papermill (other processes, package code only): moto's `BaseResponse.setup_class`,
  for requests with our user agent `flywheel-runbook` that did not come from the pytest
  process itself (whose clients carry the app ID `flywheel-pytest`, which kernels do not
  inherit: their environment drops every `AWS_` variable);
- the stateful fakes that stand in for botocore (Clean Rooms, Glue job runs): they call
  `record` themselves, kept by the same caller rule.

Actions are named as IAM names them: the service's signing name and the operation name.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from pathlib import Path

import botocore.session
from botocore.client import BaseClient

from flywheel_lib.aws.session import USER_AGENT

CALLS: set[tuple[str, str]] = set()    # (IAM service prefix, operation name)
RUN_FILES: set[str] = set()            # test files that ran in this session, relative to tests/
AWS_SUITES = ("aws", "cleanrooms")     # the folders whose tests make the package's AWS calls
_lock = threading.Lock()
PYTEST_APP_ID = "flywheel-pytest"
_PACKAGE = Path(__file__).resolve().parents[1] / "flywheel_lib"
_TESTS = Path(__file__).resolve().parent
# Frames that only carry a call: the client factory, and the fakes that stand in for botocore.
_CARRIERS = {_PACKAGE / "aws" / "session.py", Path(__file__).resolve(),
             _TESTS / "cleanrooms" / "fake_cleanrooms.py", _TESTS / "aws" / "glue_fake.py",
             _TESTS / "aws" / "fake_aws.py"}


def from_package() -> bool:
    """Whether the innermost caller that is ours or a test's is package code (not a test's setup)."""
    frame = sys._getframe(1)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path not in _CARRIERS:
            if path.is_relative_to(_PACKAGE):
                return True
            if path.is_relative_to(_TESTS):
                return False
        frame = frame.f_back
    return False


@functools.cache
def iam_prefix(service: str) -> str:
    """botocore's service name -> the prefix IAM actions use (cleanroomsml -> cleanrooms-ml)."""
    model = botocore.session.get_session().get_service_model(service)
    return model.signing_name or model.endpoint_prefix


def record(service: str, operation: str, checked: bool = False) -> None:
    """Keep a call of the package's (`checked`: the caller was already found to be the package)."""
    if checked or from_package():
        with _lock:
            CALLS.add((iam_prefix(service), operation))


def install() -> None:
    """Patch botocore and moto's server for the session (idempotent)."""
    if getattr(BaseClient._make_api_call, "call_log", False):
        return
    os.environ["AWS_SDK_UA_APP_ID"] = PYTEST_APP_ID  # botocore puts app/<id> in every User-Agent
    original = BaseClient._make_api_call

    def recording(client, operation_name, api_params):
        if USER_AGENT in (client.meta.config.user_agent_extra or ""):
            record(client.meta.service_model.service_name, operation_name)
        return original(client, operation_name, api_params)

    recording.call_log = True
    BaseClient._make_api_call = recording
    _install_in_moto_server()


def _install_in_moto_server() -> None:
    from moto.core.responses import BaseResponse

    original = BaseResponse.setup_class

    def setup_class(response, request, *args, **kwargs):
        original(response, request, *args, **kwargs)
        agent = (getattr(request, "headers", None) or {}).get("User-Agent", "")
        service = response.boto3_service_name
        if USER_AGENT in agent and f"app/{PYTEST_APP_ID}" not in agent and service:
            try:
                operation = response._get_action()
            except Exception:  # noqa: BLE001 - an unnamed call cannot be matched; the test says so
                operation = None
            if operation:
                record(service, operation, checked=True)

    BaseResponse.setup_class = setup_class


def whole_aws_suite_ran(config) -> bool:
    """Every AWS test file ran, unfiltered: only then can the check say what is never called."""
    wanted = {p.relative_to(_TESTS).as_posix() for suite in AWS_SUITES for p in (_TESTS / suite).glob("test_*.py")}
    return wanted <= RUN_FILES and not config.getoption("keyword") and not config.getoption("markexpr")


def both_ways(calls: set[tuple[str, str]], whole_suite: bool) -> list[str]:
    """What is wrong between the runner's IAM table and the calls recorded (empty: nothing).

    Every recorded call must be granted; with the whole AWS suite run, every granted action must
    have been called, or be implied by a call that was.
    """
    from flywheel_lib.aws import iam

    recorded = {iam.action_of_call(prefix, op) for prefix, op in calls} - {None}
    problems = []
    missing = sorted(a for a in recorded if a not in iam.actions(iam.RUNNER))
    if missing:
        problems.append(f"called but not in flywheel_lib/aws/iam.py GRANTS: {missing}")
    if whole_suite:
        never = sorted(iam.actions(iam.RUNNER, implied=False) - recorded)
        if never:
            problems.append(f"granted but no test calls them: {never}")
        carriers = {g.implied_by for g in iam.GRANTS if g.role == iam.RUNNER and g.implied_by}
        if carriers - recorded:
            problems.append(f"implied by calls no test makes: {sorted(carriers - recorded)}")
    return problems
