"""`spanscope serve` caps glibc's malloc arenas before its threads start (allocator.py)."""

from __future__ import annotations

import os
import platform

import pytest

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")


@glibc_only
def test_serve_caps_the_arenas_at_start(start_spanscope, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = start_spanscope(tmp_path / "data")
    expected = (
        "malloc arenas: capped at 2"
        if "MALLOC_ARENA_MAX" not in os.environ
        else f"MALLOC_ARENA_MAX={os.environ['MALLOC_ARENA_MAX']} kept"
    )
    assert expected in server.log()
