"""The Jinja2 environment of the review pages: templates in flywheel_lib/templates/, autoescaped.

Templates hold the markup (a designer can open and edit them); review.py,
history.py, timeline.py and lineage.py only build the values they show (SVG
geometry included). Every value is escaped by Jinja2's autoescaping.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from .timeline import COLOURS


def wrappable(text) -> Markup:
    """Text that may wrap after "_" or "/" (long file and table names in narrow columns, on paper)."""
    safe = str(escape("" if text is None else text))  # escaping adds no "_" or "/"
    return Markup(safe.replace("_", "_<wbr>").replace("/", "/<wbr>"))


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("flywheel_lib", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters.update(wrappable=wrappable, urlquote=lambda path: quote(str(path)))
    env.globals.update(colours=COLOURS)
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


def write(path: Path, text: str) -> Path:
    """Replace `path` atomically. The ".manifest-" prefix keeps an abandoned temporary file out
    of the record's checksums."""
    fd, tmp = tempfile.mkstemp(prefix=".manifest-page-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
