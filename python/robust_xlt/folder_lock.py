"""One writer per output folder: a run (or a grid) holds an exclusive lock on its
folder for as long as it writes there, and a second command aimed at the same folder
is refused with the holder's process id instead of interleaving its checkpoints and
results with the first one's.

Why it is needed: ``torchrun`` starts each worker in a session of its own, so killing
the launcher (``kill -9``, a closed terminal's process group) can leave the workers
running, still writing the folder, while a resumed run starts in it. The lock is an
advisory ``flock`` on ``FOLDER/.robust-xlt.lock``: the kernel drops it when its holder
dies, however it dies, so a killed run never leaves a lock that blocks the next one
(the file may stay; a file nobody holds locks nothing).
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

LOCK_FILE = ".robust-xlt.lock"


class FolderBusyError(RuntimeError):
    """Another live process holds the folder's lock; the message names it."""


class FolderLock:
    """``with FolderLock(folder, "the run"):`` holds ``folder`` for this process.

    The folder (and its missing parents) is made if it is missing and removed again on
    release if it is still empty then, so a command refused after taking the lock leaves nothing behind. The
    lock file is removed on release too; a process that opened the file before the
    removal finds, once it holds the lock, that the path now names another file and
    tries again on the new one, so two holders of one folder cannot both succeed."""

    def __init__(self, folder: Path, what: str) -> None:
        self.folder = Path(folder)
        self.what = what
        self._fd: int | None = None
        self._made: list[Path] = []

    @property
    def path(self) -> Path:
        return self.folder / LOCK_FILE

    def acquire(self) -> None:
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this lock")
        if self.folder.exists() and not self.folder.is_dir():
            raise NotADirectoryError(f"output folder {self.folder} is a file; give another one")
        self._made = _missing_folders(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                self._forget_made_folder()
                raise FolderBusyError(
                    f"{self.folder} is being written by another process ({holder}); {self.what} would mix its files "
                    "with that one's. Wait for it to end or stop it (its workers too, under torchrun), then run this again"
                ) from None
            except BaseException:
                os.close(fd)
                raise
            try:
                same_file = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same_file = False
            if same_file:
                break
            os.close(fd)  # the holder before us removed this file on release: lock the new one
        os.ftruncate(fd, 0)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}: {' '.join(sys.argv)}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        # Removed while still held: a waiter that opened it re-checks the path (above).
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None
        self._forget_made_folder()

    def _forget_made_folder(self) -> None:
        """The folders ``acquire`` made, innermost first, removed while still empty."""
        for folder in self._made:
            try:
                folder.rmdir()  # only if nothing was written there
            except OSError:
                break
        self._made = []

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, innermost first."""
    missing = []
    for path in [folder, *folder.parents]:
        if path.exists():
            break
        missing.append(path)
    return missing


def _read_holder(fd: int) -> str:
    """What the holder wrote about itself (pid, host, start, command), or a placeholder."""
    try:
        text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "it has not written its pid yet"
