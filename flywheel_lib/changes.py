"""Plan, then apply: each operation lists its changes before anything mutates.

Used by the Clean Rooms operations and the Glue job deployment alike.

A `Change` says what would happen to one thing (create, update, re-create,
delete, unchanged, skipped) and why, with the API `Step`s that make it so.
A step can use a value that only an earlier step returns (the ID of a table
just configured): that is a `Ref`. `validate` checks every step against the
API's rules (api_rules) before any call; `apply` runs the steps in order,
paced, and records each change's outcome, so a partial apply says exactly
what was done and a re-run (which plans again from what exists) does the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from botocore import xform_name

from .aws.errors import AwsConflict, AwsError, AwsQuotaExceeded, AwsTransientError
from . import scraps
from .errors import ConfigError, FlywheelError
from .aws.polling import retry_transient
from . import api_rules

THROTTLED = ("ThrottlingException", "TooManyRequestsException", "Throttling")
# Refusals that mean the call did nothing, so a mutating call may be sent again after a wait:
# throttling, and Clean Rooms' ValidationException reason IAM_SYNCHRONIZATION_DELAY (botocore model).
REFUSED_UNDONE = ("IAM_SYNCHRONIZATION_DELAY",)
ALREADY_EXISTS = "ALREADY_EXISTS"  # the one ConflictException reason that means "it exists" (botocore model)
PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"  # stands for a Ref while validating
NOTHING_TO_DO = ("unchanged", "skipped", "blocked")
RULE_LISTS = {"allowedAnalysisProviders": "providers", "allowedResultReceivers": "result receivers"}


@dataclass(frozen=True)
class Ref:
    """The value an earlier step saved under `key` (e.g. the new configured table's ID)."""

    key: str


@dataclass
class Step:
    service: str     # cleanrooms, cleanroomsml
    operation: str   # the API name, e.g. CreateConfiguredTable
    params: dict
    saves: dict = field(default_factory=dict)  # key -> path in the response, e.g. ("configuredTable", "id")
    # create steps: (api, params) -> the existing thing as the create would have returned it, or None
    # when absent; raises Differs when what exists is not what `params` asked for
    read_back: object = None

    @property
    def method(self) -> str:
        return xform_name(self.operation)  # PutMLConfiguration -> put_ml_configuration, as boto3 names it


@dataclass
class Change:
    action: str  # create, update, re-create, delete, unchanged, skipped
    kind: str    # configured table, analysis rule, association, ...
    name: str
    reason: str
    steps: list[Step] = field(default_factory=list)
    status: str = "planned"  # then: applied, failed, not attempted, nothing to do
    detail: str = ""

    def as_row(self) -> dict:
        return {"action": self.action, "kind": self.kind, "name": self.name, "reason": self.reason,
                "calls": ", ".join(s.operation for s in self.steps) or "-", "status": self.status,
                "detail": self.detail}


class ApplyStopped(FlywheelError):
    """Applying stopped part way; the plan's statuses say what was and was not done."""


class Differs(FlywheelError):
    """A create found the thing already there, but not as wanted (other providers, columns...)."""


def table(changes: list[Change]) -> pd.DataFrame:
    """The plan (or its outcome) as the notebook shows it and the record keeps it."""
    columns = ["action", "kind", "name", "reason", "calls", "status", "detail"]
    return pd.DataFrame([c.as_row() for c in changes], columns=columns)


def summary(changes: list[Change]) -> dict:
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    return counts


def _resolve(value, refs: dict, placeholder: bool = False):
    if isinstance(value, Ref):
        return PLACEHOLDER_ID if placeholder else refs[value.key]
    if isinstance(value, dict):
        return {k: _resolve(v, refs, placeholder) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, refs, placeholder) for v in value]
    return value


def validate(changes: list[Change]) -> None:
    """Every step of every change against the API's rules; all problems at once, before any call."""
    found = []
    for change in changes:
        for step in change.steps:
            params = _resolve(step.params, {}, placeholder=True)
            found += [f"{change.name}: {p}" for p in api_rules.problems(step.service, step.operation, params)]
            custom = params.get("analysisRulePolicy", {}).get("v1", {}).get("custom", {})
            # Not in the shape, but in the API's rules: ANY_QUERY needs providers, and a rule
            # without receivers would cut every partner off.
            found += [f"{change.name}: {step.operation} with no {what}" for key, what in RULE_LISTS.items()
                      if key in custom and not custom[key]]
    if found:
        raise api_rules.InvalidRequest(f"{len(found)} value(s) would be refused by the API: " + "; ".join(found[:20]),
                                       found, hint="Nothing was sent; fix the values named")


class PacedApi:
    """Calls through AwsClients at most `rate` a second, retrying throttling on a budget.

    Clean Rooms allows about 5 requests a second; going faster only earns
    ThrottlingException, so we pace rather than discover the limit.
    """

    def __init__(self, aws, rate: float = 5.0, sleep=time.sleep, clock=time.monotonic):
        self.aws, self.interval, self.sleep, self.clock = aws, 1.0 / rate, sleep, clock
        self._last = -1e9
        self.calls: list[tuple[str, str]] = []

    def _pace(self) -> None:
        wait = self._last + self.interval - self.clock()
        if wait > 0:
            self.sleep(wait)
        self._last = self.clock()

    def call(self, service: str, method: str, /, where=None, **params) -> dict:
        mutating = method.startswith(("create_", "update_", "delete_", "put_"))

        def once():
            self._pace()
            self.calls.append((service, method))
            try:
                return self.aws.call(service, method, where=where, **params)
            except AwsError as err:
                if mutating and err.retryable and err.code not in THROTTLED and err.reason not in REFUSED_UNDONE:
                    err.retryable = False  # a 5xx or timeout may have done it: read back (_run_step), not resend
                raise
        return retry_transient(once, attempts=6, first=1.0, cap=20.0, sleep=self.sleep)

    def pages(self, service: str, method: str, key: str, /, **params) -> list[dict]:
        """Every item under `key` of a paginated list call (nextToken), page by page, paced."""
        items, token = [], None
        while True:
            page = self.call(service, method, **params, **({"nextToken": token} if token else {}))
            items += page.get(key, [])
            token = page.get("nextToken")
            if not token:
                return items


def apply(api: PacedApi, changes: list[Change]) -> list[Change]:
    """Run every change's steps in order; stop at the first failure, statuses telling the rest."""
    validate(changes)
    refs: dict = {}
    for index, change in enumerate(changes):
        if change.action in NOTHING_TO_DO:
            change.status = "nothing to do"
            continue
        done: list[str] = []
        try:
            for step in change.steps:
                note = _run_step(api, step, refs)
                done.append(step.operation + (f" ({note})" if note else ""))
            change.status = "applied"
            change.detail = "; ".join(d for d in done if "(" in d)
        except FlywheelError as err:
            change.status = "differs" if isinstance(err, Differs) else "failed"
            change.detail = (f"done: {', '.join(done)}; " if done else "") + f"{change.status}: {err}"
            rest = [c for c in changes[index + 1:] if c.action not in NOTHING_TO_DO]
            for later in rest:
                later.status = "not attempted"
            done = sum(c.status == "applied" for c in changes)
            what = ("an account quota is used up" if isinstance(err, AwsQuotaExceeded)
                    else "it exists, not as wanted" if isinstance(err, Differs) else "a call failed")
            raise ApplyStopped(
                f"stopped at {change.kind} {change.name}: {what}: {err}; {done} change(s) applied, "
                f"{len(rest) + 1} not done", hint="The plan table says which; fix the cause and re-run: "
                "the next plan contains only what is left") from err
    return changes


_apply_all = apply  # for PlannedOperation.apply, whose (public) parameter is named apply


def _run_step(api: PacedApi, step: Step, refs: dict) -> str:
    params = _resolve(step.params, refs)
    note = ""
    try:
        response = api.call(step.service, step.method, **params)
    except AwsConflict as err:
        # Only ALREADY_EXISTS means it is there (made by another run, or by a try whose answer was
        # lost); SUBRESOURCES_EXIST and INVALID_STATE are refusals. Read it back and compare.
        # Services without a reason say it in the code (Lake Formation's AlreadyExistsException).
        exists = err.reason == ALREADY_EXISTS or err.code == "AlreadyExistsException"
        if not exists or step.read_back is None:
            raise
        response = step.read_back(api, params)
        if response is None:
            raise FlywheelError(f"{step.operation} met ALREADY_EXISTS, yet reading it back finds none") from err
        note = "already existed"
    except AwsTransientError:  # a create sent once (session.SENT_ONCE): did it happen before the failure?
        response = step.read_back(api, params) if step.read_back else None
        if response is None:
            raise
        note = "done, though its answer was lost"
    for key, path in step.saves.items():
        value = response
        for part in path:
            value = value[part]
        refs[key] = value
    return note


class PlannedOperation:
    """What an operation notebook does with its plan: show it, keep it in the run record, apply it.

    Subclasses set `records_folder` (runs/<folder>/<op>/<run id>/, made by the
    op runner) and have `settings`, `api` (None: nothing to apply to), `op`, `run_id`.
    """

    records_folder = "operations"
    needs_aws = "there is no AWS here"
    op = ""
    run_id = "interactive"

    @property
    def record_dir(self) -> Path | None:
        folder = Path(self.settings.runs_dir) / self.records_folder / self.op / self.run_id
        return folder if folder.is_dir() else None

    def show_plan(self, changes: list) -> pd.DataFrame:
        """The plan as a table, kept in the record (plan.csv) and as scraps; values the API would refuse named."""
        try:
            validate(changes)
        except api_rules.InvalidRequest as err:  # applying raises the same; a plan is still worth reading
            print(f"Warning: {err}")
        frame = table(changes)
        self._save("plan", frame)
        scraps.record("plan", summary(changes))
        return frame

    def apply(self, changes: list, apply: bool) -> pd.DataFrame:
        """Apply the plan when `apply`; the outcome of every change is kept, also after a failure."""
        if not apply:
            print("Plan only: nothing was changed. Run with apply=True (CLI: --apply) to make these changes.")
            return table(changes)
        if self.api is None:
            raise ConfigError(f"applying needs the AWS backend: {self.needs_aws}", setting="env",
                              hint="Run with --env dev or --env prod")
        try:
            _apply_all(self.api, changes)  # the module's function: the parameter `apply` hides its name here
        finally:
            outcome = table(changes)
            self._save("outcome", outcome)
            scraps.record("outcome", {s: int((outcome.status == s).sum()) for s in outcome.status.unique()})
        return outcome

    def _save(self, name: str, frame: pd.DataFrame) -> None:
        if self.record_dir is not None:
            frame.to_csv(self.record_dir / f"{name}.csv", index=False)
