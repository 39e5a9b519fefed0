"""HTML copies of executed notebooks, rendered off the run's critical path.

Rendering a notebook with nbconvert takes seconds; the next stage need not
wait for it. `HtmlCopies` renders in one background thread, in the order the
stages finished, and the scheduler records each copy in the manifest when it
is written. `finish()` waits for every copy, so when a run ends (succeeded,
failed or interrupted) the manifest's checksums cover all of them.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

_EXPORTERS = threading.local()  # one nbconvert exporter a thread: building one loads its templates


def write_html(notebook: str | Path) -> Path:
    """An HTML copy next to an executed notebook (for readers without Jupyter)."""
    import nbformat
    from nbconvert import HTMLExporter  # slow import, only needed once notebooks ran

    if not hasattr(_EXPORTERS, "html"):
        _EXPORTERS.html = HTMLExporter()
    notebook = Path(notebook)
    node = nbformat.read(notebook, as_version=4)
    for cell in node.cells:  # recorded scraps are invisible in Jupyter; keep them so here
        cell["outputs"] = [o for o in cell.get("outputs", []) if not any(
            str(k).startswith("application/scrapbook") for k in o.get("data", {}))]
    body, _ = _EXPORTERS.html.from_notebook_node(node)
    target = notebook.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


class HtmlCopies:
    def __init__(self):
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="html")
        self.pending: dict[Future, str] = {}  # future -> stage name

    def submit(self, stage: str, notebook: Path) -> None:
        self.pending[self._pool.submit(write_html, notebook)] = stage

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
