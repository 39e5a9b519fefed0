"""Run one operation notebook (Clean Rooms, Glue deployment) from the command line, with a run record.

    python run_refresh.py --op associate_tables --param membership_id=<uuid> \
        --param result_receivers=444455556666,777788889999 [--apply] [--env dev]

Parameters are checked against the notebook's own parameters cell before
anything runs: unknown names, and values that do not parse as the default's
type, are one-line errors (exit 2). The record goes to
`<runs dir>/<cleanrooms|glue|lakeformation>/<op>/<run id>/`: the executed notebook and its HTML,
plan.csv (and outcome.csv when applied), and manifest.json.
"""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

from . import ledger, plan_text, records
from .errors import RunError
from .pipeline import Stage
from .scheduler import Scheduler

# operation -> (notebooks/<folder>/<operation>.ipynb, records under runs/<folder>/), what it changes
OPS = {
    "configure_tables": ("cleanrooms", "configured tables and their CUSTOM analysis rules"),
    "associate_tables": ("cleanrooms", "acx_<table> associations and their collaboration analysis rules"),
    "update_providers": ("cleanrooms", "allowed analysis providers of the configured tables' rules"),
    "update_result_receivers": ("cleanrooms", "allowed result receivers of the associations' rules"),
    "associate_id_namespace": ("cleanrooms", "the Entity Resolution ID namespace associated with the membership"),
    "accept_invitations": ("cleanrooms", "memberships of the collaborations we are invited to"),
    "ml_configuration": ("cleanrooms", "the membership's Clean Rooms ML output configuration"),
    "remove_associations": ("cleanrooms", "associations removed, with their rules and (if asked) their access budgets"),
    "deploy_glue_jobs": ("glue", "the split job script and modules on S3, the two Glue job definitions"),
    "grant_lake_formation": ("lakeformation", "data locations registered; Lake Formation grants to the runner "
                             "and the Clean Rooms role"),
    "rollback": ("operations", "the catalog serves the previous good month again (rollback.py)"),
}
LOCAL_APPLY = ("rollback",)  # operations that change the local catalog too
RESERVED = ("env", "run_id", "apply")


def stage_for(op: str) -> Stage:
    if op not in OPS:
        raise RunError(f"unknown operation {op!r}", hint=f"Operations: {', '.join(OPS)}")
    folder, produces = OPS[op]
    return Stage(op, f"{folder}/{op}.ipynb", (), produces)


def parse_params(stage: Stage, given: list[str]) -> dict:
    """`name=value` strings as the notebook's parameter types (lists: comma-separated or JSON)."""
    import papermill

    declared = papermill.inspect_notebook(str(stage.notebook_path))
    values = {}
    for item in given:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or name not in declared or name in RESERVED:
            allowed = [n for n in declared if n not in RESERVED]
            raise RunError(f"--param {item!r}: {stage.name} has no parameter {name!r}"
                           if sep else f"--param {item!r} is not name=value",
                           hint=f"Its parameters: {', '.join(allowed)}")
        values[name] = _as_type_of(ast.literal_eval(declared[name]["default"]), text, name)
    return values


def _as_type_of(default, text: str, name: str):
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false"):
                raise ValueError("not true or false")
            return text.lower() == "true"
        if isinstance(default, int):
            return int(text)
        if isinstance(default, list):
            text = text.strip()
            return json.loads(text) if text.startswith("[") else [v.strip() for v in text.split(",") if v.strip()]
        return text
    except ValueError as err:
        raise RunError(f"--param {name}={text!r}: expected a {type(default).__name__} ({err})") from err


def run_operation(op: str, given: list[str], apply: bool, settings, out):
    """Execute the operation notebook into a new run record; returns (exit code, run dir)."""
    stage = stage_for(op)
    params = parse_params(stage, given)
    if apply and settings.is_local and op not in LOCAL_APPLY:
        raise RunError("--apply needs the AWS backend: the local environment has nothing on AWS to change",
                       setting="env", hint="Leave out --apply to see the plan, or use --env dev / --env prod")
    folder = Path(settings.runs_dir) / OPS[op][0] / op
    folder.mkdir(parents=True, exist_ok=True)
    run_id = records.new_run_id(folder)
    run_dir = folder / run_id
    run_dir.mkdir()
    manifest = {
        "run_id": run_id, "month": f"{OPS[op][0]}/{op}", "operation": op, "env": settings.env,
        "status": "running", "started_at": records.utc_now(), "ended_at": None, "duration_s": None,
        "parameters": {"env": settings.env, "run_id": run_id, "apply": apply, **params},
        "settings": settings.public_dict(), "invocations": [],
        "stages": {op: records.stage_entry(stage, "pending")}, **records.provenance(),
    }
    records.write_manifest(run_dir, manifest)
    started = time.monotonic()
    run = Scheduler(run_dir, manifest, [stage], [op], 1, out)
    run.say(f"{'applying' if apply else 'planning'} {op} ({settings.env}): {run_dir}")
    finished = run.execute()
    status = manifest["stages"][op]["status"] if finished else "interrupted"
    manifest.update(status=status, ended_at=records.utc_now(), duration_s=round(time.monotonic() - started, 1))
    run.save()
    ledger.seal(settings.runs_dir, run_dir, status, manifest["ended_at"])
    error = manifest["stages"][op].get("error")
    plan = plan_text.read(run_dir)
    if plan is not None:  # where the command was typed, as `terraform plan` does
        print("\n".join(plan_text.lines(plan)), file=out, flush=True)
    print(f"{op}: {status}" + (f": {error['evalue']}" if error else "") + f"; record {run_dir}", file=out,
          flush=True)
    return (0 if status == "succeeded" else 130 if status == "interrupted" else 1), run_dir
