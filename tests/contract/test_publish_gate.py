"""The publish gate's promise, once for both backends: null and duplicated keys are found in the same
measurement as the row count, block publishing by default, and are named with a few example keys only."""

from __future__ import annotations

import pytest

from flywheel_lib import gate
from flywheel_lib.errors import CheckFailed

from .conftest import TABLE

CLEAN = [f"c{i:03d}" for i in range(40)]
SECRET = [f"income-{i}" for i in range(60)]  # another column's values: never in a message


def failed(checks) -> dict[str, str]:
    return {c.check: c.detail for c in checks if not c.ok}


def test_a_clean_table_passes_both_key_checks(measure):
    checks = measure.key_checks(CLEAN, SECRET)
    assert [(c.check, c.ok, c.detail) for c in checks] == [
        ("key nulls", True, "0 null customer_user_id"), ("key duplicates", True, "0 duplicated customer_user_id")]


def test_nulls_and_duplicates_are_counted_with_two_example_keys(measure):
    keys = CLEAN + ["c007", "c007", "c031", None, None]
    checks = measure.key_checks(keys, SECRET)
    assert failed(checks) == {"key nulls": "2 null customer_user_id",
                              "key duplicates": "3 duplicated customer_user_id (e.g. 'c007', 'c031')"}


def test_the_blocked_message_names_table_check_and_keys_but_no_other_value(measure):
    checks = measure.key_checks(CLEAN + ["c012"], SECRET)
    with pytest.raises(CheckFailed) as err:
        gate.enforce(checks, stage="glue_ready")
    text = str(err.value)
    assert f"{TABLE}: key duplicates (1 duplicated customer_user_id (e.g. 'c012'))" in text
    assert "Nothing was published" in text and "income-" not in text


def test_a_check_set_to_warn_reports_without_blocking(measure):
    checks = measure.key_checks(CLEAN + ["c012"], SECRET)
    policy = {**gate.load_policy(), "key duplicates": "warn"}
    gate.enforce(checks, policy=policy)  # does not raise
    summary = gate.summary(checks, policy)
    assert summary["decision"] == "passed" and [w["check"] for w in summary["warnings"]] == ["key duplicates"]
