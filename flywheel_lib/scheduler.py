"""Execute one invocation's stages with papermill: parallel where the stage table allows.

`Scheduler` starts a stage when its upstream stages (within this invocation)
succeeded, records every change in the manifest at once (so an interrupted run
still has a true record), blocks the downstream of a failure, and passes Ctrl-C
on to the kernels, which run in their own sessions. A stage whose upstream are
running (or waiting in a warm kernel) gets its kernel started ahead, and a
kernel is shut down after its stage's outcome is recorded (kernels.py); HTML
copies are rendered in the background (html_copies.py) and recorded before
`execute` returns.
"""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path

from . import kernels as kernels_
from . import records
from .html_copies import HtmlCopies
from .scraps import read_scraps
from .usage import read_usage

STOPPED = ("failed", "blocked", "interrupted")


class _Slot:
    """A stage's worker. Its kernel may start before the stage's turn: it waits at `gate`
    until `go()`. `result` is set as soon as the notebook ran, before the kernel is shut down."""

    def __init__(self):
        self.gate, self.cancelled, self.result = threading.Event(), False, Future()
        self.opened = (None, None)  # when the turn came: (UTC text, monotonic clock)

    def go(self, cancel: bool = False) -> None:
        self.cancelled, self.opened = cancel, (records.utc_now(), time.monotonic())
        self.gate.set()


class Scheduler:
    """One invocation: starts stages as their upstream succeed, records every change."""

    def __init__(self, run_dir: Path, manifest: dict, stages, to_run: list[str], jobs: int,
                 out):
        self.run_dir, self.manifest, self.to_run, self.jobs = run_dir, manifest, to_run, jobs
        self.stages = {s.name: s for s in stages}
        self.kernels = kernels_.Kernels()
        self.html = HtmlCopies()
        self.warm: dict[str, _Slot] = {}
        self.out = out
        self.width = max([16] + [len(n) for n in self.stages])

    def say(self, text: str, name: str = "") -> None:
        prefix = f"{name:<{self.width}} " if name else ""
        print(f"[{datetime.now():%H:%M:%S}] {prefix}{text}", file=self.out, flush=True)

    def save(self) -> None:
        records.write_manifest(self.run_dir, self.manifest)

    def status(self, name: str) -> str:
        return self.manifest["stages"][name]["status"]

    def execute(self) -> bool:
        """Run every stage of `to_run`; False if interrupted (Ctrl-C)."""
        waiting, running = list(self.to_run), {}
        # Room for the running stages and as many stages waiting in a warm kernel.
        pool = ThreadPoolExecutor(2 * self.jobs, thread_name_prefix="stage")
        try:
            while waiting or running:
                self._block(waiting)
                for name in [n for n in waiting if self._ready(n)][: self.jobs - len(running)]:
                    waiting.remove(name)
                    running[self._start(pool, name)] = name
                if not running:
                    break
                self._warm_up(pool, waiting)
                done, _ = wait([*running, *self.html.pending], return_when=FIRST_COMPLETED)
                for future in [f for f in done if f in running]:
                    self._finish(running.pop(future), future.result())
                self._record_html()
            return True
        except KeyboardInterrupt:
            self._interrupt(running)
            return False
        finally:
            for warm in self.warm.values():
                warm.go(cancel=True)  # a stage that never got its turn: stop its kernel
            self._record_html(block=True)
            pool.shutdown(wait=False, cancel_futures=True)

    def _ready(self, name: str) -> bool:
        # Upstream stages outside this invocation are done (earlier, or assumed by selection).
        return all(self.status(u) == "succeeded" for u in self.stages[name].upstream
                   if u in self.to_run)

    def _block(self, waiting: list[str]) -> None:
        for name in list(waiting):  # dependency order: a block propagates in one pass
            stopped = [u for u in self.stages[name].upstream
                       if u in self.to_run and self.status(u) in STOPPED]
            if stopped:
                waiting.remove(name)
                if name in self.warm:
                    self.warm.pop(name).go(cancel=True)
                self.manifest["stages"][name].update(status="blocked", error={
                    "ename": "Blocked", "evalue": f"upstream {', '.join(stopped)} did not succeed"})
                self.save()
                self.say(f"blocked: upstream {', '.join(stopped)} did not succeed", name)

    def _warm_up(self, pool, waiting: list[str]) -> None:
        """Start kernels for the next stages whose upstream are all running, done or warm (at most `jobs`)."""
        for name in waiting:
            if len(self.warm) >= self.jobs:
                return
            upstream = [u for u in self.stages[name].upstream if u in self.to_run]
            if name not in self.warm and all(  # two levels ahead: a warm upstream counts
                    self.status(u) in ("running", "succeeded") or u in self.warm for u in upstream):
                self.warm[name] = self._submit(pool, name)

    def _start(self, pool, name: str):
        entry = self.manifest["stages"][name]
        entry.update(status="running", started_at=records.utc_now(), attempts=entry["attempts"] + 1)
        self.save()
        self.say("started", name)
        slot = self.warm.pop(name, None) or self._submit(pool, name)
        slot.go()
        return slot.result

    def _submit(self, pool, name: str) -> _Slot:
        slot = _Slot()
        pool.submit(_run_stage, self.stages[name], self.run_dir, self.manifest["parameters"],
                    self.kernels, slot)
        return slot

    def _finish(self, name: str, result: dict) -> None:
        notebook = result.pop("output", None)
        self.manifest["stages"][name].update(result)
        self.save()
        text = f"{result['status']} in {result['duration_s']:.1f}s"
        if result["status"] == "failed":
            error = result["error"]
            text = f"FAILED in {result['duration_s']:.1f}s: {error['ename']}: {error['evalue']}"
        self.say(text, name)
        if result["status"] != "succeeded" and result.get("notebook"):
            self.say(f"  see {self.run_dir / result['notebook']}", name)
        if notebook is not None:
            self.html.submit(name, notebook)

    def _record_html(self, block: bool = False) -> None:
        """Put the HTML copies written so far in the manifest (with their checksums)."""
        try:
            written = self.html.collect(block)
        except KeyboardInterrupt:  # a Ctrl-C while waiting: record what is there
            written = self.html.collect()
        for name, html in written.items():
            self.manifest["stages"][name]["html"] = html
        if written:
            self.save()
        if block:
            self.html.close()

    def _interrupt(self, running: dict) -> None:
        self.say(f"interrupted: stopping {len(running)} running stage(s)")
        try:
            for signum, grace in ((signal.SIGINT, 15), (signal.SIGKILL, 10)):
                self.kernels.signal_all(signum)
                if not wait(running, timeout=grace).not_done:
                    break
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: stop waiting, record what we know
        for future, name in running.items():
            result = future.result() if future.done() else _unfinished(
                self.manifest["stages"][name]["started_at"])
            if result["status"] != "succeeded":
                result["status"] = "interrupted"
            self._finish(name, result)


def _run_stage(stage, run_dir: Path, parameters: dict, kernels: kernels_.Kernels,
               slot: _Slot) -> None:
    """Start a kernel, wait for the stage's turn, execute the notebook (worker thread).

    The outcome goes to `slot.result` before the kernel is shut down, so the next
    stage need not wait for that.
    """
    manager = kernels.start_warm(stage.notebook_path, parameters.get("env", ""))
    slot.gate.wait()
    try:
        if not slot.cancelled:
            slot.result.set_result(_outcome(stage, run_dir, parameters, kernels, manager, slot))
    except BaseException as err:  # a bug here must not leave the scheduler waiting
        if not slot.result.done():
            slot.result.set_exception(err)
    finally:
        if manager is not None:  # papermill leaves a kernel it was handed running
            kernels_.stop(manager)
        kernels.forget()


def _outcome(stage, run_dir: Path, parameters: dict, kernels, manager, slot: _Slot) -> dict:
    """Execute the notebook into the run record; the stage's entry for the manifest."""
    output = run_dir / f"{stage.name}.ipynb"
    started, clock = slot.opened
    error = _execute(stage, output, parameters, kernels, manager)
    result = {"status": "failed" if error else "succeeded", "started_at": started,
              "ended_at": records.utc_now(), "duration_s": round(time.monotonic() - clock, 1),
              "error": error, "usage": read_usage(run_dir / stage.name)}
    if output.exists():
        result.update(notebook=output.name, output=output,
                      scraps=_quietly(read_scraps, output, {}))
    return result


def _execute(stage, output: Path, parameters: dict, kernels, manager) -> dict | None:
    """papermill over one notebook; the error as the manifest keeps it, or None."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    handed = {"km": manager} if manager is not None else {}
    try:
        papermill.execute_notebook(
            str(stage.notebook_path), str(output), parameters=parameters,
            kernel_name=kernels_.KERNEL, progress_bar=False, log_output=False,
            kernel_manager_class=kernels.manager_class(), **handed,
            extra_arguments=kernels_.KERNEL_ARGUMENTS,
            # The kernel starts in the notebook's folder. papermill's cwd= would instead
            # os.chdir() the whole driver, which parallel stages would race on.
            resources={"metadata": {"path": str(stage.notebook_path.parent)}})
    except PapermillExecutionError as err:
        return {"ename": err.ename, "evalue": err.evalue}
    except Exception as err:  # kernel died, notebook unreadable...: still a failed stage
        return {"ename": type(err).__name__, "evalue": str(err)}
    return None


def _unfinished(started_at: str) -> dict:
    ended = datetime.now(timezone.utc)
    took = (ended - datetime.fromisoformat(started_at)).total_seconds()
    return {"status": "interrupted", "ended_at": ended.isoformat(timespec="milliseconds"),
            "duration_s": round(took, 1)}


def _quietly(function, path, fallback):
    """A stage's outcome must not be lost because its notebook cannot be read back."""
    try:
        return function(path)
    except Exception:
        return fallback
