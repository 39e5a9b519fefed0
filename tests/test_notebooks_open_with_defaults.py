"""Every notebook runs top to bottom with its default parameters, as an analyst opening it would.

`pytest --nbval-lax` executes the notebooks in name order (which is the stage
order) against a small demo lake, in a child pytest so the lake location reaches
the kernels through the environment. The lake has the three tables of the test
mapping (set as an analyst sets one, with FLYWHEEL_MAPPING): what is checked here
is that every notebook's defaults work, not the split of all 27 infobase tables
(tests/test_refresh_end_to_end.py refreshes those).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flywheel_lib.mapping import load_mapping
from flywheel_lib.synthetic import write_snapshot

REPO = Path(__file__).resolve().parent.parent
MAPPING = REPO / "tests" / "fixtures" / "engine_mapping.csv"


def test_notebooks_run_with_their_defaults(tmp_path):
    write_snapshot(tmp_path / "data", "2026-09-01", 300, seed=3, mapping=load_mapping(MAPPING))
    env = dict(os.environ, FLYWHEEL_DATA_ROOT=str(tmp_path / "data"),
               FLYWHEEL_RUNS_DIR=str(tmp_path / "runs"), FLYWHEEL_ENV="local", FLYWHEEL_MAPPING=str(MAPPING),
               JUPYTER_PREFER_ENV_PATH="1")  # the notebooks' kernel flywheel-runbook: this .venv's
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
         "--rootdir", str(tmp_path), str(REPO / "notebooks")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    notebooks = sorted((REPO / "notebooks").rglob("*.ipynb"))
    assert len(notebooks) >= 6
    assert " passed" in result.stdout and "failed" not in result.stdout
    # The interactive run published the demo month like a driver run would.
    assert (tmp_path / "data" / "catalog.duckdb").is_file()
