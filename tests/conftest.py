"""Shared fixtures: a toy project whose four stages are copies of one tiny notebook."""

from __future__ import annotations

import io
import json
from pathlib import Path

import nbformat
import pytest

from flywheel_lib import pipeline, runner
from flywheel_lib.config import load_settings
from flywheel_lib.pipeline import Stage

FIXTURE_NOTEBOOKS = Path(__file__).parent / "fixtures" / "notebooks"
MONTH = "2026-10"

# Fixture notebooks are inputs of tests, not tests (keeps `pytest --nbval-lax` off them).
collect_ignore_glob = ["fixtures/*"]


class ToyProject:
    """a and b are independent, c needs both, d needs c; a raw snapshot exists for MONTH."""

    def __init__(self, root: Path):
        self.root = root
        self.notebooks = root / "notebooks"
        self.notebooks.mkdir()
        for dataset in ("addressable_ids", "infobase_attributes"):
            folder = root / "data" / "opus" / dataset / "raw_input" / f"snapshot_dt={MONTH}-01"
            folder.mkdir(parents=True)
            (folder / "part-0.parquet").write_bytes(b"PAR1 toy PAR1")
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
