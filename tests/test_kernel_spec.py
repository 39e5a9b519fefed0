"""The project's kernel: registered inside .venv by make setup, and the one the driver runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager

from flywheel_lib.kernel_spec import KERNEL_NAME, KERNELSPEC
from flywheel_lib.pipeline import Stage
from flywheel_lib.kernels import Kernels
from flywheel_lib.scheduler import _run_stage, _Slot


def test_make_setup_registers_the_kernel_inside_this_environment():
    spec_file = Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    assert spec_file.is_file(), f"{spec_file} is missing: run make setup"
    spec = json.loads(spec_file.read_text())
    assert Path(spec["argv"][0]).resolve() == Path(sys.executable).resolve()
    assert spec["display_name"] == KERNELSPEC["display_name"]


def test_the_driver_runs_this_interpreter_even_when_another_spec_of_the_name_wins(tmp_path, monkeypatch):
    # Another clone registered flywheel-runbook with --user, for its own venv.
    user_data = tmp_path / "user-data"
    other = user_data / "kernels" / KERNEL_NAME
    other.mkdir(parents=True)
    (other / "kernel.json").write_text(json.dumps({
        "argv": ["/nonexistent/other-clone/.venv/bin/python", "-m", "ipykernel_launcher",
                 "-f", "{connection_file}"], "display_name": "other clone", "language": "python"}))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(user_data))
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "0")
    assert KernelSpecManager().get_kernel_spec(KERNEL_NAME).display_name == "other clone"

    notebook = tmp_path / "nb" / "which.ipynb"
    notebook.parent.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys\nopen('python.txt', 'w').write(sys.executable)")])
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nbformat.write(nb, notebook)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    stage = Stage("which", "which.ipynb", (), "")
    monkeypatch.setattr(Stage, "notebook_path", property(lambda self: notebook))
    slot = _Slot()
    slot.go()  # its turn at once: the scheduler's warm kernel, then the notebook
    _run_stage(stage, run_dir, {}, Kernels(), slot)
    result = slot.result.result()
    assert result["status"] == "succeeded", result["error"]
    assert (notebook.parent / "python.txt").read_text() == sys.executable
    executed = nbformat.read(run_dir / "which.ipynb", as_version=4)
    assert executed.metadata.kernelspec.name == KERNEL_NAME
