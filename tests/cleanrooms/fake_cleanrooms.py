"""A stateful fake of the Clean Rooms (and Clean Rooms ML) APIs the operations use.

moto models collaborations, memberships and configured tables only; analysis
rules, associations, ID namespace associations, privacy budget templates and
ML configuration are not there. This fake keeps all of them in one state with
the real operation names, IDs (UUIDs), pagination (maxResults / nextToken),
error codes (ConflictException, ResourceNotFoundException,
ServiceQuotaExceededException, ThrottlingException), the association quota
and the rule that an association with an analysis rule cannot be deleted.
Errors are botocore ClientErrors, so they pass the package's error boundary.
"""

from __future__ import annotations

import copy
import uuid

from botocore.exceptions import ClientError

from botocore import xform_name
from botocore.validate import validate_parameters

from flywheel_lib.aws.errors import aws_errors
from flywheel_lib import api_rules

import aws_call_log

PAGE = 2  # small pages, so every list is really paginated
MUTATING = ("Create", "Update", "Delete", "Put")


def error(code: str, message: str, operation: str, status: int = 400, **modeled) -> ClientError:
    """As botocore parses a REST-JSON error: modeled fields (quotaName...) beside "Error", not in it."""
    return ClientError({"Error": {"Code": code, "Message": message}, **modeled,
                        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "fake-req"}}, operation)


def _api(method: str) -> str:
    return "".join(p.capitalize() for p in method.split("_")).replace("Ml", "ML")


class FakeCleanRooms:
    def __init__(self, association_quota: int = 25):
        self.tables: dict[str, dict] = {}          # id -> configured table
        self.table_rules: dict[str, dict] = {}     # table id -> policy
        self.associations: dict[str, dict] = {}    # id -> association
        self.association_rules: dict[str, dict] = {}
        self.collaborations: dict[str, dict] = {}  # id -> collaboration (with memberStatus)
        self.id_namespace_associations: dict[str, dict] = {}
        self.templates: dict[str, dict] = {}
        self.ml: dict[str, dict] = {}
        self.id_namespaces: dict[str, dict] = {}
        self.schema_mappings: dict[str, dict] = {}
        self.association_quota = association_quota
        self.calls: list[str] = []
        self.throttle_next = 0           # the next N calls are throttled
        self.fail: dict[str, str] = {}   # operation -> error code, raised once

    # -- plumbing ---------------------------------------------------------------
    def handle(self, method: str, params: dict) -> dict:
        op = _api(method)
        self.calls.append(op)
        if self.throttle_next:
            self.throttle_next -= 1
            raise error("ThrottlingException", "Rate exceeded", op, 429)
        if op in self.fail:
            raise error(self.fail.pop(op), f"{op} refused", op, 402 if "Quota" in op else 400,
                        quotaName="Configured table associations per membership", quotaValue=25.0)
        return copy.deepcopy(getattr(self, method)(op, **params))

    def mutating(self) -> list[str]:
        return [c for c in self.calls if c.startswith(MUTATING)]

    @staticmethod
    def _page(items: list, key: str, nextToken: str | None = None, maxResults: int | None = None) -> dict:
        start = int(nextToken or 0)
        size = min(maxResults or PAGE, PAGE)
        page = {key: items[start:start + size]}
        if start + size < len(items):
            page["nextToken"] = str(start + size)
        return page

    def _table(self, op: str, ident: str) -> dict:
        if ident not in self.tables:
            raise error("ResourceNotFoundException", f"configured table {ident} not found", op, 404)
        return self.tables[ident]

    def _association(self, op: str, ident: str) -> dict:
        if ident not in self.associations:
            raise error("ResourceNotFoundException", f"association {ident} not found", op, 404)
        return self.associations[ident]

    # -- configured tables and their rules ------------------------------------------
    def create_configured_table(self, op, name, tableReference, allowedColumns, analysisMethod, **_):
        if any(t["name"] == name for t in self.tables.values()):
            raise error("ConflictException", f"configured table {name} already exists", op, 409)
        ident = str(uuid.uuid4())
        self.tables[ident] = {"id": ident, "name": name, "tableReference": tableReference,
                              "allowedColumns": allowedColumns, "analysisMethod": analysisMethod,
                              "arn": f"arn:aws:cleanrooms:us-east-1:123456789012:configuredtable/{ident}"}
        return {"configuredTable": self.tables[ident]}

    def list_configured_tables(self, op, **page):
        items = [{"id": t["id"], "name": t["name"], "analysisMethod": t["analysisMethod"]}
                 for t in self.tables.values()]
        return self._page(items, "configuredTableSummaries", **page)

    def get_configured_table(self, op, configuredTableIdentifier):
        return {"configuredTable": self._table(op, configuredTableIdentifier)}

    def delete_configured_table(self, op, configuredTableIdentifier):
        self._table(op, configuredTableIdentifier)
        if any(a["configuredTableId"] == configuredTableIdentifier for a in self.associations.values()):
            raise error("ConflictException", "the configured table is associated", op, 409)
        del self.tables[configuredTableIdentifier]
        self.table_rules.pop(configuredTableIdentifier, None)
        return {}

    def create_configured_table_analysis_rule(self, op, configuredTableIdentifier, analysisRuleType,
                                              analysisRulePolicy):
        self._table(op, configuredTableIdentifier)
        if configuredTableIdentifier in self.table_rules:
            raise error("ConflictException", "rule exists", op, 409)
        self.table_rules[configuredTableIdentifier] = analysisRulePolicy
        return {"analysisRule": {"policy": analysisRulePolicy, "type": analysisRuleType}}

    def get_configured_table_analysis_rule(self, op, configuredTableIdentifier, analysisRuleType):
        self._table(op, configuredTableIdentifier)
        if configuredTableIdentifier not in self.table_rules:
            raise error("ResourceNotFoundException", "no rule", op, 404)
        return {"analysisRule": {"policy": self.table_rules[configuredTableIdentifier], "type": analysisRuleType}}

    def update_configured_table_analysis_rule(self, op, configuredTableIdentifier, analysisRuleType,
                                              analysisRulePolicy):
        self.get_configured_table_analysis_rule(op, configuredTableIdentifier, analysisRuleType)
        self.table_rules[configuredTableIdentifier] = analysisRulePolicy
        return {"analysisRule": {"policy": analysisRulePolicy, "type": analysisRuleType}}

    def delete_configured_table_analysis_rule(self, op, configuredTableIdentifier, analysisRuleType):
        self.get_configured_table_analysis_rule(op, configuredTableIdentifier, analysisRuleType)
        del self.table_rules[configuredTableIdentifier]
        return {}

    # -- associations and their rules -----------------------------------------------------
    def create_configured_table_association(self, op, name, membershipIdentifier, configuredTableIdentifier,
                                            roleArn, **_):
        self._table(op, configuredTableIdentifier)
        mine = [a for a in self.associations.values() if a["membershipId"] == membershipIdentifier]
        if any(a["name"] == name for a in mine):
            raise error("ConflictException", f"association {name} exists", op, 409)
        if len(mine) >= self.association_quota:
            raise error("ServiceQuotaExceededException", "quota exceeded", op, 402,
                        quotaName="Configured table associations per membership",
                        quotaValue=float(self.association_quota))
        ident = str(uuid.uuid4())
        self.associations[ident] = {"id": ident, "name": name, "membershipId": membershipIdentifier,
                                    "configuredTableId": configuredTableIdentifier, "roleArn": roleArn}
        return {"configuredTableAssociation": self.associations[ident]}

    def list_configured_table_associations(self, op, membershipIdentifier, **page):
        items = [{k: a[k] for k in ("id", "name", "membershipId", "configuredTableId")}
                 for a in self.associations.values() if a["membershipId"] == membershipIdentifier]
        return self._page(items, "configuredTableAssociationSummaries", **page)

    def delete_configured_table_association(self, op, configuredTableAssociationIdentifier, membershipIdentifier):
        self._association(op, configuredTableAssociationIdentifier)
        if configuredTableAssociationIdentifier in self.association_rules:
            raise error("ConflictException", "remove the association's analysis rule first", op, 409)
        del self.associations[configuredTableAssociationIdentifier]
        return {}

    def create_configured_table_association_analysis_rule(self, op, membershipIdentifier,
                                                          configuredTableAssociationIdentifier,
                                                          analysisRuleType, analysisRulePolicy):
        self._association(op, configuredTableAssociationIdentifier)
        if configuredTableAssociationIdentifier in self.association_rules:
            raise error("ConflictException", "rule exists", op, 409)
        self.association_rules[configuredTableAssociationIdentifier] = analysisRulePolicy
        return {"analysisRule": {"policy": analysisRulePolicy}}

    def get_configured_table_association_analysis_rule(self, op, membershipIdentifier,
                                                       configuredTableAssociationIdentifier, analysisRuleType):
        self._association(op, configuredTableAssociationIdentifier)
        if configuredTableAssociationIdentifier not in self.association_rules:
            raise error("ResourceNotFoundException", "no rule", op, 404)
        return {"analysisRule": {"policy": self.association_rules[configuredTableAssociationIdentifier]}}

    def update_configured_table_association_analysis_rule(self, op, membershipIdentifier,
                                                          configuredTableAssociationIdentifier,
                                                          analysisRuleType, analysisRulePolicy):
        self.get_configured_table_association_analysis_rule(op, membershipIdentifier,
                                                            configuredTableAssociationIdentifier, analysisRuleType)
        self.association_rules[configuredTableAssociationIdentifier] = analysisRulePolicy
        return {"analysisRule": {"policy": analysisRulePolicy}}

    def delete_configured_table_association_analysis_rule(self, op, membershipIdentifier,
                                                          configuredTableAssociationIdentifier, analysisRuleType):
        self.get_configured_table_association_analysis_rule(op, membershipIdentifier,
                                                            configuredTableAssociationIdentifier, analysisRuleType)
        if any(t["membershipId"] == membershipIdentifier for t in self.templates.values()):
            raise error("ConflictException", "delete the privacy budget templates first", op, 409)
        del self.association_rules[configuredTableAssociationIdentifier]
        return {}

    # -- membership-level things ----------------------------------------------------------
    def list_privacy_budget_templates(self, op, membershipIdentifier, **page):
        items = [t for t in self.templates.values() if t["membershipId"] == membershipIdentifier]
        return self._page(items, "privacyBudgetTemplateSummaries", **page)

    def delete_privacy_budget_template(self, op, membershipIdentifier, privacyBudgetTemplateIdentifier):
        if privacyBudgetTemplateIdentifier not in self.templates:
            raise error("ResourceNotFoundException", "no template", op, 404)
        del self.templates[privacyBudgetTemplateIdentifier]
        return {}

    def list_id_namespace_associations(self, op, membershipIdentifier, **page):
        items = [a for a in self.id_namespace_associations.values() if a["membershipId"] == membershipIdentifier]
        return self._page(items, "idNamespaceAssociationSummaries", **page)

    def create_id_namespace_association(self, op, membershipIdentifier, inputReferenceConfig, name, **_):
        ident = str(uuid.uuid4())
        self.id_namespace_associations[ident] = {"id": ident, "name": name, "membershipId": membershipIdentifier,
                                                 "inputReferenceConfig": inputReferenceConfig}
        return {"idNamespaceAssociation": self.id_namespace_associations[ident]}

    def list_collaborations(self, op, memberStatus=None, **page):
        items = [c for c in self.collaborations.values() if memberStatus in (None, c["memberStatus"])]
        return self._page(items, "collaborationList", **page)

    def create_membership(self, op, collaborationIdentifier, queryLogStatus, **_):
        collaboration = self.collaborations.get(collaborationIdentifier)
        if collaboration is None:
            raise error("ResourceNotFoundException", "no collaboration", op, 404)
        if collaboration["memberStatus"] == "ACTIVE":
            raise error("ConflictException", "already a member", op, 409)
        collaboration.update(memberStatus="ACTIVE", membershipId=str(uuid.uuid4()))
        return {"membership": {"id": collaboration["membershipId"], "collaborationId": collaborationIdentifier}}

    def get_membership(self, op, membershipIdentifier):
        for c in self.collaborations.values():
            if c.get("membershipId") == membershipIdentifier:
                return {"membership": {"id": membershipIdentifier, "collaborationId": c["id"],
                                       "collaborationName": c["name"], "status": "ACTIVE",
                                       "collaborationCreatorDisplayName": c.get("creatorDisplayName"),
                                       "memberAbilities": ["CAN_QUERY"]}}
        raise error("ResourceNotFoundException", f"membership {membershipIdentifier} not found", op, 404)

    def list_members(self, op, collaborationIdentifier, **page):
        return self._page(self.collaborations[collaborationIdentifier].get("members", []), "memberSummaries", **page)

    # -- Entity Resolution ----------------------------------------------------------------
    def get_id_namespace(self, op, idNamespaceName):
        if idNamespaceName not in self.id_namespaces:
            raise error("ResourceNotFoundException", f"ID namespace {idNamespaceName} not found", op, 404)
        return self.id_namespaces[idNamespaceName]

    def get_schema_mapping(self, op, schemaName):
        return self.schema_mappings[schemaName]

    def get_ml_configuration(self, op, membershipIdentifier):
        if membershipIdentifier not in self.ml:
            raise error("ResourceNotFoundException", "no ML configuration", op, 404)
        return {"membershipIdentifier": membershipIdentifier, "defaultOutputLocation": self.ml[membershipIdentifier]}

    def put_ml_configuration(self, op, membershipIdentifier, defaultOutputLocation):
        self.ml[membershipIdentifier] = defaultOutputLocation
        return {}


class FakeAws:
    """Stands in for AwsClients: cleanrooms and cleanroomsml calls reach the fake through the real boundary."""

    def __init__(self, fake: FakeCleanRooms):
        self.fake = fake

    def call(self, service, method, /, where=None, **params):
        assert service in ("cleanrooms", "cleanroomsml", "entityresolution"), service
        model = api_rules.service_model(service)
        operation = model.operation_model(next(o for o in model.operation_names if xform_name(o) == method))
        validate_parameters(params, operation.input_shape)  # names and types as botocore would check them
        aws_call_log.record(service, operation.name)
        with aws_errors(service, method, **(where or {})):
            return self.fake.handle(method, params)
