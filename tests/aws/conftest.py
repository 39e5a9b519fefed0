"""AWS tests run against moto in process, with the machine's own AWS setup shut out.

Every test gets empty AWS config and credentials files and no AWS variables,
so nothing reaches a real account and no developer profile changes a result.
`dev_profile` then writes the `flywheel-dev` profile the dev settings name,
with moto's fake keys (botocore ignores key variables when a profile is named).
"""

from __future__ import annotations

import pytest
from moto import mock_aws

from flywheel_lib.aws.session import AwsClients
from flywheel_lib.config import load_settings

from .fake_aws import start_server

ACCOUNT = "123456789012"  # moto's default account
DATA_BUCKET = "omc-flywheel-data-us-east-1-dev"
_AWS_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                  "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                  "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


@pytest.fixture(autouse=True)
def no_aws_setup(tmp_path, monkeypatch):
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    config, credentials = tmp_path / "aws_config", tmp_path / "aws_credentials"
    config.write_text("")
    credentials.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no 1 s wait for an instance role
    return config, credentials


def write_profile(files, name: str, keys: bool = True) -> None:
    config, credentials = files
    with config.open("a") as handle:
        handle.write(f"[profile {name}]\nregion = us-east-1\n")
    if keys:
        with credentials.open("a") as handle:
            handle.write(f"[{name}]\naws_access_key_id = testing\naws_secret_access_key = testing\n")


@pytest.fixture
def dev_profile(no_aws_setup):
    write_profile(no_aws_setup, "flywheel-dev")
    return "flywheel-dev"


@pytest.fixture
def settings():
    return load_settings("dev", environ={})


@pytest.fixture(scope="session")
def moto_endpoint():
    """The URL of one moto server (server mode) for the session; `fake_aws.reset` between tests that need it."""
    server, url = start_server()
    yield url
    server.stop()


@pytest.fixture
def bucket(aws):
    """The dev data bucket, empty."""
    aws.call("s3", "create_bucket", Bucket=DATA_BUCKET)
    return DATA_BUCKET


@pytest.fixture
def aws(dev_profile, settings):
    """Clients for the dev settings, every call answered by moto."""
    with mock_aws():
        yield AwsClients(settings)
