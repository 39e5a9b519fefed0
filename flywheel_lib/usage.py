"""What a stage spent: its cost drivers, kept beside its executed notebook as `usage.json`.

A stage notebook runs in its own kernel process. Everything in it that costs
money adds to this process's `USAGE`: every AWS call (by service, counted in
`aws/session.py`), the bytes each Athena statement scanned, the DPU-seconds of
each Glue job run. On the local backend the money is the machine's: CPU
seconds and peak memory of the kernel process.

The file is rewritten after each Glue run and Athena statement and when the
kernel exits, so a stage that fails half-way still shows what it spent. The
driver copies it into the manifest (`read_usage`), where `cost.py` prices it.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import threading
from collections import Counter
from pathlib import Path

USAGE_FILE = "usage.json"


class Usage:
    def __init__(self):
        self.path: Path | None = None  # None: not a recorded run, nothing written
        self.calls: Counter = Counter()
        self.athena: list[dict] = []
        self.glue: list[dict] = []
        self._lock = threading.Lock()

    def count_call(self, service: str, operation: str) -> None:
        with self._lock:
            self.calls[f"{service}:{operation}"] += 1

    def athena_statement(self, label: str, query_id: str, bytes_scanned: int) -> None:
        with self._lock:
            self.athena.append({"label": label, "query_id": query_id, "bytes_scanned": int(bytes_scanned)})
        self.flush()

    def glue_run(self, job: str, run_id: str, dpu_seconds: float, how: str) -> None:
        with self._lock:
            self.glue.append({"job": job, "run_id": run_id, "dpu_seconds": round(float(dpu_seconds), 1),
                              "measured_by": how})
        self.flush()

    def as_record(self) -> dict:
        own = resource.getrusage(resource.RUSAGE_SELF)
        with self._lock:
            return {"aws_calls": dict(sorted(self.calls.items())),
                    "athena_statements": list(self.athena),
                    "glue_runs": list(self.glue),
                    "cpu_s": round(own.ru_utime + own.ru_stime, 2),
                    "peak_memory_mb": round(own.ru_maxrss / 1024, 1)}  # ru_maxrss is KiB on Linux

    def flush(self) -> None:
        """Rewrite the file whole (a reader never sees half of it); never fails the stage."""
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            partial.write_text(json.dumps(self.as_record(), indent=1))
            partial.replace(self.path)
        except OSError:
            pass  # a full or read-only disk fails the stage elsewhere, with its own message


USAGE = Usage()
atexit.register(USAGE.flush)


def record_to(stage_dir: Path | None) -> None:
    """Keep this process's usage in `stage_dir/usage.json` from now on (None: keep it nowhere).

    In a kernel the file is rewritten after every cell too: the driver reads it as soon as the
    notebook has run, before the kernel (and its exit handler) is stopped.
    """
    USAGE.path = None if stage_dir is None else Path(stage_dir) / USAGE_FILE
    USAGE.flush()
    shell = _kernel_shell()
    if shell is not None and not getattr(shell, "_flywheel_usage", False):
        shell.events.register("post_run_cell", lambda result: USAGE.flush())
        shell._flywheel_usage = True


def _kernel_shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def read_usage(stage_dir: Path) -> dict | None:
    """What a stage's kernel wrote, or None (no file: the stage never opened, or an old record)."""
    try:
        return json.loads((Path(stage_dir) / USAGE_FILE).read_text())
    except (OSError, ValueError):
        return None
