"""The kernels of a run's stages: tracked for Ctrl-C, and started ahead of time.

Kernels run in their own session, so Ctrl-C at the terminal does not reach
them: the scheduler passes it on through `Kernels.signal_all`.

The scheduler starts each stage's kernel itself (`start_warm`), and for a
stage whose upstream stages still run, before its turn: the process starts,
imports the library, pandas and the backend, and waits. When the stage's turn
comes, papermill executes the notebook in that kernel, so kernel start and
imports are off the run's critical path; the kernel is shut down after the
stage's outcome is recorded. The imports run
silently (no output, no execution count), so the executed notebook is the same
as with a cold kernel.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from .backend import backend_module
from .kernel_spec import KERNEL_NAME, project_spec

KERNEL = KERNEL_NAME  # the project's kernel, run as this interpreter whatever is registered
# Keep the kernel's own start-up warnings off the operator's progress display.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
LIBRARY = ("pandas", "flywheel_lib.stage", "flywheel_lib.display", "flywheel_lib.scraps")


class Kernels:
    """The kernels of running (or waiting) stages, one per worker thread."""

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
                    # This interpreter, whatever spec of that name is registered (see kernel_spec.py).
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

    def forget(self) -> None:
        """The calling worker thread's stage is over."""
        self.running.pop(threading.get_ident(), None)

    def start_warm(self, notebook: Path, env: str):
        """A started kernel in the notebook's folder, the library imported, or None if it failed.

        Call from the worker thread that will run the notebook: jupyter's
        managers are bound to the thread's event loop.
        """
        from jupyter_core.utils import run_sync

        manager = self.manager_class()(kernel_name=KERNEL)
        try:
            run_sync(_start_and_import)(manager, str(notebook.parent), warm_up_code(env, notebook))
        except Exception:  # the stage will start its own kernel and show any real error
            stop(manager)
            self.forget()
            return None
        return manager


def warm_up_code(env: str, notebook: str | Path) -> str:
    """What to import ahead: the library and the backend for a stage notebook, else nothing."""
    if "open_stage(" not in Path(notebook).read_text(encoding="utf-8"):
        return ""  # not a stage notebook: it may not need them, so do not pay for them
    modules = [*LIBRARY, backend_module(env)]
    return "import " + ", ".join(m for m in modules if m)


async def _start_and_import(manager, cwd: str, code: str) -> None:
    await manager.start_kernel(cwd=cwd, extra_arguments=KERNEL_ARGUMENTS)
    client = manager.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        if not code:
            return
        # silent: no outputs and no execution count, so the notebook's cells count from 1.
        await client.execute_interactive(code, silent=True, store_history=False, timeout=300)
    finally:
        client.stop_channels()


def stop(manager) -> None:
    """Shut a kernel down (papermill does not when it was handed the kernel); never raises."""
    from jupyter_core.utils import run_sync

    try:
        run_sync(_shutdown)(manager)
    except Exception:  # already gone
        pass


async def _shutdown(manager) -> None:
    await manager.shutdown_kernel()
