"""Clients and credentials: one factory, standard retries, and credential failures as one sentence."""

from __future__ import annotations

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber
from moto import mock_aws
from moto.server import ThreadedMotoServer

from flywheel_lib.aws.errors import AwsCredentialError, AwsTransientError
from flywheel_lib.aws.session import AwsClients
from flywheel_lib.config import load_settings

from .conftest import ACCOUNT, write_profile
from .raw_body import RawBody


def test_dev_clients_use_the_flywheel_dev_profile(aws):
    assert aws.profile == "flywheel-dev"
    assert aws.account_id() == ACCOUNT
    assert aws.client("glue").meta.region_name == "us-east-1"


def test_aws_profile_wins_over_the_settings(no_aws_setup, dev_profile, settings, monkeypatch):
    write_profile(no_aws_setup, "ci")
    monkeypatch.setenv("AWS_PROFILE", "ci")
    with mock_aws():
        assert AwsClients(settings).profile == "ci"
    assert AwsClients(settings, environ={}).profile == "flywheel-dev"


def test_prod_has_no_profile_and_uses_the_default_chain(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        aws = AwsClients(load_settings("prod", environ={}))
        assert aws.profile is None
        assert aws.account_id() == ACCOUNT


def test_clients_use_standard_retries_and_are_made_once(aws):
    glue = aws.client("glue")
    assert glue.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert aws.client("glue") is glue


def test_an_unknown_profile_is_one_sentence_naming_it(settings, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(AwsCredentialError) as caught:
        AwsClients(settings)
    text = str(caught.value)
    assert "profile no-such-profile" in text
    assert "aws configure sso --profile no-such-profile" in text
    assert "\n" not in text


def test_no_credentials_on_the_default_chain_says_what_was_tried():
    aws = AwsClients(load_settings("prod", environ={}))  # constructing needs no credentials
    with pytest.raises(AwsCredentialError) as caught:
        aws.identity()
    text = str(caught.value)
    assert "default AWS credential chain (the machine's IAM role)" in text
    assert "Unable to locate credentials" in text
    assert caught.value.operation == "GetCallerIdentity"


def test_a_profile_without_keys_says_to_log_in(no_aws_setup, settings):
    write_profile(no_aws_setup, "flywheel-dev", keys=False)
    with pytest.raises(AwsCredentialError, match=r"profile flywheel-dev.*aws sso login --profile flywheel-dev"):
        AwsClients(settings).identity()


def test_an_expired_token_is_a_credential_error(aws):
    with Stubber(aws.client("sts")) as stub:
        stub.add_client_error("get_caller_identity", "ExpiredToken", "The security token included "
                              "in the request is expired", 403)
        with pytest.raises(AwsCredentialError, match="from profile flywheel-dev: ExpiredToken"):
            aws.identity()


def _throttle_first(count: int):
    """A before-send hook: the first `count` attempts get a 400 Throttling answer, the rest go on."""
    attempts = []

    def hook(request, **_):
        attempts.append(request.url)
        if len(attempts) <= count:
            body = (b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                    b"<Message>Rate exceeded</Message></Error><RequestId>r-1</RequestId></ErrorResponse>")
            return AWSResponse(request.url, 400, {}, RawBody(body))
        return None

    return hook, attempts


def test_throttling_is_retried_by_botocore(aws, monkeypatch):
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda s: None)  # keep the backoff, skip the wait
    hook, attempts = _throttle_first(2)
    aws.client("sts").meta.events.register_first("before-send.sts.GetCallerIdentity", hook)
    assert aws.account_id() == ACCOUNT
    assert len(attempts) == 3


def test_throttling_past_the_retry_budget_is_transient(aws, monkeypatch):
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda s: None)
    hook, attempts = _throttle_first(99)
    aws.client("sts").meta.events.register_first("before-send.sts.GetCallerIdentity", hook)
    with pytest.raises(AwsTransientError) as caught:
        aws.identity()
    assert len(attempts) == 5
    assert caught.value.retryable and caught.value.request_id == "r-1"


def test_aws_endpoint_url_sends_every_client_to_that_endpoint(dev_profile, settings, monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        aws = AwsClients(settings)
        aws.call("s3", "create_bucket", Bucket="seen-by-the-server")
        direct = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        assert [b["Name"] for b in direct.list_buckets()["Buckets"]] == ["seen-by-the-server"]
    finally:
        server.stop()
