"""What a Clean Rooms operation notebook opens first, and how it shows, keeps and applies a plan.

`open_operation` gives the settings, the catalog's published `part_*` tables,
the mapping and, on AWS, the paced Clean Rooms API with the caller's account.
On the local backend there is no Clean Rooms: plans are computed against the
local catalog and an empty Clean Rooms, and applying says it needs AWS.
"""

from __future__ import annotations

import pandas as pd

from ..backend import get_backend
from ..config import load_settings
from ..errors import ConfigError
from .. import changes as cr_plan
from ..changes import PlannedOperation
from .operations import OpContext

LOCAL_ACCOUNT = "000000000000"  # stands for the account on the local backend, where there is none
LOCAL_MEMBERSHIP = "00000000-0000-4000-8000-000000000000"
INTERACTIVE_RUN = "interactive"


class Operation(OpContext, PlannedOperation):
    """An OpContext that also shows, keeps and applies its plan in its run record."""

    records_folder = "cleanrooms"
    needs_aws = "this plan was computed against the local catalog and an empty Clean Rooms"

    def summary(self) -> pd.DataFrame:
        rows = [("operation", self.op), ("run id", self.run_id), ("environment", self.settings.env),
                ("catalog", f"{len(self.tables)} published part_* tables in {self.settings.database_name}"),
                ("Clean Rooms", f"account {self.account_id}" if self.api else
                 "none on the local backend: plans against an empty Clean Rooms")]
        return pd.DataFrame(rows, columns=["", "value"]).set_index("")

    def membership(self, membership_id: str) -> str:
        """The membership to work on; on the local backend an empty one stands for a placeholder."""
        if membership_id:
            return membership_id
        if self.api is None:
            print(f"No membership on the local backend: planning with the placeholder {LOCAL_MEMBERSHIP}.")
            return LOCAL_MEMBERSHIP
        raise ConfigError("membership_id is required", setting="membership_id",
                          hint="Pass --param membership_id=<uuid> (the Clean Rooms console shows it)")

    def id_namespace_arn(self) -> str:
        if self.api is None:
            return f"arn:aws:entityresolution:{self.settings.region}:{self.account_id}:idnamespace/local-placeholder"
        raise ConfigError("id_namespace_arn is required", setting="id_namespace_arn")


def open_operation(op: str, env: str = "", run_id: str = "") -> Operation:
    settings = load_settings(env or None)
    context = operation_context(settings, get_backend(settings))
    context.op, context.run_id = op, run_id or INTERACTIVE_RUN
    return context


def operation_context(settings, backend) -> Operation:
    """The catalog's published part_* tables and, on AWS, the paced Clean Rooms API."""
    tables = [e for e in backend.published() if not e.name.endswith("_er")]
    if settings.is_local:
        context = Operation(settings, tables, backend.mapping, None, LOCAL_ACCOUNT)
    else:
        aws = backend.aws
        context = Operation(settings, tables, backend.mapping, cr_plan.PacedApi(aws), aws.account_id(),
                            aws.partition())
    return context
