"""Wait for a condition, not for a length of time.

A sleep that stands in for "the spans reached the store" passes on a slow machine only by
luck and passes on a broken server too (nothing was checked). :func:`wait_until` polls the
condition itself and fails, naming what never happened, once the bound runs out:

    trace = wait_until(lambda: fetch(trace_id), "the trace is queryable")
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

WAIT_S = 30.0


def wait_until(
    check: Callable[[], T | None],
    what: str,
    timeout_s: float = WAIT_S,
    interval_s: float = 0.05,
) -> T:
    """Call ``check`` until it returns something truthy and return that; raise
    AssertionError naming ``what`` (and the last value seen) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what} (last: {value!r:.300})")
        time.sleep(interval_s)
