"""Waiting on AWS work (Glue job runs, Athena queries): capped exponential backoff.

The old state machine slept a fixed 30 s between polls. Here the first check is
immediate, then the wait doubles up to a cap, so a query that takes two seconds
is seen in two seconds and a job that takes an hour costs about 60 polls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from .errors import AwsError


def delays(first: float = 1.0, cap: float = 60.0, factor: float = 2.0) -> Iterator[float]:
    """1, 2, 4, ... seconds, never more than `cap`, for ever."""
    delay = first
    while True:
        yield delay
        delay = min(cap, delay * factor)


def retry_transient(call: Callable, *, attempts: int, first: float, cap: float,
                    sleep: Callable[[float], None] = time.sleep, on_retry=None):
    """`call()`, tried again after a transient AWS error (throttling, limits) up to `attempts` times.

    botocore's standard mode already retries each request a few times within
    seconds; this budget is for limits that last minutes, such as Glue's
    concurrent-runs limit. Anything not transient fails at once.
    """
    wait = delays(first, cap)
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except AwsError as err:
            if not err.retryable or attempt == attempts:
                raise
            delay = next(wait)
            if on_retry:
                on_retry(attempt, delay, err)
            sleep(delay)
    raise AssertionError("unreachable")
