"""Least-privilege IAM policies, generated from one table of what the code does on AWS.

`GRANTS` lists every AWS action the code needs, the role that needs it and the
resources it acts on, as ARN templates filled from the environment's settings
(databases, buckets and prefixes, topics, job names, workgroup). Three roles:

- `runner`: whoever runs `run_refresh.py` (the EC2 instance role in prod, the
  `flywheel-dev` profile in dev): the refresh, the operations and the deploy;
- `glue-job`: the role the Glue split jobs run as;
- `cleanrooms`: the Clean Rooms service role of the configured tables
  (settings.role_name), which reads the catalog tables and their files.

`tests/test_iam.py` holds the table to the code both ways: every call the AWS
tests record is allowed by the runner's policy, and every runner action in the
table was called by some test (or is `implied_by` a call that was: what AWS
does on the caller's behalf, such as Athena reading the catalog and S3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import FlywheelError
from .glue_jobs import job_name

RUNNER, GLUE_JOB, CLEAN_ROOMS = "runner", "glue-job", "cleanrooms"
ROLES = (RUNNER, GLUE_JOB, CLEAN_ROOMS)
GLUE_JOB_ROLE = "omc-flywheel-glue-job"  # the deploy_glue_jobs notebook's default role_name
SPLIT_STAGES = ("addr_part", "infobase_part")

# The IAM action an API call needs, where the two names differ (S3's own mapping of requests to
# actions, in its API reference); None: no permission is needed (STS GetCallerIdentity).
ACTION_OF_CALL = {
    "s3:HeadObject": "s3:GetObject",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:DeleteObjects": "s3:DeleteObject",
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
    "s3:GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "sts:GetCallerIdentity": None,
}

# Actions IAM's reference lists as dependent on one we call, left out, and why.
NOT_NEEDED = {
    "glue:GetSchemaVersion": "only for catalog tables backed by the Glue Schema Registry; ours are not",
    "iam:PassRole@cleanrooms:CreateMembership": "only with a result or query-log role; accept_invitations sets none",
    "logs:*@cleanrooms:CreateMembership": "only with query logging, which accept_invitations does not turn on",
    "s3:GetBucketLocation@cleanrooms:CreateMembership": "only with a default result location; none is set",
}


@dataclass(frozen=True)
class Grant:
    role: str
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]   # ARN templates; see `names`
    why: str
    implied_by: str = ""         # an action of ours during which AWS makes these calls, or checks these, as us


_CATALOG = ("arn:{partition}:glue:{region}:{account}:catalog",
            "arn:{partition}:glue:{region}:{account}:database/{database}",
            "arn:{partition}:glue:{region}:{account}:database/{staging}",
            "arn:{partition}:glue:{region}:{account}:table/{database}/*",
            "arn:{partition}:glue:{region}:{account}:table/{staging}/*")
_SPLIT_OBJECTS = ("arn:{partition}:s3:::{addressable_root}/*", "arn:{partition}:s3:::{infobase_root}/*")
_PUBLISHED = ("arn:{partition}:glue:{region}:{account}:catalog",
              "arn:{partition}:glue:{region}:{account}:database/{database}",
              "arn:{partition}:glue:{region}:{account}:table/{database}/part_*")
_RUN_RECORDS = ("arn:{partition}:s3:::{analysis_bucket}/runs/*",)
_CLEANROOMS = "arn:{partition}:cleanrooms:{region}:{account}"
_MEMBERSHIP = tuple(_CLEANROOMS + f":membership/*{nested}" for nested in (
    "", "/configuredtableassociation/*", "/idnamespaceassociation/*", "/privacybudgettemplate/*"))

GRANTS: tuple[Grant, ...] = (
    # --- runner: the refresh ------------------------------------------------------------------
    Grant(RUNNER, "ListBuckets", ("s3:ListBucket",),
          ("arn:{partition}:s3:::{data_bucket}", "arn:{partition}:s3:::{analysis_bucket}"),
          "find snapshots, version folders and markers; list what retention and the monitor check"),
    Grant(RUNNER, "ReadRawSnapshots", ("s3:GetObject",), ("arn:{partition}:s3:::{data_bucket}/opus/*",),
          "Parquet footers of the raw snapshots (ranged GET)"),
    Grant(RUNNER, "SplitOutput", ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"),
          _SPLIT_OBJECTS + ("arn:{partition}:s3:::{data_bucket}/omc_cleanroom_data/config/*",),
          "markers and footers of version folders; the mapping the jobs read; the ER table; retention"),
    Grant(RUNNER, "AnalysisBucket", ("s3:GetObject", "s3:PutObject"),
          ("arn:{partition}:s3:::{analysis_bucket}/athena-results/*",
           "arn:{partition}:s3:::{analysis_bucket}/reports/*"),
          "Athena results, the data monitor's report"),
    Grant(RUNNER, "RunRecords", ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"), _RUN_RECORDS,
          "the run records' copies (record_mirror.py), the month's lock (s3_lock.py), interactive changes"),
    Grant(RUNNER, "RunRecordsBucketLock", ("s3:GetBucketObjectLockConfiguration",),
          ("arn:{partition}:s3:::{analysis_bucket}",),
          "whether the records' copies go under Object Lock, and whose (aws/record_lock.py)"),
    # PutObjectRetention (API reference): "Users or accounts require the s3:PutObjectRetention permission
    # in order to place an Object Retention configuration on objects", which a locked upload does.
    Grant(RUNNER, "RunRecordsLockOnWrite", ("s3:PutObjectRetention",), _RUN_RECORDS,
          "a copy uploaded with ObjectLockMode and ObjectLockRetainUntilDate", implied_by="s3:PutObject"),
    # S3 User Guide, "Managing Object Lock": GET/HEAD return an object's retention mode and date only
    # to a caller with s3:GetObjectRetention (the request succeeds without them).
    Grant(RUNNER, "RunRecordsLockOnRead", ("s3:GetObjectRetention",), _RUN_RECORDS,
          "--verify s3://… reads each copy's retention from its GET", implied_by="s3:GetObject"),
    Grant(RUNNER, "AthenaBuckets", ("s3:GetBucketLocation",),
          ("arn:{partition}:s3:::{data_bucket}", "arn:{partition}:s3:::{analysis_bucket}"),
          "Athena checks where the tables and its result location are",
          implied_by="athena:StartQueryExecution"),
    Grant(RUNNER, "Catalog", ("glue:CreateDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable",
                              "glue:UpdateTable", "glue:DeleteTable", "glue:GetPartitions",
                              "glue:BatchCreatePartition", "glue:BatchUpdatePartition",
                              "glue:BatchDeletePartition", "glue:GetTableVersions"),
          _CATALOG, "register, repair, validate, publish and roll back the part_* tables"),
    Grant(RUNNER, "CatalogForAthena", ("glue:GetDatabase", "glue:CreatePartition"), _CATALOG,
          "Athena reads the table and MSCK REPAIR TABLE adds partitions, as the caller",
          implied_by="athena:StartQueryExecution"),
    Grant(RUNNER, "Athena", ("athena:StartQueryExecution", "athena:GetQueryExecution",
                             "athena:GetQueryResults", "athena:StopQueryExecution"),
          ("arn:{partition}:athena:{region}:{account}:workgroup/{workgroup}",),
          "MSCK REPAIR, validation counts, the ER table's UNLOAD"),
    Grant(RUNNER, "SplitJobs", ("glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns",
                                "glue:BatchStopJobRun"),
          ("arn:{partition}:glue:{region}:{account}:job/{addr_job}",
           "arn:{partition}:glue:{region}:{account}:job/{infobase_job}"),
          "start the two split jobs, wait for them, stop them on Ctrl-C"),
    Grant(RUNNER, "Notify", ("sns:Publish",), ("{refresh_topic}", "{monitor_topic}"),
          "end-of-run message and data monitor alerts"),
    # --- runner: deploying the split jobs -----------------------------------------------------
    Grant(RUNNER, "DeployJobs", ("glue:GetJob", "glue:CreateJob", "glue:UpdateJob"),
          ("arn:{partition}:glue:{region}:{account}:job/{addr_job}",
           "arn:{partition}:glue:{region}:{account}:job/{infobase_job}"),
          "create or update the two split job definitions"),
    Grant(RUNNER, "DeployAssets", ("s3:GetObject", "s3:PutObject"),
          ("arn:{partition}:s3:::{glue_assets_bucket}/flywheel/*",),
          "the job script and its modules, in a folder named by their content"),
    Grant(RUNNER, "PassJobRole", ("iam:PassRole",), ("arn:{partition}:iam::{account}:role/{glue_job_role}",),
          "a job definition names the role it runs as", implied_by="glue:CreateJob"),
    # --- runner: Clean Rooms operations and the cr_rpt stage ----------------------------------
    Grant(RUNNER, "CleanRoomsLists", ("cleanrooms:ListCollaborations", "cleanrooms:ListConfiguredTables"),
          ("*",), "what exists, before planning (these two list actions take no resource)"),
    Grant(RUNNER, "ConfiguredTables", ("cleanrooms:GetConfiguredTable", "cleanrooms:CreateConfiguredTable",
                                       "cleanrooms:UpdateConfiguredTable",
                                       "cleanrooms:GetConfiguredTableAnalysisRule",
                                       "cleanrooms:CreateConfiguredTableAnalysisRule",
                                       "cleanrooms:UpdateConfiguredTableAnalysisRule"),
          (_CLEANROOMS + ":configuredtable/*",), "a configured table and its CUSTOM rule per part_* table"),
    Grant(RUNNER, "CatalogForCleanRooms", ("glue:GetDatabase", "glue:GetDatabases", "glue:GetTable",
                                           "glue:GetTables", "glue:GetPartition", "glue:GetPartitions",
                                           "glue:BatchGetPartition"),
          _PUBLISHED, "Clean Rooms reads the catalog table as the caller when a configured table is made",
          implied_by="cleanrooms:CreateConfiguredTable"),
    Grant(RUNNER, "AthenaCatalogForCleanRooms", ("athena:GetTableMetadata",),
          ("arn:{partition}:athena:{region}:{account}:datacatalog/AwsDataCatalog",),
          "the same, through Athena's view of the catalog", implied_by="cleanrooms:CreateConfiguredTable"),
    Grant(RUNNER, "Associate", ("cleanrooms:CreateConfiguredTableAssociation",),
          (_CLEANROOMS + ":configuredtable/*",) + _MEMBERSHIP,
          "an association joins a configured table to our membership"),
    Grant(RUNNER, "Memberships", ("cleanrooms:GetMembership", "cleanrooms:ListConfiguredTableAssociations",
                                  "cleanrooms:ListIdNamespaceAssociations",
                                  "cleanrooms:ListPrivacyBudgetTemplates",
                                  "cleanrooms:GetConfiguredTableAssociationAnalysisRule",
                                  "cleanrooms:CreateConfiguredTableAssociationAnalysisRule",
                                  "cleanrooms:UpdateConfiguredTableAssociationAnalysisRule",
                                  "cleanrooms:DeleteConfiguredTableAssociationAnalysisRule",
                                  "cleanrooms:DeleteConfiguredTableAssociation",
                                  "cleanrooms:CreateIdNamespaceAssociation",
                                  "cleanrooms:GetPrivacyBudgetTemplate", "cleanrooms:DeletePrivacyBudgetTemplate"),
          _MEMBERSHIP, "associations, their rules, the ID namespace association, budget templates"),
    Grant(RUNNER, "Collaborations", ("cleanrooms:ListMembers", "cleanrooms:CreateMembership"),
          (_CLEANROOMS + ":collaboration/*", _CLEANROOMS + ":membership/*"),
          "the members of our collaboration; accepting an invitation"),
    Grant(RUNNER, "PassCleanRoomsRole", ("iam:PassRole",),
          ("arn:{partition}:iam::{account}:role/{cleanrooms_role}",),
          "an association names the role Clean Rooms reads the table with",
          implied_by="cleanrooms:CreateConfiguredTableAssociation"),
    Grant(RUNNER, "IdNamespaceForAssociation", ("entityresolution:AddPolicyStatement",), ("*",),
          "associating the ID namespace lets Clean Rooms use it (the action takes no resource)",
          implied_by="cleanrooms:CreateIdNamespaceAssociation"),
    Grant(RUNNER, "MLConfiguration", ("cleanrooms-ml:GetMLConfiguration", "cleanrooms-ml:PutMLConfiguration"),
          ("*",), "the membership's ML output location (these actions take no resource)"),
    Grant(RUNNER, "Identity", ("entityresolution:GetIdNamespace",),
          ("arn:{partition}:entityresolution:{region}:{account}:idnamespace/*",), "the ID namespace report"),
    Grant(RUNNER, "IdentityMapping", ("entityresolution:GetSchemaMapping",),
          ("arn:{partition}:entityresolution:{region}:{account}:schemamapping/*",), "its schema mapping"),
    # --- runner: the grant_lake_formation operation and the cr_rpt stage's Lake Formation check -----
    Grant(RUNNER, "LakeFormation", ("lakeformation:GetDataLakeSettings", "lakeformation:ListPermissions",
                                    "lakeformation:ListResources", "lakeformation:GrantPermissions",
                                    "lakeformation:RegisterResource"),
          ("*",), "who can read each table; register the output roots, grant what is missing "
          "(Lake Formation's actions take no resource)"),
    # RegisterResource (API reference): "When you register the first Amazon S3 path, the service-linked
    # role and a new inline policy are created on your behalf."
    Grant(RUNNER, "LakeFormationDataAccessRole", ("iam:CreateServiceLinkedRole", "iam:PutRolePolicy"),
          ("arn:{partition}:iam::{account}:role/aws-service-role/lakeformation.amazonaws.com/"
           "AWSServiceRoleForLakeFormationDataAccess",),
          "the first registered location creates Lake Formation's data access role",
          implied_by="lakeformation:RegisterResource"),
    # --- the Glue split job's role: glue_jobs/split_job.py ------------------------------------
    Grant(GLUE_JOB, "JobReadsRaw", ("s3:GetObject",),
          ("arn:{partition}:s3:::{data_bucket}/opus/*",
           "arn:{partition}:s3:::{data_bucket}/omc_cleanroom_data/config/*",
           "arn:{partition}:s3:::{glue_assets_bucket}/flywheel/*"),
          "spark.read.parquet of the snapshot; the mapping; the script and modules Glue loads"),
    Grant(GLUE_JOB, "JobWritesSplit", ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"), _SPLIT_OBJECTS,
          "Spark's partitioned write, the empty buckets and the marker (_S3.write), clearing a failed "
          "attempt (_S3.delete_folder)"),
    Grant(GLUE_JOB, "JobLists", ("s3:ListBucket",), ("arn:{partition}:s3:::{data_bucket}",),
          "Spark lists the snapshot and its output; _S3.list"),
    Grant(GLUE_JOB, "JobLogs", ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
          ("arn:{partition}:logs:{region}:{account}:log-group:/aws-glue/jobs/*",),
          "Glue 5.0 writes the driver's output and errors to /aws-glue/jobs/output and /error"),
    # --- the Clean Rooms service role: what Clean Rooms reads for a configured table ----------
    # AWS Clean Rooms User Guide, "Set up service roles": "Create a service role to read data from
    # Amazon S3" lists the Glue metadata reads and the S3 reads below (no KMS: the bucket is SSE-S3).
    Grant(CLEAN_ROOMS, "TableMetadata", ("glue:GetDatabase", "glue:GetDatabases", "glue:GetTable",
                                         "glue:GetTables", "glue:GetPartition", "glue:GetPartitions",
                                         "glue:BatchGetPartition"), _PUBLISHED,
          "the configured tables' catalog tables (published part_* only, never staging)"),
    Grant(CLEAN_ROOMS, "TableBucket", ("s3:ListBucket", "s3:GetBucketLocation"),
          ("arn:{partition}:s3:::{data_bucket}",), "the bucket the tables' files are in"),
    Grant(CLEAN_ROOMS, "TableFiles", ("s3:GetObject",), _SPLIT_OBJECTS, "the tables' Parquet files"),
)


def names(settings, account: str, partition: str = "aws") -> dict:
    """The values the ARN templates name, for one environment."""
    def bucket_and_key(url: str) -> str:
        if not url.startswith("s3://"):
            raise FlywheelError(f"{url!r} is not an S3 location: IAM policies are for dev and prod",
                                setting="env", hint="use --env dev or --env prod")
        return url[len("s3://"):].rstrip("/")

    topic = "arn:{partition}:sns:{region}:{account}:omc-flywheel-{env}-{kind}"
    fill = {"partition": partition, "region": settings.region, "account": account, "env": settings.env}
    return {**fill,
            "data_bucket": bucket_and_key(settings.data_root).split("/")[0],
            "addressable_root": bucket_and_key(settings.s3_root_addressable),
            "infobase_root": bucket_and_key(settings.s3_root_infobase),
            "analysis_bucket": bucket_and_key(settings.analysis_root).split("/")[0],
            "database": settings.database_name, "staging": settings.staging_database,
            "workgroup": settings.athena_workgroup,
            "addr_job": job_name(settings.env, SPLIT_STAGES[0]),
            "infobase_job": job_name(settings.env, SPLIT_STAGES[1]),
            "refresh_topic": settings.sns_topic_arn or topic.format(kind="db-refresh-notifications", **fill),
            "monitor_topic": settings.monitor_topic_arn or topic.format(kind="data-monitor-alerts", **fill),
            "cleanrooms_role": settings.role_name.split("/")[-1],
            "glue_job_role": GLUE_JOB_ROLE,
            "glue_assets_bucket": f"aws-glue-assets-{account}-{settings.region}"}


def policy(role: str, settings, account: str, partition: str = "aws") -> dict:
    """The IAM policy document of one role, one statement per row of the table."""
    if role not in ROLES:
        raise FlywheelError(f"unknown role {role!r} for an IAM policy", hint=f"one of {', '.join(ROLES)}")
    fill = names(settings, account, partition)
    statements = []
    for grant in GRANTS:
        if grant.role != role:
            continue
        statement = {"Sid": grant.sid, "Effect": "Allow", "Action": sorted(grant.actions),
                     "Resource": sorted({r.format(**fill) for r in grant.resources})}
        if grant.sid.startswith("Pass"):  # a role passed only to the service that runs it
            service = "glue" if "Job" in grant.sid else "cleanrooms"
            statement["Condition"] = {"StringEquals": {"iam:PassedToService": f"{service}.amazonaws.com"}}
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def policy_json(role: str, settings, account: str) -> str:
    return json.dumps(policy(role, settings, account), indent=2)


def actions(role: str, implied: bool | None = None) -> set[str]:
    """The role's actions in the table; `implied` True/False keeps only those made by AWS / by us."""
    return {a for g in GRANTS if g.role == role and (implied is None or bool(g.implied_by) == implied)
            for a in g.actions}


def action_of_call(prefix: str, operation: str) -> str | None:
    """The IAM action an API call (service prefix, operation) needs; None if it needs none."""
    name = f"{prefix}:{operation}"
    return ACTION_OF_CALL.get(name, name)
