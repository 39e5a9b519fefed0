"""The Clean Rooms readiness report (refresh stage 8, `cr_rpt`).

Per published `part_*` table: the catalog side (exists, columns, partition
keys), the configured table (allowed columns, analysis method), its CUSTOM
rule and providers, the `acx_<table>` association, its rule and result
receivers, and `ready_for_analysis`, with what is `missing` when it is not.
Then the collaboration and its members,
and the identity side (ID namespace associations, the namespace and its schema
mapping). On the local backend there is no Clean Rooms: the report gives the
catalog side and what the operations would do.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..aws import lakeformation
from ..aws.errors import AwsNotFound
from . import operations as ops
from . import state

TABLE_COLUMNS = [
    "table", "catalog_exists", "catalog_columns", "partition_keys", "configured_table", "allowed_columns",
    "analysis_method", "analysis_rule", "providers", "association", "association_exists",
    "association_rule", "result_receivers", "missing", "ready_for_analysis", "planned",
]
TABLE_COLUMNS += lakeformation.REPORT_COLUMNS  # can the Clean Rooms role SELECT/DESCRIBE it (Lake Formation)
IDENTITY_COLUMNS = ["association", "id_namespace_arn", "id_namespace", "type", "input_source", "schema_mapping",
                    "mapped_fields"]


@dataclass
class CleanRoomsReport:
    env: str
    membership_id: str
    tables: list[dict]
    collaboration: dict = field(default_factory=dict)
    members: list[dict] = field(default_factory=list)
    identity: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def summary(self) -> dict:
        ready = sum(t["ready_for_analysis"] for t in self.tables)
        return {"tables": len(self.tables), "ready_for_analysis": ready, "not_ready": len(self.tables) - ready,
                "members": len(self.members), "id_namespace_associations": len(self.identity),
                "collaboration": self.collaboration.get("name")}


def build(ctx: ops.OpContext, membership_id: str = "", lake: lakeformation.TableAccess | None = None
          ) -> CleanRoomsReport:
    """`lake`: the Clean Rooms role's Lake Formation access (lakeformation.table_access); None: not checked."""
    lake = lake or lakeformation.TableAccess(None, "", "", "not checked")
    configured = state.configured_tables(ctx.api)
    associations = state.associations(ctx.api, membership_id) if membership_id and ctx.api else {}
    planned = _planned(ctx, membership_id) if ctx.api is None else {}
    rows = []
    for entry in sorted(ctx.tables, key=lambda e: e.name):
        table = configured.get(entry.name)
        rule = state.table_rule(ctx.api, table["id"]) if table else None
        name = ops.ASSOCIATION_PREFIX + entry.name
        association = associations.get(name)
        association_rule = state.association_rule(ctx.api, membership_id, association["id"]) if association else None
        providers = (rule or {}).get("allowedAnalysisProviders", [])
        receivers = (association_rule or {}).get("allowedResultReceivers", [])
        missing = _missing(table, rule, providers, association, association_rule, receivers)
        rows.append({
            "table": entry.name, "catalog_exists": True, "catalog_columns": entry.width,
            "partition_keys": ",".join(k for k, _ in entry.partition_keys),
            "configured_table": table is not None, "allowed_columns": len(table["allowedColumns"]) if table else 0,
            "analysis_method": (table or {}).get("analysisMethod", ""),
            "analysis_rule": rule is not None, "providers": ",".join(providers),
            "association": name, "association_exists": association is not None,
            "association_rule": association_rule is not None,
            "result_receivers": ",".join(receivers), "missing": ", ".join(missing),
            "ready_for_analysis": not missing,
            "planned": planned.get(entry.name, ""),
        })
        access = lake.of(entry).columns()  # a missing Lake Formation grant is not ready
        rows[-1].update(access, ready_for_analysis=rows[-1]["ready_for_analysis"] and access["lf_ready"])
    report = CleanRoomsReport(ctx.settings.env, membership_id, rows)
    if ctx.api is None:
        report.notes.append("local backend: no Clean Rooms; 'planned' says what configure_tables and "
                            "associate_tables would do")
    elif not membership_id:
        report.notes.append("no membership configured (membership_id / $CLEAN_ROOMS_MEMBERSHIP_ID): "
                            "associations, collaboration and identity are not reported")
    else:
        _collaboration(ctx.api, membership_id, report)
        report.identity = _identity(ctx.api, membership_id)
    report.notes += lake.notes()
    return report


def _missing(table, rule, providers, association, association_rule, receivers) -> list[str]:
    """What a table lacks for direct analysis, in the order the operations make it.

    The association's collaboration analysis rule, with at least one allowed result
    receiver, is required for direct analysis (Clean Rooms user guide), not only the table's rule.
    """
    parts = [("configured table", table is not None), ("CUSTOM analysis rule", rule is not None),
             ("analysis provider", providers), ("association", association is not None),
             ("collaboration analysis rule", association_rule is not None), ("result receiver", receivers)]
    return [name for name, present in parts if not present]


def _planned(ctx: ops.OpContext, membership_id: str) -> dict[str, str]:
    """What the operations would do, per table, against an empty Clean Rooms."""
    found: dict[str, list[str]] = {}
    for change in ops.configure_tables(ctx, []):
        found.setdefault(change.name, []).append(f"{change.action} configured table")
    for change in ops.associate_tables(ctx, membership_id or "00000000-0000-4000-8000-000000000000", []):
        found.setdefault(change.name.removeprefix(ops.ASSOCIATION_PREFIX), []).append(
            f"{change.action} association" + (f" ({change.reason})" if change.action == "skipped" else ""))
    return {name: "; ".join(items) for name, items in found.items()}


def _collaboration(api, membership_id: str, report: CleanRoomsReport) -> None:
    membership = api.call("cleanrooms", "get_membership", membershipIdentifier=membership_id)["membership"]
    collaboration_id = membership["collaborationId"]
    report.collaboration = {"id": collaboration_id, "name": membership.get("collaborationName"),
                            "creator": membership.get("collaborationCreatorDisplayName"),
                            "membership_status": membership.get("status"),
                            "our_abilities": membership.get("memberAbilities", [])}
    for member in api.pages("cleanrooms", "list_members", "memberSummaries", collaborationIdentifier=collaboration_id):
        report.members.append({"account_id": member["accountId"], "name": member.get("displayName"),
                               "status": member.get("status"), "abilities": member.get("abilities", []),
                               "can_receive_results": "CAN_RECEIVE_RESULTS" in member.get("abilities", [])})


def _identity(api, membership_id: str) -> list[dict]:
    rows = []
    for item in state.id_namespace_associations(api, membership_id):
        arn = item.get("inputReferenceConfig", {}).get("inputReferenceArn", "")
        row = dict.fromkeys(IDENTITY_COLUMNS, "")
        row.update(association=item["name"], id_namespace_arn=arn, id_namespace=arn.rsplit("/", 1)[-1])
        try:
            namespace = api.call("entityresolution", "get_id_namespace", idNamespaceName=row["id_namespace"])
            sources = namespace.get("inputSourceConfig", [])
            row.update(type=namespace.get("type", ""),
                       input_source=",".join(s.get("inputSourceARN", "") for s in sources))
            schema = next((s.get("schemaName") for s in sources if s.get("schemaName")), None)
            if schema:
                mapping = api.call("entityresolution", "get_schema_mapping", schemaName=schema)
                row.update(schema_mapping=schema, mapped_fields=len(mapping.get("mappedInputFields", [])))
        except AwsNotFound:
            row["type"] = "NOT FOUND"
        rows.append(row)
    return rows


def write(report: CleanRoomsReport, folder: str | Path) -> dict[str, str]:
    """cr_report.json, cr_tables.csv and cr_identity.csv."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "cr_report.json", "tables": folder / "cr_tables.csv",
             "identity": folder / "cr_identity.csv"}
    paths["json"].write_text(json.dumps({"summary": report.summary(), **asdict(report)}, indent=2, default=str))
    for key, columns, rows in (("tables", TABLE_COLUMNS, report.tables), ("identity", IDENTITY_COLUMNS,
                                                                          report.identity)):
        with open(paths[key], "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    return {k: str(v) for k, v in paths.items()}
