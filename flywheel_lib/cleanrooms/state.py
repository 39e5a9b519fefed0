"""What exists in Clean Rooms now, read through paginated list and get calls.

Every reader takes a `PacedApi`, or None on the local backend, where there is
no Clean Rooms: the state is then empty and plans show everything as to create.
"""

from __future__ import annotations

from ..aws.errors import AwsNotFound

CUSTOM = "CUSTOM"


def configured_tables(api) -> dict[str, dict]:
    """name -> configured table (id, allowedColumns, analysisMethod, tableReference)."""
    if api is None:
        return {}
    found = {}
    for summary in api.pages("cleanrooms", "list_configured_tables", "configuredTableSummaries"):
        table = api.call("cleanrooms", "get_configured_table",
                         configuredTableIdentifier=summary["id"])["configuredTable"]
        found[table["name"]] = table
    return found


def table_rule(api, configured_table_id: str) -> dict | None:
    """The CUSTOM analysis rule's policy of a configured table, or None."""
    if api is None:
        return None
    try:
        rule = api.call("cleanrooms", "get_configured_table_analysis_rule",
                        configuredTableIdentifier=configured_table_id, analysisRuleType=CUSTOM)["analysisRule"]
    except AwsNotFound:
        return None
    return rule["policy"]["v1"]["custom"]


def associations(api, membership_id: str) -> dict[str, dict]:
    """association name -> summary (id, configuredTableId)."""
    if api is None:
        return {}
    items = api.pages("cleanrooms", "list_configured_table_associations", "configuredTableAssociationSummaries",
                      membershipIdentifier=membership_id)
    return {a["name"]: a for a in items}


def association_rule(api, membership_id: str, association_id: str) -> dict | None:
    if api is None:
        return None
    try:
        rule = api.call("cleanrooms", "get_configured_table_association_analysis_rule",
                        membershipIdentifier=membership_id, configuredTableAssociationIdentifier=association_id,
                        analysisRuleType=CUSTOM)["analysisRule"]
    except AwsNotFound:
        return None
    return rule["policy"]["v1"]["custom"]


def id_namespace_associations(api, membership_id: str) -> list[dict]:
    if api is None:
        return []
    return api.pages("cleanrooms", "list_id_namespace_associations", "idNamespaceAssociationSummaries",
                     membershipIdentifier=membership_id)


def invitations(api) -> list[dict]:
    """Collaborations where this account is invited and has not joined."""
    return _collaborations(api, "INVITED")


def joined(api) -> list[dict]:
    """Collaborations this account is an active member of (each with its membershipId)."""
    return _collaborations(api, "ACTIVE")


def _collaborations(api, status: str) -> list[dict]:
    if api is None:
        return []
    items = api.pages("cleanrooms", "list_collaborations", "collaborationList", memberStatus=status)
    return [c for c in items if c.get("memberStatus") == status]  # the filter, checked: moto ignores it


def member(api, collaboration_id: str, account_id: str) -> dict | None:
    """Our member entry in a collaboration: its `abilities` and `paymentConfiguration` (MemberSummary)."""
    if api is None:
        return None
    members = api.pages("cleanrooms", "list_members", "memberSummaries", collaborationIdentifier=collaboration_id)
    return next((m for m in members if m["accountId"] == account_id), None)


def privacy_budget_templates(api, membership_id: str) -> list[dict]:
    if api is None:
        return []
    return api.pages("cleanrooms", "list_privacy_budget_templates", "privacyBudgetTemplateSummaries",
                     membershipIdentifier=membership_id)


def access_budget_templates(api, membership_id: str) -> dict[str, list[str]]:
    """Association ARN -> IDs of the ACCESS_BUDGET templates whose resourceArn names it.

    DIFFERENTIAL_PRIVACY templates serve the whole collaboration and name no resource: left out.
    """
    found: dict[str, list[str]] = {}
    for summary in privacy_budget_templates(api, membership_id):
        if summary["privacyBudgetType"] != "ACCESS_BUDGET":
            continue
        template = api.call("cleanrooms", "get_privacy_budget_template", membershipIdentifier=membership_id,
                            privacyBudgetTemplateIdentifier=summary["id"])["privacyBudgetTemplate"]
        found.setdefault(template["parameters"]["accessBudget"]["resourceArn"], []).append(summary["id"])
    return found


def ml_configuration(api, membership_id: str) -> dict | None:
    if api is None:
        return None
    try:
        return api.call("cleanroomsml", "get_ml_configuration", membershipIdentifier=membership_id)
    except AwsNotFound:
        return None
