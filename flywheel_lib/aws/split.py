"""The split stages on AWS: the Glue jobs write each table's version; we start and check them.

The contract with the Glue jobs (their scripts live with the runbook, see
ARCHITECTURE.md): arguments below, and for every table a version folder

    <TARGET_ROOT>/<TABLE>/<TARGET_VERSION>/id_bucket=<n>/*.parquet
    <TARGET_ROOT>/<TABLE>/<TARGET_VERSION>/_flywheel.json   (written last)

with the same marker the local engine writes (rows, columns, snapshot date,
source location). TARGET_VERSION is `<snapshot_dt>__<run id>`, so a run never
writes where a published month lives. A table whose marker already exists for
this version was written by an earlier attempt of the run and is not redone.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .. import lake
from ..errors import SplitError
from ..local.split import ADDRESSABLE_TABLE, TableOutput
from ..mapping import Mapping
from ..snapshots import Snapshot
from . import s3
from .errors import AwsNotFound
from .s3 import delete_folder
from .glue_jobs import GlueJobs, job_name

BUCKET_COUNT = 256
STAGES = {"addressable_ids": "addr_part", "infobase_attributes": "infobase_part"}


def version_url(root: str, table: str, snapshot_dt: str, run_id: str) -> str:
    return f"{root.rstrip('/')}/{table}/{lake.version_name(snapshot_dt, run_id)}"


def read_marker(aws, version: str) -> dict | None:
    return s3.read_json(aws, f"{version}/{lake.MARKER}")


def mapping_url(settings, mapping: Mapping) -> str:
    """Where the jobs read the mapping: named by its content, so a run always reads what it checked."""
    digest = hashlib.sha256(Path(mapping.path).read_bytes()).hexdigest()[:16]
    return f"{settings.data_root}/omc_cleanroom_data/config/split_mapping/{digest}.csv"


def upload_mapping(aws, settings, mapping: Mapping) -> str:
    url = mapping_url(settings, mapping)
    bucket, key = s3.split_url(url)
    try:
        aws.call("s3", "head_object", where={"path": url}, Bucket=bucket, Key=key)
    except AwsNotFound:
        s3.upload_file(aws, mapping.path, url, content_type="text/csv")
    return url


def job_arguments(settings, snapshot: Snapshot, run_id: str, mapping_location: str | None,
                  tables: list[str] | None) -> dict[str, str]:
    arguments = {
        "--SOURCE_PATH": snapshot.location,
        "--SNAPSHOT_DT": snapshot.snapshot_dt,
        "--DATASET": snapshot.dataset,
        "--TARGET_ROOT": settings.output_root(snapshot.dataset),
        "--TARGET_VERSION": lake.version_name(snapshot.snapshot_dt, run_id),
        "--BUCKET_COUNT": str(BUCKET_COUNT),
    }
    if mapping_location:
        arguments["--MAPPING_PATH"] = mapping_location
    if tables:
        arguments["--TABLES"] = ",".join(tables)
    return arguments


def planned_job(settings, snapshot: Snapshot, run_id: str, mapping: Mapping | None) -> tuple[str, dict]:
    """The job and arguments a split would start (for dry runs: no call is made)."""
    location = mapping_url(settings, mapping) if mapping else None
    return (job_name(settings.env, STAGES[snapshot.dataset]),
            job_arguments(settings, snapshot, run_id, location, None))


def _reusable(marker: dict | None, snapshot: Snapshot, mapping: Mapping | None, table: str) -> bool:
    """An earlier attempt's table counts only if it came from this snapshot (and this mapping)."""
    if marker is None or marker.get("source_location") != snapshot.location:
        return False
    return mapping is None or marker.get("columns") == mapping.published_columns(table)


def _clear(aws, versions: dict[str, str], in_use: set[str]) -> None:
    """Remove what a failed attempt left in this run's folders (S3 has no rename to hide it)."""
    served = sorted(t for t, v in versions.items() if v in in_use)
    if served:
        raise SplitError(f"{', '.join(served)} of this run are registered or published and would be "
                         "rewritten", hint="Use --new-run to split again")
    for version in versions.values():
        delete_folder(aws, version)


def split_on_glue(aws, settings, snapshot: Snapshot, run_id: str, mapping: Mapping | None,
                  tables: list[str] | None, jobs: GlueJobs, in_use: set[str]) -> list[TableOutput]:
    """Run the dataset's split job for the tables not yet written by this run; every table checked.

    `in_use`: locations the catalog points at, which are never rewritten.
    """
    if not snapshot.files:
        raise SplitError("snapshot has no Parquet files", path=snapshot.location)
    root = settings.output_root(snapshot.dataset)
    wanted = [ADDRESSABLE_TABLE] if mapping is None else [t.upper() for t in (tables or mapping.table_names())]
    versions = {t: version_url(root, t, snapshot.snapshot_dt, run_id) for t in wanted}
    markers = {t: read_marker(aws, v) for t, v in versions.items()}
    todo = [t for t, m in markers.items() if not _reusable(m, snapshot, mapping, t)]
    if todo:
        _clear(aws, {t: versions[t] for t in todo}, in_use)
        location = upload_mapping(aws, settings, mapping) if mapping else None
        only = todo if mapping is not None and len(todo) < len(wanted) else None
        arguments = job_arguments(settings, snapshot, run_id, location, only)
        jobs.run([(job_name(settings.env, STAGES[snapshot.dataset]), arguments)], "--TARGET_VERSION")
        markers.update({t: read_marker(aws, versions[t]) for t in todo})
    missing = [t for t in todo if markers[t] is None]
    if missing:
        raise SplitError(
            f"the Glue job succeeded but wrote no complete output for {len(missing)} table(s): "
            f"{', '.join(missing)} (no {lake.MARKER} under {versions[missing[0]]})",
            path=root, hint="Read the job's logs; the job must fail when a table cannot be written")
    return [TableOutput(t, snapshot.dataset, versions[t], int(markers[t]["rows"]),
                        list(markers[t].get("columns", [])), reused=t not in todo) for t in wanted]
