"""Lake Formation: who can read a table (stage 8) and the grant_lake_formation plan, against moto.

moto's Glue does not apply the database's CreateTableDefaultPermissions to new
tables as Lake Formation does (IAM_ALLOWED_PRINCIPALS gets ALL on each new table,
GetDataLakeSettings documentation); tests that need that default grant it.
"""

from __future__ import annotations

import pytest

from flywheel_lib import changes
from flywheel_lib.aws import glue_catalog
from flywheel_lib.aws import lakeformation as lf
from flywheel_lib.aws.backend import AwsBackend
from flywheel_lib.aws.lakeformation_grants import LakeGrants, plan_grants
from flywheel_lib.cleanrooms import operations as ops
from flywheel_lib.cleanrooms import report as cr_report
from flywheel_lib.cleanrooms.context import operation_context
from flywheel_lib.config import load_settings
from flywheel_lib.errors import ConfigError
from flywheel_lib.local.catalog import CatalogEntry

from cleanrooms.fake_cleanrooms import FakeCleanRooms
from cleanrooms.test_operations import COLLABORATION, MEMBERSHIP, PROVIDERS, RECEIVERS
from cleanrooms.test_report import context

from .conftest import ACCOUNT

READER = f"arn:aws:iam::{ACCOUNT}:role/cleanrooms-glue-s3-access"
RUNNER = f"arn:aws:iam::{ACCOUNT}:role/omc_flywheel-dev-glue-role"
ROOT = "s3://omc-flywheel-data-us-east-1-dev/omc_cleanroom_data/split_part"


def entry(name: str, dataset: str = "infobase_attributes", location: str = "") -> CatalogEntry:
    table = name.removeprefix("part_").upper()
    return CatalogEntry(name=name, run_id="r1", dataset=dataset, source_table=table,
                        location=location or f"{ROOT}/{dataset}/{table}/2026-10-01__r1",
                        snapshot_dt="2026-10-01", columns=[("customer_user_id", "string"), ("x", "int")],
                        row_count=10, state="published")


@pytest.fixture
def catalog(aws, settings):
    """Two published tables in the main database and one staged; returns every entry."""
    entries = {settings.database_name: [entry("part_ibe_01"), entry("part_addressable_ids", "addressable_ids")],
               settings.staging_database: [entry("part_ibe_01")]}
    for database, tables in entries.items():
        glue_catalog.ensure_database(aws, database)
        for item in tables:
            glue_catalog.put_table(aws, database, item)
    return [e for tables in entries.values() for e in tables]


def grant(aws, principal: str, resource: dict, permissions: list[str]) -> None:
    aws.call("lakeformation", "grant_permissions", Principal={"DataLakePrincipalIdentifier": principal},
             Resource=resource, Permissions=permissions)


def apply(aws, settings, tables, runner=RUNNER) -> list[changes.Change]:
    plan = plan_grants(lf.read_state(aws), settings, runner, READER, tables)
    return changes.apply(changes.PacedApi(aws, sleep=lambda _: None), plan)


def test_a_table_iam_allowed_principals_hold_all_on_is_readable_through_iam_alone(aws, settings, catalog):
    main = settings.database_name
    grant(aws, lf.IAM_ALLOWED, lf.table_resource(main, "part_ibe_01"), ["ALL"])  # the hybrid default
    state = lf.read_state(aws)
    assert state.iam_default_kept()  # moto's (and a new account's) settings keep the IAM-only default
    iam = lf.access(state, READER, main, catalog[0])
    assert iam.ready and iam.how.startswith("IAM only") and not state.registered
    missing = lf.access(state, READER, main, catalog[1])
    assert not missing.ready and missing.missing.startswith(f"no SELECT or DESCRIBE for {READER}")


def test_a_grant_reads_only_on_a_registered_location(aws, settings, catalog):
    main = settings.database_name
    grant(aws, READER, lf.table_resource(main), ["SELECT"])  # TableWildcard: every table of main
    grant(aws, READER, lf.table_resource(main, "part_ibe_01"), ["DESCRIBE"])
    state = lf.read_state(aws)
    assert lf.access(state, READER, main, catalog[1]).missing.startswith("no DESCRIBE")
    unregistered = lf.access(state, READER, main, catalog[0])
    assert not unregistered.ready and "is not registered with Lake Formation" in unregistered.missing
    aws.call("lakeformation", "register_resource", ResourceArn=lf.s3_arn(ROOT), UseServiceLinkedRole=True)
    assert lf.access(lf.read_state(aws), READER, main, catalog[0]) == lf.Access("Lake Formation grant", True)


def test_all_on_the_table_counts_as_select_and_describe(aws, settings, catalog):
    grant(aws, READER, lf.table_resource(settings.database_name, "part_ibe_01"), ["ALL"])
    aws.call("lakeformation", "register_resource", ResourceArn=lf.s3_arn(ROOT))
    assert lf.access(lf.read_state(aws), READER, settings.database_name, catalog[0]).ready


def test_a_column_subset_is_not_the_whole_table():
    listed = {"Principal": {"DataLakePrincipalIdentifier": READER}, "Permissions": ["SELECT", "DESCRIBE"],
              "Resource": {"TableWithColumns": {"DatabaseName": "db", "Name": "part_ibe_01",
                                                "ColumnWildcard": {"ExcludedColumnNames": ["x"]}}}}
    state = lf.LakeState(registered=[lf.s3_arn(ROOT)], grants=[listed])
    assert not lf.access(state, READER, "db", entry("part_ibe_01")).ready
    listed["Resource"]["TableWithColumns"]["ColumnWildcard"] = {}
    assert lf.access(state, READER, "db", entry("part_ibe_01")).ready


def test_locations_cover_whole_path_segments_only():
    assert lf.covers("arn:aws:s3:::bucket/data", "s3://bucket/data/t/v1")
    assert lf.covers("arn:aws:s3:::bucket", "s3://bucket/data")
    assert not lf.covers("arn:aws:s3:::bucket/data", "s3://bucket/database/t")


def test_grant_plan_registers_grants_and_a_second_apply_changes_nothing(aws, settings, catalog):
    outcome = apply(aws, settings, catalog)
    actions = {(c.kind, c.name): c.action for c in outcome}
    assert [c.action for c in outcome if c.kind == "data location"] == ["create", "create"]
    assert actions[("grant", f"Clean Rooms on every table of {settings.database_name}")] == "create"
    assert actions[("grant", f"runner on database {settings.staging_database}")] == "create"
    assert {c.status for c in outcome} == {"applied"}
    state = lf.read_state(aws)
    assert sorted(state.registered) == [lf.s3_arn(f"{ROOT}/addressable_ids"), lf.s3_arn(f"{ROOT}/infobase_attributes")]
    assert all(lf.access(state, READER, settings.database_name, e).ready for e in catalog[:2])
    assert state.held(RUNNER, lf.table_resource(settings.staging_database)) == {
        "SELECT", "DESCRIBE", "INSERT", "ALTER", "DROP"}
    assert state.held(RUNNER, {"DataLocation": {"ResourceArn": lf.s3_arn(f"{ROOT}/addressable_ids")}}) == {
        "DATA_LOCATION_ACCESS"}
    again = plan_grants(state, settings, RUNNER, READER, catalog)
    assert {c.action for c in again} == {"unchanged"} and len(again) == len(outcome)


def test_only_missing_permissions_are_granted_and_a_covering_location_is_kept(aws, settings, catalog):
    bucket = "arn:aws:s3:::omc-flywheel-data-us-east-1-dev"
    aws.call("lakeformation", "register_resource", ResourceArn=bucket)
    grant(aws, RUNNER, {"Database": {"Name": settings.database_name}}, ["DESCRIBE", "ALTER"])
    grant(aws, READER, lf.table_resource(settings.database_name), ["ALL"])
    plan = plan_grants(lf.read_state(aws), settings, RUNNER, READER, catalog)
    by_name = {c.name: c for c in plan}
    runner_main = by_name[f"runner on database {settings.database_name}"]
    assert runner_main.action == "update" and runner_main.steps[0].params["Permissions"] == ["CREATE_TABLE", "DROP"]
    assert by_name[f"Clean Rooms on every table of {settings.database_name}"].action == "unchanged"
    locations = [c for c in plan if c.kind == "data location"]
    assert {c.action for c in locations} == {"unchanged"} and bucket in locations[0].reason
    assert by_name[f"runner on location {bucket}"].action == "create"  # granted where it is registered


def test_a_table_outside_the_output_roots_is_shown_blocked(aws, settings, catalog):
    stray = entry("part_old", location="s3://elsewhere-bucket/old/part_old")
    plan = plan_grants(lf.read_state(aws), settings, RUNNER, READER, catalog + [stray, stray])  # main, staging
    (blocked,) = [c for c in plan if c.action == "blocked"]
    assert blocked.name == stray.location and "outside the output roots" in blocked.reason


def test_register_that_meets_an_existing_registration_goes_on(aws, settings, catalog):
    plan = plan_grants(lf.read_state(aws), settings, RUNNER, READER, catalog)
    aws.call("lakeformation", "register_resource", ResourceArn=lf.s3_arn(f"{ROOT}/addressable_ids"))  # a race
    outcome = changes.apply(changes.PacedApi(aws, sleep=lambda _: None), plan)
    assert {c.status for c in outcome} == {"applied"}


def test_grant_requests_are_checked_against_the_model(settings):
    plan = plan_grants(lf.LakeState(), settings, "", READER, [])  # an empty principal identifier
    with pytest.raises(changes.api_rules.InvalidRequest, match="DataLakePrincipalIdentifier"):
        changes.validate(plan)


@pytest.mark.parametrize("caller, principal", [
    ("arn:aws:sts::123456789012:assumed-role/flywheel-runner/i-0abc", "arn:aws:iam::123456789012:role/flywheel-runner"),
    ("arn:aws:iam::123456789012:user/moto", "arn:aws:iam::123456789012:user/moto"),
    ("arn:aws:sts::123456789012:user/moto", "arn:aws:iam::123456789012:user/moto"),
])
def test_the_caller_as_a_lake_formation_principal(caller, principal):
    assert lf.principal_arn(caller) == principal


def test_runner_role_arn_setting_is_validated():
    assert load_settings("dev", environ={"FLYWHEEL_RUNNER_ROLE_ARN": RUNNER}).runner_role_arn == RUNNER
    with pytest.raises(ConfigError, match="runner_role_arn"):
        load_settings("dev", environ={"FLYWHEEL_RUNNER_ROLE_ARN": "flywheel-runner"})


def test_stage_8_counts_a_missing_grant_as_not_ready_and_says_why(aws, settings, tmp_path):
    fake = FakeCleanRooms()
    fake.collaborations[COLLABORATION] = {"id": COLLABORATION, "name": "Flywheel", "memberStatus": "ACTIVE",
                                          "membershipId": MEMBERSHIP, "members": []}
    ctx = context(fake, ["part_ibe_01", "part_ibe_02"])  # tables at s3://b/<name>
    changes.apply(ctx.api, ops.configure_tables(ctx, PROVIDERS))
    changes.apply(ctx.api, ops.associate_tables(ctx, MEMBERSHIP, RECEIVERS))
    aws.call("lakeformation", "register_resource", ResourceArn="arn:aws:s3:::b")
    grant(aws, READER, lf.table_resource(settings.database_name, "part_ibe_01"), ["SELECT", "DESCRIBE"])
    lake = lf.TableAccess(lf.read_state(aws), READER, settings.database_name)
    report = cr_report.build(ctx, MEMBERSHIP, lake)
    rows = {t["table"]: t for t in report.tables}
    assert rows["part_ibe_01"]["ready_for_analysis"] and rows["part_ibe_01"]["lf_ready"]
    assert rows["part_ibe_02"]["association_exists"] and not rows["part_ibe_02"]["ready_for_analysis"]
    assert rows["part_ibe_02"]["lf_missing"].startswith(f"no SELECT or DESCRIBE for {READER}")
    assert any(n.startswith("Lake Formation: 1 registered location(s)") for n in report.notes)
    with open(cr_report.write(report, tmp_path)["tables"]) as handle:
        assert "lf_missing" in handle.readline()


def test_a_caller_that_sees_no_grant_is_told_why_everything_looks_missing(aws, settings, catalog):
    lake = lf.TableAccess(lf.read_state(aws), READER, settings.database_name)
    assert not lake.of(catalog[0]).ready and "data lake administrator" in lake.notes()[-1]
    grant(aws, lf.IAM_ALLOWED, lf.table_resource(settings.database_name, "part_ibe_01"), ["ALL"])
    assert len(lf.TableAccess(lf.read_state(aws), READER, settings.database_name).notes()) == 1


def test_locally_lake_formation_is_not_applicable(tmp_path):
    settings = load_settings("local", environ={"FLYWHEEL_DATA_ROOT": str(tmp_path)})
    lake = lf.table_access(settings, None, READER)
    assert lake.of(entry("part_ibe_01")) == lf.Access("not applicable (local backend: no Lake Formation)", True)


def test_the_operation_context_plans_and_applies_in_process(aws, settings, catalog):
    operation = LakeGrants(settings, AwsBackend(settings, aws=aws), "grant_lake_formation", "t1")
    assert operation.runner == f"arn:aws:iam::{ACCOUNT}:user/moto"  # the caller, as moto's STS names it
    assert operation.reader == READER and len(operation.tables) == 3
    assert operation.principals().loc["refresh runner", "value"].endswith("user/moto (the caller)")
    outcome = operation.apply(operation.plan(), True)  # PlannedOperation.apply, as the notebook calls it
    assert set(outcome.status) == {"applied"}
    assert {c.action for c in operation.plan()} == {"unchanged"}


def test_stage_8_on_aws_reads_lake_formation_for_the_association_role(aws, settings, catalog):
    """The notebook's calls, in process: the published tables, the Clean Rooms role, moto's Lake Formation."""
    backend = AwsBackend(settings, aws=aws)
    cleanrooms = operation_context(settings, backend)
    grant(aws, lf.IAM_ALLOWED, lf.table_resource(settings.database_name, "part_addressable_ids"), ["ALL"])
    report = cr_report.build(cleanrooms, "", lf.table_access(settings, backend, cleanrooms.role_arn))
    rows = {t["table"]: t for t in report.tables}
    assert rows["part_addressable_ids"]["lake_formation"].startswith("IAM only")
    assert not rows["part_ibe_01"]["lf_ready"] and READER in rows["part_ibe_01"]["lf_missing"]
