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
from . import state
from . import api_rules
from .api_rules import InvalidRequest
from .plan import Change, Ref, Step

ASSOCIATION_PREFIX = "acx_"
DEFAULT_EXCLUDED = ("part_n_a", "part_n_a_a")
MAX_ASSOCIATIONS = 25
CR = "cleanrooms"
ROLE_ARN = re.compile(r"arn:aws[-a-z]*:iam::\d{12}:role/[\w+=,.@-]{1,64}")


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
        if not re.fullmatch(r"\d{12}", str(account)):
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
        return {"configuredTable": state.configured_tables(api)[name]}
    return read


# -- 1. configure tables ------------------------------------------------------------------

def configure_tables(ctx: OpContext, providers: list[str], tables: list[str] | None = None) -> list[Change]:
    check_inputs(accounts=providers, what="providers")
    existing = state.configured_tables(ctx.api)
    changes = []
    for entry in _select(ctx, tables):
        columns = allowed_columns(ctx, entry)
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
        if added or removed:
            steps = [Step(CR, "DeleteConfiguredTableAnalysisRule", {"configuredTableIdentifier": current["id"],
                                                                    "analysisRuleType": state.CUSTOM})] if rule else []
            steps.append(Step(CR, "DeleteConfiguredTable", {"configuredTableIdentifier": current["id"]}))
            changes.append(Change("re-create", "configured table", entry.name,
                                  f"columns changed (+{len(added)}: {', '.join(added[:5])}; -{len(removed)}: "
                                  f"{', '.join(removed[:5])}): allowed columns cannot be updated in place",
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
    check_inputs(membership_id, receivers, "result receivers")
    configured = state.configured_tables(ctx.api)
    existing = state.associations(ctx.api, membership_id)
    candidates = association_candidates(ctx, prefix, exclude)
    changes = []
    for index, table in enumerate(candidates):
        name = ASSOCIATION_PREFIX + table
        if index >= max_associations:
            changes.append(Change("skipped", "association", name,
                                  f"over the cap of {max_associations} associations (candidate {index + 1} "
                                  f"of {len(candidates)})"))
        elif name in existing:
            changes.append(_association_rule_change(ctx, membership_id, existing[name], receivers))
        elif table not in configured and ctx.api is not None:
            changes.append(Change("skipped", "association", name, "no configured table: run configure_tables"))
        else:
            table_id = configured[table]["id"] if table in configured else Ref(f"ct:{table}")
            changes.append(Change("create", "association", name,
                                  f"{table} with role {ctx.settings.role_name}, CUSTOM rule for "
                                  f"{len(receivers)} result receiver(s)", [
                Step(CR, "CreateConfiguredTableAssociation", {
                    "name": name, "membershipIdentifier": membership_id,
                    "configuredTableIdentifier": table_id, "roleArn": ctx.role_arn},
                    saves={f"cta:{name}": ("configuredTableAssociation", "id")},
                    on_conflict=_find_association(membership_id, name)),
                Step(CR, "CreateConfiguredTableAssociationAnalysisRule", {
                    "membershipIdentifier": membership_id, "configuredTableAssociationIdentifier": Ref(f"cta:{name}"),
                    "analysisRuleType": state.CUSTOM, "analysisRulePolicy": _custom_association_rule(receivers)}),
            ]))
    return changes


def _find_association(membership_id: str, name: str):
    def read(api) -> dict:
        return {"configuredTableAssociation": state.associations(api, membership_id)[name]}
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

def remove_associations(ctx: OpContext, membership_id: str, tables: list[str]) -> list[Change]:
    """Privacy budget templates first, then each association's rule, then the association."""
    check_inputs(membership_id)
    existing = state.associations(ctx.api, membership_id)
    wanted = [ASSOCIATION_PREFIX + t if not t.startswith(ASSOCIATION_PREFIX) else t for t in tables]
    present = [n for n in wanted if n in existing]
    changes = []
    if present:
        for template in state.privacy_budget_templates(ctx.api, membership_id):
            changes.append(Change("delete", "privacy budget template", template["id"],
                                  "an association's rule cannot be removed while a privacy budget template exists",
                                  [Step(CR, "DeletePrivacyBudgetTemplate", {
                                      "membershipIdentifier": membership_id,
                                      "privacyBudgetTemplateIdentifier": template["id"]})]))
    for name in wanted:
        if name not in existing:
            changes.append(Change("unchanged", "association", name, "not associated"))
            continue
        ident = {"membershipIdentifier": membership_id, "configuredTableAssociationIdentifier": existing[name]["id"]}
        steps = []
        if state.association_rule(ctx.api, membership_id, existing[name]["id"]) is not None:
            steps.append(Step(CR, "DeleteConfiguredTableAssociationAnalysisRule",
                              {**ident, "analysisRuleType": state.CUSTOM}))
        steps.append(Step(CR, "DeleteConfiguredTableAssociation", ident))
        changes.append(Change("delete", "association", name, "asked to remove", steps))
    return changes
