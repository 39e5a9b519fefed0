"""The one factory for AWS clients: a boto3 Session built from Settings.

Credentials come from the AWS default chain only. The profile is $AWS_PROFILE
if set, else `settings.aws_profile` (`flywheel-dev` in dev); prod has none and
uses the machine's IAM role. Note that botocore ignores AWS_ACCESS_KEY_ID and
friends when a profile is named, so a test or CI job against a dev-like
environment points AWS_PROFILE at a profile of its own.

`AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`) is honoured by botocore
itself for every client created here, which is how moto's server or
LocalStack stand in for AWS unchanged.

Nothing is created at import: `AwsClients(settings)` makes the session, and
each service's client on first use.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import boto3
from botocore.config import Config

from ..usage import USAGE
from .errors import aws_errors

# botocore "standard" retries: throttling and 5xx, with jittered backoff. Its `max_attempts`
# counts retries after the first try (it becomes total_max_attempts = N + 1): 5 tries in all.
MAX_ATTEMPTS = 4
USER_AGENT = "flywheel-runbook"
MAX_POOL = 32  # as many connections as parquet_s3 reads footers in parallel
# Clean Rooms' create calls take no idempotency token (botocore's cleanrooms model has no
# clientToken member), so a create resent after a timeout or 5xx could meet its own first try.
# Their mutating calls go out once; changes.PacedApi reads back instead. Reads retry as usual.
SENT_ONCE = ("cleanrooms", "cleanroomsml")
MUTATING = ("create_", "update_", "delete_", "put_")


def profile_for(settings, environ=None) -> str | None:
    """The named profile to use, or None for the default chain."""
    environ = os.environ if environ is None else environ
    return environ.get("AWS_PROFILE") or settings.aws_profile or None


def client_config(max_attempts: int = MAX_ATTEMPTS) -> Config:
    """Standard retries; `max_attempts=0`: one try, botocore never resends."""
    return Config(retries={"mode": "standard", "max_attempts": max_attempts},
                  user_agent_extra=USER_AGENT,
                  max_pool_connections=MAX_POOL)


class AwsClients:
    """A session and its lazily made clients; every AWS call goes through `call` or `pages`."""

    def __init__(self, settings, *, environ=None, max_attempts: int = MAX_ATTEMPTS):
        self.settings = settings
        self.region = settings.region
        self.profile = profile_for(settings, environ)
        self.identity_label = (f"profile {self.profile}" if self.profile
                               else "the default AWS credential chain (the machine's IAM role)")
        self.config = client_config(max_attempts)
        self._clients: dict[str, object] = {}
        self._lock = threading.Lock()  # boto3 sessions are not thread-safe; clients are
        self._identity: dict | None = None
        with self.boundary("sts"):  # an unknown profile fails here, as one sentence
            self.session = boto3.Session(profile_name=self.profile, region_name=self.region)

    def client(self, service: str, *, once: bool = False):
        """The service's client; `once=True`: a second client whose calls botocore never resends."""
        key = f"{service} once" if once else service
        with self._lock:
            if key not in self._clients:
                config = self.config.merge(client_config(0)) if once else self.config
                with self.boundary(service):
                    self._clients[key] = self.session.client(service, config=config)
            return self._clients[key]

    def _client_for(self, service: str, method: str):
        return self.client(service, once=service in SENT_ONCE and method.startswith(MUTATING))

    @contextmanager
    def boundary(self, service: str, operation: str | None = None, **context):
        """`aws_errors` with the identity in use, for calls made on a client directly."""
        with aws_errors(service, operation, identity=self.identity_label, **context):
            yield

    def call(self, service: str, method: str, /, where: dict | None = None, **params) -> dict:
        """`client(service).<method>(**params)`, its errors translated; `where` goes on the error."""
        client = self._client_for(service, method)
        USAGE.count_call(service, _api_name(client, method))
        with self.boundary(service, _api_name(client, method), **(where or {})):
            return getattr(client, method)(**params)

    def pages(self, service: str, method: str, /, where: dict | None = None, **params):
        """Every page of a paginated operation, its errors translated."""
        client = self.client(service)
        with self.boundary(service, _api_name(client, method), **(where or {})):
            for page in client.get_paginator(method).paginate(**params):
                USAGE.count_call(service, _api_name(client, method))  # one request a page
                yield page

    def identity(self) -> dict:
        """STS caller identity (Account, Arn, UserId); the cheapest proof credentials work."""
        if self._identity is None:
            self._identity = self.call("sts", "get_caller_identity")
        return self._identity

    def account_id(self) -> str:
        return self.identity()["Account"]

    def partition(self) -> str:
        """`aws`, `aws-cn`, `aws-us-gov`: taken from the caller's ARN, for building ARNs."""
        return self.identity()["Arn"].split(":")[1]


def _api_name(client, method: str) -> str:
    return client.meta.method_to_api_mapping.get(method, method)
