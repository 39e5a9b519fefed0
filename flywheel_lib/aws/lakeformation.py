"""Lake Formation as the runbook sees it: registered locations, grants, and who can read a table.

The production accounts register the data locations with Lake Formation in
hybrid mode: the `IAM_ALLOWED_PRINCIPALS` defaults are kept, so a table that
group holds ALL on is governed by IAM alone, and every other table needs
Lake Formation grants (DOMAIN "Lake Formation"). `read_state` reads what
exists (ListResources, ListPermissions per resource type, GetDataLakeSettings);
`access` says, per catalog table, whether a principal can SELECT and DESCRIBE
it and, if not, why. Stage 8 puts that beside Clean Rooms readiness; the
`grant_lake_formation` operation (lakeformation_grants.py) plans from the same state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

IAM_ALLOWED = "IAM_ALLOWED_PRINCIPALS"
READ = ("SELECT", "DESCRIBE")  # what Clean Rooms needs on a table it queries
ALL = "ALL"
TABLE_PERMISSIONS = ("SELECT", "DESCRIBE", "ALTER", "DROP", "INSERT", "DELETE")  # ALL on a table means these
# ListPermissions returns only explicitly granted permissions unless both Principal and Resource
# are given (botocore model), and moto refuses Principal without Resource: so we list by type.
LISTED_TYPES = ("DATABASE", "TABLE", "DATA_LOCATION")
REPORT_COLUMNS = ["lake_formation", "lf_ready", "lf_missing"]


def s3_arn(url: str, partition: str = "aws") -> str:
    """s3://bucket/prefix -> arn:aws:s3:::bucket/prefix, the form LF registers and grants on."""
    return f"arn:{partition}:s3:::{url.removeprefix('s3://').rstrip('/')}"


def covers(resource_arn: str, url: str) -> bool:
    """A registered location covers itself and every path under it (whole path segments only)."""
    path = resource_arn.split(":::", 1)[-1].rstrip("/")
    target = url.removeprefix("s3://").rstrip("/")
    return target == path or target.startswith(path + "/")


def principal_arn(caller_arn: str) -> str:
    """The IAM principal behind an STS caller ARN (an assumed role's session becomes its role).

    LF grants name IAM users and roles; a role with a path loses it here (STS does
    not report it), so such a role is best named in the runner_role_arn setting.
    """
    arn = caller_arn.replace(":sts::", ":iam::", 1)
    if ":assumed-role/" in arn:
        role = arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
        arn = arn.split(":assumed-role/", 1)[0] + f":role/{role}"
    return arn


def _pages(aws, method: str, key: str, **params) -> list[dict]:
    """Every item of a Lake Formation list call (NextToken); botocore has no paginator for these."""
    items, token = [], None
    while True:
        page = aws.call("lakeformation", method, **params, **({"NextToken": token} if token else {}))
        items += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return items


@dataclass
class LakeState:
    registered: list[str] = field(default_factory=list)  # ResourceArn of every registered location
    grants: list[dict] = field(default_factory=list)      # PrincipalResourcePermissions as listed
    settings: dict = field(default_factory=dict)          # DataLakeSettings

    def held(self, principal: str, resource: dict) -> set[str]:
        """What `principal` explicitly holds on `resource` (a Database, Table or DataLocation)."""
        found: set[str] = set()
        for grant in self.grants:
            if grant.get("Principal", {}).get("DataLakePrincipalIdentifier") == principal:
                if _matches(grant.get("Resource", {}), resource):
                    found |= set(grant.get("Permissions", []))
        return found

    def grants_on(self, database: str) -> int:
        """How many listed grants name the database or its tables (any principal)."""
        where = (("Database", "Name"), ("Table", "DatabaseName"), ("TableWithColumns", "DatabaseName"))
        return sum(any(g.get("Resource", {}).get(kind, {}).get(key) == database for kind, key in where)
                   for g in self.grants)

    def covering(self, url: str) -> str | None:
        return next((arn for arn in sorted(self.registered) if covers(arn, url)), None)

    def iam_default_kept(self) -> bool:
        """DataLakeSettings: ALL to IAM_ALLOWED_PRINCIPALS on new tables means 'use only IAM access control'."""
        return any(p.get("Principal", {}).get("DataLakePrincipalIdentifier") == IAM_ALLOWED and ALL in p.get(
            "Permissions", []) for p in self.settings.get("CreateTableDefaultPermissions", []))


def read_state(aws) -> LakeState:
    """Registered locations, the catalog's explicit grants and the data lake settings."""
    grants = [g for kind in LISTED_TYPES
              for g in _pages(aws, "list_permissions", "PrincipalResourcePermissions", ResourceType=kind)]
    return LakeState(registered=[r["ResourceArn"] for r in _pages(aws, "list_resources", "ResourceInfoList")],
                     grants=grants, settings=aws.call("lakeformation", "get_data_lake_settings")["DataLakeSettings"])


def _matches(granted: dict, wanted: dict) -> bool:
    """Whether a listed grant's resource applies to the wanted one.

    A table is reached by its own name, by the database's TableWildcard, or by a
    TableWithColumns on it (ListPermissions on a table "returns the table and the table
    with columns", botocore model) whose ColumnWildcard excludes nothing. The model does
    not say how a wildcard SELECT is listed, so both Table forms are accepted.
    """
    if "Database" in wanted:
        return granted.get("Database", {}).get("Name") == wanted["Database"]["Name"]
    if "DataLocation" in wanted:
        return granted.get("DataLocation", {}).get("ResourceArn") == wanted["DataLocation"]["ResourceArn"]
    table = wanted["Table"]
    listed = granted.get("Table") or {}
    if listed.get("DatabaseName") == table["DatabaseName"]:
        if "TableWildcard" in listed:
            return True
        return "Name" in table and listed.get("Name") == table["Name"]
    columns = granted.get("TableWithColumns") or {}
    whole = "ColumnWildcard" in columns and not columns["ColumnWildcard"].get("ExcludedColumnNames")
    return (whole and columns.get("DatabaseName") == table["DatabaseName"]
            and columns.get("Name") == table.get("Name"))


def table_resource(database: str, name: str | None = None) -> dict:
    """A Table resource: one table by name, or every table of the database (TableWildcard)."""
    return {"Table": {"DatabaseName": database, **({"Name": name} if name else {"TableWildcard": {}})}}


def expand(held: set[str]) -> set[str]:
    """ALL (Super) stands for every permission of its resource (LF permissions reference)."""
    return held | set(TABLE_PERMISSIONS) | {"CREATE_TABLE", "DATA_LOCATION_ACCESS"} if ALL in held else held


@dataclass(frozen=True)
class Access:
    how: str     # "Lake Formation grant", "IAM only (...)", "not applicable (...)"
    ready: bool
    missing: str = ""

    def columns(self) -> dict:
        return dict(zip(REPORT_COLUMNS, (self.how, self.ready, self.missing)))


def access(state: LakeState, principal: str, database: str, entry) -> Access:
    """Can `principal` SELECT and DESCRIBE the catalog table `entry` of `database`?

    Hybrid-mode opt-ins (ListLakeFormationOptIns) are not read: a principal opted in on
    an IAM-only table needs grants after all. grant_lake_formation grants them, so once
    it has run the answer holds either way.
    """
    resource = table_resource(database, entry.name)
    if ALL in state.held(IAM_ALLOWED, resource):  # hybrid: the IAM-only default is kept on this table
        return Access(f"IAM only ({IAM_ALLOWED} holds ALL)", True)
    lacking = [p for p in READ if p not in expand(state.held(principal, resource))]
    if lacking:
        return Access("Lake Formation grant", False, f"no {' or '.join(lacking)} for {principal} on "
                      f"{database}.{entry.name}: run grant_lake_formation")
    if entry.location.startswith("s3://") and state.covering(entry.location) is None:
        return Access("Lake Formation grant", False, f"{entry.location} is not registered with Lake Formation: "
                      "run grant_lake_formation")
    return Access("Lake Formation grant", True)


class TableAccess:
    """Stage 8's view: one principal's access to the published tables, with notes for the report."""

    def __init__(self, state: LakeState | None, principal: str, database: str, reason: str = ""):
        self.state, self.principal, self.database, self.reason = state, principal, database, reason

    def of(self, entry) -> Access:
        if self.state is None:
            return Access(f"not applicable ({self.reason})", True)
        return access(self.state, self.principal, self.database, entry)

    def notes(self) -> list[str]:
        if self.state is None:
            return [f"Lake Formation: not applicable ({self.reason})"]
        default = ("IAM_ALLOWED_PRINCIPALS keeps ALL on new tables (hybrid: IAM-only until granted)"
                   if self.state.iam_default_kept() else "new tables need Lake Formation grants")
        notes = [f"Lake Formation: {len(self.state.registered)} registered location(s); {default}; "
                 f"checked for {self.principal}"]
        if not self.state.grants_on(self.database):  # ListPermissions is "filtered by the permissions of the caller"
            notes.append(f"Lake Formation lists no grant on {self.database} to this caller: unless it is a data "
                         "lake administrator, grants it may not see are reported missing")
        return notes


def table_access(settings, backend, role_arn: str) -> TableAccess:
    """What stage 8 reads: on AWS the live state, locally nothing (there is no Lake Formation)."""
    if settings.is_local:
        return TableAccess(None, role_arn, settings.database_name, "local backend: no Lake Formation")
    return TableAccess(read_state(backend.aws), role_arn, settings.database_name)
