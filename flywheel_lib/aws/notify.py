"""SNS notifications: the end-of-run message and the data monitor's alerts.

Topics come from settings, or when those are empty from the DOMAIN topic names
in the caller's own account (STS). A notification is a courtesy, never the
outcome: `publish` and the `notify_*` functions return a `Notification` saying
whether it went out and why not, and never raise an AWS failure over the run's
real result. SNS limits are respected here rather than discovered in
production: subject at most 99 ASCII characters on one line ("less than 100
characters", botocore's sns model, Publish Subject), message at most 256 KiB of
UTF-8.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import asdict, dataclass

from ..errors import FlywheelError

log = logging.getLogger(__name__)

TOPICS = {"refresh": "omc-flywheel-{env}-db-refresh-notifications",
          "monitor": "omc-flywheel-{env}-data-monitor-alerts"}
SUBJECT_LIMIT = 99  # sns model, PublishInput.Subject: "less than 100 characters long"
MESSAGE_LIMIT_BYTES = 256 * 1024
_SEVERITY_ORDER = {"error": 0, "warning": 1}


@dataclass(frozen=True)
class RunSummary:
    env: str
    month: str
    run_id: str
    status: str  # succeeded, failed, interrupted
    duration_s: float
    record_location: str
    failed_stage: str | None = None
    error: str | None = None
    alert_count: int = 0
    monitor_summary: str | None = None
    manifest_sha256: str | None = None  # the ledger's seal of the record (ledger.py)
    ledger_entry_sha256: str | None = None
    cost: str = ""  # cost.cost_line: the estimate, with the month before


@dataclass(frozen=True)
class Notification:
    """What happened to one message; for the run record. Not sent and no error: nothing to send."""

    topic_arn: str | None
    subject: str
    sent: bool
    message_id: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def as_record(self) -> dict:
        return asdict(self)


def topic_arn(aws, settings, kind: str) -> str:
    """The topic for `kind` ('refresh' or 'monitor'): from settings, else derived for this account."""
    configured = settings.sns_topic_arn if kind == "refresh" else settings.monitor_topic_arn
    if configured:
        return configured
    name = TOPICS[kind].format(env=settings.env)
    return f"arn:{aws.partition()}:sns:{settings.region}:{aws.account_id()}:{name}"


def fit_subject(text: str) -> str:
    """An SNS-valid subject: printable ASCII, one line, at most 99 characters."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    line = re.sub(r"\s+", " ", re.sub(r"[\x00-\x1f\x7f]", " ", ascii_text)).strip() or "flywheel"
    return line if len(line) <= SUBJECT_LIMIT else line[:SUBJECT_LIMIT - 3].rstrip() + "..."


def fit_message(text: str, record_location: str = "") -> str:
    """The message, cut on a character boundary to fit SNS's byte limit, saying it was cut."""
    data = text.encode("utf-8")
    if len(data) <= MESSAGE_LIMIT_BYTES:
        return text
    where = f": {record_location}" if record_location else ""
    note = f"\n\n[cut to fit SNS's 256 KiB limit; the full text is in the run record{where}]"
    room = MESSAGE_LIMIT_BYTES - len(note.encode("utf-8"))
    return data[:room].decode("utf-8", errors="ignore") + note


def duration_text(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def run_message(summary: RunSummary) -> tuple[str, str]:
    """Subject and body of the end-of-run message."""
    status = summary.status.upper()
    where = f" at {summary.failed_stage}" if summary.failed_stage else ""
    subject = fit_subject(f"[flywheel {summary.env}] refresh {summary.month} {status}{where}")
    lines = [f"Flywheel monthly refresh {summary.month} ({summary.env}): {status}",
             f"Run: {summary.run_id}",
             f"Duration: {duration_text(summary.duration_s)}"]
    if summary.failed_stage:
        lines.append(f"Failed stage: {summary.failed_stage}")
    if summary.error:
        lines.append(f"Error: {summary.error}")
    lines.append(f"Data monitor alerts: {summary.alert_count}")
    if summary.monitor_summary:
        lines.append(f"Data monitor: {summary.monitor_summary}")
    if summary.cost:
        lines.append(f"Cost: {summary.cost}")
    lines.append(f"Run record: {summary.record_location}")
    if summary.manifest_sha256:
        lines.append(f"Manifest SHA-256: {summary.manifest_sha256} (ledger entry {summary.ledger_entry_sha256})")
    return subject, fit_message("\n".join(lines), summary.record_location)


def monitor_message(env: str, month: str, run_id: str, alerts, record_location: str = "") -> tuple[str, str]:
    """Subject and body for data monitor alerts (monitor.Alert: table, tag, severity, message)."""
    alerts = sorted(alerts, key=lambda a: (_SEVERITY_ORDER.get(a.severity, 2), a.table, a.tag))
    errors = sum(a.severity == "error" for a in alerts)
    subject = fit_subject(f"[flywheel {env}] data monitor {month}: {errors} error(s), "
                          f"{len(alerts) - errors} warning(s)")
    lines = [f"Flywheel data monitor {month} ({env}), run {run_id}: {len(alerts)} alert(s)", ""]
    lines += [f"{a.severity.upper():7} {a.tag} {a.table}: {a.message}" for a in alerts]
    if record_location:
        lines += ["", f"Report: {record_location}"]
    return subject, fit_message("\n".join(lines), record_location)


def publish(aws, topic: str | None, subject: str, message: str) -> Notification:
    """Publish one message; an AWS failure comes back in the result (and the log), not raised."""
    subject = fit_subject(subject)
    try:
        response = aws.call("sns", "publish", TopicArn=topic, Subject=subject, Message=fit_message(message))
    except FlywheelError as err:
        log.warning("notification %r to %s not sent: %s", subject, topic, err)
        return Notification(topic, subject, False, error=str(err))
    return Notification(topic, subject, True, message_id=response.get("MessageId"))


def notify_run_end(aws, settings, summary: RunSummary) -> Notification:
    subject, body = run_message(summary)
    return _send(aws, settings, "refresh", subject, body)


def notify_monitor_alerts(aws, settings, month: str, run_id: str, alerts,
                          record_location: str = "") -> Notification:
    """Alerts to the monitor topic; nothing is sent when there are none."""
    subject, body = monitor_message(settings.env, month, run_id, alerts, record_location)
    if not alerts:
        return Notification(None, subject, False)
    return _send(aws, settings, "monitor", subject, body)


def _send(aws, settings, kind: str, subject: str, body: str) -> Notification:
    try:
        topic = topic_arn(aws, settings, kind)
    except FlywheelError as err:  # no identity, so no topic: still only a failed notification
        log.warning("notification %r not sent: %s", subject, err)
        return Notification(None, subject, False, error=str(err))
    return publish(aws, topic, subject, body)
