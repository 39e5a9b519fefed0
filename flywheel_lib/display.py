"""Tables and charts the notebooks show. Pure functions: data in, DataFrame or Figure out.

matplotlib is imported by the chart functions only: a stage without a chart
does not pay for it.
"""

from __future__ import annotations

import pandas as pd

from .checks import CheckResult
from .mapping import Mapping


def snapshots_table(pair) -> pd.DataFrame:
    rows = [
        {"dataset": s.dataset, "snapshot_dt": s.snapshot_dt, "files": len(s.files),
         "size_mb": round(s.size / 2**20, 2), "location": s.location}
        for s in (pair.addressable, pair.infobase)
    ]
    return pd.DataFrame(rows)


def outputs_table(outputs) -> pd.DataFrame:
    """One row per split output table."""
    return pd.DataFrame(
        [{"table": o.catalog_name, "rows": o.rows, "columns": len(o.columns),
          "reused from earlier attempt": o.reused, "location": o.location} for o in outputs]
    ).set_index("table")


def catalog_table(entries) -> pd.DataFrame:
    return pd.DataFrame(
        [{"table": e.name, "state": e.state, "snapshot_dt": e.snapshot_dt, "run_id": e.run_id,
          "data columns": len(e.columns), "with partition key": e.width,
          "partition keys": ", ".join(k for k, _ in e.partition_keys) or "-",
          "rows": e.row_count, "location": e.location} for e in entries]
    ).set_index("table")


def checks_table(results: list[CheckResult]) -> pd.DataFrame:
    """Checks as a table with one row per table, one column per check ('ok' or what failed)."""
    if not results:
        return pd.DataFrame()
    frame = pd.DataFrame([r.as_dict() for r in results])
    frame["result"] = [("ok: " if r.ok else "FAILED: ") + r.detail for r in results]
    return frame.pivot(index="table", columns="check", values="result").fillna("-")


def failed_checks(results: list[CheckResult]) -> pd.DataFrame:
    return pd.DataFrame([r.as_dict() for r in results if not r.ok], columns=["table", "check", "ok", "detail"])


def bucket_chart(counts: dict[int, int], title: str):
    """Rows per id_bucket: a skewed or empty bucket stands out."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(10, 2.8))
    buckets = sorted(counts)
    ax.bar(buckets, [counts[b] for b in buckets], width=1.0, color="#4878a8")
    mean = sum(counts.values()) / max(len(counts), 1)
    ax.axhline(mean, color="#c44e52", linewidth=1, label=f"mean {mean:,.0f}")
    ax.set(xlim=(-1, 256), xlabel="id_bucket", ylabel="rows", title=title)
    ax.legend(loc="upper right")
    fig.tight_layout()
    plt.close(fig)
    return fig


def rows_chart(frame: pd.DataFrame, label: str, value: str, title: str):
    """A horizontal bar per table."""
    import matplotlib.pyplot as plt
    ordered = frame.sort_values(value)
    fig, ax = plt.subplots(figsize=(8, max(2.0, 0.26 * len(ordered))))
    ax.barh(ordered[label], ordered[value], color="#4878a8")
    ax.set(xlabel=value, title=title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def frame(rows: list[dict], index: str | None = None) -> pd.DataFrame:
    """Rows as a table; `index` names the column that identifies a row (shown instead of 0, 1, 2...)."""
    table = pd.DataFrame(rows)
    return table.set_index(index) if index and index in table.columns else table


MONITOR_VIEW = ["table", "raw_input_snapshot_dt", "s3_partitions", "glue_partitions", "missing_glue_count",
                "table_type_ok", "contract_ok", "count_src", "count_part", "count_diff_pct", "pk_nulls",
                "pk_dupes", "file_issues_sample"]


def monitor_table(report) -> pd.DataFrame:
    """The report rows as a reviewer reads them (location and timestamp are in the CSV)."""
    return pd.DataFrame(report.rows, columns=MONITOR_VIEW).set_index("table")


def mapping_table(mapping) -> pd.DataFrame:
    """Attributes per output table, as the mapping defines them."""
    return pd.DataFrame(
        [{"table": Mapping.catalog_name(t), "attributes": len(mapping.columns(t)),
          "key row in mapping": t not in mapping.tables_without_key_row} for t in mapping.table_names()]
    )


def decisions_table(mapping) -> pd.DataFrame:
    return pd.DataFrame({"decision": list(mapping.decisions)})


def columns_table(entry) -> pd.DataFrame:
    rows = [{"column": c, "type": t, "kind": "data"} for c, t in entry.columns]
    rows += [{"column": c, "type": t, "kind": "partition key"} for c, t in entry.partition_keys]
    return pd.DataFrame(rows)


def width_chart(entries, limit: int = 100):
    """Columns per table (partition key included) against the Clean Rooms limit."""
    frame_ = pd.DataFrame([{"table": e.name, "columns": e.width} for e in entries])
    fig = rows_chart(frame_, "table", "columns", f"Columns per table (limit {limit}, partition key included)")
    ax = fig.axes[0]
    ax.axvline(limit, color="#c44e52", linewidth=1)
    for bar, width in zip(ax.patches, frame_.sort_values("columns")["columns"]):
        if width > limit:
            bar.set_color("#c44e52")
    return fig


def alerts_table(report) -> pd.DataFrame:
    return pd.DataFrame([a.__dict__ for a in report.alerts], columns=["table", "tag", "severity", "message"])


def null_rate_chart(profiles):
    """Mean null rate over each table's columns (the key excluded)."""
    frame_ = pd.DataFrame([
        {"table": p.table,
         "mean null rate %": 100 * sum(p.null_rate(c) for c in p.columns if c != "customer_user_id")
         / max(len(p.columns) - 1, 1)}
        for p in profiles])
    return rows_chart(frame_, "table", "mean null rate %", "Null rate per table (mean over its columns)")


def bucket_spread_chart(profiles):
    """Fewest, mean and most rows per bucket for each table: a skewed bucket stands out."""
    import matplotlib.pyplot as plt
    ordered = sorted(profiles, key=lambda p: p.table)
    fig, ax = plt.subplots(figsize=(8, max(2.0, 0.26 * len(ordered))))
    for i, p in enumerate(ordered):
        counts = list(p.rows_per_bucket.values()) or [0]
        mean = sum(counts) / len(counts)
        ax.plot([min(counts), max(counts)], [i, i], color="#4878a8", linewidth=2)
        ax.plot([mean], [i], "o", color="#c44e52", markersize=4)
    ax.set_yticks(range(len(ordered)), [p.table for p in ordered])
    ax.set(xlabel="rows per id_bucket (line: fewest to most; dot: mean)",
           title="Rows over the 256 buckets")
    fig.tight_layout()
    plt.close(fig)
    return fig


def month_over_month_chart(report):
    rows = [r for r in report.month_over_month if r["change"] == "rows" and r["delta"] is not None]
    if not any(r["delta"] for r in rows):  # no change: no chart of zeros (the run page says so)
        return None
    frame_ = pd.DataFrame([{"table": r["table"], "row change %": r["delta"]} for r in rows])
    return rows_chart(frame_, "table", "row change %", f"Rows vs {report.previous_run}")


READINESS_STEPS = ("configured_table", "analysis_rule", "association_exists", "association_rule")


def readiness_chart(rows: list[dict]):
    """Per table, how many of the four Clean Rooms steps exist; green when ready for analysis."""
    frame_ = pd.DataFrame([{"table": r["table"], "steps done": sum(bool(r[s]) for s in READINESS_STEPS),
                            "ready": r["ready_for_analysis"]} for r in rows],
                          columns=["table", "steps done", "ready"])
    ready = int(frame_["ready"].sum())
    fig = rows_chart(frame_, "table", "steps done",
                     f"Clean Rooms readiness: {ready} of {len(frame_)} tables ready\n"
                     "(steps: configured table, rule, association, association rule)")
    ax = fig.axes[0]
    ax.set_xlim(0, len(READINESS_STEPS))
    for bar, ready in zip(ax.patches, frame_.sort_values("steps done")["ready"]):
        bar.set_color("#55a868" if ready else "#c44e52")
    return fig
