"""Values a notebook records for the run manifest, in scrapbook's format.

Inside a stage notebook, `record("rows_written", 1234)` stores a value in the
executed notebook (an invisible output). After the stage ran, the driver calls
`read_scraps(path)` and copies them into the manifest. Values are kept as
JSON so a manifest reader needs nothing but a JSON parser; a DataFrame is
stored as a list of row records.

The outputs are exactly what `scrapbook.glue(name, text, encoder="text")`
writes (scrapbook 0.5, payload version 1), so `scrapbook.read_notebook(...)`
reads every executed notebook; but neither side imports scrapbook: it pulls in
papermill, nbformat and jsonschema's format checkers, seconds of CPU in every
kernel. tests/test_scraps.py proves scrapbook reads what we write.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import FlywheelError

# scrapbook's own names: schemas.GLUE_PAYLOAD_PREFIX and LATEST_SCRAP_VERSION.
MIME_PREFIX = "application/scrapbook.scrap"
TEXT_MIME = MIME_PREFIX + ".text+json"
PAYLOAD_VERSION = 1


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


def scrap_output(name: str, value) -> tuple[dict, dict]:
    """The (data, metadata) of the display output that records `value` under `name`."""
    if not isinstance(name, str) or not name:
        raise FlywheelError(f"cannot record {name!r}: a scrap needs a non-empty string name")
    try:
        plain = to_json_value(value)
    except (TypeError, ValueError) as err:
        raise FlywheelError(
            f"cannot record {name!r}: {err}",
            hint="Record numbers, strings, lists, dicts or a pandas DataFrame",
        ) from err
    # Stored as JSON text with scrapbook's "text" encoder: its "json" encoder
    # rejects None and reads a string such as "123" back as a number.
    payload = {"name": name, "data": json.dumps(plain), "encoder": "text",
               "version": PAYLOAD_VERSION}
    return {TEXT_MIME: payload}, {"scrapbook": {"name": name, "data": True, "display": False}}


def record(name: str, value) -> None:
    """Record `value` under `name` in the running notebook, for the run manifest."""
    from IPython.display import display  # already loaded in any kernel

    data, metadata = scrap_output(name, value)
    display(data, metadata=metadata, raw=True)


def read_scraps(notebook_path: str | Path) -> dict:
    """Name -> value of everything an executed notebook recorded (also a failed one)."""
    notebook = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    found = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            for mime, payload in output.get("data", {}).items():
                if mime.startswith(MIME_PREFIX) and isinstance(payload, dict):
                    found[payload["name"]] = _decode(payload)
    return found


def _decode(payload: dict):
    if payload.get("encoder") == "text":
        try:
            return json.loads(payload["data"])
        except ValueError:  # a text scrap not written by `record`
            pass
    return payload["data"]
