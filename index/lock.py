"""One process at a time on an index directory.

Embedded Chroma, the BM25 files and the catalog are not safe to share between
processes: a second process sees a stale index, and on start-up it rolls back
what it takes for an interrupted ingest, which may be another process's ingest
still running. So a service holds an exclusive lock on its directory while it
is open. The lock is ``flock`` on ``<dir>/.lock``: the kernel drops it when the
process ends, even by a crash, so a stale lock never blocks the next run. The
file names the holder (pid and command line) for the error message.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

from index.errors import IndexInUse

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, no lock
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


class DirectoryLock:
    """An exclusive, non-blocking lock on a directory, held until ``release``."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / LOCK_NAME
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> None:
        """Take the lock, or raise IndexInUse naming the process that holds it."""
        if self._file is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open while the lock is held
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip()
                handle.close()
                raise IndexInUse(self._message(holder)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {' '.join(sys.argv)[:200]}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is None:
            return
        handle, self._file = self._file, None
        handle.seek(0)
        handle.truncate()
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()

    def _message(self, holder: str) -> str:
        pid, _, command = holder.partition(" ")
        if pid == str(os.getpid()):
            who = "another service object in this process"
        elif pid:
            who = f"process {pid}" + (f" ({command})" if command else "")
        else:
            who = "another process"
        return (
            f"the index in {self.path.parent} is in use by {who}; stop it first, "
            "or ask and add documents through its API"
        )
