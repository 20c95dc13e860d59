"""Per-request deadlines (store/deadline.py): a read past its limit is interrupted, and only
the connections reading for that request are. Waits are on conditions, bounded."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from spanscope.sampling.config import ConfigError, parse_duration_ns
from spanscope.store.deadline import QueryTimeout, claim, current, deadline


class Connection:
    def __init__(self) -> None:
        self.interrupted = threading.Event()

    def interrupt(self) -> None:
        self.interrupted.set()


def wait_for(condition: object, timeout_s: float = 20.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_a_claimed_connection_is_interrupted_and_the_block_raises_query_timeout() -> None:
    conn, holder = Connection(), SimpleNamespace()
    with pytest.raises(QueryTimeout, match="0.05 s"):
        with deadline(0.05) as d:
            claim(holder, conn)
            assert conn.interrupted.wait(20), "the watchdog never interrupted the read"
            assert d is not None and d.expired
            raise RuntimeError("Interrupted!")  # what the engine raises
    assert current() is None


def test_a_read_after_the_deadline_raises_before_it_starts() -> None:
    holder = SimpleNamespace()
    with pytest.raises(QueryTimeout):
        with deadline(0.01) as d:
            assert d is not None and wait_for(lambda: d.expired)
            claim(holder, Connection())


def test_an_old_deadline_never_interrupts_the_next_requests_read() -> None:
    conn, holder = Connection(), SimpleNamespace()  # one reading thread's cursor
    with deadline(0.2) as first:
        claim(holder, conn)
        with deadline(60.0):  # the same thread picks up another request before it expires
            claim(holder, conn)
            assert first is not None and wait_for(lambda: first.expired)
            assert not conn.interrupted.is_set()


def test_no_limit_and_work_in_time_are_left_alone() -> None:
    conn, holder = Connection(), SimpleNamespace()
    with deadline(None) as d:
        assert d is None
        claim(holder, conn)
    with deadline(60.0):
        claim(holder, conn)
    assert not conn.interrupted.is_set()


def test_the_sampling_config_reads_durations_with_the_query_apis_parser() -> None:
    assert parse_duration_ns("250ms", "x") == 250_000_000
    assert parse_duration_ns("5 s", "x") == 5_000_000_000  # as before: a space is fine
    assert parse_duration_ns("1h30m", "x") == 5_400_000_000_000
    assert parse_duration_ns(2, "x") == 2_000_000_000
    for bad in ("9" * 400 + "d", "soon", "-5s", 1e300):
        with pytest.raises(ConfigError, match="expected a duration"):
            parse_duration_ns(bad, "retention.error")
