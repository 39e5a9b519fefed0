"""Notebooks are stored clean: the project's kernel, no outputs, no execution counts.

An output kept in the repository goes stale, leaks one person's data into everyone's
diff and hides whether a notebook still runs. `python tools/clean_notebooks.py` fixes
what this test finds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flywheel_lib.kernel_spec import KERNEL_NAME, clean, notebook_problems

REPO = Path(__file__).resolve().parent.parent
TOOL = REPO / "tools" / "clean_notebooks.py"


def _stored_notebooks() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout.strip():
        return [REPO / line for line in listed.stdout.splitlines()]
    return sorted(p for p in REPO.glob("[!.]*/**/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def test_every_notebook_in_the_repository_is_clean():
    notebooks = _stored_notebooks()
    assert len(notebooks) >= 10
    unclean = {str(p.relative_to(REPO)): notebook_problems(json.loads(p.read_text(encoding="utf-8")))
               for p in notebooks}
    unclean = {path: problems for path, problems in unclean.items() if problems}
    assert not unclean, ("notebooks stored with outputs, counts or another kernel "
                         "(fix: python tools/clean_notebooks.py):\n"
                         + "\n".join(f"  {p}: {'; '.join(why)}" for p, why in unclean.items()))


def _executed_notebook() -> dict:
    nb = json.loads((REPO / "notebooks" / "refresh" / "01_addr_part.ipynb").read_text(encoding="utf-8"))
    nb["metadata"]["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    code[0]["execution_count"] = 1
    code[1].update(execution_count=2, outputs=[{"output_type": "stream", "name": "stdout", "text": "x\n"}])
    return nb


def test_the_check_names_each_problem_and_clean_fixes_them():
    nb = _executed_notebook()
    problems = notebook_problems(nb)
    assert problems[0] == f"kernelspec is 'python3', not {KERNEL_NAME!r}"
    assert problems[1:] == ["outputs in cell(s) 3", "execution counts in cell(s) 2, 3"]
    sources = [c["source"] for c in nb["cells"]]
    assert notebook_problems(clean(nb)) == []
    assert [c["source"] for c in nb["cells"]] == sources  # code and prose untouched


def test_the_tool_reports_then_cleans_a_notebook_in_place(tmp_path):
    path = tmp_path / "dirty.ipynb"
    path.write_text(json.dumps(_executed_notebook(), indent=1), encoding="utf-8")
    check = subprocess.run([sys.executable, str(TOOL), "--check", str(tmp_path)],
                           capture_output=True, text=True)
    assert check.returncode == 1 and "dirty.ipynb: kernelspec is 'python3'" in check.stdout
    assert subprocess.run([sys.executable, str(TOOL), str(path)]).returncode == 0
    assert notebook_problems(json.loads(path.read_text(encoding="utf-8"))) == []
    again = subprocess.run([sys.executable, str(TOOL), "--check", str(tmp_path)], capture_output=True)
    assert again.returncode == 0 and again.stdout == b""
