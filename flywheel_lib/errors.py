"""One root exception, with the context a person needs to act on it.

Every error the package raises on purpose is a `FlywheelError`. It carries
what was wrong (the message), where (stage, table, month, setting, path) and
what to do (hint). `str(err)` is a single readable line, so the CLI can print
it as is.
"""

from __future__ import annotations


class FlywheelError(Exception):
    """Root of every error this package raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        stage: str | None = None,
        table: str | None = None,
        month: str | None = None,
        setting: str | None = None,
        path: str | None = None,
        hint: str | None = None,
        request_id: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.stage = stage
        self.table = table
        self.month = month
        self.setting = setting
        self.path = path
        self.hint = hint
        self.request_id = request_id

    def __str__(self) -> str:
        where = [
            f"{label} {value}"
            for label, value in (
                ("stage", self.stage),
                ("month", self.month),
                ("table", self.table),
                ("setting", self.setting),
                ("path", self.path),
                ("AWS request", self.request_id),
            )
            if value
        ]
        text = self.message
        if where:
            text += f" [{', '.join(where)}]"
        if self.hint:
            text += f". {self.hint}"
        return text


class ConfigError(FlywheelError):
    """A setting is missing or has a value that cannot work."""


class MappingError(FlywheelError):
    """The split mapping CSV is malformed or inconsistent."""


class SnapshotError(FlywheelError):
    """A raw snapshot is missing, unreadable or inconsistent with its twin."""


class SnapshotNotArrived(SnapshotError):
    """The month's snapshot has not landed yet: a scheduler should try again later."""


class SplitError(FlywheelError):
    """The split could not produce a table (missing column, missing key...)."""


class CatalogError(FlywheelError):
    """The catalog could not be read or updated."""


class CheckFailed(FlywheelError):
    """A validation check failed; `failures` lists every table and reason."""

    def __init__(self, message: str, failures: list[str] | None = None, **context):
        super().__init__(message, **context)
        self.failures = list(failures or [])


class RunError(FlywheelError):
    """The driver cannot start or continue a run (bad arguments, lock...)."""


class RunLocked(RunError):
    """Another run of the same month holds the lock."""
