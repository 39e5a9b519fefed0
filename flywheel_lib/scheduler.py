"""Execute one invocation's stages with papermill: parallel where the stage table allows.

`Scheduler` starts a stage when its upstream stages (within this invocation)
succeeded, records every change in the manifest at once (so an interrupted run
still has a true record), blocks the downstream of a failure, and passes Ctrl-C
on to the kernels, which run in their own sessions.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path

from . import records
from .kernel import KERNEL_NAME, project_spec
from .scraps import read_scraps
from .usage import read_usage

STOPPED = ("failed", "blocked", "interrupted")


class Scheduler:
    """One invocation: starts stages as their upstream succeed, records every change."""

    def __init__(self, run_dir: Path, manifest: dict, stages, to_run: list[str], jobs: int,
                 out):
        self.run_dir, self.manifest, self.to_run, self.jobs = run_dir, manifest, to_run, jobs
        self.stages = {s.name: s for s in stages}
        self.kernels = _Kernels()
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
        pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="stage")
        try:
            while waiting or running:
                self._block(waiting)
                for name in [n for n in waiting if self._ready(n)][: self.jobs - len(running)]:
                    waiting.remove(name)
                    running[self._start(pool, name)] = name
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    self._finish(running.pop(future), future.result())
            return True
        except KeyboardInterrupt:
            self._interrupt(running)
            return False
        finally:
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
                self.manifest["stages"][name].update(status="blocked", error={
                    "ename": "Blocked", "evalue": f"upstream {', '.join(stopped)} did not succeed"})
                self.save()
                self.say(f"blocked: upstream {', '.join(stopped)} did not succeed", name)

    def _start(self, pool, name: str):
        entry = self.manifest["stages"][name]
        entry.update(status="running", started_at=records.utc_now(), attempts=entry["attempts"] + 1)
        self.save()
        self.say("started", name)
        return pool.submit(_run_stage, self.stages[name], self.run_dir,
                           self.manifest["parameters"], self.kernels)

    def _finish(self, name: str, result: dict) -> None:
        self.manifest["stages"][name].update(result)
        self.save()
        text = f"{result['status']} in {result['duration_s']:.1f}s"
        if result["status"] == "failed":
            error = result["error"]
            text = f"FAILED in {result['duration_s']:.1f}s: {error['ename']}: {error['evalue']}"
        self.say(text, name)
        if result["status"] != "succeeded" and result.get("notebook"):
            self.say(f"  see {self.run_dir / result['notebook']}", name)

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


class _Kernels:
    """The kernels of running stages. Kernels run in their own session, so Ctrl-C
    at the terminal does not reach them: the driver passes it on."""

    def __init__(self):
        self.running: dict[int, object] = {}
        self._class = None

    def manager_class(self):
        if self._class is None:
            from jupyter_client import AsyncKernelManager  # papermill's default manager

            registry = self.running

            class TrackedKernelManager(AsyncKernelManager):
                def __init__(self, **kwargs):
                    super().__init__(**kwargs)
                    # This interpreter, whatever spec of that name is registered (see kernel.py).
                    self._kernel_spec = project_spec()
                    registry[threading.get_ident()] = self  # one stage per worker thread

            self._class = TrackedKernelManager
        return self._class

    def signal_all(self, signum: int) -> None:
        for manager in list(self.running.values()):
            try:
                asyncio.run(manager.signal_kernel(signum))
            except Exception:  # not started yet, or already gone: nothing to stop
                pass


def _run_stage(stage, run_dir: Path, parameters: dict, kernels: _Kernels) -> dict:
    """Execute one notebook into the run record (worker thread). Never raises."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output = run_dir / f"{stage.name}.ipynb"
    started, clock, error = records.utc_now(), time.monotonic(), None
    try:
        papermill.execute_notebook(
            str(stage.notebook_path), str(output), parameters=parameters,
            kernel_name=KERNEL_NAME, progress_bar=False, log_output=False,
            kernel_manager_class=kernels.manager_class(),
            # Keep the kernel's own start-up warnings off the operator's progress display.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            # The kernel starts in the notebook's folder. papermill's cwd= would instead
            # os.chdir() the whole driver, which parallel stages would race on.
            resources={"metadata": {"path": str(stage.notebook_path.parent)}})
    except PapermillExecutionError as err:
        error = {"ename": err.ename, "evalue": err.evalue}
    except Exception as err:  # kernel died, notebook unreadable...: still a failed stage
        error = {"ename": type(err).__name__, "evalue": str(err)}
    finally:
        kernels.running.pop(threading.get_ident(), None)
    result = {"status": "failed" if error else "succeeded", "started_at": started,
              "ended_at": records.utc_now(), "duration_s": round(time.monotonic() - clock, 1),
              "error": error, "usage": read_usage(run_dir / stage.name)}
    if output.exists():
        result.update(notebook=output.name, scraps=_quietly(read_scraps, output, {}),
                      html=_quietly(lambda p: records.write_html(p).name, output, None))
    return result


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
