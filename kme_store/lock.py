"""One writer per store: an advisory lock on a file in the store's directory."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from kme_store.errors import StoreLockedError


class WriterLock:
    """Held while a store is open for writing; released on close or when the process dies.

    flock locks die with their process, so a store whose writer was killed (SIGKILL included)
    can be reopened at once, with no stale lock to clear by hand.
    """

    def __init__(self, directory: Path) -> None:
        self._path = directory / "writer.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLockedError(
                f"the store at {self._path.parent} is open for writing by another process (pid {holder}); "
                "close it there first, or open this one read-only") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
