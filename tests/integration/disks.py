"""Small filesystems that really fill up, for the full-disk tests.

``small_disk`` (a fixture; see ``test_full_disk.py``) mounts an 8 MB tmpfs or a 16 MB ext4
image on a loop device under the test's tmp dir. Mounting needs root (CAP_SYS_ADMIN); where
it is impossible the fixture falls back to :class:`InjectedDisk` — an ``os.write`` that
writes what fits of a byte budget, then raises ENOSPC — and warns, so the test still runs.

Either kind has the same three calls::

    disk.fill(leave=64 * 1024)   # a filler file takes all but ~64 KB
    disk.empty()                 # delete it: space returns
    WriteAheadLog(disk.root / "wal", write=disk.write)
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

CHUNK = 256 * 1024


class RealDisk:
    """A mounted filesystem; ``write`` is plain ``os.write``."""

    injected = False

    def __init__(self, root: Path, kind: str) -> None:
        self.root = root
        self.kind = kind
        self.filler = root / "filler"

    write = staticmethod(os.write)

    def free(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int) -> None:
        """Write a filler file until at most ``leave`` bytes are free."""
        chunk = b"\xee" * CHUNK
        with open(self.filler, "ab", buffering=0) as f:
            while (room := self.free() - leave) > 0:
                try:
                    f.write(chunk[: min(CHUNK, room)])
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
            os.fsync(f.fileno())

    def empty(self) -> None:
        self.filler.unlink()
        os.sync()  # ext4 frees the blocks at the next commit; don't race it


class InjectedDisk:
    """No mount possible: ``write`` keeps a byte budget as a full filesystem would."""

    injected = True

    def __init__(self, root: Path, kind: str) -> None:
        self.root = root
        self.kind = kind
        self.budget: int | None = None

    def write(self, fd: int, data: bytes | memoryview) -> int:
        if self.budget is None:
            return os.write(fd, data)
        if self.budget <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = os.write(fd, data[: self.budget])
        self.budget -= written
        return written

    def fill(self, leave: int) -> None:
        self.budget = leave

    def empty(self) -> None:
        self.budget = None


def mount(root: Path, kind: str, size_mb: int = 8) -> str | None:
    """Mount a tmpfs of ``size_mb`` or a 16 MB ext4 image at ``root``; None, or why it is
    impossible."""
    if os.geteuid() != 0:
        return "not root: mounting a small filesystem needs CAP_SYS_ADMIN"
    if kind == "tmpfs":
        command = ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(root)]
    else:
        if shutil.which("mkfs.ext4") is None:
            return "mkfs.ext4 is not installed"
        image = root.parent / "ext4.img"
        with open(image, "wb") as f:
            f.truncate(16 * 1024 * 1024)
        made = subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], capture_output=True, timeout=60
        )
        if made.returncode:
            return f"mkfs.ext4 failed: {made.stderr.decode(errors='replace').strip()}"
        command = ["mount", "-o", "loop", str(image), str(root)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(command)}: {exc}"
    if done.returncode:
        return f"{' '.join(command)}: {done.stderr.decode(errors='replace').strip()}"
    return None


def unmount(root: Path) -> None:
    if subprocess.run(["umount", str(root)], capture_output=True, timeout=60).returncode:
        subprocess.run(["umount", "-l", str(root)], capture_output=True, timeout=60)
