"""Notebooks run by hand on dev/prod change what the catalog serves only on purpose, and leave a record.

A stage notebook wraps each call that changes the served tables in
`with ctx.publishing(publish):`. On dev and prod:

- an interactive run (run id `interactive`, opened in JupyterLab) publishes
  only when its parameters say `publish = True`, and only while nobody else
  holds the month's lock: it takes that lock itself for the change, so the
  driver cannot start meanwhile either. What it changed (who, when, which
  notebook, each table's served version before and after) is kept beside the
  driver's runs: `<analysis root>/runs/<month>/interactive/<time>-<stage>.json`,
  and a copy under the local runs folder;
- a driver run publishes as before, unless the month's lock is held by
  another run (then it stops, naming the holder).

The local backend keeps its own rules: nothing changes there.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .errors import RunError, RunLocked
from .stage import INTERACTIVE_RUN


def served(backend) -> dict[str, dict]:
    """Table -> the version it serves (snapshot date, run id, location)."""
    return {e.name: {"snapshot_dt": e.snapshot_dt, "run_id": e.run_id, "location": e.location}
            for e in backend.published()}


def changes(before: dict, after: dict) -> list[dict]:
    """One entry per table whose served version changed (added, switched or gone)."""
    return [{"table": name, "before": before.get(name), "after": after.get(name)}
            for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)]


@contextmanager
def publishing(ctx, allowed: bool = False):
    """Around a call that changes what the catalog serves (see the module doc)."""
    if ctx.settings.is_local:
        yield
        return
    from .aws.s3_lock import S3RunLock, describe, is_stale, lock_url, read_lock
    from .aws.session import AwsClients

    aws = AwsClients(ctx.settings)
    url = lock_url(ctx.settings, ctx.month)
    if ctx.run_id != INTERACTIVE_RUN:
        holder, _ = read_lock(aws, url)
        now = datetime.now(timezone.utc)
        if holder and holder.get("run_id") != ctx.run_id and not is_stale(holder, now):
            raise RunLocked(f"another run of {ctx.month} holds the lock: {describe(holder, now)}",
                            stage=ctx.stage, month=ctx.month, path=url, hint="Nothing was published")
        yield
        return
    if not allowed:
        raise RunError(f"this interactive run on {ctx.settings.env} does not change what the catalog serves",
                       stage=ctx.stage, month=ctx.month,
                       hint="Set publish = True in the parameters cell to publish on purpose")
    with S3RunLock(aws, url, ctx.month, INTERACTIVE_RUN, notebook=ctx.stage) as lock:
        before = served(ctx.backend)
        outcome = "failed"
        try:
            yield
            outcome = "succeeded"
        finally:
            keep_record(aws, ctx, lock.holder, outcome, changes(before, served(ctx.backend)))


def keep_record(aws, ctx, holder: dict, outcome: str, changed: list[dict]) -> str:
    """Write what an interactive run changed beside the driver's runs, in S3 and locally."""
    from .aws import s3

    at = datetime.now(timezone.utc)
    record = {"run_id": INTERACTIVE_RUN, "month": ctx.month, "env": ctx.settings.env, "notebook": ctx.stage,
              "user": holder["user"], "host": holder["host"], "pid": holder["pid"],
              "started_at": holder["started_at"], "ended_at": at.isoformat(timespec="seconds"),
              "outcome": outcome, "changed": changed}
    name = f"{at:%Y%m%dT%H%M%SZ}-{ctx.stage}.json"
    local = Path(ctx.settings.runs_dir) / ctx.month / INTERACTIVE_RUN / name
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    url = f"{ctx.settings.analysis_root}/runs/{ctx.month}/{INTERACTIVE_RUN}/{name}"
    s3.write_json(aws, url, record)
    print(f"{len(changed)} served table(s) changed; recorded in {url}")
    return url
