"""Clean Rooms operations: plans on empty and partial states, idempotent apply, faults, rules."""

from __future__ import annotations

import pytest

from flywheel_lib.cleanrooms import operations as ops
from flywheel_lib import changes as cr_plan
from flywheel_lib.api_rules import InvalidRequest
from flywheel_lib.config import load_settings
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


def test_a_changed_column_list_means_re_create_and_the_plan_says_why(ctx, fake):
    apply(ctx, ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"]))
    ctx.tables = [entry("part_ibe_01", ("customer_user_id", "ibe1802", "ibe2058_01"))]
    changes = ops.configure_tables(ctx, PROVIDERS)
    assert changes[0].action == "re-create" and "+1: ibe2058_01" in changes[0].reason
    assert "cannot be updated in place" in changes[0].reason
    apply(ctx, changes)
    (table,) = fake.tables.values()
    assert table["allowedColumns"][-1] == "ibe2058_01"


def test_new_providers_update_the_rule_only(ctx, fake):
    apply(ctx, ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"]))
    fake.calls.clear()
    changes = ops.update_providers(ctx, ["111122223333", "999988887777"], tables=["part_ibe_01"])
    assert actions(changes) == [("update", "part_ibe_01")]
    apply(ctx, changes)
    assert [c for c in fake.mutating()] == ["UpdateConfiguredTableAnalysisRule"]


def test_associations_skip_the_excluded_tables_sort_and_stop_at_the_cap(ctx, fake):
    ctx.tables = [entry(f"part_t{i:02d}") for i in range(30)] + [entry("part_n_a"), entry("part_n_a_a")]
    apply(ctx, ops.configure_tables(ctx, PROVIDERS))
    changes = ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS)
    assert [n for a, n in actions(changes) if a == "create"] == [f"acx_part_t{i:02d}" for i in range(25)]
    skipped = [c for c in changes if c.action == "skipped"]
    assert [c.name for c in skipped] == [f"acx_part_t{i:02d}" for i in range(25, 30)]
    assert "over the cap of 25" in skipped[0].reason
    assert not any("part_n_a" in n for _, n in actions(changes))
    apply(ctx, changes)
    association = next(a for a in fake.associations.values() if a["name"] == "acx_part_t00")
    assert association["roleArn"] == "arn:aws:iam::123456789012:role/cleanrooms-glue-s3-access"
    rule = fake.association_rules[association["id"]]["v1"]["custom"]
    assert rule == {"allowedResultReceivers": RECEIVERS}  # never allowedAdditionalAnalyses


def test_removal_goes_templates_then_rule_then_association(ctx, fake):
    apply(ctx, ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"]))
    apply(ctx, ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS, prefix="part_ibe_01"))
    fake.templates[TEMPLATE] = {"id": TEMPLATE, "membershipId": MEMBERSHIP, "privacyBudgetType": "DIFFERENTIAL_PRIVACY"}
    fake.calls.clear()
    blocked = ops.remove_associations(ctx, MEMBERSHIP, ["part_ibe_01"])
    assert [c.action for c in blocked] == ["blocked", "blocked"]  # templates serve the whole membership
    apply(ctx, ops.remove_associations(ctx, MEMBERSHIP, ["part_ibe_01"], delete_privacy_budget_templates=True))
    assert fake.mutating() == ["DeletePrivacyBudgetTemplate", "DeleteConfiguredTableAssociationAnalysisRule",
                               "DeleteConfiguredTableAssociation"]
    assert fake.associations == {}


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


def test_a_conflict_on_create_reads_the_existing_one_and_goes_on(ctx, fake):
    changes = ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"])
    FakeAws(fake).call("cleanrooms", "create_configured_table", name="part_ibe_01", allowedColumns=["x"],
                       analysisMethod="DIRECT_QUERY",
                       tableReference={"glue": {"databaseName": "db", "tableName": "part_ibe_01"}})  # meanwhile
    apply(ctx, changes)
    (table,) = fake.tables.values()
    assert table["id"] in fake.table_rules and changes[0].status == "applied"


def test_a_used_up_quota_stops_with_what_was_and_was_not_done_and_a_re_run_completes(ctx, fake):
    ctx.tables = [entry(f"part_t{i}") for i in range(4)]
    apply(ctx, ops.configure_tables(ctx, PROVIDERS))
    fake.association_quota = 2
    changes = ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS)
    with pytest.raises(cr_plan.ApplyStopped, match="quota is used up.*ServiceQuotaExceededException.*2 change"):
        apply(ctx, changes)
    assert [c.status for c in changes] == ["applied", "applied", "failed", "not attempted"]
    fake.association_quota = 25
    rest = ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS)
    assert [c.action for c in rest] == ["unchanged", "unchanged", "create", "create"]
    apply(ctx, rest)
    assert len(fake.associations) == 4


def test_invitations_and_ml_configuration_and_id_namespace(ctx, fake):
    fake.collaborations[COLLABORATION] = {"id": COLLABORATION, "name": "Partner X", "memberStatus": "INVITED",
                                 "creatorAccountId": "444455556666", "creatorDisplayName": "X"}
    changes = ops.accept_invitations(ctx)
    assert actions(changes) == [("create", "Partner X")]
    apply(ctx, changes)
    assert ops.accept_invitations(ctx) == []
    ml = ops.ml_configuration(ctx, MEMBERSHIP, "s3://omc-flywheel-dev-analysis-data/ml/",
                              "arn:aws:iam::123456789012:role/cleanrooms-ml")
    apply(ctx, ml)
    assert [c.action for c in ops.ml_configuration(ctx, MEMBERSHIP, "s3://omc-flywheel-dev-analysis-data/ml/",
                                                   "arn:aws:iam::123456789012:role/cleanrooms-ml")] == ["unchanged"]
    arn = "arn:aws:entityresolution:us-east-1:123456789012:idnamespace/flywheel-ids"
    apply(ctx, ops.associate_id_namespace(ctx, MEMBERSHIP, arn))
    assert [c.action for c in ops.associate_id_namespace(ctx, MEMBERSHIP, arn)] == ["unchanged"]


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
    assert blocked.action == "blocked" and "101 data columns, 2 over" in blocked.reason
    assert blocked.reason.endswith("c099, c100") and ok.action == "create"


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


def test_a_re_create_of_an_associated_table_is_blocked_not_half_done(ctx, fake):
    ctx.settings = load_settings("dev", environ={"CLEAN_ROOMS_MEMBERSHIP_ID": MEMBERSHIP})
    apply(ctx, ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01"]))
    apply(ctx, ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS, prefix="part_ibe_01"))
    ctx.tables = [entry("part_ibe_01", ("customer_user_id", "ibe1802", "ibe2058_01"))]
    fake.calls.clear()
    (change,) = ops.configure_tables(ctx, PROVIDERS)
    assert change.action == "blocked" and "associated as acx_part_ibe_01" in change.reason
    apply(ctx, [change])
    assert fake.mutating() == []


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
