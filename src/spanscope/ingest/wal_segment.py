"""The bytes of the write-ahead log: record layout, segment names, and a reader that
reports damage and reads on past it (the writer and its guarantees are in ``ingest/wal.py``).

A segment ``<first position, 20 digits>[-<n>].wal`` is a run of records::

    length u32 | crc32 u32 | position u64 | format u8 | payload (length bytes)

little-endian, the CRC covering position, format and payload. Positions inside one
segment are consecutive and rise from segment to segment.

:func:`read_segment` yields the valid records of a segment. Where a record is short, fails
its CRC or has an unknown format, it hands a :class:`Damage` (offset, length, reason) to
its caller and scans forward for the next offset where a header and CRC check out, so one
bad record never hides the ones behind it::

    for record in read_segment(path, on_damage=print):
        ...
"""

from __future__ import annotations

import errno
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

FORMATS = (
    "otlp-proto",
    "otlp-json",
    "zipkin-json",
    "otlp-logs-proto",
    "otlp-logs-json",
    "otlp-metrics-proto",
    "otlp-metrics-json",
    "otlp-forwarded",
    "otlp-decided",
)
"""Format tags, stored as their index; append new ones at the end, never reorder."""

HEADER = struct.Struct("<IIQB")
_POSITION = struct.Struct("<Q")
SUFFIX = ".wal"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
"""errno values that mean the filesystem is full (or the quota spent)."""


@dataclass(frozen=True, slots=True)
class WalRecord:
    position: int
    format: str
    payload: bytes


def record_crc(position: int, fmt_code: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(_POSITION.pack(position) + bytes([fmt_code])))


def parse(data: bytes, offset: int) -> tuple[WalRecord, int] | str:
    """The valid record at ``offset`` and the offset after it, or why there is none."""
    if offset + HEADER.size > len(data):
        return f"short header ({len(data) - offset} of {HEADER.size} bytes)"
    length, crc, position, fmt_code = HEADER.unpack_from(data, offset)
    start = offset + HEADER.size
    if fmt_code >= len(FORMATS):
        return f"unknown format code {fmt_code}"
    if start + length > len(data):
        return f"short record ({len(data) - start} of {length} payload bytes)"
    payload = data[start : start + length]
    if record_crc(position, fmt_code, payload) != crc:
        return "bad CRC"
    return WalRecord(position, FORMATS[fmt_code], payload), start + length


def resync(data: bytes, offset: int, lowest: int) -> int | None:
    """The next offset at or after ``offset`` holding a valid record, or None.

    ``lowest`` is the position the next record should have. Positions within a segment
    are consecutive (a refused write takes none; a failed fsync ends the segment), and
    every lost record took at least a header's bytes, so a record found ``d`` bytes into
    the damage has a position in ``lowest .. lowest + d // header + 1`` (the + 1 for a
    shorter torn record that still took a position, as logs written before this check
    have them). Checking that before
    the CRC rules out nearly every false start in garbage (zeros, random bytes) without
    computing CRCs over megabytes of would-be payload.
    """
    n_formats = len(FORMATS)
    fmt_at = HEADER.size - 1
    end = len(data) - HEADER.size
    unpack = HEADER.unpack_from
    damage_start = offset - 1
    for candidate in range(offset, end + 1):
        if data[candidate + fmt_at] >= n_formats:
            continue
        length, crc, position, fmt_code = unpack(data, candidate)
        if not lowest <= position <= lowest + 1 + (candidate - damage_start) // HEADER.size:
            continue
        start = candidate + HEADER.size
        if (
            start + length <= len(data)
            and record_crc(position, fmt_code, data[start : start + length]) == crc
        ):
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class Damage:
    """Bytes of a segment that hold no readable record."""

    path: Path
    offset: int
    length: int
    reason: str
    at_end: bool
    """No valid record follows (a torn tail), as opposed to damage in the middle."""


def read_segment(path: Path, on_damage: Callable[[Damage], None]) -> Iterator[WalRecord]:
    """Records of one segment; unreadable bytes are reported to ``on_damage`` and skipped."""
    data = path.read_bytes()
    lowest = first_position(path)
    offset = 0
    while offset < len(data):
        parsed = parse(data, offset)
        if isinstance(parsed, tuple):
            record, offset = parsed
            lowest = record.position + 1
            yield record
            continue
        nxt = resync(data, offset + 1, lowest)
        end = len(data) if nxt is None else nxt
        on_damage(Damage(path, offset, end - offset, parsed, nxt is None))
        offset = end


def segment_key(path: Path) -> tuple[int, int]:
    first, _, generation = path.name.removesuffix(SUFFIX).partition("-")
    return int(first), int(generation or 0)


def first_position(path: Path) -> int:
    return segment_key(path)[0]
