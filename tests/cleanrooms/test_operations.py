"""Clean Rooms operations: plans on empty and partial states, idempotent apply, faults, rules."""

from __future__ import annotations

import dataclasses

import pytest

from flywheel_lib.cleanrooms import membership_ops, operations as ops
from flywheel_lib import changes as cr_plan
from flywheel_lib.api_rules import InvalidRequest
from flywheel_lib.config import load_settings
from flywheel_lib.errors import ConfigError
from flywheel_lib.local.catalog import CatalogEntry
from flywheel_lib.mapping import load_mapping

from .fake_cleanrooms import FakeAws, FakeCleanRooms

MEMBERSHIP = "11111111-2222-4333-8444-555555555555"
PROVIDERS = ["111122223333"]
RECEIVERS = ["444455556666", "777788889999"]
TEMPLATE = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
COLLABORATION = "99999999-8888-4777-8666-555555555555"


def entry(name: str, columns=("customer_user_id", "ibe1802")) -> CatalogEntry:
    return CatalogEntry(name=name, run_id="r1", dataset="infobase_attributes", source_table=name[5:].upper(),
                        location=f"s3://b/{name}", snapshot_dt="2026-10-31",
                        columns=[(c, "string") for c in columns], row_count=10, state="published")


TABLES = ["part_addressable_ids", "part_ibe_01", "part_ibe_02", "part_n_a", "part_n_a_a"]


@pytest.fixture
def fake():
    return FakeCleanRooms()


@pytest.fixture
def ctx(fake):
    sleeps = []
    api = cr_plan.PacedApi(FakeAws(fake), sleep=sleeps.append)
    context = ops.OpContext(load_settings("dev", environ={}), [entry(n) for n in TABLES], load_mapping(), api)
    context.sleeps = sleeps
    return context


def apply(ctx, changes):
    return cr_plan.apply(ctx.api, changes)


def actions(changes):
    return [(c.action, c.name) for c in changes]


def test_configure_on_an_empty_state_plans_a_table_and_a_rule_each_and_applies_them(ctx, fake):
    changes = ops.configure_tables(ctx, PROVIDERS)
    assert {a for a, _ in actions(changes)} == {"create"} and len(changes) == len(TABLES)
    apply(ctx, changes)
    assert len(fake.tables) == len(TABLES) and len(fake.table_rules) == len(TABLES)
    table = next(t for t in fake.tables.values() if t["name"] == "part_ibe_01")
    assert table["allowedColumns"] == ["customer_user_id", "ibe1802"] and table["analysisMethod"] == "DIRECT_QUERY"
    assert table["tableReference"] == {"glue": {"databaseName": "omc_flywheel_dev_clean", "tableName": "part_ibe_01"}}
    rule = fake.table_rules[table["id"]]["v1"]["custom"]
    assert rule == {"allowedAnalyses": ["ANY_QUERY"], "allowedAnalysisProviders": PROVIDERS}


def test_applying_the_same_plan_again_makes_no_mutating_call(ctx, fake):
    apply(ctx, ops.configure_tables(ctx, PROVIDERS))
    apply(ctx, ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS))
    fake.calls.clear()
    again = ops.configure_tables(ctx, PROVIDERS) + ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS)
    assert {a for a, _ in actions(again)} == {"unchanged"}
    apply(ctx, again)
    assert fake.mutating() == []


def test_changed_columns_of_an_associated_table_are_updated_in_place(ctx, fake):
    apply(ctx, ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"]))
    apply(ctx, ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS, prefix="part_ibe_01"))
    (table_id,) = fake.tables
    ctx.tables = [entry("part_ibe_01", ("customer_user_id", "ibe2058_01"))]
    fake.calls.clear()
    changes = ops.configure_tables(ctx, PROVIDERS)
    assert actions(changes) == [("update", "part_ibe_01")]
    assert "+1: ibe2058_01; -1: ibe1802" in changes[0].reason and "rule and associations kept" in changes[0].reason
    apply(ctx, changes)
    assert fake.mutating() == ["UpdateConfiguredTable"]  # no rule deleted, nothing re-created
    assert fake.tables[table_id]["allowedColumns"] == ["customer_user_id", "ibe2058_01"]
    assert table_id in fake.table_rules and len(fake.associations) == len(fake.association_rules) == 1
    assert actions(ops.configure_tables(ctx, PROVIDERS)) == [("unchanged", "part_ibe_01")]


def test_changed_columns_and_providers_are_two_updates(ctx, fake):
    apply(ctx, ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"]))
    ctx.tables = [entry("part_ibe_01", ("customer_user_id", "ibe2058_01"))]
    changes = ops.configure_tables(ctx, ["999988887777"])
    assert [(c.action, c.kind) for c in changes] == [("update", "configured table"), ("update", "analysis rule")]
    fake.calls.clear()
    apply(ctx, changes)
    assert fake.mutating() == ["UpdateConfiguredTable", "UpdateConfiguredTableAnalysisRule"]


def test_new_providers_update_the_rule_only(ctx, fake):
    apply(ctx, ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"]))
    fake.calls.clear()
    changes = ops.update_providers(ctx, ["111122223333", "999988887777"], tables=["part_ibe_01"])
    assert actions(changes) == [("update", "part_ibe_01")]
    apply(ctx, changes)
    assert [c for c in fake.mutating()] == ["UpdateConfiguredTableAnalysisRule"]


def test_new_result_receivers_update_each_association_rule_only(ctx, fake):
    ctx.tables = [entry("part_ibe_01")]
    apply(ctx, ops.configure_tables(ctx, PROVIDERS))
    apply(ctx, ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS))
    fake.calls.clear()
    changes = ops.update_result_receivers(ctx, MEMBERSHIP, ["999988887777"])
    assert actions(changes) == [("update", "acx_part_ibe_01")]
    apply(ctx, changes)
    assert fake.mutating() == ["UpdateConfiguredTableAssociationAnalysisRule"]
    assert actions(ops.update_result_receivers(ctx, MEMBERSHIP, ["999988887777"])) == [
        ("unchanged", "acx_part_ibe_01")]


def test_associations_skip_the_excluded_tables_sort_and_stop_at_the_cap(ctx, fake):
    ctx.tables = [entry(f"part_t{i:02d}") for i in range(30)] + [entry("part_n_a"), entry("part_n_a_a")]
    apply(ctx, ops.configure_tables(ctx, PROVIDERS))
    changes = ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS)
    assert [n for a, n in actions(changes) if a == "create"] == [f"acx_part_t{i:02d}" for i in range(25)]
    skipped = [c for c in changes if c.action == "skipped"]
    assert [c.name for c in skipped] == [f"acx_part_t{i:02d}" for i in range(25, 30)]
    assert "over our cap of 25" in skipped[0].reason and "not an AWS quota" in skipped[0].reason
    assert not any("part_n_a" in n for _, n in actions(changes))
    apply(ctx, changes)
    association = next(a for a in fake.associations.values() if a["name"] == "acx_part_t00")
    assert association["roleArn"] == "arn:aws:iam::123456789012:role/cleanrooms-glue-s3-access"
    rule = fake.association_rules[association["id"]]["v1"]["custom"]
    assert rule == {"allowedResultReceivers": RECEIVERS}  # never allowedAdditionalAnalyses


def _two_associations_with_budgets(ctx, fake) -> dict:
    """part_ibe_01 and part_ibe_02 associated; an ACCESS_BUDGET template each and the collaboration's DP one."""
    apply(ctx, ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01", "part_ibe_02"]))
    apply(ctx, ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS, prefix="part_ibe_0"))
    api = FakeAws(fake)
    made = {"dp": api.call("cleanrooms", "create_privacy_budget_template", membershipIdentifier=MEMBERSHIP,
                           privacyBudgetType="DIFFERENTIAL_PRIVACY",
                           parameters={"differentialPrivacy": {"epsilon": 3, "usersNoisePerQuery": 20}})}
    for association in fake.associations.values():
        made[association["name"]] = api.call(
            "cleanrooms", "create_privacy_budget_template", membershipIdentifier=MEMBERSHIP,
            privacyBudgetType="ACCESS_BUDGET", parameters={"accessBudget": {
                "resourceArn": association["arn"],
                "budgetParameters": [{"type": "CALENDAR_MONTH", "budget": 10, "autoRefresh": "ENABLED"}]}})
    return {k: v["privacyBudgetTemplate"]["id"] for k, v in made.items()}


def test_removal_deletes_only_the_access_budget_of_the_association_removed(ctx, fake):
    templates = _two_associations_with_budgets(ctx, fake)
    changes = membership_ops.remove_associations(ctx, MEMBERSHIP, ["part_ibe_01"], delete_privacy_budget_templates=True)
    budget, association = changes
    assert (budget.action, budget.name) == ("delete", templates["acx_part_ibe_01"])
    assert budget.reason == ("ACCESS_BUDGET of acx_part_ibe_01: deleting it resets part_ibe_01's access budget "
                             "to unlimited")
    fake.calls.clear()
    apply(ctx, changes)
    assert fake.mutating() == ["DeletePrivacyBudgetTemplate", "DeleteConfiguredTableAssociationAnalysisRule",
                               "DeleteConfiguredTableAssociation"]
    assert sorted(fake.templates) == sorted([templates["dp"], templates["acx_part_ibe_02"]])  # the others stay
    assert [a["name"] for a in fake.associations.values()] == ["acx_part_ibe_02"]


def test_removal_is_not_blocked_in_advance_and_a_refusal_names_the_template(ctx, fake):
    templates = _two_associations_with_budgets(ctx, fake)
    changes = membership_ops.remove_associations(ctx, MEMBERSHIP, ["part_ibe_01"])
    assert [(c.action, c.name) for c in changes] == [("skipped", templates["acx_part_ibe_01"]),
                                                     ("delete", "acx_part_ibe_01")]
    assert f"template(s) {templates['acx_part_ibe_01']} stay" in changes[1].reason
    apply(ctx, changes)  # AWS (this fake, by default) lets it go: nothing was blocked on a rule we made up
    assert len(fake.associations) == 1 and len(fake.templates) == 3
    fake.templates_block_removal = True  # the other answer the API reference leaves open
    changes = membership_ops.remove_associations(ctx, MEMBERSHIP, ["part_ibe_02"])
    with pytest.raises(cr_plan.ApplyStopped, match="SUBRESOURCES_EXIST"):
        apply(ctx, changes)
    assert changes[1].status == "failed" and templates["acx_part_ibe_02"] in changes[1].detail


def test_throttling_is_paced_and_retried(ctx, fake):
    fake.throttle_next = 2
    apply(ctx, ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"]))
    assert len(fake.tables) == 1
    assert any(s >= 1.0 for s in ctx.sleeps)  # backed off after ThrottlingException


def test_calls_are_paced_to_five_a_second():
    clock = [0.0]
    sleeps = []

    def sleep(s):
        sleeps.append(s)
        clock[0] += s

    api = cr_plan.PacedApi(FakeAws(FakeCleanRooms()), sleep=sleep, clock=lambda: clock[0])
    for _ in range(6):
        api.call("cleanrooms", "list_configured_tables")
    assert clock[0] == pytest.approx(1.0)  # six calls take a second, not less


def _create_meanwhile(fake, columns):
    FakeAws(fake).call("cleanrooms", "create_configured_table", name="part_ibe_01", allowedColumns=columns,
                       analysisMethod="DIRECT_QUERY",
                       tableReference={"glue": {"databaseName": "omc_flywheel_dev_clean", "tableName": "part_ibe_01"}})


def test_a_conflict_on_create_reads_the_existing_one_and_goes_on(ctx, fake):
    changes = ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"])
    _create_meanwhile(fake, ["customer_user_id", "ibe1802"])  # as wanted
    apply(ctx, changes)
    (table,) = fake.tables.values()
    assert table["id"] in fake.table_rules and changes[0].status == "applied"
    assert changes[0].detail == "CreateConfiguredTable (already existed)"


def test_an_existing_table_with_other_columns_is_a_difference_not_applied(ctx, fake):
    changes = ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"])
    _create_meanwhile(fake, ["customer_user_id"])
    with pytest.raises(cr_plan.ApplyStopped, match="exists, not as wanted"):
        apply(ctx, changes)
    assert changes[0].status == "differs" and "allowedColumns: ['customer_user_id'] -> " in changes[0].detail
    assert fake.table_rules == {}  # its rule was not made on a table that is not what the plan said


@pytest.mark.parametrize("reason", ["SUBRESOURCES_EXIST", "INVALID_STATE"])
def test_only_already_exists_counts_as_existing(ctx, fake, reason):
    changes = ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"])
    fake.fail["CreateConfiguredTable"] = ("ConflictException", 409, {"reason": reason})
    with pytest.raises(cr_plan.ApplyStopped, match=f"reason {reason}"):
        apply(ctx, changes)
    assert changes[0].status == "failed" and fake.tables == {}


def test_a_create_whose_answer_was_lost_is_read_back_not_resent(ctx, fake):
    changes = ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"])
    fake.lose_answer.add("CreateConfiguredTable")
    apply(ctx, changes)
    assert fake.mutating() == ["CreateConfiguredTable", "CreateConfiguredTableAnalysisRule"]  # sent once
    assert changes[0].status == "applied" and "answer was lost" in changes[0].detail
    (table_id,) = fake.tables
    assert table_id in fake.table_rules


def test_a_lost_answer_on_a_create_that_did_nothing_stops_without_resending(ctx, fake):
    changes = ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"])
    fake.fail["CreateConfiguredTable"] = ("InternalServerException", 500, {})
    with pytest.raises(cr_plan.ApplyStopped, match="InternalServerException"):
        apply(ctx, changes)
    assert fake.mutating() == ["CreateConfiguredTable"] and max(ctx.sleeps, default=0) < 1.0  # no backoff


def test_iam_synchronization_delay_is_retried_with_backoff(ctx, fake):
    apply(ctx, ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"]))
    fake.fail["CreateConfiguredTableAssociation"] = ("ValidationException", 400,
                                                     {"reason": "IAM_SYNCHRONIZATION_DELAY"})
    apply(ctx, ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS, prefix="part_ibe_01"))
    assert fake.mutating().count("CreateConfiguredTableAssociation") == 2 and len(fake.associations) == 1
    assert ctx.sleeps and max(ctx.sleeps) >= 1.0


def test_other_validation_errors_are_not_retried(ctx, fake):
    apply(ctx, ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"]))
    fake.fail["CreateConfiguredTableAssociation"] = ("ValidationException", 400,
                                                     {"reason": "INVALID_CONFIGURATION"})
    with pytest.raises(cr_plan.ApplyStopped, match="INVALID_CONFIGURATION"):
        apply(ctx, ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS, prefix="part_ibe_01"))
    assert fake.mutating().count("CreateConfiguredTableAssociation") == 1


def test_a_used_up_quota_stops_with_what_was_and_was_not_done_and_a_re_run_completes(ctx, fake):
    ctx.tables = [entry(f"part_t{i}") for i in range(4)]
    apply(ctx, ops.configure_tables(ctx, PROVIDERS))
    fake.association_quota = 2
    changes = ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS)
    with pytest.raises(cr_plan.ApplyStopped, match="quota is used up.*ServiceQuotaExceededException.*2 change"):
        apply(ctx, changes)
    assert [c.status for c in changes] == ["applied", "applied", "failed", "not attempted"]
    fake.association_quota = None
    rest = ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS)
    assert [c.action for c in rest] == ["unchanged", "unchanged", "create", "create"]
    apply(ctx, rest)
    assert len(fake.associations) == 4


def test_invitations_and_ml_configuration_and_id_namespace(ctx, fake):
    fake.collaborations[COLLABORATION] = {"id": COLLABORATION, "name": "Partner X", "memberStatus": "INVITED",
                                 "creatorAccountId": "444455556666", "creatorDisplayName": "X"}
    changes = membership_ops.accept_invitations(ctx)
    assert actions(changes) == [("create", "Partner X")]
    apply(ctx, changes)
    assert membership_ops.accept_invitations(ctx) == []
    ml_args = (ctx, MEMBERSHIP, "s3://omc-flywheel-dev-analysis-data/ml/", "arn:aws:iam::123456789012:role/cleanrooms-ml")
    apply(ctx, membership_ops.ml_configuration(*ml_args))
    assert [c.action for c in membership_ops.ml_configuration(*ml_args)] == ["unchanged"]
    arn = "arn:aws:entityresolution:us-east-1:123456789012:idnamespace/flywheel-ids"
    apply(ctx, membership_ops.associate_id_namespace(ctx, MEMBERSHIP, arn))
    assert [c.action for c in membership_ops.associate_id_namespace(ctx, MEMBERSHIP, arn)] == ["unchanged"]


@pytest.mark.parametrize("bad, field", [
    ({"providers": ["12345"]}, "providers: '12345' is not a 12-digit"),
    ({"providers": ["12345678901a"]}, "providers: '12345678901a'"),
    ({"membership": "not-a-uuid"}, "membershipIdentifier"),
    ({"receivers": ["1234567890123"]}, "result receivers: '1234567890123'"),
    ({"table": "part_Bad-"}, "name"),                                      # association name pattern
    ({"column": "Customer_ID"}, "allowedColumns[0]"),                       # lower case only
    ({"role": "x" * 70}, "role ARN"),                                       # account not 12 digits
])
def test_every_value_is_checked_against_the_api_rules_before_any_call(ctx, fake, bad, field):
    if "column" in bad:
        ctx.tables = [entry("part_ibe_01", (bad["column"], "ok"))]
    if "table" in bad:
        ctx.tables = [entry(bad["table"])]
    if "role" in bad:
        ctx.settings = load_settings("dev", environ={"ROLE_NAME": bad["role"][:64]})
        ctx.account_id = "1"
    with pytest.raises(InvalidRequest) as caught:
        changes = ops.configure_tables(ctx, bad.get("providers", PROVIDERS))
        if not {"providers", "column", "table"} & set(bad):  # configured as it should be; associations are bad
            apply(ctx, changes)
            changes = []
        fake.calls.clear()
        changes += ops.associate_tables(ctx, bad.get("membership", MEMBERSHIP), bad.get("receivers", RECEIVERS))
        apply(ctx, changes)
    assert field in str(caught.value)
    assert fake.mutating() == []


def test_a_table_over_the_column_limit_is_blocked_naming_the_columns(ctx):
    ctx.tables = [entry("part_wide", [f"c{i:03d}" for i in range(101)]), entry("part_ibe_01")]
    ok, blocked = ops.configure_tables(ctx, PROVIDERS)  # in name order
    assert blocked.action == "blocked" and "101 data columns to allow, 1 over" in blocked.reason
    assert blocked.reason.endswith("c100") and ok.action == "create"


def test_exactly_100_data_columns_fit_the_allow_list_beside_the_partition_key(ctx, fake):
    ctx.tables = [entry("part_wide", [f"c{i:03d}" for i in range(100)])]  # + id_bucket, not allowed
    (change,) = ops.configure_tables(ctx, PROVIDERS)
    assert change.action == "create"
    apply(ctx, [change])
    (table,) = fake.tables.values()
    assert len(table["allowedColumns"]) == 100


def test_on_the_local_backend_everything_is_to_create(fake):
    context = ops.OpContext(load_settings("dev", environ={}), [entry(n) for n in TABLES], load_mapping(), None)
    assert {c.action for c in ops.configure_tables(context, PROVIDERS)} == {"create"}
    assert {c.action for c in ops.associate_tables(context, MEMBERSHIP, RECEIVERS)} == {"create"}


def test_a_rule_created_meanwhile_by_someone_else_counts_as_existing(ctx, fake):
    apply(ctx, ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"]))
    (table_id,) = fake.tables
    del fake.table_rules[table_id]
    changes = ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"])
    assert actions(changes) == [("create", "part_ibe_01")]
    fake.table_rules[table_id] = {"v1": {"custom": {"allowedAnalyses": ["ANY_QUERY"],
                                                    "allowedAnalysisProviders": PROVIDERS}}}
    apply(ctx, changes)
    assert changes[0].status == "applied" and "already existed" in changes[0].detail
    assert actions(ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"])) == [("unchanged", "part_ibe_01")]


def test_a_rule_created_meanwhile_with_other_providers_is_a_difference(ctx, fake):
    apply(ctx, ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"]))
    apply(ctx, ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS, prefix="part_ibe_01"))
    (association_id,) = fake.association_rules
    del fake.association_rules[association_id]
    changes = ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS, prefix="part_ibe_01")
    fake.association_rules[association_id] = {"v1": {"custom": {"allowedResultReceivers": ["444455556666"]}}}
    with pytest.raises(cr_plan.ApplyStopped):
        apply(ctx, changes)
    assert changes[0].status == "differs"
    assert "allowedResultReceivers: ['444455556666'] -> ['444455556666', '777788889999']" in changes[0].detail


def test_existing_associations_keep_their_slots_under_the_cap(ctx, fake):
    ctx.tables = [entry(f"part_t{i:02d}") for i in range(1, 4)]
    apply(ctx, ops.configure_tables(ctx, PROVIDERS))
    apply(ctx, ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS, max_associations=2))
    ctx.tables.append(entry("part_t00"))  # a new table that sorts first
    apply(ctx, ops.configure_tables(ctx, PROVIDERS))
    changes = ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS, max_associations=2)
    assert actions(changes) == [("skipped", "acx_part_t00"), ("unchanged", "acx_part_t01"),
                                ("unchanged", "acx_part_t02"), ("skipped", "acx_part_t03")]


def test_an_association_to_a_re_created_table_is_re_created(ctx, fake):
    apply(ctx, ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"]))
    apply(ctx, ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS, prefix="part_ibe_01"))
    (association,) = fake.associations.values()
    association["configuredTableId"] = "ffffffff-ffff-4fff-8fff-ffffffffffff"  # the table it knew is gone
    changes = ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS, prefix="part_ibe_01")
    assert [c.action for c in changes] == ["re-create"]
    apply(ctx, changes)
    (association,) = fake.associations.values()
    assert association["configuredTableId"] == next(iter(fake.tables))


def test_a_rule_without_providers_or_receivers_is_refused_before_any_call(ctx, fake):
    with pytest.raises(InvalidRequest, match="with no providers"):
        apply(ctx, ops.configure_tables(ctx, [], tables=["part_ibe_01"]))
    assert fake.mutating() == []


def test_a_failed_change_records_the_steps_it_had_done(ctx, fake):
    changes = ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"])
    fake.fail["CreateConfiguredTableAnalysisRule"] = "AccessDeniedException"
    with pytest.raises(cr_plan.ApplyStopped):
        apply(ctx, changes)
    assert changes[0].detail.startswith("done: CreateConfiguredTable; failed: ")


def test_role_names_may_carry_a_path_but_no_comma(ctx, fake):
    ctx.settings = load_settings("dev", environ={"ROLE_NAME": "flywheel/cleanrooms-glue-s3-access"})
    assert ctx.role_arn == "arn:aws:iam::123456789012:role/flywheel/cleanrooms-glue-s3-access"
    with pytest.raises(ConfigError, match="role_name = 'cleanrooms,glue'"):
        load_settings("dev", environ={"ROLE_NAME": "cleanrooms,glue"})
    ctx.settings = dataclasses.replace(ctx.settings, role_name="cleanrooms,glue")  # past the settings check
    with pytest.raises(InvalidRequest, match=r"does not match the pattern arn:aws:iam::\[\\w\]\+:role/"):
        ctx.role_arn


def _invited(fake, abilities, pays):
    us = {"accountId": "123456789012", "displayName": "Us", "status": "INVITED", "abilities": abilities,
          "paymentConfiguration": {"queryCompute": {"isResponsible": pays}}}
    them = {"accountId": "444455556666", "displayName": "X", "status": "ACTIVE", "abilities": ["CAN_QUERY"],
            "paymentConfiguration": {"queryCompute": {"isResponsible": not pays}}}
    fake.collaborations[COLLABORATION] = {"id": COLLABORATION, "name": "Partner X", "memberStatus": "INVITED",
                                          "creatorAccountId": "444455556666", "creatorDisplayName": "X",
                                          "members": [them, us]}


def test_joining_as_a_payer_without_query_ability_accepts_the_payment(ctx, fake):
    _invited(fake, ["CAN_RECEIVE_RESULTS"], pays=True)
    (change,) = membership_ops.accept_invitations(ctx)
    assert change.steps[0].params["paymentConfiguration"] == {"queryCompute": {"isResponsible": True}}
    assert "we pay for queries without running them" in change.reason
    apply(ctx, [change])
    assert fake.collaborations[COLLABORATION]["memberStatus"] == "ACTIVE"


@pytest.mark.parametrize("abilities, pays", [(["CAN_QUERY", "CAN_RECEIVE_RESULTS"], True),
                                             (["CAN_RECEIVE_RESULTS"], False)])
def test_joining_otherwise_sends_no_payment(ctx, fake, abilities, pays):
    _invited(fake, abilities, pays)
    (change,) = membership_ops.accept_invitations(ctx)
    assert "paymentConfiguration" not in change.steps[0].params
    apply(ctx, [change])
    assert fake.collaborations[COLLABORATION]["memberStatus"] == "ACTIVE"


def test_joining_when_the_member_list_is_closed_to_invitees_still_plans(ctx, fake):
    _invited(fake, ["CAN_RECEIVE_RESULTS"], pays=False)
    fake.invitees_cannot_list_members = True  # the other answer the API reference leaves open
    (change,) = membership_ops.accept_invitations(ctx)
    assert "member list could not be read (AccessDeniedException)" in change.reason
    apply(ctx, [change])
    assert fake.collaborations[COLLABORATION]["memberStatus"] == "ACTIVE"
