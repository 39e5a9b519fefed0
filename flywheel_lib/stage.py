"""What a stage notebook opens first: settings, month, run id, snapshots and backend.

A notebook's parameters cell holds plain values (month, run id, environment);
`open_stage` turns them into a `StageContext`. Run by the driver, every
parameter is given; opened in JupyterLab with its defaults, the month is the
newest one with both snapshots and the run id is `interactive`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .backend import Backend, get_backend
from .config import Settings, load_settings
from .snapshots import SnapshotPair, latest_month, parse_month, resolve_snapshots

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
    return StageContext(stage, month, run_id or INTERACTIVE_RUN, settings, pair, get_backend(settings))
