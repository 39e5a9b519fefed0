"""A kernel started ahead of its stage runs the notebook exactly as a fresh kernel would."""

from __future__ import annotations

import nbformat
import papermill
from jupyter_core.utils import run_sync

from flywheel_lib import kernels as kernels_

CHECK = "import os, sys\nprint(sorted({'flywheel_lib.stage', 'pandas'} & set(sys.modules)), os.getcwd())"


def test_a_warm_kernel_has_the_library_and_leaves_no_trace_in_the_notebook(tmp_path):
    source, output = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    # A stage notebook (it opens the stage; here only in a comment, the check needs no lake).
    cells = [nbformat.v4.new_code_cell("# ctx = open_stage(...)"), nbformat.v4.new_code_cell(CHECK)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), source)
    kernels = kernels_.Kernels()
    manager = kernels.start_warm(source, "local")
    assert manager is not None and kernels.running  # tracked, so Ctrl-C reaches it
    try:
        papermill.execute_notebook(str(source), str(output), kernel_name=kernels_.KERNEL,
                                   progress_bar=False, km=manager)
    finally:
        kernels_.stop(manager)
        kernels.forget()
    first, cell = nbformat.read(output, as_version=4).cells
    assert (first.execution_count, cell.execution_count) == (1, 2)  # the warm-up was silent
    assert cell.outputs[0]["text"].strip() == f"['flywheel_lib.stage', 'pandas'] {tmp_path}"
    assert not run_sync(_alive)(manager)
    assert not kernels.running


async def _alive(manager) -> bool:
    return await manager.is_alive()


def test_the_warm_up_imports_the_environments_backend_for_stage_notebooks_only(tmp_path):
    stage, other = tmp_path / "stage.ipynb", tmp_path / "other.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("open_stage('x')")]), stage)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), other)
    assert kernels_.warm_up_code("local", stage).endswith("flywheel_lib.local.backend")
    assert kernels_.warm_up_code("dev", stage).endswith("flywheel_lib.aws.backend")
    assert kernels_.warm_up_code("local", other) == ""
