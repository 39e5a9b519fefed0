"""The hash-chained ledger: a rewritten manifest, or a rewritten ledger line, is found and named."""

import json

import pytest

from flywheel_lib import cli, ledger


def sealed_run(runs, month, run_id, status="succeeded", stage_status="succeeded"):
    run_dir = runs / month / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps({"run_id": run_id, "stages": {"a": {"status": stage_status}}}))
    return run_dir, ledger.seal(runs, run_dir, status, f"{month}-01T00:00:00+00:00")


@pytest.fixture
def runs(tmp_path):
    runs = tmp_path / "runs"
    for n, month in enumerate(("2026-08", "2026-09", "2026-10")):
        sealed_run(runs, month, f"r{n}", stage_status="failed" if month == "2026-09" else "succeeded")
    return runs


def test_each_line_holds_the_digest_of_the_line_before(runs):
    lines = (runs / "ledger.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["prev"] == ledger.GENESIS
    for before, line in zip(lines, lines[1:]):
        assert json.loads(line)["prev"] == ledger.digest(before.encode())
    assert ledger.verify(runs / "2026-09" / "r1") == []


def test_a_manifest_rewritten_from_failed_to_succeeded_is_named(runs):
    manifest = runs / "2026-09" / "r1" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"failed"', '"succeeded"'))
    [problem] = ledger.verify(runs / "2026-09" / "r1")
    assert problem.startswith("changed: manifest.json of run 2026-09/r1 (sealed 2026-09-01")
    assert ledger.verify(runs / "2026-10" / "r2") == []


def test_a_ledger_line_rewritten_to_match_breaks_the_chain_naming_its_run(runs):
    manifest = runs / "2026-09" / "r1" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"failed"', '"succeeded"'))
    path = runs / "ledger.jsonl"
    lines = path.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["manifest_sha256"] = ledger.digest(manifest.read_bytes())
    lines[1] = json.dumps(entry, sort_keys=True)
    path.write_text("\n".join(lines) + "\n")
    assert ledger.verify(runs / "2026-09" / "r1") == [
        "ledger chain broken at line 3: the entry before it (run 2026-09/r1) was changed, "
        "or a line was removed or inserted"]


def test_verify_on_the_command_line_fails_naming_the_run(runs, capsys):
    manifest = runs / "2026-08" / "r0" / "manifest.json"
    manifest.write_text(manifest.read_text().replace("r0", "r9"))
    assert cli.main(["--verify", str(runs / "2026-08" / "r0")]) == 1
    out = capsys.readouterr().out
    assert "changed: manifest.json of run 2026-08/r0" in out and "1 difference(s)" in out


def test_a_run_that_never_ended_is_not_in_the_ledger(runs):
    (runs / "2026-11" / "r3").mkdir(parents=True)
    (runs / "2026-11" / "r3" / "manifest.json").write_text("{}")
    assert ledger.verify(runs / "2026-11" / "r3") == [
        f"run 2026-11/r3 is not in {runs / 'ledger.jsonl'}: it has not ended, or its entry was removed"]
