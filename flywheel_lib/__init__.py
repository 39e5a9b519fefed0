"""Flywheel runbook: the library behind the refresh and Clean Rooms notebooks."""

from .config import load_settings
from .errors import FlywheelError

__all__ = ["FlywheelError", "load_settings"]
