"""A disk that really fills up: nothing refused is acknowledged, nothing acknowledged is lost.

The write-ahead log runs on a small tmpfs or ext4 filesystem (``disks.py``; without root
the same steps run against an injected ENOSPC). A filler file takes the space; appends are
refused with WalFullError — never acknowledged, and no torn bytes stay in the segments —;
the filler goes, appends succeed again, and after a reopen every acknowledged record is
read back exactly once, in order.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from disks import InjectedDisk, RealDisk, mount, unmount

from spanscope.ingest.wal import WalFullError, WriteAheadLog

HEADER = 17


@pytest.fixture(params=["tmpfs", "ext4"])
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RealDisk | InjectedDisk]:
    root = tmp_path / "disk"
    root.mkdir()
    why_not = mount(root, request.param)
    if why_not is not None:
        warnings.warn(
            f"cannot mount a small {request.param} ({why_not}); "
            "running the same steps with an injected ENOSPC instead",
            stacklevel=1,
        )
        yield InjectedDisk(root, request.param)
        return
    try:
        yield RealDisk(root, request.param)
    finally:
        unmount(root)


def test_a_full_disk_refuses_appends_and_loses_nothing_acknowledged(
    small_disk: RealDisk | InjectedDisk,
) -> None:
    rng = random.Random(10)
    directory = small_disk.root / "wal"
    wal = WriteAheadLog(directory, segment_bytes=512 * 1024, write=small_disk.write)
    acked: list[tuple[int, bytes]] = []
    refused = 0

    def append(size: int) -> bool:
        nonlocal refused
        body = rng.randbytes(size)
        try:
            position, durable = wal.append("otlp-proto", body)
        except WalFullError as exc:
            assert exc.needed == HEADER + size
            assert "No space left on device" in str(exc)
            refused += 1
            return False
        assert durable.result(timeout=30) == position
        acked.append((position, body))
        return True

    for _ in range(40):
        assert append(rng.randint(100, 9000))
    small_disk.fill(leave=64 * 1024)

    attempts = 0
    while append(rng.randint(100, 9000)):  # odd sizes: the last one tears mid-record
        attempts += 1
        assert attempts < 1000, "the filesystem never filled up"
    for _ in range(10):  # bigger than any space left: refused, again and again
        assert not append(128 * 1024)
    assert refused == 11
    # What the segments hold is exactly the acknowledged records: no torn bytes.
    on_disk = sum(path.stat().st_size for path in wal.segments())
    assert on_disk == sum(HEADER + len(body) for _, body in acked)

    small_disk.empty()  # space returns
    for _ in range(40):
        assert append(rng.randint(100, 9000))
    wal.close()

    reopened = WriteAheadLog(directory)
    read = [(r.position, r.payload) for r in reopened.records()]
    assert [p for p, _ in read] == list(range(1, len(acked) + 1))  # no gap, no repeat
    assert read == acked
    assert (reopened.bad_records, reopened.torn_tail_bytes) == (0, 0)
    reopened.close()
