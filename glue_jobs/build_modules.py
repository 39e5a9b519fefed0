"""The zip of `flywheel_lib` modules the Glue split job imports (its `--extra-py-files`).

    python glue_jobs/build_modules.py [--out dist/flywheel_glue_modules.zip]

Only what `split_job.py` needs goes in: the mapping (loader, validation, its
errors), the lake's marker name, and the package `__init__` with what it
imports. None of them imports duckdb, pandas, numpy or pyarrow, and
`check_imports` proves it by importing the zip in a Python without
site-packages. The zip is byte-for-byte the same for the same sources (fixed
timestamps, sorted entries), so its digest names a version of the code.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# flywheel_lib/__init__.py imports config (stdlib + errors), so both come along.
MODULES = (
    "flywheel_lib/__init__.py",
    "flywheel_lib/config.py",
    "flywheel_lib/errors.py",
    "flywheel_lib/lake.py",
    "flywheel_lib/mapping.py",
)
IMPORTS = ("flywheel_lib.errors", "flywheel_lib.lake", "flywheel_lib.mapping")
DEFAULT_OUT = REPO / "dist" / "flywheel_glue_modules.zip"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def build_zip(out: str | Path = DEFAULT_OUT, repo: Path = REPO) -> Path:
    """Write the modules' zip to `out`; returns its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(MODULES):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, (repo / name).read_bytes())
    tmp.replace(out)
    return out


def check_imports(archive: str | Path) -> None:
    """Import the job's modules from `archive` alone, in a Python without site-packages (no duckdb...)."""
    code = (f"import sys; sys.path.insert(0, {str(archive)!r}); "
            + "; ".join(f"import {m}" for m in IMPORTS)
            + "; heavy = sorted(m for m in ('duckdb', 'pandas', 'numpy', 'pyarrow') if m in sys.modules)"
            + "; assert not heavy, heavy"
            + "; assert all(sys.modules[m].__file__.startswith(sys.path[0]) for m in "
            + repr(IMPORTS) + ")")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the Glue modules zip does not import on its own: {done.stderr.strip()}")


def digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="where to write the zip")
    args = parser.parse_args(argv)
    path = build_zip(args.out)
    check_imports(path)
    print(f"{path}  sha256 {digest(path)[:16]}  ({', '.join(MODULES)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
