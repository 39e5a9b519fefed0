"""Scraps are written in scrapbook's own format without importing scrapbook: scrapbook reads them."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest
import scrapbook

from flywheel_lib.errors import FlywheelError
from flywheel_lib.scraps import read_scraps, scrap_output

VALUES = {"rows": 20000, "none": None, "text_number": "123", "tables": ["a", "b"],
          "nested": {"ok": True, "ratio": 0.5}}


def notebook_with(values: dict, path):
    node = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("record(...)")
    for name, value in values.items():
        data, metadata = scrap_output(name, value)
        cell.outputs.append(nbformat.v4.new_output("display_data", data=data, metadata=metadata))
    node.cells.append(cell)
    nbformat.validate(node)
    nbformat.write(node, path)
    return path


def test_scrapbook_reads_what_we_write(tmp_path):
    path = notebook_with(VALUES, tmp_path / "written.ipynb")
    book = scrapbook.read_notebook(str(path))
    assert set(book.scraps) == set(VALUES)
    assert all(book.scraps[n].encoder == "text" for n in VALUES)
    assert read_scraps(path) == VALUES
    # What scrapbook hands back is the JSON text of each value.
    assert book.scraps["text_number"].data == '"123"' and book.scraps["none"].data == "null"


def test_scrapbook_reads_a_notebook_executed_by_the_driver(finished_toy):
    path = finished_toy.outcome.run_dir / "a.ipynb"
    book = scrapbook.read_notebook(str(path))
    assert set(book.scraps) == {"parameters", "tables"}
    assert read_scraps(path)["tables"] == [{"table": "a_1", "rows": 3.0},
                                           {"table": "a_2", "rows": None}]


def test_a_notebook_recording_a_value_imports_no_heavy_library():
    code = ("import sys; from flywheel_lib import display, scraps; from flywheel_lib.stage import open_stage; "
            "scraps.record('x', 1); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'scrapbook', 'jsonschema', 'papermill', "
            "'matplotlib', 'boto3', 'botocore', 'nbconvert'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_scrap_needs_a_name():
    with pytest.raises(FlywheelError, match="non-empty string name"):
        scrap_output("", 1)
