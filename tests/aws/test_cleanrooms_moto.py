"""What moto models of Clean Rooms (collaborations, memberships, configured tables), read by our state code.

The stateful fake in tests/cleanrooms covers the rest; this keeps our readers
honest about the real response shapes where moto has them, and checks through
real botocore clients that mutating calls are sent once and that modeled error
fields (ConflictException / ValidationException `reason`) reach our errors.
"""

from __future__ import annotations

import json

import pytest
from botocore.awsrequest import AWSResponse

from flywheel_lib import changes as cr_plan
from flywheel_lib.aws.errors import AwsConflict, AwsError, AwsInvalidRequest, AwsTransientError
from flywheel_lib.cleanrooms import state

from .raw_body import RawBody


def test_configured_tables_and_invitations_read_back_through_moto(aws, settings):
    api = cr_plan.PacedApi(aws, sleep=lambda _: None)
    for name in ("part_ibe_01", "part_ibe_02", "part_ibe_03"):
        aws.call("cleanrooms", "create_configured_table", name=name, analysisMethod="DIRECT_QUERY",
                 allowedColumns=["customer_user_id", "ibe1802"],
                 tableReference={"glue": {"databaseName": settings.database_name, "tableName": name}})
    found = state.configured_tables(api)
    assert sorted(found) == ["part_ibe_01", "part_ibe_02", "part_ibe_03"]
    assert found["part_ibe_01"]["allowedColumns"] == ["customer_user_id", "ibe1802"]
    assert found["part_ibe_01"]["tableReference"]["glue"]["tableName"] == "part_ibe_01"
    collaboration = aws.call("cleanrooms", "create_collaboration", name="Flywheel", description="x",
                             members=[], creatorMemberAbilities=["CAN_QUERY", "CAN_RECEIVE_RESULTS"],
                             creatorDisplayName="Us", queryLogStatus="DISABLED")["collaboration"]
    membership = aws.call("cleanrooms", "create_membership", collaborationIdentifier=collaboration["id"],
                          queryLogStatus="DISABLED")["membership"]
    assert state.invitations(api) == []  # we created it, so we are no invitee
    got = api.call("cleanrooms", "get_membership", membershipIdentifier=membership["id"])["membership"]
    assert got["collaborationId"] == collaboration["id"]


def _answer(status: int, code: str, **fields):
    """A before-send hook: every request gets this REST-JSON error, as Clean Rooms would send it."""
    attempts = []

    def hook(request, **_):
        attempts.append(request.url)
        body = json.dumps({"message": f"{code} here", **fields}).encode()
        return AWSResponse(request.url, status, {"x-amzn-ErrorType": code, "x-amzn-RequestId": "r-9"}, RawBody(body))
    return hook, attempts


def test_botocore_never_resends_a_mutating_clean_rooms_call_but_retries_reads(aws, monkeypatch):
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda s: None)
    hook, attempts = _answer(500, "InternalServerException")
    aws.session.events.register_first("before-send.cleanrooms", hook)  # on every Clean Rooms client
    with pytest.raises(AwsTransientError):
        aws.call("cleanrooms", "create_configured_table", name="part_ibe_01", analysisMethod="DIRECT_QUERY",
                 allowedColumns=["customer_user_id"],
                 tableReference={"glue": {"databaseName": "db", "tableName": "part_ibe_01"}})
    assert len(attempts) == 1  # no idempotency token: a resent create could meet its own first try
    attempts.clear()
    with pytest.raises(AwsTransientError):
        aws.call("cleanrooms", "list_configured_tables")
    assert len(attempts) == 5  # reads keep botocore's standard retries


@pytest.mark.parametrize("code, status, fields, cls, reason", [
    ("ConflictException", 409, {"reason": "ALREADY_EXISTS", "resourceType": "CONFIGURED_TABLE",
                                "resourceId": "abc"}, AwsConflict, "ALREADY_EXISTS"),
    ("ConflictException", 409, {"reason": "SUBRESOURCES_EXIST"}, AwsConflict, "SUBRESOURCES_EXIST"),
    ("ValidationException", 400, {"reason": "IAM_SYNCHRONIZATION_DELAY"}, AwsTransientError,
     "IAM_SYNCHRONIZATION_DELAY"),
    ("ValidationException", 400, {"reason": "FIELD_VALIDATION_FAILED"}, AwsInvalidRequest, "FIELD_VALIDATION_FAILED"),
])
def test_the_modeled_reason_is_kept_on_our_error(aws, code, status, fields, cls, reason):
    hook, _ = _answer(status, code, **fields)
    aws.session.events.register_first("before-send.cleanrooms", hook)
    with pytest.raises(AwsError) as caught:
        aws.call("cleanrooms", "get_configured_table", configuredTableIdentifier="0" * 36)
    assert type(caught.value) is cls and caught.value.reason == reason
    assert f"[reason {reason}]" in str(caught.value)
    if "resourceId" in fields:
        assert "[CONFIGURED_TABLE abc]" in str(caught.value)
