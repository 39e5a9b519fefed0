"""Check results shared by every backend: what was checked, on which table, and whether it held."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import CheckFailed

EXPECTED_BUCKETS = frozenset(range(256))


@dataclass(frozen=True)
class CheckResult:
    table: str
    check: str
    ok: bool
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


def check(table: str, name: str, ok: bool, detail: str) -> CheckResult:
    return CheckResult(table, name, bool(ok), detail)


def buckets_detail(found: set[int] | list[int]) -> str:
    """'256 of 256' or what is missing or unexpected, in short."""
    found = set(found)
    missing = sorted(EXPECTED_BUCKETS - found)
    extra = sorted(found - EXPECTED_BUCKETS)
    text = f"{len(found & EXPECTED_BUCKETS)} of 256"
    if missing:
        text += f"; missing {_short(missing)}"
    if extra:
        text += f"; unexpected {_short(extra)}"
    return text


def require_passed(results: list[CheckResult], stage: str | None = None) -> None:
    """Fail loudly, naming every table and check that did not hold."""
    failures = [f"{r.table}: {r.check} ({r.detail})" for r in results if not r.ok]
    if failures:
        shown = "; ".join(failures[:10]) + (f"; and {len(failures) - 10} more" if len(failures) > 10 else "")
        raise CheckFailed(
            f"{len(failures)} check(s) failed: {shown}",
            failures=failures,
            stage=stage,
            hint="Nothing was published; the previous month's tables still serve queries",
        )


def _short(values: list[int]) -> str:
    return ", ".join(map(str, values[:8])) + (f" (+{len(values) - 8} more)" if len(values) > 8 else "")
