"""Months a scheduler can give, and the months a schedule missed.

`--month previous` is what a timer on the 1st of each month passes: the
calendar month before today in UTC (1 January gives December of the year
before). `missed_months` names the months between the last one the catalog
serves and the one asked for, so a schedule that silently stopped is noticed
the next time it runs.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from .snapshots import parse_month

PREVIOUS = "previous"


def today_utc() -> date:
    return datetime.now(timezone.utc).date()


def month_before(month: str) -> str:
    """'YYYY-MM' of the month before 'YYYY-MM' (January: December of the year before)."""
    year, number = map(int, month.split("-"))
    return f"{year - 1:04d}-12" if number == 1 else f"{year:04d}-{number - 1:02d}"


def previous_month(today: date) -> str:
    """'YYYY-MM' of the calendar month before `today`."""
    return month_before(f"{today.year:04d}-{today.month:02d}")


def resolve_month(text: str, today: date | None = None) -> tuple[str, str | None]:
    """The refresh month for `--month TEXT`, and a sentence saying what `previous` resolved to."""
    if str(text).strip().lower() != PREVIOUS:
        return parse_month(text), None
    today = today or today_utc()
    month = previous_month(today)
    return month, f"--month previous: {month} (the month before {today.isoformat()}, UTC)"


def month_index(month: str) -> int:
    year, number = map(int, parse_month(month).split("-"))
    return year * 12 + number - 1


def month_at(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def missed_months(last_refreshed: str | None, asked: str) -> list[str]:
    """Months after `last_refreshed` and before `asked`: never refreshed. None: nothing ever was."""
    if last_refreshed is None:
        return []
    return [month_at(i) for i in range(month_index(last_refreshed) + 1, month_index(asked))]


def last_served_month(serving_record: dict) -> str | None:
    """The newest month the catalog serves, from `run_end.serving()` (None: nothing, or not read)."""
    snapshots = serving_record.get("snapshots") or []
    return max(snapshots)[:7] if snapshots else None


def gap_sentence(missed: list[str], asked: str) -> str:
    shown = ", ".join(missed)
    return (f"warning: {len(missed)} month(s) before {asked} were never refreshed: {shown}. "
            f"The catalog goes from the last one it serves straight to {asked}; run them with --month "
            "if they are wanted.")
