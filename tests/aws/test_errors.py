"""The boundary: real moto errors and injected ones become our classes, with what a reader needs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from botocore.stub import Stubber

from flywheel_lib.aws import glue_catalog, s3
from flywheel_lib.aws.errors import (AwsConflict, AwsError, AwsInvalidRequest, AwsNotFound,
                                     AwsPermissionError, AwsTransientError, error_class)
from flywheel_lib.errors import FlywheelError


@pytest.mark.parametrize(("code", "status", "cls"), [
    ("ThrottlingException", 400, AwsTransientError),
    ("ConcurrentRunsExceededException", 400, AwsTransientError),
    ("InternalServiceException", 500, AwsTransientError),
    ("SlowDown", 503, AwsTransientError),
    ("AccessDeniedException", 400, AwsPermissionError),
    ("AuthorizationError", 403, AwsPermissionError),
    ("EntityNotFoundException", 400, AwsNotFound),
    ("NoSuchKey", 404, AwsNotFound),
    ("NoSuchBucket", 404, AwsNotFound),
    ("AlreadyExistsException", 400, AwsConflict),
    ("InvalidInputException", 400, AwsInvalidRequest),
    ("SomethingNew", 502, AwsTransientError),  # unknown codes fall back on the status
    ("SomethingNew", 403, AwsPermissionError),
    ("SomethingNew", 400, AwsError),
])
def test_error_codes_map_to_our_classes(code, status, cls):
    assert error_class(code, status) is cls


def test_a_missing_glue_table_is_not_found_with_request_id_and_operation(aws, settings):
    glue_catalog.ensure_database(aws, settings.database_name)
    with pytest.raises(AwsNotFound) as caught:
        glue_catalog.read_table(aws, settings.database_name, "part_ibe_01")
    err = caught.value
    assert isinstance(err, FlywheelError)
    assert (err.operation, err.code, err.table) == ("GetTable", "EntityNotFoundException", "part_ibe_01")
    assert err.request_id and f"AWS request {err.request_id}" in str(err)
    assert type(err.__cause__).__name__ == "EntityNotFoundException"  # raised from the original


def test_a_missing_bucket_is_not_found_naming_the_location(aws):
    with pytest.raises(AwsNotFound, match=r"s3:ListObjectsV2 failed with NoSuchBucket.*path s3://nobody"):
        s3.find(aws, "s3://nobody/here")


def test_throttling_is_transient_and_retryable(aws, settings):
    with Stubber(aws.client("glue")) as stub:
        stub.add_client_error("get_table", "ThrottlingException", "Rate exceeded", 400)
        with pytest.raises(AwsTransientError) as caught:
            glue_catalog.read_table(aws, settings.database_name, "part_ibe_01")
    assert caught.value.retryable
    assert caught.value.operation == "GetTable"
    assert "glue:GetTable failed with ThrottlingException: Rate exceeded" in str(caught.value)


def test_access_denied_names_the_action_and_the_identity(aws, settings):
    with Stubber(aws.client("glue")) as stub:
        stub.add_client_error("get_table", "AccessDeniedException", "not authorized", 400)
        with pytest.raises(AwsPermissionError) as caught:
            glue_catalog.read_table(aws, settings.database_name, "part_ibe_01")
    assert not caught.value.retryable
    assert "Grant glue:GetTable to profile flywheel-dev" in str(caught.value)


def test_nothing_outside_the_boundary_catches_client_error():
    package = Path(__file__).resolve().parents[2] / "flywheel_lib"
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if re.search(r"except[^:]*ClientError", p.read_text()) and p != package / "aws" / "errors.py"]
    assert offenders == []
