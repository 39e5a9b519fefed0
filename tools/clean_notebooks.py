"""Store notebooks clean: the project's kernel `flywheel-runbook`, no outputs, no execution counts.

    python tools/clean_notebooks.py            # every notebook under notebooks/ and tests/
    python tools/clean_notebooks.py --check    # only list what is not clean (exit 1 if any)
    python tools/clean_notebooks.py PATH ...   # these notebooks or folders

Cell sources, ids and tags are left as they are. tests/test_notebooks_clean.py
fails on any notebook this would change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from flywheel_lib.kernel_spec import clean, notebook_problems  # noqa: E402

DEFAULT_FOLDERS = ("notebooks", "tests")


def notebooks(paths: list[str]) -> list[Path]:
    found = []
    for given in paths or [REPO / folder for folder in DEFAULT_FOLDERS]:
        path = Path(given)
        found += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts) \
            if path.is_dir() else [path]
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="notebooks or folders (default: notebooks/ and tests/)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if any is not clean")
    args = parser.parse_args(argv)
    unclean = 0
    for path in notebooks(args.paths):
        nb = json.loads(path.read_text(encoding="utf-8"))
        problems = notebook_problems(nb)
        if not problems:
            continue
        unclean += 1
        print(f"{path}: {'; '.join(problems)}" + ("" if args.check else " (cleaned)"))
        if not args.check:
            # Jupyter's own layout (indent 1, trailing newline), so a diff shows only what changed.
            path.write_text(json.dumps(clean(nb), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 1 if args.check and unclean else 0


if __name__ == "__main__":
    sys.exit(main())
