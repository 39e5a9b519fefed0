"""Reading back what a Clean Rooms create step asked for, when the create could not say.

Clean Rooms creates take no idempotency token, so a create is sent once
(`aws.session.SENT_ONCE`). When it meets ConflictException ALREADY_EXISTS, or
fails with its answer lost (a timeout, a 5xx), `changes._run_step` calls the
step's read-back: it finds the thing by what identifies it (a name, a parent
ID), returns it as the create would have (or None when absent), and raises
`Differs` when it is there with other content, so the outcome shows the
difference rather than "applied".
"""

from __future__ import annotations

from ..changes import Differs
from . import state


def _differences(found: dict, wanted: dict) -> list[str]:
    """`key: have -> wanted` for every key whose value differs (lists compared as sets of values)."""
    def norm(value):
        return sorted(value) if isinstance(value, list) else value
    return [f"{key}: {norm(found.get(key))} -> {norm(wanted.get(key))}"
            for key in sorted(set(found) | set(wanted)) if norm(found.get(key)) != norm(wanted.get(key))]


def _check(what: str, found: dict, wanted: dict) -> None:
    problems = _differences(found, wanted)
    if problems:
        raise Differs(f"{what} already exists, not as wanted: {'; '.join(problems)}",
                      hint="Nothing was changed on it; re-run the operation: its plan updates what differs")


def configured_table(api, params: dict) -> dict | None:
    table = state.configured_tables(api).get(params["name"])
    if table is None:
        return None
    wanted = {k: params[k] for k in ("allowedColumns", "analysisMethod", "tableReference")}
    _check(f"configured table {params['name']}", {k: table.get(k) for k in wanted}, wanted)
    return {"configuredTable": table}


def table_rule(api, params: dict) -> dict | None:
    rule = state.table_rule(api, params["configuredTableIdentifier"])
    if rule is None:
        return None
    _check("the configured table's CUSTOM rule", rule, params["analysisRulePolicy"]["v1"]["custom"])
    return {}


def association(api, params: dict) -> dict | None:
    found = state.associations(api, params["membershipIdentifier"]).get(params["name"])
    if found is None:
        return None
    _check(f"association {params['name']}", {"configuredTableId": found["configuredTableId"]},
           {"configuredTableId": params["configuredTableIdentifier"]})
    return {"configuredTableAssociation": found}


def association_rule(api, params: dict) -> dict | None:
    rule = state.association_rule(api, params["membershipIdentifier"], params["configuredTableAssociationIdentifier"])
    if rule is None:
        return None
    _check("the association's CUSTOM rule", rule, params["analysisRulePolicy"]["v1"]["custom"])
    return {}


def id_namespace_association(api, params: dict) -> dict | None:
    for item in state.id_namespace_associations(api, params["membershipIdentifier"]):
        if item["name"] == params["name"]:
            arn = "inputReferenceArn"
            _check(f"ID namespace association {item['name']}", {arn: item["inputReferenceConfig"].get(arn)},
                   {arn: params["inputReferenceConfig"][arn]})
            return {"idNamespaceAssociation": item}
    return None


def membership(api, params: dict) -> dict | None:
    for collaboration in state.joined(api):
        if collaboration["id"] == params["collaborationIdentifier"]:
            return {"membership": {"id": collaboration.get("membershipId"), "collaborationId": collaboration["id"]}}
    return None
