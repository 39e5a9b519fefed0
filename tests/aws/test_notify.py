"""SNS: the end-of-run message and monitor alerts arrive, fit SNS's limits, and never raise."""

from __future__ import annotations

import json

import pytest

from flywheel_lib.aws import notify
from flywheel_lib.aws.errors import AwsInvalidRequest
from flywheel_lib.aws.session import AwsClients
from flywheel_lib.config import load_settings
from flywheel_lib.monitor import Alert

from .conftest import ACCOUNT
from .fake_aws import enforce_sns_subject_rule

REFRESH_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:omc-flywheel-dev-db-refresh-notifications"


@pytest.fixture(autouse=True)
def sns_subject_rule(monkeypatch):
    enforce_sns_subject_rule(monkeypatch)


def subscribe(aws, topic_name: str):
    """An SQS queue subscribed to a new topic, like an operator's mailbox; returns a reader of it."""
    topic = aws.call("sns", "create_topic", Name=topic_name)["TopicArn"]
    queue = aws.call("sqs", "create_queue", QueueName=topic_name)["QueueUrl"]
    queue_arn = aws.call("sqs", "get_queue_attributes", QueueUrl=queue,
                         AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.call("sns", "subscribe", TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    def received() -> list[dict]:
        messages = aws.call("sqs", "receive_message", QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return received


def summary(**changes) -> notify.RunSummary:
    base = dict(env="dev", month="2026-10", run_id="20261101T020000-ab12", status="failed", duration_s=754,
                record_location="runs/2026-10/20261101T020000-ab12", failed_stage="glue_ready",
                error="2 check(s) failed: part_ibe_01: partitions (255 of 256)", alert_count=3)
    return notify.RunSummary(**{**base, **changes})


def test_the_end_of_run_message_reaches_the_derived_refresh_topic(aws, settings):
    received = subscribe(aws, "omc-flywheel-dev-db-refresh-notifications")
    result = notify.notify_run_end(aws, settings, summary())
    assert result.sent and not result.failed
    assert result.topic_arn == REFRESH_ARN and result.message_id
    [message] = received()
    assert message["Subject"] == "[flywheel dev] refresh 2026-10 FAILED at glue_ready"
    lines = message["Message"].splitlines()
    for line in ("Flywheel monthly refresh 2026-10 (dev): FAILED", "Duration: 12 min 34 s",
                 "Failed stage: glue_ready", "Error: 2 check(s) failed: part_ibe_01: partitions (255 of 256)",
                 "Data monitor alerts: 3", "Run record: runs/2026-10/20261101T020000-ab12"):
        assert line in lines


def test_a_success_says_so_without_a_failed_stage(aws, settings):
    received = subscribe(aws, "omc-flywheel-dev-db-refresh-notifications")
    notify.notify_run_end(aws, settings, summary(status="succeeded", failed_stage=None, error=None,
                                                 duration_s=3725))
    [message] = received()
    assert message["Subject"] == "[flywheel dev] refresh 2026-10 SUCCEEDED"
    assert "Duration: 1 h 02 min" in message["Message"] and "Failed stage" not in message["Message"]


def test_a_configured_topic_arn_wins_over_the_derived_one(aws):
    received = subscribe(aws, "ops-team")
    settings = load_settings("dev", environ={"SNS_TOPIC_ARN": f"arn:aws:sns:us-east-1:{ACCOUNT}:ops-team"})
    result = notify.notify_run_end(AwsClients(settings), settings, summary())
    assert result.topic_arn.endswith(":ops-team") and len(received()) == 1


def test_monitor_alerts_go_to_the_monitor_topic_errors_first(aws, settings):
    received = subscribe(aws, "omc-flywheel-dev-data-monitor-alerts")
    alerts = [Alert("part_ibe_02", "[MOM_ROWS]", "warning", "rows -12%"),
              Alert("part_ibe_01", "[PK_DUPES]", "error", "3 duplicate keys")]
    result = notify.notify_monitor_alerts(aws, settings, "2026-10", "r1", alerts, "s3://reports/x.json")
    assert result.sent and result.topic_arn.endswith(":omc-flywheel-dev-data-monitor-alerts")
    [message] = received()
    assert message["Subject"] == "[flywheel dev] data monitor 2026-10: 1 error(s), 1 warning(s)"
    lines = message["Message"].splitlines()
    assert lines[2].startswith("ERROR   [PK_DUPES] part_ibe_01") and lines[3].startswith("WARNING [MOM_ROWS]")


def test_no_alerts_sends_nothing(aws, settings):
    received = subscribe(aws, "omc-flywheel-dev-data-monitor-alerts")
    result = notify.notify_monitor_alerts(aws, settings, "2026-10", "r1", [])
    assert not result.sent and not result.failed and received() == []


def test_a_long_subject_and_a_huge_message_still_go_out(aws, settings):
    received = subscribe(aws, "omc-flywheel-dev-db-refresh-notifications")
    error = "é" * 200_000  # 400,000 bytes of UTF-8
    result = notify.notify_run_end(aws, settings, summary(failed_stage="stage_" + "x" * 120, error=error))
    assert result.sent, result.error
    [message] = received()
    assert len(message["Subject"]) == 99 and message["Subject"].endswith("...")
    assert len(message["Message"].encode()) <= notify.MESSAGE_LIMIT_BYTES
    assert message["Message"].endswith("the full text is in the run record: runs/2026-10/20261101T020000-ab12]")


@pytest.mark.parametrize(("text", "fitted"), [
    ("line one\nline two", "line one line two"),
    ("Données prêtes ✓", "Donnees pretes"),
    ("\n\t", "flywheel"),
])
def test_subjects_are_one_line_of_ascii(text, fitted):
    assert notify.fit_subject(text) == fitted


def test_sns_refuses_a_subject_of_100_characters(aws, settings):
    """The fake's rule, so a subject our code lets through cannot pass only because moto is lenient."""
    topic = aws.call("sns", "create_topic", Name="omc-flywheel-dev-db-refresh-notifications")["TopicArn"]
    with pytest.raises(AwsInvalidRequest, match="InvalidParameter"):
        aws.call("sns", "publish", TopicArn=topic, Subject="x" * 100, Message="m")
    assert aws.call("sns", "publish", TopicArn=topic, Subject="x" * 99, Message="m")["MessageId"]


def test_a_missing_topic_is_a_failed_notification_not_an_exception(aws, settings):
    result = notify.notify_run_end(aws, settings, summary())  # no topic was created
    assert not result.sent and result.failed
    assert "sns:Publish failed with NotFound" in result.error
    assert result.as_record()["topic_arn"] == REFRESH_ARN


def test_no_credentials_is_a_failed_notification_not_an_exception(no_aws_setup, caplog):
    settings = load_settings("prod", environ={})
    result = notify.notify_run_end(AwsClients(settings), settings, summary(env="prod"))
    assert not result.sent and "no usable AWS credentials" in result.error
    assert result.topic_arn is None
    assert "not sent" in caplog.text
