"""The Clean Rooms operations, each planned as Changes from the catalog and what exists.

Every function takes an `OpContext` (settings, the catalog's published tables,
the paced API or None on the local backend, the account) and the operation's
parameters, and returns the plan. Nothing here calls a mutating API: `plan.apply`
does, after `plan.validate`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError, FlywheelError
from ..mapping import CLEAN_ROOMS_COLUMN_LIMIT, Mapping
from . import state
from .. import api_rules
from ..api_rules import InvalidRequest
from ..changes import Change, Ref, Step

ASSOCIATION_PREFIX = "acx_"
DEFAULT_EXCLUDED = ("part_n_a", "part_n_a_a")
MAX_ASSOCIATIONS = 25
CR = "cleanrooms"
ROLE_ARN = re.compile(r"arn:aws[-a-z]*:iam::\d{12}:role/[\w+=,.@-]{1,64}", re.ASCII)


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
        """The association role; checked here because the API's own pattern accepts any account."""
        arn = f"arn:{self.partition}:iam::{self.account_id}:role/{self.settings.role_name}"
        if not ROLE_ARN.fullmatch(arn):
            raise InvalidRequest(f"role ARN {arn!r} is not arn:aws:iam::<12-digit account>:role/<name>",
                                 [f"roleArn = {arn!r}"], setting="role_name")
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
    """The table's data columns (partition key out), minus the reported Clean Rooms exclusions."""
    left_out = set(ctx.mapping.clean_rooms_exclusions().get(entry.source_table, []))
    columns = [c for c in entry.column_names if c not in left_out]
    if len(columns) + len(entry.partition_keys) > CLEAN_ROOMS_COLUMN_LIMIT:
        over = len(columns) + len(entry.partition_keys) - CLEAN_ROOMS_COLUMN_LIMIT
        raise ConfigError(f"{entry.name} has {len(columns)} data columns, {over} over the Clean Rooms limit of "
                          f"{CLEAN_ROOMS_COLUMN_LIMIT} with its partition key; last columns: "
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


def _find_configured_table(name: str):
    def read(api) -> dict:
        found = state.configured_tables(api)
        if name not in found:
            raise FlywheelError(f"creating configured table {name} met a conflict, yet none is named so")
        return {"configuredTable": found[name]}
    return read


# -- 1. configure tables ------------------------------------------------------------------

def configure_tables(ctx: OpContext, providers: list[str], tables: list[str] | None = None,
                     membership_id: str = "") -> list[Change]:
    """`membership_id` (default: the settings'): where associations that block a re-create are looked for."""
    membership_id = membership_id or ctx.settings.membership_id
    check_inputs(membership_id or None, providers, "providers")
    existing = state.configured_tables(ctx.api)
    associated = {a["configuredTableId"]: a["name"]
                  for a in (state.associations(ctx.api, membership_id) if membership_id else {}).values()}
    changes = []
    for entry in _select(ctx, tables):
        try:
            columns = allowed_columns(ctx, entry)
        except ConfigError as err:  # this table cannot be configured; the others still can
            changes.append(Change("blocked", "configured table", entry.name, err.message))
            continue
        create = [
            Step(CR, "CreateConfiguredTable", {
                "name": entry.name, "analysisMethod": "DIRECT_QUERY", "allowedColumns": columns,
                "tableReference": {"glue": {"databaseName": ctx.settings.database_name, "tableName": entry.name}}},
                saves={f"ct:{entry.name}": ("configuredTable", "id")}, on_conflict=_find_configured_table(entry.name)),
            Step(CR, "CreateConfiguredTableAnalysisRule", {
                "configuredTableIdentifier": Ref(f"ct:{entry.name}"), "analysisRuleType": state.CUSTOM,
                "analysisRulePolicy": _custom_table_rule(providers)}),
        ]
        current = existing.get(entry.name)
        if current is None:
            changes.append(Change("create", "configured table", entry.name,
                                  f"{len(columns)} allowed columns, CUSTOM rule for {len(providers)} provider(s)",
                                  create))
            continue
        added = [c for c in columns if c not in current["allowedColumns"]]
        removed = [c for c in current["allowedColumns"] if c not in columns]
        rule = state.table_rule(ctx.api, current["id"])
        if (added or removed) and current["id"] in associated:
            changes.append(Change("blocked", "configured table", entry.name,
                                  f"columns changed, but it is associated as {associated[current['id']]}: "
                                  "run remove_associations for it first, then this, then associate_tables"))
        elif added or removed:
            steps = [Step(CR, "DeleteConfiguredTableAnalysisRule", {"configuredTableIdentifier": current["id"],
                                                                    "analysisRuleType": state.CUSTOM})] if rule else []
            steps.append(Step(CR, "DeleteConfiguredTable", {"configuredTableIdentifier": current["id"]}))
            changes.append(Change("re-create", "configured table", entry.name,
                                  f"columns changed (+{len(added)}: {', '.join(added[:5])}; -{len(removed)}: "
                                  f"{', '.join(removed[:5])}): allowed columns cannot be updated in place"
                                  + ("" if membership_id else "; if it is associated, remove that first"),
                                  steps + create))
        else:
            changes.append(_table_rule_change(current, rule, providers))
    return changes


def _table_rule_change(current: dict, rule: dict | None, providers: list[str]) -> Change:
    name, ident = current["name"], {"configuredTableIdentifier": current["id"], "analysisRuleType": state.CUSTOM}
    if rule is None:
        return Change("create", "analysis rule", name, "the configured table has no CUSTOM rule",
                      [Step(CR, "CreateConfiguredTableAnalysisRule",
                            {**ident, "analysisRulePolicy": _custom_table_rule(providers)})])
    have = sorted(rule.get("allowedAnalysisProviders", []))
    if have == sorted(providers):
        return Change("unchanged", "configured table", name, f"columns and {len(have)} provider(s) as wanted")
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
                                  f"over the cap of {max_associations} associations per membership"))
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
            saves={f"cta:{name}": ("configuredTableAssociation", "id")},
            on_conflict=_find_association(membership_id, name)),
        Step(CR, "CreateConfiguredTableAssociationAnalysisRule", {
            "membershipIdentifier": membership_id, "configuredTableAssociationIdentifier": Ref(f"cta:{name}"),
            "analysisRuleType": state.CUSTOM, "analysisRulePolicy": _custom_association_rule(receivers)}),
    ]
    if stale is not None:
        return Change("re-create", "association", name, "it points at another configured table than "
                      f"{table}'s", steps)
    return Change("create", "association", name, f"{table} with role {ctx.settings.role_name}, CUSTOM rule for "
                  f"{len(receivers)} result receiver(s)", steps)


def _find_association(membership_id: str, name: str):
    def read(api) -> dict:
        found = state.associations(api, membership_id)
        if name not in found:
            raise FlywheelError(f"creating association {name} met a conflict, yet none is named so")
        return {"configuredTableAssociation": found[name]}
    return read


def _association_rule_change(ctx: OpContext, membership_id: str, association: dict, receivers) -> Change:
    name = association["name"]
    ident = {"membershipIdentifier": membership_id, "configuredTableAssociationIdentifier": association["id"],
             "analysisRuleType": state.CUSTOM}
    rule = state.association_rule(ctx.api, membership_id, association["id"])
    if rule is None:
        return Change("create", "association rule", name, "the association has no CUSTOM rule", [
            Step(CR, "CreateConfiguredTableAssociationAnalysisRule",
                 {**ident, "analysisRulePolicy": _custom_association_rule(receivers)})])
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


# -- 4. ID namespace ------------------------------------------------------------------------

def associate_id_namespace(ctx: OpContext, membership_id: str, id_namespace_arn: str,
                           name: str = "flywheel-id-namespace") -> list[Change]:
    check_inputs(membership_id)
    for item in state.id_namespace_associations(ctx.api, membership_id):
        if item.get("inputReferenceConfig", {}).get("inputReferenceArn") == id_namespace_arn:
            return [Change("unchanged", "ID namespace association", item["name"], "already associated")]
    return [Change("create", "ID namespace association", name, f"associate {id_namespace_arn}", [
        Step(CR, "CreateIdNamespaceAssociation", {
            "membershipIdentifier": membership_id, "name": name,
            "inputReferenceConfig": {"inputReferenceArn": id_namespace_arn, "manageResourcePolicies": True}})])]


# -- 5. invitations -------------------------------------------------------------------------

def accept_invitations(ctx: OpContext, query_log_status: str = "DISABLED",
                       collaborations: list[str] | None = None) -> list[Change]:
    changes = []
    for invite in state.invitations(ctx.api):
        chosen = not collaborations or invite["id"] in collaborations
        reason = f"invited by {invite.get('creatorDisplayName', '?')} ({invite.get('creatorAccountId', '?')})"
        if not chosen:
            changes.append(Change("skipped", "membership", invite["name"], reason + "; not in the collaborations asked"))
            continue
        changes.append(Change("create", "membership", invite["name"], reason + ": join it", [
            Step(CR, "CreateMembership", {"collaborationIdentifier": invite["id"],
                                          "queryLogStatus": query_log_status})]))
    return changes


# -- 6. ML configuration ----------------------------------------------------------------------

def ml_configuration(ctx: OpContext, membership_id: str, output_location: str, role_arn: str) -> list[Change]:
    check_inputs(membership_id)
    wanted = {"destination": {"s3Destination": {"s3Uri": output_location}}, "roleArn": role_arn}
    current = (state.ml_configuration(ctx.api, membership_id) or {}).get("defaultOutputLocation")
    if current == wanted:
        return [Change("unchanged", "ML configuration", membership_id, "output location and role as wanted")]
    return [Change("update" if current else "create", "ML configuration", membership_id,
                   f"output to {output_location} as {role_arn}",
                   [Step("cleanroomsml", "PutMLConfiguration",
                         {"membershipIdentifier": membership_id, "defaultOutputLocation": wanted})])]


# -- 7. remove associations -----------------------------------------------------------------

def remove_associations(ctx: OpContext, membership_id: str, tables: list[str],
                        delete_privacy_budget_templates: bool = False) -> list[Change]:
    """Privacy budget templates first, then each association's rule, then the association.

    Templates belong to the whole membership, so they are deleted only when asked;
    while one exists, the removals are blocked (Clean Rooms would refuse them).
    """
    check_inputs(membership_id)
    existing = state.associations(ctx.api, membership_id)
    wanted = [ASSOCIATION_PREFIX + t if not t.startswith(ASSOCIATION_PREFIX) else t for t in tables]
    present = [n for n in wanted if n in existing]
    changes = []
    templates = state.privacy_budget_templates(ctx.api, membership_id) if present else []
    for template in templates:
        reason = "an association's rule cannot be removed while a privacy budget template exists"
        if delete_privacy_budget_templates:
            changes.append(Change("delete", "privacy budget template", template["id"], reason + " (it serves the "
                                  "whole membership)", [Step(CR, "DeletePrivacyBudgetTemplate", {
                                      "membershipIdentifier": membership_id,
                                      "privacyBudgetTemplateIdentifier": template["id"]})]))
        else:
            changes.append(Change("blocked", "privacy budget template", template["id"], reason + "; it serves the "
                                  "whole membership: pass delete_privacy_budget_templates=True to delete it"))
    for name in wanted:
        if name not in existing:
            changes.append(Change("unchanged", "association", name, "not associated"))
            continue
        if templates and not delete_privacy_budget_templates:
            changes.append(Change("blocked", "association", name, "a privacy budget template exists (see above)"))
            continue
        ident = {"membershipIdentifier": membership_id, "configuredTableAssociationIdentifier": existing[name]["id"]}
        steps = []
        if state.association_rule(ctx.api, membership_id, existing[name]["id"]) is not None:
            steps.append(Step(CR, "DeleteConfiguredTableAssociationAnalysisRule",
                              {**ident, "analysisRuleType": state.CUSTOM}))
        steps.append(Step(CR, "DeleteConfiguredTableAssociation", ident))
        changes.append(Change("delete", "association", name, "asked to remove", steps))
    return changes
