"""Every AWS action the package's own code calls during the test session, for the IAM test.

The runner's IAM policy is generated from `flywheel_lib/aws/iam.py`; `tests/test_iam.py`
checks it both ways against what is recorded here. Only our clients are recorded: they
carry the user agent `flywheel-runbook`, so a test's own setup calls (creating a bucket in
moto, say) do not count. Three places see our calls:

- botocore in the pytest process (moto in process, Stubber): `BaseClient._make_api_call`;
- the moto server, which runs in the pytest process but answers the kernels of a refresh
  run by papermill (other processes): moto's `BaseResponse.setup_class`, by User-Agent;
- the stateful fakes that stand in for botocore (Clean Rooms, Glue job runs): they call
  `record` themselves.

Actions are named as IAM names them: the service's signing name and the operation name.
"""

from __future__ import annotations

import functools
import threading

import botocore.session
from botocore.client import BaseClient

from flywheel_lib.aws.session import USER_AGENT

CALLS: set[tuple[str, str]] = set()    # (IAM service prefix, operation name)
_lock = threading.Lock()


@functools.cache
def iam_prefix(service: str) -> str:
    """botocore's service name -> the prefix IAM actions use (cleanroomsml -> cleanrooms-ml)."""
    model = botocore.session.get_session().get_service_model(service)
    return model.signing_name or model.endpoint_prefix


def record(service: str, operation: str) -> None:
    with _lock:
        CALLS.add((iam_prefix(service), operation))


def install() -> None:
    """Patch botocore and moto's server for the session (idempotent)."""
    if getattr(BaseClient._make_api_call, "call_log", False):
        return
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
        if USER_AGENT in agent and service:
            try:
                operation = response._get_action()
            except Exception:  # noqa: BLE001 - an unnamed call cannot be matched; the test says so
                operation = None
            if operation:
                record(service, operation)

    BaseResponse.setup_class = setup_class
