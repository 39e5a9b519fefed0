"""Values a notebook records for the run manifest: the one place scrapbook is used.

Inside a stage notebook, `record("rows_written", 1234)` stores a value in the
executed notebook (an invisible output). After the stage ran, the driver calls
`read_scraps(path)` and copies them into the manifest. Values are kept as
JSON so a manifest reader needs nothing but a JSON parser; a DataFrame is
stored as a list of row records.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import FlywheelError


def _plain(value):
    """JSON fallback for the usual non-JSON scalars: numpy numbers, dates, arrays."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy arrays and scalars alike
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-encodable")


def to_json_value(value):
    """`value` as plain JSON types (DataFrame -> list of row dicts)."""
    if hasattr(value, "to_json") and hasattr(value, "columns"):  # a pandas DataFrame
        return json.loads(value.to_json(orient="records", date_format="iso"))
    return json.loads(json.dumps(value, default=_plain, allow_nan=False))


def record(name: str, value) -> None:
    """Record `value` under `name` in the running notebook, for the run manifest."""
    import scrapbook  # imported here: only notebooks need it, and it is slow

    try:
        plain = to_json_value(value)
    except (TypeError, ValueError) as err:
        raise FlywheelError(
            f"cannot record {name!r}: {err}",
            hint="Record numbers, strings, lists, dicts or a pandas DataFrame",
        ) from err
    # Stored as JSON text: scrapbook's own "json" encoder rejects None and
    # reads a string such as "123" back as a number.
    scrapbook.glue(name, json.dumps(plain), encoder="text")


def read_scraps(notebook_path: str | Path) -> dict:
    """Name -> value of everything an executed notebook recorded (also a failed one)."""
    import scrapbook

    scraps = scrapbook.read_notebook(str(notebook_path)).scraps
    return {name: _decode(scrap) for name, scrap in scraps.items()}


def _decode(scrap):
    if scrap.encoder == "text":
        try:
            return json.loads(scrap.data)
        except ValueError:  # a text scrap not written by `record`
            pass
    return scrap.data
