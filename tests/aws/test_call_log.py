"""The IAM test's call recorder keeps the package's calls and not a test's own setup."""

from __future__ import annotations

import aws_call_log
from flywheel_lib.aws import s3


def test_a_package_call_is_recorded_and_a_tests_setup_call_is_not(aws):
    kept = set(aws_call_log.CALLS)
    aws_call_log.CALLS.clear()
    try:
        aws.call("s3", "create_bucket", Bucket="setup-bucket")           # the test's own setup
        s3.write_json(aws, "s3://setup-bucket/marker.json", {"rows": 1})  # the package's call
        assert aws_call_log.CALLS == {("s3", "PutObject")}
    finally:
        aws_call_log.CALLS |= kept
