"""The C allocator's arenas: capped at start, so the server's memory levels off.

glibc's ``malloc`` gives each thread that meets contention an arena of its own, up to eight
per core. The server runs many threads that allocate natively (DuckDB's workers, uvicorn's
thread pool, gRPC, the WAL syncer, the store writer); freed memory that sits in one arena is
not reused by a thread bound to another, so RSS creeps up long after the live data stops
growing. Measured (docs/performance.md, "Soak", runs H and I): 25-40 minutes at 17,536
spans/s, RSS outside DuckDB's capped buffer pool grew +2.7 MiB/min with glibc's default and
+1.7 MiB/min with two arenas, at the same capacity (71,158 vs 71,733 spans/s).

:func:`cap_arenas` is what ``MALLOC_ARENA_MAX=2`` in the environment does, done by the
process itself through ``mallopt(M_ARENA_MAX, n)``: it must run before the threads start
(arenas already made stay). A ``MALLOC_ARENA_MAX`` the user set wins (glibc read it at
start); on a C library other than glibc nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_ARENA_MAX = -8
"""``mallopt``'s parameter number for the arena cap (glibc's ``malloc.h``)."""
DEFAULT_ARENAS = 2


def cap_arenas(arenas: int = DEFAULT_ARENAS, environ: dict[str, str] | None = None) -> str:
    """Cap glibc's malloc arenas at ``arenas``; return what was done, for the start log."""
    env = os.environ if environ is None else environ
    if "MALLOC_ARENA_MAX" in env:
        return f"malloc arenas: MALLOC_ARENA_MAX={env['MALLOC_ARENA_MAX']} kept"
    if platform.libc_ver()[0] != "glibc":
        return "malloc arenas: not glibc, left as they are"
    name = ctypes.util.find_library("c")
    if name is None:
        return "malloc arenas: libc not found, left as they are"
    libc = ctypes.CDLL(name)
    if libc.mallopt(M_ARENA_MAX, arenas) != 1:
        return "malloc arenas: mallopt refused the cap, left as they are"
    return f"malloc arenas: capped at {arenas} (set MALLOC_ARENA_MAX to choose)"
