"""The review pages: a run's index.html, the list of runs, --list, --verify, a real browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from flywheel_lib import records, review, timeline
from flywheel_lib.cli import main

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Page(HTMLParser):
    """What a browser would see: tags with their attributes, link targets, text."""

    def __init__(self, text: str):
        super().__init__()
        self.tags, self.targets, self.chunks = [], [], []
        self.feed(text)
        self.text = " ".join(" ".join(self.chunks).split())

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.targets += [v for k, v in attrs if k in ("href", "src")]

    def handle_data(self, data):
        self.chunks.append(data)

    def bars(self) -> list[dict]:
        return [a for t, a in self.tags if t == "rect" and a.get("class") == "bar"]


def read_page(path: Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


def assert_links_stay_inside(page_path: Path, root: Path, page: Page | None = None) -> None:
    page = page or read_page(page_path)
    assert page.targets, "the page links nothing"
    for target in page.targets:
        assert "://" not in target and not target.startswith("/"), target
        path = (page_path.parent / unquote(target)).resolve()
        assert path.is_file() and path.is_relative_to(root.resolve()), target


@pytest.fixture
def record_copy(finished_toy, tmp_path):
    target = tmp_path / "runs" / "2026-10" / finished_toy.outcome.run_dir.name
    shutil.copytree(finished_toy.outcome.run_dir, target)
    return target


def test_the_page_of_a_successful_run(finished_toy):
    run_dir = finished_toy.outcome.run_dir
    page = read_page(run_dir / "index.html")
    assert "Succeeded: 4 stages" in page.text and "2026-10-01" in page.text
    assert "No data monitor report in this run" in page.text
    assert all(f"{name}.html" in page.targets for name in "abcd")
    bars = {bar["data-stage"]: bar for bar in page.bars()}
    assert sorted(bars) == list("abcd") and len(page.bars()) == 4
    assert bars["a"]["y"] != bars["b"]["y"], "a and b ran at the same time: separate lanes"
    assert bars["c"]["data-status"] == "succeeded"
    assert_links_stay_inside(run_dir / "index.html", run_dir)
    assert "index.html" in records.read_manifest(run_dir)["files"]
    assert records.verify(run_dir) == []


def test_the_page_of_a_failed_then_resumed_run(toy):
    toy.control(fail=["b"])
    first = toy.run()
    page = read_page(first.run_dir / "index.html")
    assert "Failed at stage b" in page.text and "KeyError: 'toy failure in b'" in page.text
    assert "blocked (not run): c, d" in page.text
    assert sorted(bar["data-stage"] for bar in page.bars()) == ["a", "b"]
    assert_links_stay_inside(first.run_dir / "index.html", first.run_dir)
    toy.control()
    second = toy.run()
    page = read_page(second.run_dir / "index.html")
    assert "Succeeded: 4 stages" in page.text and "Invocation 2 of 2" in page.text
    assert "attempt-1/b.html" in page.targets  # the failed attempt stays reachable
    assert [b["data-status"] for b in page.bars() if b["data-stage"] == "b"] == [
        "failed", "succeeded"]
    assert_links_stay_inside(second.run_dir / "index.html", second.run_dir)
    assert records.verify(second.run_dir) == []


def test_values_from_the_record_are_shown_as_text(finished_toy, tmp_path):
    manifest = records.read_manifest(finished_toy.outcome.run_dir)
    manifest["stages"]["b"].update(status="failed", error={
        "ename": "ValueError", "evalue": "<script>alert('x')</script> & <marquee>x</marquee>"})
    manifest["status"] = "failed"
    page = Page(review.run_page(manifest, tmp_path))
    assert "ValueError: <script>alert('x')</script> & <marquee>x</marquee>" in page.text
    assert [t for t, _ in page.tags].count("script") == 1  # only the page's own
    assert "marquee" not in [t for t, _ in page.tags]


@pytest.mark.parametrize("status, stages, headline", [
    ("interrupted", {"a": "succeeded", "b": "interrupted"}, "Interrupted during b"),
    ("failed", {"a": "failed", "b": "blocked"}, "Failed at stage a"),
    ("running", {"a": "running"}, "Running"),
])
def test_the_banner_says_how_the_run_ended(status, stages, headline):
    manifest = {"status": status, "stages": {n: {"status": s} for n, s in stages.items()}}
    assert review.banner(manifest)[1].startswith(headline)


def test_overlapping_stages_get_separate_lanes():
    t = lambda s: datetime(2026, 11, 1, 2, 0, s, tzinfo=timezone.utc)  # noqa: E731
    bars = [{"start": t(0), "end": t(10)}, {"start": t(1), "end": t(5)},
            {"start": t(6), "end": t(9)}, {"start": t(10), "end": t(12)}]
    assert timeline.assign_lanes(bars) == [0, 1, 1, 0]


def test_a_label_moves_left_before_it_is_cut_short():
    texts = ["addr_glue_reg interrupted 1.4s", "addr_glue_reg interrupted"]
    text, at = timeline.place_label(texts, left=950, limit=998, floor=0)
    assert text == texts[0] and 780 < at < 950
    text, at = timeline.place_label(texts, left=950, limit=998, floor=900)
    assert (text, at) == ("addr_g…", 950)


def test_the_list_of_runs_is_newest_first(record_copy, monkeypatch, capsys):
    runs_dir = record_copy.parent.parent
    for month, run_id, started in (("2026-09", "20261001T020000Z", "2026-10-01T02:00:00+00:00"),
                                   ("2026-10", "20261202T020000Z", "2026-12-02T02:00:00+00:00")):
        other = runs_dir / month / run_id
        shutil.copytree(record_copy, other)
        manifest = json.loads((other / "manifest.json").read_text())
        manifest.update(month=month, run_id=run_id, started_at=started, status="failed")
        (other / "manifest.json").write_text(json.dumps(manifest))
    (runs_dir / "2026-09" / "20261001T020000Z" / "index.html").unlink()  # an older record
    page_path = review.write_runs_page(runs_dir, records.list_runs(runs_dir))
    page = read_page(page_path)
    newest = ["2026-10/20261202T020000Z/index.html",
              f"2026-10/{record_copy.name}/index.html", "2026-09/20261001T020000Z/manifest.json"]
    assert page.targets == ["history.html", *newest]
    assert_links_stay_inside(page_path, runs_dir, page)
    monkeypatch.setenv("FLYWHEEL_RUNS_DIR", str(runs_dir))
    monkeypatch.setenv("FLYWHEEL_DATA_ROOT", str(runs_dir.parent / "data"))
    monkeypatch.delenv("FLYWHEEL_ENV", raising=False)
    assert main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["month", "run", "id"] and len(lines) == 4
    assert [line.split()[1] for line in lines[1:]] == [p.split("/")[1] for p in newest]
    assert "failed" in lines[1] and "succeeded" in lines[2]


def test_the_runs_page_is_written_by_the_run(finished_toy):
    runs_dir = Path(finished_toy.settings.runs_dir)
    page = read_page(runs_dir / "index.html")
    assert page.targets == ["history.html", f"2026-10/{finished_toy.outcome.run_dir.name}/index.html"]
    assert "succeeded" in page.text


def test_verify_names_each_changed_file(record_copy, capsys):
    for name in ("b.ipynb", "index.html"):
        data = bytearray((record_copy / name).read_bytes())
        data[len(data) // 2] ^= 1
        (record_copy / name).write_bytes(bytes(data))
    assert main(["--verify", str(record_copy)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "changed: b.ipynb", "changed: index.html", f"{record_copy}: 2 difference(s)"]
    assert main(["--verify", str(record_copy / "nope")]) == 2


def chromium(*args: str, user_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={user_dir}", *args],
        capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)


def test_a_browser_opens_the_page_from_the_file_system(finished_toy, tmp_path):
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run should have installed it")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    page_path = finished_toy.outcome.run_dir / "index.html"
    done = chromium("--enable-logging=stderr", "--v=0", "--dump-dom", page_path.as_uri(),
                    user_dir=tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'data-ready="1"' in done.stdout, "the page's script did not run"
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    dom = Page(done.stdout)
    assert len(dom.bars()) == 4 and "Succeeded" in dom.text
    assert_links_stay_inside(page_path, finished_toy.outcome.run_dir, dom)
