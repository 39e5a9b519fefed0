"""HTML copies of executed notebooks, rendered off the run's critical path.

Rendering a notebook with nbconvert takes seconds; the next stage need not
wait for it. `HtmlCopies` renders in one background thread, in the order the
stages finished, and the scheduler records each copy in the manifest when it
is written. `finish()` waits for every copy, so when a run ends (succeeded,
failed or interrupted) the manifest's checksums cover all of them.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from . import records


class HtmlCopies:
    def __init__(self):
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="html")
        self.pending: dict[Future, str] = {}  # future -> stage name

    def submit(self, stage: str, notebook: Path) -> None:
        self.pending[self._pool.submit(records.write_html, notebook)] = stage

    def collect(self, block: bool = False) -> dict[str, str | None]:
        """Stage -> HTML file name (None if it could not be rendered) of copies now written."""
        if block:
            wait(self.pending)
        done = {}
        for future in [f for f in self.pending if f.done()]:
            stage = self.pending.pop(future)
            # A stage's outcome must not be lost because its notebook cannot be rendered.
            done[stage] = None if future.exception() else future.result().name
        return done

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
