"""The project's Jupyter kernel, `flywheel-runbook`: the notebooks name it, and it runs this venv.

`make setup` registers it inside `.venv` (`--sys-prefix`), so JupyterLab, wherever
it is installed, runs the notebooks with the project's packages. A kernel spec
is looked up by name across the machine, and a `--user` spec of the same name
(another clone's) would win over ours; so the driver does not look it up at
all: papermill runs get `project_spec()`, this interpreter, in memory.
"""

from __future__ import annotations

import sys

KERNEL_NAME = "flywheel-runbook"
KERNELSPEC = {"display_name": "Python (flywheel-runbook)", "language": "python", "name": KERNEL_NAME}


def project_spec():
    """The kernel spec of the interpreter running this code (a jupyter_client KernelSpec)."""
    from jupyter_client.kernelspec import KernelSpec

    return KernelSpec(
        argv=[sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        display_name=KERNELSPEC["display_name"], language="python", name=KERNEL_NAME,
        metadata={"debugger": True})


def notebook_problems(nb: dict) -> list[str]:
    """What keeps a stored notebook from being clean: outputs, execution counts, another kernel."""
    problems = []
    if nb.get("metadata", {}).get("kernelspec") != KERNELSPEC:
        found = nb.get("metadata", {}).get("kernelspec", {}).get("name")
        problems.append(f"kernelspec is {found!r}, not {KERNEL_NAME!r}")
    cells = nb.get("cells", [])
    with_outputs = [i for i, c in enumerate(cells, 1) if c.get("outputs")]
    counted = [i for i, c in enumerate(cells, 1) if c.get("execution_count") is not None]
    if with_outputs:
        problems.append(f"outputs in cell(s) {_numbers(with_outputs)}")
    if counted:
        problems.append(f"execution counts in cell(s) {_numbers(counted)}")
    return problems


def clean(nb: dict) -> dict:
    """The notebook as it should be stored: the project's kernel, no outputs or counts."""
    nb.setdefault("metadata", {})["kernelspec"] = dict(KERNELSPEC)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
            cell.get("metadata", {}).pop("execution", None)
    return nb


def _numbers(indexes: list[int]) -> str:
    return ", ".join(map(str, indexes[:10])) + (" ..." if len(indexes) > 10 else "")
