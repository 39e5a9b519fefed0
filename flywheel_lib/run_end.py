"""What the driver records and says when a run ends: what the catalog serves, and the SNS message.

Both are courtesies to the reader and never change the run's outcome: a
failure here is written into the manifest (and printed), not raised.
"""

from __future__ import annotations

from .backend import get_backend
from .cost import cost_line, run_cost
from .errors import FlywheelError, SnapshotNotArrived
from .monitor import summary_text

MONITOR_STAGE = "data_monitor_rpt"


def cost(settings, manifest: dict) -> dict:
    """The run's cost (cost.run_cost); a price file that cannot be read is said, not raised."""
    try:
        return run_cost(manifest, settings)
    except FlywheelError as err:
        return {"error": str(err)}


def serving(settings) -> dict:
    """The tables serving queries now, by snapshot: after a failure, proof that last month still serves."""
    try:
        entries = get_backend(settings).published()
    except (FlywheelError, OSError) as err:
        return {"error": str(err)}
    tables = {e.name: {"snapshot_dt": e.snapshot_dt, "run_id": e.run_id, "location": e.location}
              for e in entries}
    snapshots = sorted({t["snapshot_dt"] for t in tables.values()})
    return {"snapshots": snapshots, "tables": tables}


def serving_line(record: dict) -> str:
    if "error" in record:
        return f"catalog not read: {record['error']}"
    if not record["tables"]:
        return "the catalog serves no table yet"
    runs = sorted({t["run_id"] for t in record["tables"].values()})
    return (f"the catalog serves {len(record['tables'])} tables of snapshot(s) "
            f"{', '.join(record['snapshots'])} (run {', '.join(runs)})")


def notify(settings, manifest: dict, record_location: str, sealed: dict | None = None) -> dict | None:
    """The end-of-run message on AWS (None locally: the record is the notification); `sealed`: its ledger entry."""
    if settings.is_local:
        return None
    from .aws.notify import notify_run_end  # boto3 only where AWS is used
    from .aws.session import AwsClients

    summary = run_summary(settings.env, manifest, record_location, sealed)
    try:
        return notify_run_end(AwsClients(settings), settings, summary).as_record()
    except FlywheelError as err:  # e.g. no credentials: still only a failed notification
        return {"topic_arn": None, "subject": "", "sent": False, "message_id": None, "error": str(err)}


def run_summary(env: str, manifest: dict, record_location: str, sealed: dict | None = None):
    """What the end-of-run message says of a run (`aws.notify.RunSummary`): the failed stage and its error,
    the data monitor's summary, the ledger's seal."""
    from .aws.notify import RunSummary  # the message's shape; no AWS client

    failed = next(((n, s) for n, s in manifest["stages"].items() if s["status"] in ("failed", "interrupted")),
                  (None, {}))
    error = failed[1].get("error") or {}
    monitor = manifest["stages"].get(MONITOR_STAGE, {}).get("scraps", {}).get("summary") or {}
    return RunSummary(
        env=env, month=manifest["month"], run_id=manifest["run_id"], status=manifest["status"],
        duration_s=manifest.get("duration_s") or 0, record_location=record_location,
        failed_stage=failed[0], error=f"{error.get('ename')}: {error.get('evalue')}" if error else None,
        alert_count=int(monitor.get("alerts", 0)), monitor_summary=summary_text(monitor) if monitor else None,
        manifest_sha256=(sealed or {}).get("manifest_sha256"), ledger_entry_sha256=(sealed or {}).get("entry_sha256"),
        cost=cost_line(manifest.get("cost")))


def notify_not_started(settings, month: str, err: Exception, out) -> dict | None:
    """The end-of-run message for a run that could not start (no snapshot, no access); AWS only."""
    if settings.is_local:
        return None
    from .aws.errors import AwsCredentialError

    if isinstance(err, AwsCredentialError):  # SNS would be refused for the same reason: one line is enough
        return None
    status = "snapshot not arrived" if isinstance(err, SnapshotNotArrived) else "failed"
    manifest = {"month": month, "run_id": "(not started)", "status": status, "duration_s": 0,
                "stages": {"preflight": {"status": "failed", "error": {"ename": type(err).__name__,
                                                                       "evalue": str(err)}}}}
    note = notify(settings, manifest, "none: the run did not start")
    if note and note["error"]:
        print(f"warning: the failure notification was not sent: {note['error']}", file=out, flush=True)
    return note
