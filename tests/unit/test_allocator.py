"""The server caps glibc's malloc arenas at start (spanscope/allocator.py)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from spanscope.allocator import cap_arenas

# Threads that call malloc concurrently (ctypes releases the GIL), then the number of
# heaps (arenas) glibc reports in malloc_info's XML.
PROGRAM = textwrap.dedent(
    """
    import ctypes, ctypes.util, re, sys, tempfile, threading
    if sys.argv[1] == "cap":
        from spanscope.allocator import cap_arenas
        print(cap_arenas(environ={}), file=sys.stderr)
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.fdopen.restype = ctypes.c_void_p
    def work():
        for _ in range(40000):
            libc.free(libc.malloc(200))
    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads: t.start()
    for t in threads: t.join()
    fd, path = tempfile.mkstemp()
    f = libc.fdopen(fd, b"w")
    libc.malloc_info(0, ctypes.c_void_p(f))
    libc.fclose(ctypes.c_void_p(f))
    print(len(re.findall(r"<heap nr=", open(path).read())))
    """
)

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")


def heaps(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    return int(out.stdout.strip())


@glibc_only
def test_capped_process_keeps_two_arenas_where_the_default_makes_more() -> None:
    assert heaps("default") > 2  # the threads do make arenas of their own uncapped
    assert heaps("cap") <= 2


def test_a_user_setting_wins_and_is_reported() -> None:
    assert cap_arenas(environ={"MALLOC_ARENA_MAX": "4"}) == "malloc arenas: MALLOC_ARENA_MAX=4 kept"


@glibc_only
def test_the_cap_is_reported() -> None:
    said = cap_arenas(3, environ={})
    assert said == "malloc arenas: capped at 3 (set MALLOC_ARENA_MAX to choose)"
