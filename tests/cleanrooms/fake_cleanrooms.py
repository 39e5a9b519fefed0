"""A stateful fake of the Clean Rooms (and Clean Rooms ML) APIs the operations use.

moto models collaborations, memberships and configured tables only; analysis
rules, associations, ID namespace associations, privacy budget templates and
ML configuration are not there. This fake keeps all of them in one state with
the real operation names, IDs (UUIDs), ARNs, pagination (maxResults /
nextToken), error codes with their modeled fields (ConflictException with
`reason`, ResourceNotFoundException, ServiceQuotaExceededException,
ThrottlingException, ValidationException with `reason`) and the association
quota. Each behaviour names its source (botocore's cleanrooms model or the API
reference); where the source is silent, the fake has a switch so tests cover
both answers. Errors are botocore ClientErrors, so they pass the package's
error boundary.
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
ARN = "arn:aws:cleanrooms:us-east-1:123456789012"


def conflict(op: str, message: str, reason: str, resource_type: str | None = None, resource_id: str = ""):
    """ConflictException with its modeled reason, resourceType and resourceId (botocore model ConflictException)."""
    extra = {"resourceType": resource_type} if resource_type else {}
    return error("ConflictException", message, op, 409, reason=reason, resourceId=resource_id, **extra)


def error(code: str, message: str, operation: str, status: int = 400, **modeled) -> ClientError:
    """As botocore parses a REST-JSON error: modeled fields (quotaName...) beside "Error", not in it."""
    return ClientError({"Error": {"Code": code, "Message": message}, **modeled,
                        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "fake-req"}}, operation)


def _api(method: str) -> str:
    return "".join(p.capitalize() for p in method.split("_")).replace("Ml", "ML")


class FakeCleanRooms:
    def __init__(self, association_quota: int | None = None):
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
        # CreateConfiguredTableAssociation may raise ServiceQuotaExceededException (quotaName, quotaValue:
        # botocore model), but the Clean Rooms quotas page lists no associations-per-membership quota:
        # none by default; a test sets one to see the refusal.
        self.association_quota = association_quota
        self.account_id = "123456789012"
        self.templates_block_removal = False  # see delete_configured_table_association
        self.invitees_cannot_list_members = False  # see list_members
        self.calls: list[str] = []
        self.throttle_next = 0           # the next N calls are throttled
        self.fail: dict[str, object] = {}   # operation -> error code (or code, status, fields), raised once
        self.lose_answer: set[str] = set()  # operations whose next call acts, then answers a 5xx

    # -- plumbing ---------------------------------------------------------------
    def handle(self, method: str, params: dict) -> dict:
        op = _api(method)
        self.calls.append(op)
        if self.throttle_next:  # ThrottlingException, HTTP 429 (botocore model)
            self.throttle_next -= 1
            raise error("ThrottlingException", "Rate exceeded", op, 429)
        if op in self.fail:
            raise self._failure(op, self.fail.pop(op))
        answer = copy.deepcopy(getattr(self, method)(op, **params))
        if op in self.lose_answer:  # a network fault, not an API rule: the work is done, the answer lost
            self.lose_answer.discard(op)
            raise error("InternalServerException", "the connection dropped", op, 500)
        return answer

    @staticmethod
    def _failure(op: str, spec) -> ClientError:
        """`fail[op]`: an error code, or (code, HTTP status, modeled fields such as reason)."""
        if isinstance(spec, tuple):
            code, status, fields = spec
            return error(code, f"{op} refused", op, status, **fields)
        return error(spec, f"{op} refused", op, 402 if "Quota" in spec else 400,
                     quotaName="Configured table associations per membership", quotaValue=25.0)

    def mutating(self) -> list[str]:
        return [c for c in self.calls if c.startswith(MUTATING)]

    @staticmethod
    def _page(items: list, key: str, nextToken: str | None = None, maxResults: int | None = None) -> dict:
        """nextToken / maxResults paging (botocore model; MaxResults 1..100): PAGE items at most."""
        start = int(nextToken or 0)
        size = min(maxResults or PAGE, PAGE)
        page = {key: items[start:start + size]}
        if start + size < len(items):
            page["nextToken"] = str(start + size)
        return page

    def _table(self, op: str, ident: str) -> dict:
        if ident not in self.tables:  # ResourceNotFoundException, HTTP 404 (botocore model), as for every get below
            raise error("ResourceNotFoundException", f"configured table {ident} not found", op, 404)
        return self.tables[ident]

    def _association(self, op: str, ident: str) -> dict:
        if ident not in self.associations:
            raise error("ResourceNotFoundException", f"association {ident} not found", op, 404)
        return self.associations[ident]

    # -- configured tables and their rules ------------------------------------------
    def create_configured_table(self, op, name, tableReference, allowedColumns, analysisMethod, **_):
        found = next((t for t in self.tables.values() if t["name"] == name), None)
        if found:  # ConflictExceptionReason ALREADY_EXISTS (botocore model)
            raise conflict(op, f"configured table {name} already exists", "ALREADY_EXISTS", "CONFIGURED_TABLE",
                           found["id"])
        ident = str(uuid.uuid4())
        self.tables[ident] = {"id": ident, "name": name, "tableReference": tableReference,
                              "allowedColumns": allowedColumns, "analysisMethod": analysisMethod,
                              "arn": f"{ARN}:configuredtable/{ident}"}
        return {"configuredTable": self.tables[ident]}

    def update_configured_table(self, op, configuredTableIdentifier, **changes):
        # UpdateConfiguredTable's input has allowedColumns, tableReference, analysisMethod... (botocore
        # model): all changed in place; the API reference names no refusal for an associated table.
        self._table(op, configuredTableIdentifier).update(changes)
        return {"configuredTable": self.tables[configuredTableIdentifier]}

    def list_configured_tables(self, op, **page):
        items = [{"id": t["id"], "name": t["name"], "analysisMethod": t["analysisMethod"]}
                 for t in self.tables.values()]
        return self._page(items, "configuredTableSummaries", **page)

    def get_configured_table(self, op, configuredTableIdentifier):
        return {"configuredTable": self._table(op, configuredTableIdentifier)}

    def delete_configured_table(self, op, configuredTableIdentifier):
        self._table(op, configuredTableIdentifier)
        if any(a["configuredTableId"] == configuredTableIdentifier for a in self.associations.values()):
            # A ConflictException (API reference DeleteConfiguredTable); which reason is not said:
            # SUBRESOURCES_EXIST from the model's enum. Our code treats every reason but ALREADY_EXISTS alike.
            raise conflict(op, "the configured table is associated", "SUBRESOURCES_EXIST", "CONFIGURED_TABLE",
                           configuredTableIdentifier)
        del self.tables[configuredTableIdentifier]
        self.table_rules.pop(configuredTableIdentifier, None)
        return {}

    def create_configured_table_analysis_rule(self, op, configuredTableIdentifier, analysisRuleType,
                                              analysisRulePolicy):
        self._table(op, configuredTableIdentifier)
        if configuredTableIdentifier in self.table_rules:  # ConflictExceptionReason ALREADY_EXISTS (botocore model)
            raise conflict(op, "rule exists", "ALREADY_EXISTS")
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
        if any(a["name"] == name for a in mine):  # ConflictExceptionReason ALREADY_EXISTS (botocore model)
            raise conflict(op, f"association {name} exists", "ALREADY_EXISTS", "CONFIGURED_TABLE_ASSOCIATION")
        if self.association_quota is not None and len(mine) >= self.association_quota:
            raise error("ServiceQuotaExceededException", "quota exceeded", op, 402,
                        quotaName="Configured table associations per membership",
                        quotaValue=float(self.association_quota))
        ident = str(uuid.uuid4())
        self.associations[ident] = {"id": ident, "name": name, "membershipId": membershipIdentifier,
                                    "configuredTableId": configuredTableIdentifier, "roleArn": roleArn,
                                    "arn": f"{ARN}:membership/{membershipIdentifier}"
                                           f"/configuredtableassociation/{ident}"}
        return {"configuredTableAssociation": self.associations[ident]}

    def list_configured_table_associations(self, op, membershipIdentifier, **page):
        items = [{k: a[k] for k in ("id", "arn", "name", "membershipId", "configuredTableId")}
                 for a in self.associations.values() if a["membershipId"] == membershipIdentifier]
        return self._page(items, "configuredTableAssociationSummaries", **page)

    def delete_configured_table_association(self, op, configuredTableAssociationIdentifier, membershipIdentifier):
        association = self._association(op, configuredTableAssociationIdentifier)
        # The API reference lists ConflictException here without saying what causes it (a rule or a
        # privacy budget template left?): refused only when a test sets templates_block_removal.
        budget = next((t for t in self.templates.values() if self._budgeted(t) == association["arn"]), None)
        if budget and self.templates_block_removal:
            raise conflict(op, f"privacy budget template {budget['id']} uses this association",
                           "SUBRESOURCES_EXIST", "CONFIGURED_TABLE_ASSOCIATION", configuredTableAssociationIdentifier)
        del self.associations[configuredTableAssociationIdentifier]
        self.association_rules.pop(configuredTableAssociationIdentifier, None)
        return {}

    def create_configured_table_association_analysis_rule(self, op, membershipIdentifier,
                                                          configuredTableAssociationIdentifier,
                                                          analysisRuleType, analysisRulePolicy):
        self._association(op, configuredTableAssociationIdentifier)
        if configuredTableAssociationIdentifier in self.association_rules:  # ALREADY_EXISTS (botocore model)
            raise conflict(op, "rule exists", "ALREADY_EXISTS")
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
        del self.association_rules[configuredTableAssociationIdentifier]
        return {}

    # -- membership-level things ----------------------------------------------------------
    @staticmethod
    def _budgeted(template: dict) -> str | None:
        """An ACCESS_BUDGET template's resourceArn (AccessBudgetsPrivacyTemplateParametersInput, botocore model)."""
        return template["parameters"].get("accessBudget", {}).get("resourceArn")

    def create_privacy_budget_template(self, op, membershipIdentifier, privacyBudgetType, parameters, **_):
        mine = [t for t in self.templates.values() if t["membershipId"] == membershipIdentifier]
        # "Each collaboration can have only one privacy budget template" (API reference
        # CreatePrivacyBudgetTemplate), read as one DIFFERENTIAL_PRIVACY template; for ACCESS_BUDGET
        # templates, each naming its resource, the reference is silent: no limit modeled.
        if privacyBudgetType == "DIFFERENTIAL_PRIVACY" and any(t["privacyBudgetType"] == privacyBudgetType
                                                               for t in mine):
            raise conflict(op, "the collaboration has a differential privacy template", "ALREADY_EXISTS")
        ident = str(uuid.uuid4())
        self.templates[ident] = {"id": ident, "arn": f"{ARN}:privacybudgettemplate/{ident}",
                                 "membershipId": membershipIdentifier, "privacyBudgetType": privacyBudgetType,
                                 "parameters": parameters, "autoRefresh": "NONE"}
        return {"privacyBudgetTemplate": self.templates[ident]}

    def list_privacy_budget_templates(self, op, membershipIdentifier, **page):
        # PrivacyBudgetTemplateSummary (botocore model) has no parameters: GetPrivacyBudgetTemplate has them.
        items = [{k: v for k, v in t.items() if k != "parameters"}
                 for t in self.templates.values() if t["membershipId"] == membershipIdentifier]
        return self._page(items, "privacyBudgetTemplateSummaries", **page)

    def get_privacy_budget_template(self, op, membershipIdentifier, privacyBudgetTemplateIdentifier):
        if privacyBudgetTemplateIdentifier not in self.templates:
            raise error("ResourceNotFoundException", "no template", op, 404)
        return {"privacyBudgetTemplate": self.templates[privacyBudgetTemplateIdentifier]}

    def delete_privacy_budget_template(self, op, membershipIdentifier, privacyBudgetTemplateIdentifier):
        self.get_privacy_budget_template(op, membershipIdentifier, privacyBudgetTemplateIdentifier)
        del self.templates[privacyBudgetTemplateIdentifier]
        return {}

    def list_id_namespace_associations(self, op, membershipIdentifier, **page):
        items = [a for a in self.id_namespace_associations.values() if a["membershipId"] == membershipIdentifier]
        return self._page(items, "idNamespaceAssociationSummaries", **page)

    def create_id_namespace_association(self, op, membershipIdentifier, inputReferenceConfig, name, **_):
        if any(a["name"] == name and a["membershipId"] == membershipIdentifier
               for a in self.id_namespace_associations.values()):  # ALREADY_EXISTS (botocore model)
            raise conflict(op, f"ID namespace association {name} exists", "ALREADY_EXISTS")
        ident = str(uuid.uuid4())
        self.id_namespace_associations[ident] = {"id": ident, "name": name, "membershipId": membershipIdentifier,
                                                 "inputReferenceConfig": inputReferenceConfig}
        return {"idNamespaceAssociation": self.id_namespace_associations[ident]}

    def list_collaborations(self, op, memberStatus=None, **page):
        items = [c for c in self.collaborations.values() if memberStatus in (None, c["memberStatus"])]
        return self._page(items, "collaborationList", **page)

    def create_membership(self, op, collaborationIdentifier, queryLogStatus, paymentConfiguration=None, **_):
        collaboration = self.collaborations.get(collaborationIdentifier)
        if collaboration is None:
            raise error("ResourceNotFoundException", "no collaboration", op, 404)
        if collaboration["memberStatus"] == "ACTIVE":
            raise conflict(op, "already a member", "ALREADY_EXISTS", "MEMBERSHIP")
        self._check_payment(op, collaboration, paymentConfiguration)
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

    def _check_payment(self, op, collaboration: dict, accepted: dict | None) -> None:
        """CreateMembership.paymentConfiguration "Required if the collaboration member doesn't have the
        member ability to run queries but is configured as a payer"; isResponsible must match what the
        creator set (botocore model, MembershipQueryComputePaymentConfig.isResponsible)."""
        me = next((m for m in collaboration.get("members", []) if m["accountId"] == self.account_id), None)
        if me is None:
            return
        pays = me["paymentConfiguration"]["queryCompute"]["isResponsible"]
        if accepted is None and pays and "CAN_QUERY" not in me["abilities"]:
            raise error("ValidationException", "paymentConfiguration is required: you pay for queries", op,
                        reason="FIELD_VALIDATION_FAILED")
        if accepted is not None and accepted["queryCompute"]["isResponsible"] != pays:
            raise error("ValidationException", "queryCompute.isResponsible differs from the creator's setting", op,
                        reason="FIELD_VALIDATION_FAILED")

    def list_members(self, op, collaborationIdentifier, **page):
        # The API reference ("Lists all members within a collaboration") does not say whether an
        # invitee may call it: refused only when a test sets invitees_cannot_list_members.
        if self.invitees_cannot_list_members and self.collaborations[collaborationIdentifier]["memberStatus"] == \
                "INVITED":
            raise error("AccessDeniedException", "not a member", op, 403)
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
            problems = api_rules.problems(service, operation.name, params)
            if problems:  # lengths, patterns, enums of the model: ValidationExceptionReason FIELD_VALIDATION_FAILED
                raise error("ValidationException", "; ".join(problems), operation.name,
                            reason="FIELD_VALIDATION_FAILED")
            return self.fake.handle(method, params)
