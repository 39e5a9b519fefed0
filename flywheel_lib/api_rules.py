"""Check a request against an AWS API's own rules before it is sent (Clean Rooms, Glue...).

Neither moto nor botocore's Stubber checks lengths or patterns, so a bad name
would otherwise fail only in production. The rules are read from botocore's
service model (the same JSON AWS publishes), not copied by hand: required
members, string and list lengths, number ranges, enums and patterns. A few
patterns use Java-only constructs (`\\p{..}` classes, some Glue character
ranges) that Python's `re` cannot compile; those fields' patterns are not checked.
"""

from __future__ import annotations

import re
from functools import lru_cache

import botocore.session

from .errors import FlywheelError


class InvalidRequest(FlywheelError):
    """A request breaks the API's rules; `problems` names each field and value."""

    def __init__(self, message: str, problems: list[str], **context):
        super().__init__(message, **context)
        self.problems = problems


@lru_cache(maxsize=None)
def service_model(service: str):
    return botocore.session.get_session().get_service_model(service)


@lru_cache(maxsize=None)
def _pattern(text: str):
    if "\\p{" in text:
        return None
    try:
        return re.compile(text, re.ASCII)  # Java's \w and \d are ASCII; Python's would accept any digit
    except re.error:  # a Java-only construct (some Glue patterns): that field is not checked
        return None


def problems(service: str, operation: str, params: dict) -> list[str]:
    """Every rule `params` breaks for `operation` (its API name, e.g. CreateConfiguredTable)."""
    shape = service_model(service).operation_model(operation).input_shape
    found: list[str] = []
    _check(shape, params, operation, found)
    return found


def check(service: str, operation: str, params: dict, what: str = "") -> None:
    found = problems(service, operation, params)
    if found:
        raise InvalidRequest(f"{operation}{' for ' + what if what else ''} would be refused: "
                             + "; ".join(found), found, hint="Nothing was sent; fix the value named")


def _check(shape, value, path: str, found: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            found.append(f"{path} must be a structure")
            return
        for name in shape.required_members:
            if value.get(name) is None:
                found.append(f"{path}.{name} is required")
        for name, item in value.items():
            if name not in shape.members:
                found.append(f"{path}.{name} is not a field of {shape.name}")
            elif item is not None:
                _check(shape.members[name], item, f"{path}.{name}", found)
    elif kind == "list":
        if not isinstance(value, (list, tuple)):
            found.append(f"{path} must be a list")
            return
        _bounds(len(value), meta, path, "items", found)
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}[{i}]", found)
    elif kind == "map":
        _bounds(len(value), meta, path, "entries", found)
    elif kind == "string":
        if not isinstance(value, str):
            found.append(f"{path} must be a string, got {value!r}")
            return
        _bounds(len(value), meta, path, "characters", found, value)
        if shape.enum and value not in shape.enum:
            found.append(f"{path} = {value!r} is not one of {', '.join(shape.enum)}")
        pattern = _pattern(meta["pattern"]) if "pattern" in meta else None
        if pattern is not None and not pattern.fullmatch(value):
            found.append(f"{path} = {value!r} does not match the pattern {meta['pattern']}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            found.append(f"{path} must be a whole number, got {value!r}")
        else:
            _bounds(value, meta, path, "", found)
    elif kind == "boolean" and not isinstance(value, bool):
        found.append(f"{path} must be true or false, got {value!r}")


def _bounds(size: int, meta: dict, path: str, unit: str, found: list[str], value=None) -> None:
    shown = f" ({value!r})" if value is not None else ""
    if "min" in meta and size < meta["min"]:
        found.append(f"{path}{shown} must have at least {meta['min']} {unit}".rstrip())
    if "max" in meta and size > meta["max"]:
        found.append(f"{path}{shown} must have at most {meta['max']} {unit}".rstrip())
