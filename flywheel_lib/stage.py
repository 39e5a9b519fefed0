"""What a stage notebook opens first: settings, month, run id, snapshots and backend.

A notebook's parameters cell holds plain values (month, run id, environment);
`open_stage` turns them into a `StageContext`. Run by the driver, every
parameter is given; opened in JupyterLab with its defaults, the month is the
newest one with both snapshots and the run id is `interactive`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .backend import Backend, get_backend
from . import usage
from .config import Settings, load_settings
from .snapshots import SnapshotPair, latest_month, parse_month, resolve_snapshots

if TYPE_CHECKING:
    import pandas as pd

INTERACTIVE_RUN = "interactive"


@dataclass
class StageContext:
    stage: str
    month: str
    run_id: str
    settings: Settings
    snapshots: SnapshotPair
    backend: Backend

    def summary(self) -> pd.DataFrame:
        """The facts a reader of the executed notebook wants first."""
        import pandas as pd  # imported when shown: keeps `import flywheel_lib.stage` light

        rows = [
            ("stage", self.stage),
            ("month", self.month),
            ("run id", self.run_id),
            ("environment", self.settings.env),
            ("addressable_ids snapshot", self.snapshots.addressable.snapshot_dt),
            ("infobase_attributes snapshot", self.snapshots.infobase.snapshot_dt),
        ]
        if self.snapshots.mismatch_allowed:
            rows.append(("snapshot mismatch", "explicitly allowed"))
        return pd.DataFrame(rows, columns=["", "value"]).set_index("")

    @property
    def record_dir(self) -> Path | None:
        """This stage's folder in the run record; None when the notebook runs outside a recorded run."""
        run_dir = Path(self.settings.runs_dir) / self.month / self.run_id
        return run_dir / self.stage if run_dir.is_dir() else None

    @property
    def report_dir(self) -> Path:
        """Where this stage's report files go: the run record, or the analysis root when unrecorded."""
        return self.record_dir or Path(self.settings.analysis_root) / self.stage / self.month / self.run_id

    def publishing(self, allowed: bool = False):
        """`with ctx.publishing(publish):` around a call that changes what the catalog serves.

        On dev/prod an interactive run publishes only when `allowed` and nobody holds
        the month's lock, and leaves a record of what it changed (interactive.py).
        """
        from .interactive import publishing

        return publishing(self, allowed)

    def save(self, name: str, table_or_figure) -> str | None:
        """Keep a table (CSV) or chart (PNG) in the run record, beside the executed notebook."""
        folder = self.record_dir
        if folder is None:
            return None
        folder.mkdir(exist_ok=True)
        if hasattr(table_or_figure, "to_csv"):  # a DataFrame
            import pandas as pd

            path = folder / f"{name}.csv"
            table_or_figure.to_csv(path, index=not isinstance(table_or_figure.index, pd.RangeIndex))
        else:
            path = folder / f"{name}.png"
            table_or_figure.savefig(path, dpi=110)
        return str(path)


def open_stage(
    stage: str,
    month: str = "",
    run_id: str = "",
    env: str = "",
    allow_snapshot_mismatch: bool = False,
) -> StageContext:
    settings = load_settings(env or None)
    month = parse_month(month) if month else latest_month(settings)
    pair = resolve_snapshots(settings, month, allow_mismatch=allow_snapshot_mismatch)
    context = StageContext(stage, month, run_id or INTERACTIVE_RUN, settings, pair, get_backend(settings))
    usage.record_to(context.record_dir)  # what this stage spends, beside its notebook
    return context
