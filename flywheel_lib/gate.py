"""The publish gate of stage 5: which failed checks stop a month from going live.

Both backends measure the same things before publishing (bucket folders,
catalog partitions, formats, contract, rows vs the source snapshot, key nulls,
key duplicates). `conf/monitor.toml`'s `[gate]` table says, per check, whether
a failure blocks publishing ("block") or is only reported ("warn"); a check it
does not name blocks. A blocked month publishes nothing.

The key measurement is one SQL statement per table that both DuckDB (local)
and Athena (AWS) run as is: rows, null keys, duplicated keys and two example
duplicated keys (the smallest and the largest), never any other column.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from .checks import CheckResult, check, require_passed
from .errors import ConfigError
from .mapping import KEY

ACTIONS = ("block", "warn")
_CONF = Path(__file__).parent / "conf" / "monitor.toml"


def key_problems_sql(source: str, key_sql: str) -> str:
    """Rows, key nulls, key duplicates and two duplicated keys of `source` (a table or a read_parquet)."""
    return (
        "SELECT coalesce(sum(n), 0) AS row_count, "
        "coalesce(sum(n) FILTER (WHERE k IS NULL), 0) AS key_nulls, "
        "coalesce(sum(n - 1) FILTER (WHERE k IS NOT NULL), 0) AS key_dupes, "
        "min(k) FILTER (WHERE n > 1 AND k IS NOT NULL) AS dupe_first, "
        "max(k) FILTER (WHERE n > 1 AND k IS NOT NULL) AS dupe_last "
        f"FROM (SELECT {key_sql} AS k, count(*) AS n FROM {source} GROUP BY 1) AS keyed"
    )


def key_checks(table: str, counts: dict) -> list[CheckResult]:
    """The key nulls and key duplicates checks from one row of `key_problems_sql`."""
    nulls, dupes = int(counts["key_nulls"]), int(counts["key_dupes"])
    examples = [counts.get(k) for k in ("dupe_first", "dupe_last")]
    examples = list(dict.fromkeys(str(e) for e in examples if e is not None))
    dupes_detail = f"{dupes:,} duplicated {KEY}"
    if examples:
        dupes_detail += " (e.g. " + ", ".join(repr(e[:40]) for e in examples) + ")"
    return [check(table, "key nulls", nulls == 0, f"{nulls:,} null {KEY}"),
            check(table, "key duplicates", dupes == 0, dupes_detail)]


def load_policy(path: Path | None = None) -> dict[str, str]:
    """Check name -> "block" or "warn", from the `[gate]` table of monitor.toml."""
    policy = dict(tomllib.loads(Path(path or _CONF).read_text()).get("gate", {}))
    wrong = {name: action for name, action in policy.items() if action not in ACTIONS}
    if wrong:
        name, action = next(iter(wrong.items()))
        raise ConfigError(f"gate action of {name!r} is {action!r}, not block or warn",
                          setting=f"gate.{name}", path=str(path or _CONF))
    return policy


def blocking(results: list[CheckResult], policy: dict[str, str]) -> list[CheckResult]:
    return [r for r in results if not r.ok and policy.get(r.check, "block") == "block"]


def warnings(results: list[CheckResult], policy: dict[str, str]) -> list[CheckResult]:
    return [r for r in results if not r.ok and policy.get(r.check, "block") == "warn"]


def summary(results: list[CheckResult], policy: dict[str, str]) -> dict:
    """What the gate decided, for the run record (the manifest's scraps)."""
    blocked, warned = blocking(results, policy), warnings(results, policy)
    return {"decision": "blocked" if blocked else "passed", "checks": len(results),
            "blocked_by": [r.as_dict() for r in blocked], "warnings": [r.as_dict() for r in warned]}


def enforce(results: list[CheckResult], stage: str | None = None, policy: dict[str, str] | None = None) -> None:
    """Raise CheckFailed naming each blocking table and check; warnings do not stop the month."""
    require_passed(blocking(results, load_policy() if policy is None else policy), stage=stage)
