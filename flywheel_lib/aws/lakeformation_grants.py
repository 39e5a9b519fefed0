"""The `grant_lake_formation` operation: register the data locations, grant the runner and Clean Rooms.

Planned like every operation (flywheel_lib/changes.py) from what Lake Formation
holds (lakeformation.read_state), so a second apply finds everything unchanged:

- data locations: each output root (both datasets; every version folder of the
  main and the staging database lies under them) registered in hybrid mode
  (HybridAccessEnabled, the IAM_ALLOWED_PRINCIPALS defaults kept), unless a
  registered location already covers it. A table pointing outside them is shown, blocked.
- the refresh runner (settings.runner_role_arn, else the caller): on the main and
  the staging database CREATE_TABLE, ALTER, DROP, DESCRIBE; on their tables
  (TableWildcard) SELECT, DESCRIBE, INSERT, ALTER and DROP (registration drops and
  re-creates staged tables); DATA_LOCATION_ACCESS on the registered locations, which
  LF requires to create or alter tables pointing there.
- the Clean Rooms role (settings.role_name): DESCRIBE on the main database and
  SELECT, DESCRIBE on its tables. No data location permission: that permission
  only governs creating catalog resources at a location (LF "Underlying data
  access control"); reading is SELECT on the table. No staging access: Clean Rooms
  reads published tables only.

Only missing permissions are granted; nothing is revoked.
"""

from __future__ import annotations

import pandas as pd

from ..backend import get_backend
from ..changes import Change, PlannedOperation, Step
from ..cleanrooms.context import operation_context
from ..config import load_settings
from . import lakeformation as lf
from .publishing import catalog_entries

LF = "lakeformation"
RUNNER_DATABASE = ("CREATE_TABLE", "ALTER", "DROP", "DESCRIBE")
RUNNER_TABLES = ("SELECT", "DESCRIBE", "INSERT", "ALTER", "DROP")
READER_DATABASE = ("DESCRIBE",)
READER_TABLES = lf.READ


def wanted_grants(settings, runner: str, reader: str, locations: list[str]) -> list[tuple[str, str, dict, tuple]]:
    """(who, principal, resource, permissions) for every grant the refresh and Clean Rooms need."""
    grants = []
    for database in (settings.database_name, settings.staging_database):
        grants += [("runner", runner, {"Database": {"Name": database}}, RUNNER_DATABASE),
                   ("runner", runner, lf.table_resource(database), RUNNER_TABLES)]
    grants += [("runner", runner, {"DataLocation": {"ResourceArn": arn}}, ("DATA_LOCATION_ACCESS",))
               for arn in locations]
    grants += [("Clean Rooms", reader, {"Database": {"Name": settings.database_name}}, READER_DATABASE),
               ("Clean Rooms", reader, lf.table_resource(settings.database_name), READER_TABLES)]
    return grants


def _describe(resource: dict) -> str:
    if "Database" in resource:
        return f"database {resource['Database']['Name']}"
    if "Table" in resource:
        return f"every table of {resource['Table']['DatabaseName']}"
    return f"location {resource['DataLocation']['ResourceArn']}"


def grant_change(state: lf.LakeState, who: str, principal: str, resource: dict, wanted: tuple) -> Change:
    held = lf.expand(state.held(principal, resource))
    missing = [p for p in wanted if p not in held]
    name = f"{who} on {_describe(resource)}"
    if not missing:
        return Change("unchanged", "grant", name, f"{principal} holds {', '.join(wanted)}")
    action = "update" if held else "create"
    return Change(action, "grant", name, f"{principal} lacks {', '.join(missing)}",
                  [Step(LF, "GrantPermissions", {"Principal": {"DataLakePrincipalIdentifier": principal},
                                                  "Resource": resource, "Permissions": missing})])


def _registered(api, params) -> dict:
    """RegisterResource met AlreadyExistsException: the location is registered (its mode is not compared)."""
    return {}


def location_changes(state: lf.LakeState, roots: list[str], tables: list, partition: str):
    """(changes, ARNs to grant on): each root registered or covered; tables outside every root shown."""
    changes, arns = [], []
    for root in roots:
        covering = state.covering(root)
        if covering:
            changes.append(Change("unchanged", "data location", root, f"covered by registered {covering}"))
        else:
            covering = lf.s3_arn(root, partition)
            changes.append(Change("create", "data location", root, "not registered: tables there cannot be "
                                  "governed by Lake Formation", [Step(LF, "RegisterResource", {
                                      "ResourceArn": covering, "UseServiceLinkedRole": True,
                                      "HybridAccessEnabled": True}, read_back=_registered)]))
        arns.append(covering)
    outside: dict[str, list[str]] = {}  # location -> the tables (main and staging) pointing there
    for entry in tables:
        if not any(lf.covers(lf.s3_arn(root), entry.location) for root in roots) \
                and state.covering(entry.location) is None:
            outside.setdefault(entry.location, []).append(entry.name)
    changes += [Change("blocked", "data location", location, f"{', '.join(sorted(set(names)))} point(s) outside "
                       "the output roots and no registered location covers it: register it by hand or "
                       "re-register the table") for location, names in sorted(outside.items())]
    return changes, list(dict.fromkeys(arns))


def plan_grants(state: lf.LakeState, settings, runner: str, reader: str, tables: list,
                partition: str = "aws") -> list[Change]:
    """`tables`: every part_* table of the main and the staging database (their locations)."""
    roots = list(dict.fromkeys([settings.s3_root_addressable, settings.s3_root_infobase]))
    if settings.is_local:
        changes = [Change("skipped", "data location", root, "a local folder: Lake Formation registers S3 "
                          "locations only") for root in roots]
        arns = []
    else:
        changes, arns = location_changes(state, roots, tables, partition)
    return changes + [grant_change(state, *grant) for grant in wanted_grants(settings, runner, reader, arns)]


class LakeGrants(PlannedOperation):
    """The grant_lake_formation notebook's context: settings, principals, tables, AWS (None locally)."""

    records_folder = "lakeformation"
    needs_aws = "this plan was computed against an empty Lake Formation"

    def __init__(self, settings, backend, op: str, run_id: str):
        self.settings, self.op, self.run_id = settings, op, run_id
        self.aws = None if settings.is_local else backend.aws
        cleanrooms = operation_context(settings, backend)  # the association role, account and paced API
        self.api, self.reader, self.partition = cleanrooms.api, cleanrooms.role_arn, cleanrooms.partition
        caller = (f"arn:aws:iam::{cleanrooms.account_id}:role/local-runner" if self.aws is None
                  else self.aws.identity()["Arn"])
        self.runner = settings.runner_role_arn or lf.principal_arn(caller)
        databases = (settings.database_name, settings.staging_database)
        self.tables = [] if self.aws is None else [e for db in databases for e in catalog_entries(self.aws, db)]

    def state(self) -> lf.LakeState:
        return lf.LakeState() if self.aws is None else lf.read_state(self.aws)

    def plan(self) -> list[Change]:
        return plan_grants(self.state(), self.settings, self.runner, self.reader, self.tables, self.partition)

    def principals(self) -> pd.DataFrame:
        """Who is granted what, shown before the plan."""
        rows = [("environment", self.settings.env),
                ("refresh runner", self.runner + ("" if self.settings.runner_role_arn else " (the caller)")),
                ("Clean Rooms role", self.reader), ("main database", self.settings.database_name),
                ("staging database", self.settings.staging_database),
                ("part_* tables (main and staging)", len(self.tables))]
        return pd.DataFrame(rows, columns=["", "value"]).set_index("")


def open_grants(env: str = "", run_id: str = "") -> LakeGrants:
    settings = load_settings(env or None)
    return LakeGrants(settings, get_backend(settings), "grant_lake_formation", run_id or "interactive")
