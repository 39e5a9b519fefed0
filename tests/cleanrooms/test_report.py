"""The Clean Rooms readiness report: per table, the collaboration, identity; locally, the plan."""

from __future__ import annotations

import csv
import json

from flywheel_lib.cleanrooms import membership_ops, operations as ops
from flywheel_lib import changes as cr_plan
from flywheel_lib.cleanrooms import report as cr_report
from flywheel_lib.config import load_settings
from flywheel_lib.mapping import load_mapping

from .fake_cleanrooms import FakeAws, FakeCleanRooms
from .test_operations import COLLABORATION, MEMBERSHIP, PROVIDERS, RECEIVERS, entry

NAMESPACE_ARN = "arn:aws:entityresolution:us-east-1:123456789012:idnamespace/flywheel-ids"


def context(fake, tables):
    api = cr_plan.PacedApi(FakeAws(fake), sleep=lambda _: None)
    return ops.OpContext(load_settings("dev", environ={}), [entry(n) for n in tables], load_mapping(), api)


def test_ready_means_configured_rule_association_and_a_provider(tmp_path):
    fake = FakeCleanRooms()
    fake.collaborations[COLLABORATION] = {
        "id": COLLABORATION, "name": "Flywheel", "memberStatus": "ACTIVE", "membershipId": MEMBERSHIP,
        "members": [{"accountId": "444455556666", "displayName": "Partner", "status": "ACTIVE",
                     "abilities": ["CAN_RECEIVE_RESULTS"]},
                    {"accountId": "123456789012", "displayName": "Us", "status": "ACTIVE", "abilities": ["CAN_QUERY"]}]}
    fake.id_namespaces["flywheel-ids"] = {"type": "SOURCE", "inputSourceConfig": [
        {"inputSourceARN": "arn:aws:glue:us-east-1:123456789012:table/db/part_addressable_ids_er",
         "schemaName": "flywheel-schema"}]}
    fake.schema_mappings["flywheel-schema"] = {"mappedInputFields": [{"fieldName": "row_id"},
                                                                     {"fieldName": "customer_user_id"}]}
    ctx = context(fake, ["part_ibe_01", "part_ibe_02", "part_ibe_03"])
    cr_plan.apply(ctx.api, ops.configure_tables(ctx, PROVIDERS, tables=["part_ibe_01", "part_ibe_02"]))
    cr_plan.apply(ctx.api, ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS, prefix="part_ibe_01"))
    cr_plan.apply(ctx.api, membership_ops.associate_id_namespace(ctx, MEMBERSHIP, NAMESPACE_ARN))
    report = cr_report.build(ctx, MEMBERSHIP)
    ready = {t["table"]: t["ready_for_analysis"] for t in report.tables}
    assert ready == {"part_ibe_01": True, "part_ibe_02": False, "part_ibe_03": False}
    missing = {t["table"]: t["missing"] for t in report.tables}
    assert missing["part_ibe_01"] == "" and missing["part_ibe_02"] == ("association, collaboration analysis rule, "
                                                                       "result receiver")
    row = report.tables[0]
    assert row["providers"] == PROVIDERS[0] and row["result_receivers"] == ",".join(RECEIVERS)
    assert row["analysis_method"] == "DIRECT_QUERY" and row["allowed_columns"] == 2
    assert report.collaboration["name"] == "Flywheel"
    assert [m["can_receive_results"] for m in report.members] == [True, False]
    assert report.identity[0]["schema_mapping"] == "flywheel-schema" and report.identity[0]["mapped_fields"] == 2
    files = cr_report.write(report, tmp_path)
    with open(files["tables"]) as handle:
        assert list(csv.DictReader(handle))[0]["ready_for_analysis"] == "True"
    assert json.loads(open(files["json"]).read())["summary"]["ready_for_analysis"] == 1
    with open(files["identity"]) as handle:
        assert next(csv.DictReader(handle))["id_namespace"] == "flywheel-ids"


def test_locally_the_report_says_what_the_operations_would_do():
    tables = [f"part_t{i:02d}" for i in range(27)] + ["part_n_a"]
    ctx = ops.OpContext(load_settings("dev", environ={}), [entry(n) for n in tables], load_mapping(), None)
    report = cr_report.build(ctx, "")
    planned = {t["table"]: t["planned"] for t in report.tables}
    assert planned["part_t00"] == "create configured table; create association"
    assert "over our cap of 25" in planned["part_t26"]
    assert planned["part_n_a"] == "create configured table"  # excluded from collaborations
    assert not any(t["ready_for_analysis"] for t in report.tables) and "local backend" in report.notes[0]


def test_an_association_without_its_rule_or_receivers_is_not_ready_and_says_which():
    fake = FakeCleanRooms()
    ctx = context(fake, ["part_ibe_01", "part_ibe_02"])
    cr_plan.apply(ctx.api, ops.configure_tables(ctx, PROVIDERS))
    cr_plan.apply(ctx.api, ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS, prefix="part_ibe_0"))
    by_name = {a["name"]: a["id"] for a in fake.associations.values()}
    del fake.association_rules[by_name["acx_part_ibe_01"]]  # associated, but no collaboration analysis rule
    fake.association_rules[by_name["acx_part_ibe_02"]] = {"v1": {"custom": {"allowedResultReceivers": []}}}
    fake.collaborations[COLLABORATION] = {"id": COLLABORATION, "name": "Flywheel", "memberStatus": "ACTIVE",
                                          "membershipId": MEMBERSHIP, "members": []}
    rows = {t["table"]: t for t in cr_report.build(ctx, MEMBERSHIP).tables}
    assert [rows[t]["ready_for_analysis"] for t in ("part_ibe_01", "part_ibe_02")] == [False, False]
    assert rows["part_ibe_01"]["missing"] == "collaboration analysis rule, result receiver"
    assert rows["part_ibe_02"]["missing"] == "result receiver"
