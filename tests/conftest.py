"""Shared fixtures: a toy project whose four stages are copies of one tiny notebook."""

from __future__ import annotations

import functools
import io
import json
import tempfile
from pathlib import Path

import nbformat
import pytest

import aws_call_log

from flywheel_lib import pipeline, runner
from flywheel_lib.cli import take_ctrl_c
from flywheel_lib.config import load_settings
from flywheel_lib.pipeline import Stage
from flywheel_lib.synthetic import snapshot_dir, write_snapshot

FIXTURE_NOTEBOOKS = Path(__file__).parent / "fixtures" / "notebooks"
MONTH = "2026-10"



def pytest_configure(config):
    aws_call_log.install()  # every AWS action our code calls, for tests/test_iam.py
    config.addinivalue_line("markers", "iam_both_ways: runs after every other test (tests/test_iam.py)")


@pytest.fixture(autouse=True)
def ctrl_c_works():
    """Every test starts with Python's own Ctrl-C: code run earlier in the same worker (kernel
    launchers, Spark) may leave SIGINT ignored or blocked, which the drivers a test starts inherit."""
    take_ctrl_c()


def pytest_sessionfinish(session):
    """Under xdist: each worker hands its AWS calls up; the controller checks their union both ways."""
    if hasattr(session.config, "workerinput"):
        session.config.workeroutput["aws_calls"] = sorted(map(list, aws_call_log.CALLS))
        session.config.workeroutput["run_files"] = sorted(aws_call_log.RUN_FILES)
    elif getattr(session.config.option, "numprocesses", None) and aws_call_log.RUN_FILES:
        problems = aws_call_log.both_ways(aws_call_log.CALLS, aws_call_log.whole_aws_suite_ran(session.config))
        if problems:
            session.config.get_terminal_writer().line("IAM both-ways check FAILED: " + "; ".join(problems), red=True)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist: a worker's recorded AWS calls, for the controller's check."""
    output = getattr(node, "workeroutput", {})
    aws_call_log.CALLS.update(tuple(c) for c in output.get("aws_calls", []))
    aws_call_log.RUN_FILES.update(output.get("run_files", []))


def pytest_runtest_setup(item):
    aws_call_log.RUN_FILES.add(Path(item.fspath).relative_to(Path(__file__).parent).as_posix())


def pytest_collection_modifyitems(items):
    """The IAM both-ways check last: it reads the AWS calls every other test recorded."""
    items.sort(key=lambda item: item.get_closest_marker("iam_both_ways") is not None)


# Fixture notebooks are inputs of tests, not tests (keeps `pytest --nbval-lax` off them).
collect_ignore_glob = ["fixtures/*"]


@functools.cache
def _toy_snapshot() -> dict[str, bytes]:
    """Three synthetic customers per dataset as Parquet bytes, written once a session (seconds)."""
    with tempfile.TemporaryDirectory() as folder:
        write_snapshot(folder, f"{MONTH}-01", 3, files=1)
        return {ds: next(snapshot_dir(folder, ds, f"{MONTH}-01").glob("*.parquet")).read_bytes()
                for ds in ("addressable_ids", "infobase_attributes")}


class ToyProject:
    """a and b are independent, c needs both, d needs c; a raw snapshot exists for MONTH."""

    def __init__(self, root: Path):
        self.root = root
        self.notebooks = root / "notebooks"
        self.notebooks.mkdir()
        for dataset in ("addressable_ids", "infobase_attributes"):
            folder = root / "data" / "opus" / dataset / "raw_input" / f"snapshot_dt={MONTH}-01"
            folder.mkdir(parents=True)
            (folder / "part-0.parquet").write_bytes(_toy_snapshot()[dataset])  # real: preflight reads footers
        self.settings = load_settings("local", environ={
            "FLYWHEEL_DATA_ROOT": str(root / "data"), "FLYWHEEL_RUNS_DIR": str(root / "runs")})
        template = nbformat.read(FIXTURE_NOTEBOOKS / "toy_stage.ipynb", as_version=4)
        parameters = template.cells[1].source
        upstream = {"a": (), "b": (), "c": ("a", "b"), "d": ("c",)}
        for name in upstream:
            template.cells[1].source = parameters.replace('stage = "toy"', f'stage = "{name}"')
            nbformat.write(template, self.notebooks / f"{name}.ipynb")
        self.stages = tuple(Stage(n, str(self.notebooks / f"{n}.ipynb"), up, f"toy output {n}")
                            for n, up in upstream.items())
        self.log = ""

    @property
    def month_dir(self) -> Path:
        return Path(self.settings.runs_dir) / MONTH

    def control(self, fail=(), sleep=None) -> None:
        """Which stages raise, and how long each sleeps, on their next execution."""
        (self.notebooks / "toy.json").write_text(
            json.dumps({"fail": list(fail), "sleep": sleep or {}}))

    def executions(self, stage: str) -> int:
        marker = self.notebooks / f"ran_{stage}.txt"
        return len(marker.read_text().splitlines()) if marker.exists() else 0

    def run(self, **request) -> runner.Outcome:
        out = io.StringIO()
        try:
            return runner.run_refresh(runner.Request(month=request.pop("month", MONTH), **request),
                                      self.settings, stages=self.stages, out=out)
        finally:
            self.log = out.getvalue()


@pytest.fixture
def toy(tmp_path) -> ToyProject:
    return ToyProject(tmp_path)


@pytest.fixture
def cli_toy(toy, monkeypatch):
    """The toy project as what `run_refresh.py` sees: its settings and its stage table."""
    monkeypatch.setenv("FLYWHEEL_DATA_ROOT", str(toy.root / "data"))
    monkeypatch.setenv("FLYWHEEL_RUNS_DIR", toy.settings.runs_dir)
    monkeypatch.delenv("FLYWHEEL_ENV", raising=False)
    monkeypatch.setattr(pipeline, "REFRESH", toy.stages)
    return toy


@pytest.fixture(scope="session")
def finished_toy(tmp_path_factory) -> ToyProject:
    """One complete run of the toy project (4 notebooks), shared because each costs seconds.

    It runs with fake AWS secrets in the environment, so tests can look for them in the
    record. Tests must not change its files (copy the record first).
    """
    project = ToyProject(tmp_path_factory.mktemp("finished"))
    project.secrets = {"AWS_SECRET_ACCESS_KEY": "sentinel-secret-9f3a1c",
                       "AWS_SESSION_TOKEN": "sentinel-token-77b2e0"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in project.secrets.items():
            patch.setenv(name, value)
        project.outcome = project.run(jobs=2)
    return project

