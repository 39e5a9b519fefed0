"""Progress of long work, shown in the notebook and updated in place.

A split, a Glue job wait or the Athena statements of a cell each show one block
in their cell (IPython's `display(..., display_id=True)`); every step replaces
it, so JupyterLab shows the current state, and the saved notebook and its HTML
show the final state once: no log of a thousand lines. Outside a kernel (plain
Python, the driver's own terminal) nothing is shown, so the driver's stage
lines stay as they are.
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .aws.glue_runs import successful_times, typical_seconds

GLUE_RUNNING = ("STARTING", "RUNNING", "STOPPING", "WAITING")  # as aws/glue_jobs.RUNNING
ATHENA_TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")  # as aws/athena.TERMINAL


def kernel_display():
    """IPython's `display` inside a Jupyter kernel, else None."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    from IPython.display import display

    return display


def clock_text(seconds: float) -> str:
    """0:42, 12:05, 1:02:03."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@dataclass
class View:
    """What one block shows: a headline, maybe a bar, maybe a table; as HTML and as text."""

    headline: str
    bar: tuple[int, int] | None = None  # (done, total)
    rows: list[dict] = field(default_factory=list)

    def _repr_html_(self) -> str:
        parts = [f"<p><b>{html.escape(self.headline)}</b></p>"]
        if self.bar:
            done, total = self.bar
            parts.append(f'<progress value="{done}" max="{total}" style="width: 24em"></progress>')
        if self.rows:
            head = "".join(f"<th>{html.escape(k)}</th>" for k in self.rows[0])
            body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row.values())
                           + "</tr>" for row in self.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        return "".join(parts)

    def __repr__(self) -> str:
        lines = [self.headline]
        lines += ["  " + "  ".join(f"{k}: {v}" for k, v in row.items()) for row in self.rows]
        return "\n".join(lines)


class Block:
    """One output block: displayed at the first update, replaced by each later one.

    Updates closer together than `min_interval_s` are skipped unless `final`, so a
    fast loop does not flood the notebook; a final update is always shown.
    `show` is IPython's display (tests pass a recorder); None shows nothing.
    """

    def __init__(self, show=None, min_interval_s: float = 0.5, clock=time.monotonic):
        self.show, self.min_interval_s, self.clock = show, min_interval_s, clock
        self._handle, self._shown_at = None, None
        self._lock = threading.Lock()  # Athena statements report from worker threads

    def update(self, view: View, final: bool = False) -> None:
        if self.show is None:
            return
        with self._lock:
            now = self.clock()
            if self._handle is None:
                self._handle = self.show(view, display_id=True)
            elif final or now - self._shown_at >= self.min_interval_s:
                self._handle.update(view)
            else:
                return
            self._shown_at = now


def _block(show, clock) -> Block:
    return Block(kernel_display() if show is None else show, clock=clock)


class SplitProgress:
    """The split of one dataset: tables done of all, rows written, elapsed, the table being written."""

    def __init__(self, dataset: str, total: int, show=None, clock=time.monotonic):
        self.dataset, self.total, self.clock = dataset, total, clock
        self.block, self.started = _block(show, clock), clock()
        self.done, self.rows, self.reused = 0, 0, 0

    def start(self, table: str) -> None:
        self.block.update(self._view(f"writing {table}"))

    def finish(self, output) -> None:
        """One table written (or reused); `output` is a TableOutput."""
        self.done, self.rows = self.done + 1, self.rows + output.rows
        self.reused += bool(output.reused)
        last = self.done == self.total
        self.block.update(self._view("" if last else f"{output.table} done"), final=last)

    def _view(self, now: str) -> View:
        elapsed = clock_text(self.clock() - self.started)
        headline = (f"Split {self.dataset}: {self.done} of {self.total} tables, {self.rows:,} rows, "
                    + (f"{elapsed} elapsed; {now}" if now else f"done in {elapsed}"))
        if self.reused:
            headline += f" ({self.reused} reused from an earlier attempt)"
        return View(headline, (self.done, self.total))


class GlueProgress:
    """Glue job runs being waited on: state, elapsed, and the time left judged by earlier runs.

    `previous` is each job's GetJobRuns list (as the job-runs code read it):
    the median ExecutionTime of its SUCCEEDED runs is the expected duration.
    """

    def __init__(self, previous: dict[str, list[dict]], show=None, clock=time.monotonic):
        self.previous, self.clock = previous, clock
        self.block, self.first_seen = _block(show, clock), {}

    def update(self, runs) -> None:
        """`runs` are JobRuns (job_name, run_id, state) after a poll."""
        rows = [self._row(run) for run in runs]
        going = [r for r in runs if r.state in GLUE_RUNNING]
        headline = (f"Glue: {len(runs) - len(going)} of {len(runs)} job run(s) finished"
                    + ("" if going else f": {', '.join(sorted({r.state for r in runs}))}"))
        self.block.update(View(headline, rows=rows), final=not going)

    def _row(self, run) -> dict:
        elapsed = self._elapsed(run)
        typical, count = self.typical(run.job_name, run.run_id)
        basis = f"median of {count} earlier run(s): {clock_text(typical or 0)}"
        if run.state not in GLUE_RUNNING:
            left = "-"
        elif typical is None:
            left = "unknown (no earlier successful run)"
        elif elapsed <= typical:
            left = f"about {clock_text(typical - elapsed)} ({basis})"
        else:
            left = f"{clock_text(elapsed - typical)} longer than usual ({basis})"
        return {"job": run.job_name, "run": run.run_id, "state": run.state,
                "elapsed": clock_text(elapsed), "expected remaining": left}

    def typical(self, job: str, run_id: str) -> tuple[float | None, int]:
        """Median ExecutionTime (s) of the job's earlier SUCCEEDED runs, and how many there were."""
        earlier = [item for item in self.previous.get(job, []) if item.get("Id") != run_id]
        return typical_seconds(earlier), len(successful_times(earlier))

    def _elapsed(self, run) -> float:
        if run.run_id not in self.first_seen:
            # A run an earlier attempt started has been going since its StartedOn.
            started = next((i.get("StartedOn") for i in self.previous.get(run.job_name, [])
                            if i.get("Id") == run.run_id), None)
            before = (datetime.now(timezone.utc) - started).total_seconds() if started else 0.0
            self.first_seen[run.run_id] = self.clock() - max(0.0, before)
        if run.state not in GLUE_RUNNING and getattr(run, "execution_time_s", 0):
            return run.execution_time_s  # Glue's own figure once it ended
        return self.clock() - self.first_seen[run.run_id]


class AthenaProgress:
    """The Athena statements of one cell: each one's state and elapsed time."""

    def __init__(self, show=None, clock=time.monotonic):
        self.clock, self.block = clock, _block(show, clock)
        self.statements: dict[str, dict] = {}  # query id -> label, state, first seen, ended
        self._lock = threading.Lock()

    def statement(self, query_id: str, label: str, state: str) -> None:
        with self._lock:
            now = self.clock()
            entry = self.statements.setdefault(query_id, {"label": label, "since": now, "ended": None})
            ended = state in ATHENA_TERMINAL and entry["ended"] is None
            entry["state"] = state
            if ended:
                entry["ended"] = now
            # Shown under the same lock: a thread's older view must never replace a newer one.
            self.block.update(self._view(now), final=ended)  # every statement's end is shown

    def _view(self, now: float) -> View:
        entries = list(self.statements.values())
        done = [e for e in entries if e["ended"] is not None]
        failed = [e for e in done if e["state"] != "SUCCEEDED"]
        headline = (f"Athena: {len(done)} of {len(entries)} statement(s) finished"
                    + (f", {len(failed)} not succeeded" if failed else ""))
        rows = [{"statement": e["label"], "state": e["state"],
                 "elapsed": clock_text((e["ended"] or now) - e["since"])} for e in entries]
        return View(headline, (len(done), len(entries)), rows)


_cells: dict = {}  # the AthenaProgress of the cell running now (key: IPython's execution count)
_cells_lock = threading.Lock()


def athena_statement(query_id: str, label: str, state: str) -> None:
    """Report an Athena statement's state to the running cell's block (nothing outside a kernel)."""
    if kernel_display() is None:
        return
    from IPython import get_ipython

    cell = get_ipython().execution_count
    with _cells_lock:
        if cell not in _cells:
            _cells.clear()  # an earlier cell's block is final; keep only this one
            _cells[cell] = AthenaProgress()
        board = _cells[cell]
    board.statement(query_id, label, state)
