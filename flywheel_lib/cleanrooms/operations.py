"""The Clean Rooms operations, each planned as Changes from the catalog and what exists.

Every function takes an `OpContext` (settings, the catalog's published tables,
the paced API or None on the local backend, the account) and the operation's
parameters, and returns the plan. Nothing here calls a mutating API: `plan.apply`
does, after `plan.validate`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError
from ..mapping import CLEAN_ROOMS_COLUMN_LIMIT, Mapping
from . import read_back, state
from .. import api_rules
from ..api_rules import InvalidRequest
from ..changes import Change, Ref, Step

ASSOCIATION_PREFIX = "acx_"
DEFAULT_EXCLUDED = ("part_n_a", "part_n_a_a")
MAX_ASSOCIATIONS = 25  # our own cap per membership, not an AWS quota (AWS's is in Service Quotas)
CR = "cleanrooms"
ROLE_ACCOUNT = re.compile(r"arn:[^:]+:iam::\d{12}:role/.+", re.ASCII)


@dataclass
class OpContext:
    settings: object
    tables: list            # published CatalogEntry of part_* tables (not *_er)
    mapping: Mapping
    api: object = None      # PacedApi on AWS; None locally (no Clean Rooms)
    account_id: str = "123456789012"
    partition: str = "aws"

    @property
    def role_arn(self) -> str:
        """The association role (ROLE_NAME may carry a path: `path/name`).

        Checked against the RoleArn pattern of botocore's cleanrooms model (paths allowed, no
        commas), and for a 12-digit account, which that pattern does not ask.
        """
        arn = f"arn:{self.partition}:iam::{self.account_id}:role/{self.settings.role_name}"
        found = api_rules.problems(CR, "CreateConfiguredTableAssociation", {
            "name": "x", "membershipIdentifier": "00000000-0000-4000-8000-000000000000",
            "configuredTableIdentifier": "00000000-0000-4000-8000-000000000000", "roleArn": arn})
        if not ROLE_ACCOUNT.fullmatch(arn):
            found.append(f"roleArn = {arn!r} does not name a 12-digit account")
        if found:
            raise InvalidRequest(f"role ARN {arn!r} would be refused by Clean Rooms: {'; '.join(found)}", found,
                                 setting="role_name", hint="ROLE_NAME is the role's name, with its path if "
                                 "it has one (path/name); letters, digits and +=.@_- only")
        return arn


def check_inputs(membership_id: str | None = None, accounts: list[str] | None = None,
                 what: str = "accounts") -> None:
    """The operation's own parameters, before even a read: a membership ID, 12-digit account IDs."""
    problems = []
    if membership_id is not None:
        problems += api_rules.problems("cleanrooms", "ListConfiguredTableAssociations",
                                       {"membershipIdentifier": membership_id})
    for account in accounts or []:
        if not re.fullmatch(r"\d{12}", str(account), re.ASCII):
            problems.append(f"{what}: {account!r} is not a 12-digit AWS account ID")
    if problems:
        raise InvalidRequest("; ".join(problems), problems, hint="Nothing was called; fix the parameters")


def _custom_table_rule(providers: list[str]) -> dict:
    return {"v1": {"custom": {"allowedAnalyses": ["ANY_QUERY"], "allowedAnalysisProviders": list(providers)}}}


def _custom_association_rule(receivers: list[str]) -> dict:
    # Never allowedAdditionalAnalyses: the collaboration does not use them (DOMAIN).
    return {"v1": {"custom": {"allowedResultReceivers": list(receivers)}}}


def allowed_columns(ctx: OpContext, entry) -> list[str]:
    """The table's data columns (partition key out), minus the reported Clean Rooms exclusions.

    The limit counts the allow-list only (Clean Rooms quotas: "Columns per configured table
    allowlist", 100); the partition key id_bucket is not in it.
    """
    left_out = set(ctx.mapping.clean_rooms_exclusions().get(entry.source_table, []))
    columns = [c for c in entry.column_names if c not in left_out]
    if len(columns) > CLEAN_ROOMS_COLUMN_LIMIT:
        over = len(columns) - CLEAN_ROOMS_COLUMN_LIMIT
        raise ConfigError(f"{entry.name} has {len(columns)} data columns to allow, {over} over the Clean Rooms "
                          f"limit of {CLEAN_ROOMS_COLUMN_LIMIT} allowed columns; last columns: "
                          f"{', '.join(columns[-over:])}", table=entry.name,
                          hint="Add the columns to leave out to the mapping's exclusions")
    return columns


def _select(ctx: OpContext, tables: list[str] | None):
    known = {e.name: e for e in ctx.tables}
    unknown = sorted(set(tables or ()) - set(known))
    if unknown:
        raise ConfigError(f"not published catalog tables: {', '.join(unknown)}", setting="tables",
                          hint=f"Published: {', '.join(sorted(known))}")
    return [known[n] for n in sorted(tables or known)]


# -- 1. configure tables ------------------------------------------------------------------

def configure_tables(ctx: OpContext, providers: list[str], tables: list[str] | None = None) -> list[Change]:
    """A configured table and CUSTOM rule per table; changed columns are updated in place."""
    check_inputs(accounts=providers, what="providers")
    existing = state.configured_tables(ctx.api)
    changes = []
    for entry in _select(ctx, tables):
        try:
            columns = allowed_columns(ctx, entry)
        except ConfigError as err:  # this table cannot be configured; the others still can
            changes.append(Change("blocked", "configured table", entry.name, err.message))
            continue
        wanted = {"analysisMethod": "DIRECT_QUERY", "allowedColumns": columns,
                  "tableReference": {"glue": {"databaseName": ctx.settings.database_name, "tableName": entry.name}}}
        current = existing.get(entry.name)
        if current is None:
            changes.append(Change("create", "configured table", entry.name,
                                  f"{len(columns)} allowed columns, CUSTOM rule for {len(providers)} provider(s)", [
                Step(CR, "CreateConfiguredTable", {"name": entry.name, **wanted},
                     saves={f"ct:{entry.name}": ("configuredTable", "id")}, read_back=read_back.configured_table),
                Step(CR, "CreateConfiguredTableAnalysisRule", {
                    "configuredTableIdentifier": Ref(f"ct:{entry.name}"), "analysisRuleType": state.CUSTOM,
                    "analysisRulePolicy": _custom_table_rule(providers)}, read_back=read_back.table_rule)]))
            continue
        update = _table_update(current, wanted)
        rule = _table_rule_change(current, state.table_rule(ctx.api, current["id"]), providers)
        changes += [update] if update and rule.action == "unchanged" else [c for c in (update, rule) if c]
    return changes


def _table_update(current: dict, wanted: dict) -> Change | None:
    """UpdateConfiguredTable takes allowedColumns (botocore's cleanrooms model): no re-create, rule kept."""
    changed = {k: v for k, v in wanted.items() if current.get(k) != v}
    if not changed:
        return None
    reasons = [f"{k} {current.get(k)} -> {v}" for k, v in changed.items() if k != "allowedColumns"]
    if "allowedColumns" in changed:
        added = [c for c in wanted["allowedColumns"] if c not in current["allowedColumns"]]
        removed = [c for c in current["allowedColumns"] if c not in wanted["allowedColumns"]]
        reasons.insert(0, f"columns changed (+{len(added)}: {', '.join(added[:5])}; -{len(removed)}: "
                          f"{', '.join(removed[:5])}): updated in place, rule and associations kept")
    return Change("update", "configured table", current["name"], "; ".join(reasons), [
        Step(CR, "UpdateConfiguredTable", {"configuredTableIdentifier": current["id"], **changed})])


def _table_rule_change(current: dict, rule: dict | None, providers: list[str]) -> Change:
    name, ident = current["name"], {"configuredTableIdentifier": current["id"], "analysisRuleType": state.CUSTOM}
    if rule is None:
        return Change("create", "analysis rule", name, "the configured table has no CUSTOM rule",
                      [Step(CR, "CreateConfiguredTableAnalysisRule",
                            {**ident, "analysisRulePolicy": _custom_table_rule(providers)},
                            read_back=read_back.table_rule)])
    have = sorted(rule.get("allowedAnalysisProviders", []))
    if have == sorted(providers):
        return Change("unchanged", "configured table", name, f"columns, rule and {len(have)} provider(s) as wanted")
    return Change("update", "analysis rule", name, f"providers {have} -> {sorted(providers)}",
                  [Step(CR, "UpdateConfiguredTableAnalysisRule",
                        {**ident, "analysisRulePolicy": _custom_table_rule(providers)})])


# -- 3a. update providers -------------------------------------------------------------------

def update_providers(ctx: OpContext, providers: list[str], tables: list[str] | None = None) -> list[Change]:
    check_inputs(accounts=providers, what="providers")
    existing = state.configured_tables(ctx.api)
    names = [e.name for e in _select(ctx, tables)]
    changes = []
    for name in names:
        if name not in existing:
            changes.append(Change("skipped", "analysis rule", name, "no configured table: run configure_tables"))
        else:
            current = existing[name]
            changes.append(_table_rule_change(current, state.table_rule(ctx.api, current["id"]), providers))
    return changes


# -- 2. associate tables --------------------------------------------------------------------

def association_candidates(ctx: OpContext, prefix: str, exclude) -> list[str]:
    return sorted(e.name for e in ctx.tables if e.name.startswith(prefix) and e.name not in set(exclude))


def associate_tables(ctx: OpContext, membership_id: str, receivers: list[str], prefix: str = "part_",
                     exclude=DEFAULT_EXCLUDED, max_associations: int = MAX_ASSOCIATIONS) -> list[Change]:
    """Existing associations keep their slot; free slots go to configured tables in name order."""
    check_inputs(membership_id, receivers, "result receivers")
    configured = state.configured_tables(ctx.api)
    existing = state.associations(ctx.api, membership_id)
    candidates = association_candidates(ctx, prefix, exclude)
    wanted = {ASSOCIATION_PREFIX + t for t in candidates}
    # Every existing association holds a slot (ours or not); new ones get what is left, in name order.
    free = max_associations - sum(1 for name in existing if name not in wanted) - \
        sum(1 for t in candidates if ASSOCIATION_PREFIX + t in existing)
    changes = []
    for table in candidates:
        name = ASSOCIATION_PREFIX + table
        current = existing.get(name)
        table_id = configured[table]["id"] if table in configured else None
        if current is not None and (table_id is None or current["configuredTableId"] == table_id):
            changes.append(_association_rule_change(ctx, membership_id, current, receivers))
        elif table_id is None and ctx.api is not None:
            changes.append(Change("skipped", "association", name, "no configured table: run configure_tables"))
        elif current is None and free <= 0:
            changes.append(Change("skipped", "association", name,
                                  f"over our cap of {max_associations} associations per membership "
                                  "(max_associations; our choice, not an AWS quota)"))
        else:
            free -= 0 if current else 1  # a re-created association keeps its own slot
            changes.append(_new_association(ctx, membership_id, table, table_id, receivers, current))
    return changes


def _new_association(ctx: OpContext, membership_id: str, table: str, table_id, receivers, stale) -> Change:
    name = ASSOCIATION_PREFIX + table
    steps = []
    if stale is not None:  # it points at another configured table (e.g. one re-created since)
        ident = {"membershipIdentifier": membership_id, "configuredTableAssociationIdentifier": stale["id"]}
        if state.association_rule(ctx.api, membership_id, stale["id"]) is not None:
            steps.append(Step(CR, "DeleteConfiguredTableAssociationAnalysisRule",
                              {**ident, "analysisRuleType": state.CUSTOM}))
        steps.append(Step(CR, "DeleteConfiguredTableAssociation", ident))
    steps += [
        Step(CR, "CreateConfiguredTableAssociation", {
            "name": name, "membershipIdentifier": membership_id,
            "configuredTableIdentifier": table_id or Ref(f"ct:{table}"), "roleArn": ctx.role_arn},
            saves={f"cta:{name}": ("configuredTableAssociation", "id")}, read_back=read_back.association),
        Step(CR, "CreateConfiguredTableAssociationAnalysisRule", {
            "membershipIdentifier": membership_id, "configuredTableAssociationIdentifier": Ref(f"cta:{name}"),
            "analysisRuleType": state.CUSTOM, "analysisRulePolicy": _custom_association_rule(receivers)},
            read_back=read_back.association_rule),
    ]
    if stale is not None:
        return Change("re-create", "association", name, "it points at another configured table than "
                      f"{table}'s", steps)
    return Change("create", "association", name, f"{table} with role {ctx.settings.role_name}, CUSTOM rule for "
                  f"{len(receivers)} result receiver(s)", steps)


def _association_rule_change(ctx: OpContext, membership_id: str, association: dict, receivers) -> Change:
    name = association["name"]
    ident = {"membershipIdentifier": membership_id, "configuredTableAssociationIdentifier": association["id"],
             "analysisRuleType": state.CUSTOM}
    rule = state.association_rule(ctx.api, membership_id, association["id"])
    if rule is None:
        return Change("create", "association rule", name, "the association has no CUSTOM rule", [
            Step(CR, "CreateConfiguredTableAssociationAnalysisRule",
                 {**ident, "analysisRulePolicy": _custom_association_rule(receivers)},
                 read_back=read_back.association_rule)])
    have = sorted(rule.get("allowedResultReceivers", []))
    if have == sorted(receivers):
        return Change("unchanged", "association", name, f"associated, {len(have)} result receiver(s) as wanted")
    return Change("update", "association rule", name, f"result receivers {have} -> {sorted(receivers)}", [
        Step(CR, "UpdateConfiguredTableAssociationAnalysisRule",
             {**ident, "analysisRulePolicy": _custom_association_rule(receivers)})])


# -- 3b. update result receivers ------------------------------------------------------------

def update_result_receivers(ctx: OpContext, membership_id: str, receivers: list[str]) -> list[Change]:
    check_inputs(membership_id, receivers, "result receivers")
    existing = state.associations(ctx.api, membership_id)
    return [_association_rule_change(ctx, membership_id, a, receivers)
            for name, a in sorted(existing.items()) if name.startswith(ASSOCIATION_PREFIX)]
