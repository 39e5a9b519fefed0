"""The review pages' newer parts: lineage, plans, what changed since last month, history, templates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from flywheel_lib import changes, history, lineage, month_changes, pages, plan_text, records, review
from flywheel_lib.cli import main
from flywheel_lib.errors import FlywheelError
from flywheel_lib.pipeline import REFRESH
from tests.test_review import Page

REPO = Path(__file__).resolve().parent.parent

NOW = datetime(2026, 11, 1, 3, 0, tzinfo=timezone.utc)


def refresh_manifest(month: str, run_id: str, statuses: dict | None = None, **extra) -> dict:
    """A refresh manifest as records.new_manifest shapes it, every stage in `statuses` (default succeeded)."""
    statuses = statuses or {}
    stages = {s.name: records.stage_entry(s, statuses.get(s.name, "succeeded")) for s in REFRESH}
    for name, entry in stages.items():
        if entry["status"] == "succeeded":
            entry.update(started_at=f"{month}-28T02:00:00+00:00", ended_at=f"{month}-28T02:10:00+00:00")
    return {"run_id": run_id, "month": month, "env": "local", "status": "succeeded",
            "started_at": f"{month}-28T02:00:00+00:00", "ended_at": f"{month}-28T02:30:00+00:00",
            "duration_s": 1800.0, "invocations": [], "stages": stages, "files": {},
            "snapshots": {"datasets": {"addressable_ids": {"snapshot_dt": f"{month}-27", "files": []},
                                       "infobase_attributes": {"snapshot_dt": f"{month}-27", "files": []}}},
            **extra}


# ---- lineage ---------------------------------------------------------------------------

def test_stage_columns_follow_the_pipeline():
    found = lineage.depths({s.name: list(s.upstream) for s in REFRESH})
    assert found == {"addr_part": 0, "infobase_part": 0, "addr_glue_reg": 1, "infobase_glue_reg": 1,
                     "glue_ready": 2, "er_table": 3, "data_monitor_rpt": 4, "cr_rpt": 4}


def test_the_run_page_draws_the_stage_graph_coloured_by_status(tmp_path):
    manifest = refresh_manifest("2026-10", "20261028T020000Z", {"glue_ready": "failed", "er_table": "blocked",
                                                                "data_monitor_rpt": "blocked", "cr_rpt": "blocked"})
    manifest["status"] = "failed"
    page = Page(review.run_page(manifest, tmp_path, NOW))
    nodes = {a["data-stage"]: a["data-status"] for t, a in page.tags if t == "g" and a.get("class") == "node"}
    assert nodes == {s.name: manifest["stages"][s.name]["status"] for s in REFRESH}
    edges = {(a["data-from"], a["data-to"]) for t, a in page.tags if t == "path" and a.get("class") == "edge"}
    assert edges == {(up, s.name) for s in REFRESH for up in s.upstream} and len(edges) == 7
    fills = {a["fill"] for t, a in page.tags if t == "rect" and "rx" in a and a.get("class") != "bar"}
    assert {"#2e7d32", "#c62828", "#d35400"} <= fills  # succeeded, failed, blocked
    assert "the 27 infobase tables split per the mapping" in page.text
    assert "glue_ready [failed]" in page.text and "er_table [blocked]" in page.text


# ---- plans -----------------------------------------------------------------------------

def plan_changes() -> list[changes.Change]:
    return [changes.Change("create", "configured table", "part_ibe_01", "not configured yet"),
            changes.Change("update", "analysis rule", "part_ibe_02", "providers differ"),
            changes.Change("re-create", "configured table", "part_ibe_03", "allowed columns changed"),
            changes.Change("delete", "association", "acx_part_old", "table no longer published"),
            changes.Change("unchanged", "configured table", "part_ibe_04", "as wanted"),
            changes.Change("skipped", "association", "acx_part_ibe_05", "no configured table: run configure_tables"),
            changes.Change("blocked", "configured table", "part_miacs_02_a", "over the 100-column limit")]


def test_the_plan_reads_like_terraform_plan(tmp_path):
    changes.table(plan_changes()).to_csv(tmp_path / "plan.csv", index=False)
    view = plan_text.read(tmp_path)
    text = plan_text.lines(view)
    assert text[0] == ("Plan: 1 to create, 1 to update, 1 to re-create, 1 to delete; "
                       "1 unchanged, 1 skipped, 1 blocked.")
    assert text[1:] == [
        "    + configured table part_ibe_01: not configured yet",
        "    ~ analysis rule part_ibe_02: providers differ",
        "  -/+ configured table part_ibe_03: allowed columns changed",
        "    - association acx_part_old: table no longer published",
        "    . association acx_part_ibe_05: no configured table: run configure_tables",
        "    ! configured table part_miacs_02_a: over the 100-column limit"]
    assert plan_text.read(tmp_path / "nothing-here") is None


def test_after_apply_each_change_has_its_outcome(tmp_path):
    done = plan_changes()
    for change, status in zip(done, ["applied", "failed", "not attempted", "not attempted"]):
        change.status = status
    done[1].detail = "failed: ConflictException"
    for change in done[4:]:
        change.status = "nothing to do"
    changes.table(done).to_csv(tmp_path / "plan.csv", index=False)
    changes.table(done).to_csv(tmp_path / "outcome.csv", index=False)
    view = plan_text.read(tmp_path)
    text = plan_text.lines(view)
    assert text[0].endswith("Outcome: 1 applied, 1 failed, 2 not attempted, 3 nothing to do.")
    assert text[1] == "    + configured table part_ibe_01: not configured yet  => applied"
    assert text[2].endswith("=> failed (failed: ConflictException)")
    manifest = {"run_id": "20261101T000000Z", "month": "cleanrooms/configure_tables", "operation": "configure_tables",
                "status": "failed", "parameters": {"env": "dev", "apply": True}, "stages": {}}
    page = Page(review.run_page(manifest, tmp_path, NOW))
    assert "Operation configure_tables" in page.text and "Outcome" in page.text
    assert view.headline in page.text and "over the 100-column limit" in page.text
    assert {"plan.csv", "outcome.csv"} <= set(page.targets)
    assert "Data monitor" not in page.text and "Lineage" not in page.text


# ---- what changed since last month --------------------------------------------------------

def profile(rows: int, nulls: dict, columns: list | None = None) -> dict:
    return {"rows": rows, "columns": columns or ["customer_user_id", *nulls], "null_counts": nulls}


def test_changes_name_rows_columns_and_the_largest_null_moves():
    before = {"part_a": profile(1000, {"x": 100, "y": 0, "s": 10}), "part_gone": profile(5, {})}
    now = {"part_a": profile(1100, {"x": 330, "y": 0, "s": 12, "z": 1}), "part_new": profile(7, {})}
    found = month_changes.compare(now, before)
    rows = {r["table"]: r for r in found["rows"]}
    assert (rows["part_a"]["before"], rows["part_a"]["now"], rows["part_a"]["delta"]) == (1000, 1100, 100)
    assert rows["part_a"]["pct"] == pytest.approx(10.0)
    assert rows["part_gone"]["note"] == "table gone" and rows["part_new"]["note"] == "new table"
    assert found["columns"] == [{"table": "part_a", "change": "added", "column": "z"}]
    assert [(m["column"], round(m["delta"], 3)) for m in found["null_moves"]] == [("x", 0.2)]
    assert found["null_moves_small"] == 1  # s: 1.00% -> 1.09%, counted, not listed
    assert not found["nothing"]
    assert month_changes.compare(before, before)["nothing"]


def write_run(runs_dir: Path, manifest: dict, profiles: dict | None, published: list[dict] | None = None) -> Path:
    run_dir = runs_dir / manifest["month"] / manifest["run_id"]
    (run_dir / "glue_ready").mkdir(parents=True)
    if profiles is not None:
        (run_dir / "data_monitor_rpt").mkdir()
        (run_dir / month_changes.PROFILE).write_text(json.dumps(profiles))
    if published:
        head = list(published[0])
        lines = [",".join(head)] + [",".join(str(row[k]) for k in head) for row in published]
        (run_dir / "glue_ready" / "published.csv").write_text("\n".join(lines) + "\n")
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir


def test_the_run_page_says_what_changed_since_last_month(tmp_path):
    runs = tmp_path / "runs"
    september = {"part_a": profile(1000, {"x": 100}), "part_b": profile(50, {"w": 5})}
    write_run(runs, refresh_manifest("2026-09", "20260928T020000Z"), september)
    october = refresh_manifest("2026-10", "20261028T020000Z")
    run_dir = write_run(runs, october, {"part_a": profile(1030, {"x": 300, "v": 0}), "part_b": september["part_b"]})
    page = Page(review.run_page(october, run_dir, NOW))
    assert "What changed since last month" in page.text
    assert "Compared with run 2026-09/20260928T020000Z: 1,050 → 1,080 rows in all" in page.text
    assert "+30 +3.00%" in page.text and "added v" in page.text
    assert "part_a x 10.00% 29.13% +19.13" in page.text
    (run_dir / month_changes.PROFILE).write_text(json.dumps(september))  # the same data again
    page = Page(review.run_page(october, run_dir, NOW))
    assert "Nothing changed since run 2026-09/20260928T020000Z: the same 2 tables" in page.text
    assert "Rows per table" not in page.text


def test_without_last_month_the_page_says_so(tmp_path):
    october = refresh_manifest("2026-10", "20261028T020000Z")
    run_dir = write_run(tmp_path / "runs", october, {"part_a": profile(10, {})})
    assert "No successful run of 2026-09 to compare with." in Page(review.run_page(october, run_dir, NOW)).text


# ---- history ---------------------------------------------------------------------------

def published_run(runs: Path, month: str, run_id: str, rows: int, status: str = "succeeded") -> Path:
    manifest = refresh_manifest(month, run_id, {"glue_ready": status, "er_table": status})
    manifest["stages"]["glue_ready"]["scraps"] = {"published": ["part_addressable_ids", "part_ibe_01"]}
    manifest["stages"]["er_table"]["scraps"] = {"er_tables": {"part_addressable_ids_er": rows}}
    published = [{"table": t, "state": "published", "snapshot_dt": f"{month}-27", "run_id": run_id,
                  "data columns": cols, "rows": rows} for t, cols in (("part_addressable_ids", 6), ("part_ibe_01", 97))]
    profiles = {"part_ibe_01": profile(rows, {f"c{i}": 0 for i in range(97)})}
    run_dir = write_run(runs, manifest, profiles, published)
    (run_dir / "er_table").mkdir()
    (run_dir / "er_table" / "er_tables.csv").write_text(  # as er_table keeps it (display.catalog_table)
        f"table,state,snapshot_dt,run_id,data columns,rows\npart_addressable_ids_er,staged,{month}-27,{run_id},2,{rows}\n")
    return run_dir


def test_history_lists_each_table_by_month(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    published_run(runs, "2026-09", "20260928T020000Z", 1000)
    published_run(runs, "2026-10", "20261028T020000Z", 1000, status="failed")  # published nothing
    published_run(runs, "2026-10", "20261029T020000Z", 1040)
    tables = history.collect(runs)
    assert list(tables) == ["part_addressable_ids", "part_addressable_ids_er", "part_ibe_01"]
    ibe = tables["part_ibe_01"]
    assert [(e["month"], e["run_id"], e["snapshot_dt"], e["rows"], e["columns"]) for e in ibe] == [
        ("2026-10", "20261029T020000Z", "2026-10-27", 1040, 98),
        ("2026-09", "20260928T020000Z", "2026-09-27", 1000, 98)]
    assert ibe[0]["delta"] == 40 and "delta" not in ibe[1]
    assert tables["part_addressable_ids"][0]["columns"] == 6  # from glue_ready's published.csv
    assert (tables["part_addressable_ids_er"][0]["columns"], tables["part_addressable_ids_er"][0]["rows"]) == (2, 1040)
    page_path = history.write_page(runs)
    page = Page(page_path.read_text())
    assert "2026-10/20261029T020000Z/index.html" in page.targets and "index.html" in page.targets
    assert "part_ibe_01" in page.text and "1,040 +40 98" in page.text
    monkeypatch.setenv("FLYWHEEL_RUNS_DIR", str(runs))
    monkeypatch.setenv("FLYWHEEL_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.delenv("FLYWHEEL_ENV", raising=False)
    assert main(["--history", "IBE_01"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["table", "month", "snapshot", "run", "published", "at", "rows", "change", "columns"]
    assert out[1].split()[:4] == ["part_ibe_01", "2026-10", "2026-10-27", "20261029T020000Z"]
    assert out[1].split()[-3:] == ["1,040", "+40", "98"] and len(out) == 3
    assert main(["--history"]) == 0 and len(capsys.readouterr().out.splitlines()) == 7
    assert main(["--history", "nope"]) == 2
    assert "no run has published a table 'nope'" in capsys.readouterr().err


def test_history_into_a_pipe_its_reader_closed_ends_quietly(tmp_path):
    """`--history | head -1`: the reader goes away; no traceback, no 'cannot write' error."""
    runs = tmp_path / "runs"
    published_run(runs, "2026-09", "20260928T020000Z", 1000)
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE, as after head has read its line
    env = dict(os.environ, FLYWHEEL_RUNS_DIR=str(runs), FLYWHEEL_DATA_ROOT=str(tmp_path / "data"),
               FLYWHEEL_ENV="local")
    try:
        result = subprocess.run([sys.executable, str(REPO / "run_refresh.py"), "--history"], stdout=write_end,
                                stderr=subprocess.PIPE, text=True, env=env, timeout=120)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (0, "")


def test_history_of_no_runs_is_a_sentence(tmp_path):
    assert history.collect(tmp_path / "none") == {}
    with pytest.raises(FlywheelError, match="Published tables: none yet"):
        history.pick({}, "ibe_01")


# ---- templates -------------------------------------------------------------------------

def test_sections_this_page_does_not_know_are_shown_escaped(tmp_path):
    manifest = refresh_manifest("2026-10", "20261028T020000Z", gate={"result": "<b>passed</b>"},
                                s3_mirror="<script>x()</script><marquee>")
    page = Page(review.run_page(manifest, tmp_path, NOW))
    assert "Also recorded" in page.text and "gate" in page.text and "\"<b>passed</b>\"" in page.text
    assert [t for t, _ in page.tags].count("script") == 1 and "marquee" not in [t for t, _ in page.tags]


def test_templates_are_package_data_a_designer_can_open():
    folder = Path(pages.__file__).parent / "templates"
    names = sorted(p.name for p in folder.iterdir())
    assert {"run.html.j2", "runs.html.j2", "history.html.j2", "lineage.svg.j2", "timeline.svg.j2", "changes.html.j2", "review.css"} <= set(names)
    assert pages.environment().autoescape is True
    assert str(pages.wrappable("a_b/<c>")) == "a_<wbr>b/<wbr>&lt;c&gt;"


def test_no_month_over_month_chart_of_zeros():
    from flywheel_lib import display
    from flywheel_lib.monitor import MonitorReport

    same = [{"table": "part_a", "change": "rows", "before": 10, "now": 10, "delta": 0.0}]
    assert display.month_over_month_chart(MonitorReport([], [], same, "2026-09/x", "")) is None
    moved = [{**same[0], "now": 11, "delta": 10.0}]
    assert display.month_over_month_chart(MonitorReport([], [], moved, "2026-09/x", "")) is not None
