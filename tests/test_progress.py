"""Progress blocks: one per piece of long work, updated in place, the final state kept once."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import nbformat
import papermill

from flywheel_lib import html_copies, progress
from flywheel_lib.kernel_spec import KERNEL_NAME
from flywheel_lib.local.split import split_snapshot
from flywheel_lib.mapping import load_mapping
from flywheel_lib.progress import AthenaProgress, Block, GlueProgress, SplitProgress, View
from flywheel_lib.kernels import Kernels
from flywheel_lib.snapshots import find_snapshot
from flywheel_lib.synthetic import write_snapshot


class Screen:
    """Stands in for IPython's display: what is shown now, and how often it was shown or replaced."""

    def __init__(self):
        self.blocks: list[View] = []
        self.updates = 0

    def __call__(self, view, display_id=False):
        assert display_id is True, "a progress block must be replaceable"
        index = len(self.blocks)
        self.blocks.append(view)
        screen = self

        class Handle:
            def update(self, new_view):
                screen.blocks[index] = new_view
                screen.updates += 1

        return Handle()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@dataclass
class Run:  # what GlueProgress reads of a JobRun
    job_name: str
    run_id: str
    state: str
    execution_time_s: int = 0


def test_a_block_is_shown_once_then_replaced_and_fast_updates_are_skipped_but_not_the_last():
    screen, clock = Screen(), Clock()
    block = Block(screen, min_interval_s=0.5, clock=clock)
    for n in range(100):
        block.update(View(f"step {n}"), final=n == 99)
    assert [v.headline for v in screen.blocks] == ["step 99"] and screen.updates == 1
    clock.now += 1
    block.update(View("later"))
    assert [v.headline for v in screen.blocks] == ["later"]


def test_outside_a_kernel_nothing_is_shown():
    assert progress.kernel_display() is None
    SplitProgress("addressable_ids", 1).start("addressable_ids")  # no error, no output


def test_the_split_shows_tables_done_of_all_with_rows(tmp_path, monkeypatch):
    write_snapshot(tmp_path / "data", "2026-09-01", 300, seed=3)
    screen = Screen()
    monkeypatch.setattr(progress, "kernel_display", lambda: screen)
    snapshot = find_snapshot(tmp_path / "data" / "opus" / "infobase_attributes" / "raw_input",
                             "infobase_attributes", "2026-09")
    tables = ["IBE_01", "IBE_02", "IBE_03"]  # all 27 take minutes on a busy machine
    outputs = split_snapshot(snapshot, str(tmp_path / "out"), "r1", load_mapping(), tables)
    assert len(outputs) == 3 and len(screen.blocks) == 1
    final = screen.blocks[0]
    rows = sum(o.rows for o in outputs)
    assert rows == 900
    assert final.headline.startswith("Split infobase_attributes: 3 of 3 tables, 900 rows, done in ")
    assert final.bar == (3, 3)
    again = Screen()
    monkeypatch.setattr(progress, "kernel_display", lambda: again)
    split_snapshot(snapshot, str(tmp_path / "out"), "r1", load_mapping(), tables)
    assert again.blocks[0].headline.endswith("(3 reused from an earlier attempt)")


def test_a_glue_wait_shows_state_elapsed_and_time_left_from_earlier_runs():
    earlier = [{"Id": f"jr_{n}", "JobRunState": "SUCCEEDED", "ExecutionTime": s}
               for n, s in enumerate((600, 900, 1200))]
    earlier.append({"Id": "jr_failed", "JobRunState": "FAILED", "ExecutionTime": 30})
    screen, clock = Screen(), Clock()
    shown = GlueProgress({"addr": earlier, "info": []}, show=screen, clock=clock)
    runs = [Run("addr", "jr_new", "RUNNING"), Run("info", "jr_other", "RUNNING")]
    shown.update(runs)
    clock.now += 300
    shown.update(runs)
    addr, info = screen.blocks[0].rows
    assert addr == {"job": "addr", "run": "jr_new", "state": "RUNNING", "elapsed": "5:00",
                    "expected remaining": "about 10:00 (median of 3 earlier run(s): 15:00)"}
    assert info["expected remaining"] == "unknown (no earlier successful run)"
    assert screen.blocks[0].headline == "Glue: 0 of 2 job run(s) finished"
    clock.now += 700
    shown.update(runs)
    assert screen.blocks[0].rows[0]["expected remaining"] == \
        "1:40 longer than usual (median of 3 earlier run(s): 15:00)"
    runs[0].state, runs[0].execution_time_s = "SUCCEEDED", 1010
    runs[1].state = "FAILED"
    shown.update(runs)
    assert screen.blocks[0].headline == "Glue: 2 of 2 job run(s) finished: FAILED, SUCCEEDED"
    final = screen.blocks[0].rows[0]
    assert final["elapsed"] == "16:50" and final["expected remaining"] == "-"
    assert len(screen.blocks) == 1


def test_a_run_an_earlier_attempt_started_counts_from_its_start():
    started = datetime.now(timezone.utc) - timedelta(minutes=20)
    earlier = [{"Id": "jr_old", "JobRunState": "RUNNING", "StartedOn": started},
               {"Id": "jr_1", "JobRunState": "SUCCEEDED", "ExecutionTime": 1800}]
    screen = Screen()
    GlueProgress({"addr": earlier}, show=screen).update([Run("addr", "jr_old", "RUNNING")])
    row = screen.blocks[0].rows[0]
    assert re.fullmatch(r"20:0\d", row["elapsed"]), row
    assert re.match(r"about (10:00|9:5\d) \(median of 1 earlier run", row["expected remaining"]), row


def test_the_glue_job_runs_report_to_one_block(monkeypatch):
    from tests.aws.glue_fake import FakeAws, FakeGlue
    from flywheel_lib.aws.glue_jobs import GlueJobs

    glue, screen = FakeGlue(), Screen()
    monkeypatch.setattr(progress, "kernel_display", lambda: screen)
    job = "etl-omc-flywheel-dev-addr-part"
    args = {"--TARGET_VERSION": "v1"}
    glue.script[job] = ["RUNNING", "SUCCEEDED"]
    GlueJobs(FakeAws(glue), "us-east-1", sleep=lambda _: None, say=lambda *_: None).run([(job, args)],
                                                                                       "--TARGET_VERSION")
    glue.script[job] = ["RUNNING", "RUNNING", "SUCCEEDED"]
    GlueJobs(FakeAws(glue), "us-east-1", sleep=lambda _: None, say=lambda *_: None).run(
        [(job, {"--TARGET_VERSION": "v2"})], "--TARGET_VERSION")
    assert len(screen.blocks) == 2  # one block per wait
    assert screen.blocks[1].headline == "Glue: 1 of 1 job run(s) finished: SUCCEEDED"
    assert screen.blocks[1].rows[0]["state"] == "SUCCEEDED"


def test_athena_statements_from_threads_share_one_block_and_each_end_is_shown():
    screen, clock = Screen(), Clock()
    board = AthenaProgress(show=screen, clock=clock)
    labels = [f"part_ibe_{n:02d}" for n in range(8)]

    def one(n):
        board.statement(f"q{n}", labels[n], "RUNNING")
        board.statement(f"q{n}", labels[n], "FAILED" if n == 3 else "SUCCEEDED")

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    view = screen.blocks[0]
    assert len(screen.blocks) == 1 and view.bar == (8, 8)
    assert view.headline == "Athena: 8 of 8 statement(s) finished, 1 not succeeded"
    assert sorted(r["statement"] for r in view.rows) == labels
    assert {r["state"] for r in view.rows} == {"SUCCEEDED", "FAILED"}


def test_the_html_escapes_what_it_shows():
    html = View("<b>", (1, 2), [{"a<": "x&y"}])._repr_html_()
    assert "&lt;b&gt;" in html and "x&amp;y" in html and '<progress value="1" max="2"' in html


PROBE_CELLS = [
    # Three statements from worker threads, as Athena.run_many polls them.
    "from concurrent.futures import ThreadPoolExecutor\n"
    "from flywheel_lib.progress import athena_statement\n"
    "def poll(n):\n"
    "    for state in ('QUEUED', 'RUNNING', 'SUCCEEDED'):\n"
    "        athena_statement(f'q{n}', f'part_ibe_{n:02d}', state)\n"
    "with ThreadPoolExecutor(3) as pool:\n"
    "    list(pool.map(poll, range(3)))",
    "from flywheel_lib.progress import SplitProgress\n"
    "from types import SimpleNamespace\n"
    "shown = SplitProgress('infobase_attributes', 27)\n"
    "for n in range(27):\n"
    "    shown.start(f'IBE_{n:02d}')\n"
    "    shown.finish(SimpleNamespace(table=f'IBE_{n:02d}', rows=1000, reused=False))",
]


def test_an_executed_notebook_keeps_each_block_once_in_its_final_state(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in PROBE_CELLS]
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"}
    nbformat.write(nb, tmp_path / "probe.ipynb")
    papermill.execute_notebook(str(tmp_path / "probe.ipynb"), str(tmp_path / "done.ipynb"),
                               kernel_name=KERNEL_NAME, progress_bar=False,
                               kernel_manager_class=Kernels().manager_class())
    cells = nbformat.read(tmp_path / "done.ipynb", as_version=4).cells
    athena, split = ([o for o in c["outputs"] if o["output_type"] == "display_data"] for c in cells)
    assert len(athena) == 1 and len(split) == 1
    assert "Athena: 3 of 3 statement(s) finished" in athena[0]["data"]["text/plain"]
    assert athena[0]["data"]["text/html"].count("<td>SUCCEEDED</td>") == 3
    done = "Split infobase_attributes: 27 of 27 tables, 27,000 rows, done in "
    assert split[0]["data"]["text/plain"].startswith(done)
    assert '<progress value="27" max="27"' in split[0]["data"]["text/html"]
    page = html_copies.write_html(tmp_path / "done.ipynb").read_text()  # the record's HTML copy
    assert page.count(done) == 1 and page.count("Athena: 3 of 3 statement(s) finished") == 1
    assert "writing IBE_" not in page and "<td>QUEUED</td>" not in page  # only the final state
