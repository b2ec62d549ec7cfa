"""DirectoryLock: one process at a time on an index directory, released by the kernel on a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.errors import IndexInUse, IndexStoreError
from index.lock import DirectoryLock
from tests.conftest import REPO

HOLD = (
    "import sys, time; from pathlib import Path; from index.lock import DirectoryLock; "
    "lock = DirectoryLock(Path(sys.argv[1])); lock.acquire(); print('held', flush=True); time.sleep(600)"
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the lock on ``tmp_path`` until it is killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_holder_is_refused_until_release(tmp_path: Path) -> None:
    first = DirectoryLock(tmp_path)
    first.acquire()
    first.acquire()  # re-entrant for the same object
    second = DirectoryLock(tmp_path)
    with pytest.raises(IndexInUse, match="another service object in this process") as refused:
        second.acquire()
    assert isinstance(refused.value, IndexStoreError)
    assert not second.held
    first.release()
    first.release()  # twice is harmless
    second.acquire()
    assert second.held
    assert (tmp_path / ".lock").read_text().split()[0] == str(os.getpid())
    second.release()


def test_another_process_is_named(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    with pytest.raises(IndexInUse) as refused:
        DirectoryLock(tmp_path).acquire()
    message = str(refused.value)
    assert f"in use by process {holder.pid}" in message
    assert str(tmp_path) in message and "through its API" in message


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    with pytest.raises(IndexInUse):
        DirectoryLock(tmp_path).acquire()
    holder.send_signal(signal.SIGKILL)  # no clean-up code runs
    holder.wait()
    lock = DirectoryLock(tmp_path)
    lock.acquire()
    assert lock.held
    lock.release()
