"""What moto models of Clean Rooms (collaborations, memberships, configured tables), read by our state code.

The stateful fake in tests/cleanrooms covers the rest; this keeps our readers
honest about the real response shapes where moto has them.
"""

from __future__ import annotations

from flywheel_lib import changes as cr_plan
from flywheel_lib.cleanrooms import state


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
