"""What a run cost: each stage's usage (usage.py) priced with conf/prices.toml.

On AWS the drivers are Glue DPU-seconds, Athena bytes scanned and request
counts; the estimate is list price times those, nothing else (no storage, no
free tiers). On the local backend the money is the machine's, so the record
gives CPU seconds and peak memory per stage instead of dollars.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from .errors import FlywheelError
from .good_runs import of_month
from .months import month_before

PRICES = Path(__file__).parent / "conf" / "prices.toml"
MB, TB = 1024 ** 2, 1024 ** 4
# S3 bills PUT, COPY, POST and LIST at the write price, DELETE nothing, everything else at the read price.
S3_WRITES = ("Put", "Copy", "Post", "List", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")
GLUE_CATALOG_WORDS = ("Database", "Table", "Partition")  # Data Catalog requests; job calls are not billed


def load_prices(environ=None) -> dict:
    """The committed list prices, overridden key by key by the TOML file named by $FLYWHEEL_PRICES."""
    environ = os.environ if environ is None else environ
    prices = tomllib.loads(PRICES.read_text())
    override = environ.get("FLYWHEEL_PRICES")
    if override:
        try:
            extra = tomllib.loads(Path(override).read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise FlywheelError(f"FLYWHEEL_PRICES={override}: {err}", setting="FLYWHEEL_PRICES") from err
        unknown = sorted(set(extra) - set(prices))
        if unknown:
            raise FlywheelError(f"FLYWHEEL_PRICES={override}: unknown price(s) {', '.join(unknown)}",
                                setting="FLYWHEEL_PRICES", hint=f"known: {', '.join(sorted(prices))}")
        prices.update({k: float(v) for k, v in extra.items()})
    return prices


def stage_cost(usage: dict, prices: dict) -> dict:
    """Dollars by driver for one stage's usage record."""
    dpu_hours = sum(r["dpu_seconds"] for r in usage.get("glue_runs", [])) / 3600
    billed_bytes = sum(max(s["bytes_scanned"], prices["athena_min_mb_per_query"] * MB)
                       for s in usage.get("athena_statements", []) if s["bytes_scanned"] > 0)
    calls = usage.get("aws_calls", {})
    s3_writes = _count(calls, "s3", lambda op: op.startswith(S3_WRITES))
    s3_reads = _count(calls, "s3", lambda op: not op.startswith(S3_WRITES) and not op.startswith("Delete"))
    catalog = _count(calls, "glue", lambda op: any(w in op for w in GLUE_CATALOG_WORDS))
    dollars = {
        "glue": dpu_hours * prices["glue_dpu_hour"],
        "athena": billed_bytes / TB * prices["athena_tb_scanned"],
        "requests": (s3_writes / 1000 * prices["s3_write_per_1000"] + s3_reads / 1000 * prices["s3_read_per_1000"]
                     + catalog / 1e6 * prices["glue_catalog_per_million"]
                     + _count(calls, "sns", lambda op: op == "Publish") / 1e6 * prices["sns_publish_per_million"]),
    }
    return {"usd": {k: round(v, 4) for k, v in dollars.items()}, "total_usd": round(sum(dollars.values()), 4),
            "dpu_hours": round(dpu_hours, 6),  # six places: a small run's DPU-seconds still show
            "athena_bytes_scanned": sum(s["bytes_scanned"] for s in usage.get("athena_statements", [])),
            "aws_calls_by_service": _by_service(calls)}


def run_cost(manifest: dict, settings, environ=None) -> dict:
    """The manifest's `cost`: per stage, the run's total, and the month before's for comparison."""
    stages = {n: s["usage"] for n, s in manifest["stages"].items() if s.get("usage")}
    if settings.is_local:
        per_stage = {n: {"cpu_s": u["cpu_s"], "peak_memory_mb": u["peak_memory_mb"]} for n, u in stages.items()}
        return {"backend": "local", "stages": per_stage,
                "cpu_s": round(sum(s["cpu_s"] for s in per_stage.values()), 1),
                "peak_memory_mb": max((s["peak_memory_mb"] for s in per_stage.values()), default=0),
                "previous_month": _previous(settings, manifest["month"], "cpu_s")}
    prices = load_prices(environ)
    per_stage = {n: stage_cost(u, prices) for n, u in stages.items()}
    return {"backend": "aws", "prices": prices, "stages": per_stage,
            "total_usd": round(sum(s["total_usd"] for s in per_stage.values()), 4),
            "previous_month": _previous(settings, manifest["month"], "total_usd")}


def cost_line(cost: dict | None) -> str:
    """One sentence for the terminal and the end-of-run message."""
    if not cost:
        return ""
    if "error" in cost:
        return f"cost not estimated: {cost['error']}"
    before = cost.get("previous_month") or {}
    if cost["backend"] == "local":
        was = f" (month before: {before['value']:.0f} s)" if before else ""
        return (f"compute: {cost['cpu_s']:.0f} CPU seconds, peak memory {cost['peak_memory_mb']:.0f} MB "
                f"in one stage{was}")
    was = f" (month before: ${before['value']:.2f})" if before else ""
    return f"estimated AWS cost: ${cost['total_usd']:.2f} at list prices{was}"


def page_table(cost: dict | None) -> dict | None:
    """The run page's cost section: the sentence, then one row a stage."""
    if not cost or "error" in cost:
        return {"line": cost_line(cost), "columns": [], "rows": []} if cost else None
    if cost["backend"] == "local":
        rows = [[name, f"{s['cpu_s']:.1f}", f"{s['peak_memory_mb']:,.0f}"] for name, s in cost["stages"].items()]
        return {"line": cost_line(cost), "columns": ["stage", "CPU seconds", "peak memory (MB)"], "rows": rows}
    rows = [[name, f"{s['dpu_hours']:.2f}", f"{s['athena_bytes_scanned'] / 1e9:.2f}",
             ", ".join(f"{k} {v:,}" for k, v in s["aws_calls_by_service"].items()), f"${s['total_usd']:.2f}"]
            for name, s in cost["stages"].items()]
    return {"line": cost_line(cost), "rows": rows,
            "columns": ["stage", "Glue DPU-hours", "Athena GB scanned", "AWS calls", "estimate"]}


def _previous(settings, month: str, key: str) -> dict | None:
    """The figure of the last good run of the month before (good_runs.py), if it recorded one."""
    before = month_before(month)
    for _, manifest in of_month(settings.runs_dir, before):
        value = (manifest.get("cost") or {}).get(key)
        if value is not None:
            return {"month": before, "run_id": manifest["run_id"], "value": value}
    return None


def _count(calls: dict, service: str, which) -> int:
    return sum(n for name, n in calls.items()
               if name.startswith(f"{service}:") and which(name.split(":", 1)[1]))


def _by_service(calls: dict) -> dict:
    totals: dict[str, int] = {}
    for name, n in calls.items():
        service = name.split(":", 1)[0]
        totals[service] = totals.get(service, 0) + n
    return dict(sorted(totals.items()))
