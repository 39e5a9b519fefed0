"""The membership-level Clean Rooms operations: ID namespace, invitations, ML configuration, removals.

Planned like the table operations in `operations.py` (same `OpContext`, `Change`s, no
mutating call here); split from them to keep each module small.
"""

from __future__ import annotations

from ..aws.errors import AwsNotFound, AwsPermissionError
from ..changes import Change, Step
from . import read_back, state
from .operations import ASSOCIATION_PREFIX, CR, OpContext, check_inputs


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
            "inputReferenceConfig": {"inputReferenceArn": id_namespace_arn, "manageResourcePolicies": True}},
            read_back=read_back.id_namespace_association)])]


# -- 5. invitations -------------------------------------------------------------------------

def accept_invitations(ctx: OpContext, query_log_status: str = "DISABLED",
                       collaborations: list[str] | None = None) -> list[Change]:
    changes = []
    for invite in state.invitations(ctx.api):
        chosen = not collaborations or invite["id"] in collaborations
        reason = f"invited by {invite.get('creatorDisplayName', '?')} ({invite.get('creatorAccountId', '?')})"
        if not chosen:
            changes.append(Change("skipped", "membership", invite["name"],
                                  reason + "; not in the collaborations asked"))
            continue
        payment, note = _payment(ctx, invite["id"])
        changes.append(Change("create", "membership", invite["name"], reason + ": join it" + note, [
            Step(CR, "CreateMembership", {"collaborationIdentifier": invite["id"], "queryLogStatus": query_log_status,
                                          **payment}, read_back=read_back.membership)]))
    return changes


def _payment(ctx: OpContext, collaboration_id: str) -> tuple[dict, str]:
    """CreateMembership's paymentConfiguration: required when we pay for queries but cannot run them.

    botocore's cleanrooms model, CreateMembership.paymentConfiguration; our member's abilities and
    the payment the creator set are in ListMembers' MemberSummary.
    """
    try:
        member = state.member(ctx.api, collaboration_id, ctx.account_id)
    except (AwsPermissionError, AwsNotFound) as err:  # the API reference does not say an invitee may list
        return {}, f"; its member list could not be read ({err.code}): joining without a payment configuration"
    if member is None:
        return {}, "" if ctx.api is None else f"; account {ctx.account_id} is not in its member list"
    set_by_creator = member.get("paymentConfiguration", {})
    pays = set_by_creator.get("queryCompute", {}).get("isResponsible", False)
    if "CAN_QUERY" in member.get("abilities", []) or not pays:
        return {}, ""
    accepted = {k: v for k, v in set_by_creator.items() if k in ("queryCompute", "jobCompute", "machineLearning")}
    return {"paymentConfiguration": accepted}, "; we pay for queries without running them: accepting the " \
        f"payment set by the creator ({', '.join(sorted(accepted))})"


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
    """Each association's rule, then the association; first, when asked, its ACCESS_BUDGET templates.

    An ACCESS_BUDGET template's resourceArn names one association (botocore's cleanrooms model,
    AccessBudgetsPrivacyTemplateParametersInput); only those of the associations removed are
    touched. The DIFFERENTIAL_PRIVACY template serves the whole collaboration: never touched.
    Nothing is blocked in advance: the API reference does not say a template blocks a removal,
    so if AWS refuses with a conflict, applying stops with the resource AWS names.
    """
    check_inputs(membership_id)
    existing = state.associations(ctx.api, membership_id)
    wanted = [ASSOCIATION_PREFIX + t if not t.startswith(ASSOCIATION_PREFIX) else t for t in tables]
    budgets = state.access_budget_templates(ctx.api, membership_id) if set(wanted) & set(existing) else {}
    changes = []
    for name in wanted:
        if name not in existing:
            changes.append(Change("unchanged", "association", name, "not associated"))
            continue
        association = existing[name]
        templates = budgets.get(association.get("arn"), [])
        changes += [_budget_change(membership_id, name, t, delete_privacy_budget_templates) for t in templates]
        ident = {"membershipIdentifier": membership_id, "configuredTableAssociationIdentifier": association["id"]}
        steps = []
        if state.association_rule(ctx.api, membership_id, association["id"]) is not None:
            steps.append(Step(CR, "DeleteConfiguredTableAssociationAnalysisRule",
                              {**ident, "analysisRuleType": state.CUSTOM}))
        steps.append(Step(CR, "DeleteConfiguredTableAssociation", ident))
        kept = templates and not delete_privacy_budget_templates
        changes.append(Change("delete", "association", name, "asked to remove" + (
            f"; its access budget template(s) {', '.join(templates)} stay" if kept else ""), steps))
    return changes


def _budget_change(membership_id: str, association: str, template: str, delete: bool) -> Change:
    table = association.removeprefix(ASSOCIATION_PREFIX)
    if not delete:
        return Change("skipped", "privacy budget template", template, f"ACCESS_BUDGET of {association}: kept "
                      "(pass delete_privacy_budget_templates=True to delete it with the association)")
    return Change("delete", "privacy budget template", template, f"ACCESS_BUDGET of {association}: deleting it "
                  f"resets {table}'s access budget to unlimited", [Step(CR, "DeletePrivacyBudgetTemplate", {
                      "membershipIdentifier": membership_id, "privacyBudgetTemplateIdentifier": template})])
