"""How one demo month differs from the next, as real monthly deliveries do.

Deterministic per snapshot month (nothing random at run time), so a month
written twice is the same and `make refresh` for two months shows changes:
- customers come and go: the month's customers are a window of row numbers
  that moves 3% of the base count a month and grows or shrinks by -2%..+4%
  (keys and values are functions of the row number, so a customer who stays
  keeps their key and values);
- a few null rates drift: about one infobase attribute in 350 gets 2 to 10
  points more nulls that month, and the e-mail hash's null rate wanders;
- now and then a column appears or goes: the addressable IDs, whose columns
  all pass through to the published table, carry optional columns in some
  months only. Not the infobase: every attribute it has is in the split
  mapping, and a mapped column missing from a month's data is an error.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date

EPOCH = 2020 * 12  # months are counted from January 2020
CHURN_PCT = 3
# Optional addressable columns: (name, months present in each period, period in months, phase)
OPTIONAL = (("Mobile_Ad_Id_Flag", 3, 6, 0), ("Household_Size", 4, 8, 1))


def months(snapshot_dt: str) -> int:
    day = date.fromisoformat(snapshot_dt)
    return (day.year * 12 + day.month - 1 - EPOCH) % 600  # 50 years, keeps row numbers small


def _hash(*parts: str) -> int:
    text = "/".join(parts).lower().encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def customers(rows: int, snapshot_dt: str) -> tuple[int, int]:
    """(first row number, count) of the month's customers, for a base of `rows`."""
    n = months(snapshot_dt)
    growth = _hash("growth", snapshot_dt[:7]) % 7 - 2  # -2 .. +4 percent
    return rows * CHURN_PCT * n // 100, max(1, rows + rows * growth // 100)


def optional_columns(snapshot_dt: str) -> list[str]:
    """The optional addressable columns this month's delivery carries."""
    n = months(snapshot_dt)
    return [name for name, present, period, phase in OPTIONAL if (n + phase) % period >= period - present]


def null_rate(name: str, base: float, snapshot_dt: str) -> float:
    """A column's null rate this month: the base, or for a few columns a month's drift on top."""
    h = _hash(name, snapshot_dt[:7])
    if name.lower() == "hashed_email":
        return base + (h % 5) / 100  # 12% .. 16%
    if h % 350:
        return base
    return min(base + (2 + h // 350 % 9) / 100, 0.38)  # 2 .. 10 points more; never mostly empty


def vary(specs: list, dataset: str, snapshot_dt: str, code_spec, number_spec) -> list:
    """The month's column specs: drifted null rates, and the optional addressable columns."""
    import numpy as np

    varied = [spec if spec.render is None else replace(spec, null_rate=null_rate(spec.name, spec.null_rate,
                                                                                  snapshot_dt))
              for spec in specs]
    if dataset != "addressable_ids":
        return varied
    import pyarrow as pa

    extra = {"Mobile_Ad_Id_Flag": lambda: code_spec("Mobile_Ad_Id_Flag", ("Y", "N"), 0.05, skew=2),
             "Household_Size": lambda: number_spec("Household_Size", pa.int32(), 0.08,
                                                   lambda u: (1 + 7 * u * u).astype(np.int32))}
    return varied + [extra[name]() for name in optional_columns(snapshot_dt)]
