"""The end-of-run SNS message when stage 7 (the data monitor) found errors: it names the stage, carries
the monitor's summary and the ledger's seal of the record (its manifest SHA-256)."""

from __future__ import annotations

from flywheel_lib import run_end

from .test_notify import subscribe


def test_a_monitor_failure_is_named_with_its_summary_and_the_record_seal(aws, settings):
    received = subscribe(aws, "omc-flywheel-dev-db-refresh-notifications")
    manifest = {"month": "2026-10", "run_id": "20261101T020000Z", "status": "failed", "duration_s": 300,
                "stages": {"er_table": {"status": "succeeded"},
                           "data_monitor_rpt": {"status": "failed", "error": {
                               "ename": "CheckFailed",
                               "evalue": "data monitor: 2 error(s), 1 warning(s) over 29 tables: part_ibe_01 [PK_DUPES]"},
                               "scraps": {"summary": {"tables": 29, "alerts": 3, "errors": 2, "warnings": 1}}},
                           "cr_rpt": {"status": "succeeded"}}}
    sealed = {"manifest_sha256": "ab" * 32, "entry_sha256": "cd" * 32}
    note = run_end.notify(settings, manifest, "runs/2026-10/20261101T020000Z", sealed)
    assert note["sent"] and note["error"] is None
    [message] = received()
    assert message["Subject"] == "[flywheel dev] refresh 2026-10 FAILED at data_monitor_rpt"
    body = message["Message"]
    assert ("Error: CheckFailed: data monitor: 2 error(s), 1 warning(s) over 29 tables: part_ibe_01 [PK_DUPES]"
            in body)
    assert "Data monitor alerts: 3" in body and "Data monitor: 2 error(s), 1 warning(s) over 29 tables" in body
    assert f"Manifest SHA-256: {'ab' * 32} (ledger entry {'cd' * 32})" in body
