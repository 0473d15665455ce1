"""Writes that fail because of the disk, told apart from bugs, and a cheap writability check.

A read-only database, a disk the kernel remounted read-only, a full disk or a failing one is
not a bug in a request: the API answers 503 saying what is wrong and how to fix it, and
/readyz reports it, instead of a bare 500 while the hub still claims to be ready.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from hub.storage.state_files import database_problems, probe_folder

log = logging.getLogger(__name__)

_FIX = {
    "read_only": "remount the disk read-write after checking it for errors (dmesg, fsck), or undo the "
    "read-only mount or immutable flag",
    "not_writable": "give the state dir and everything in it to the user the hub runs as "
    "(chown -R; folders 700, files 600)",
    "full": "free space on the hub's disk (old audio in the state dir's audio folder, logs, backups)",
    "io_error": "check the disk (dmesg, SMART); restore the database from a backup if it is damaged",
}


@dataclass(frozen=True, slots=True)
class StorageFault:
    reason: str  # read_only | not_writable | full | io_error
    what: str

    @property
    def detail(self) -> str:
        return (
            f"{self.what}, so nothing was changed. To fix: {_FIX[self.reason]}; /readyz says when it is fixed"
        )


def _sqlite_fault(exc: sqlite3.Error) -> StorageFault | None:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return StorageFault("read_only", "the hub's database is read-only: it cannot write its database file")
    if name.startswith("SQLITE_FULL") or "database or disk is full" in text:
        return StorageFault("full", "the disk holding the hub's database is full")
    if name.startswith("SQLITE_IOERR") or "disk i/o error" in text:
        return StorageFault("io_error", "the disk holding the hub's database reported an I/O error")
    return None


_OS_REASONS = {
    errno.EROFS: ("read_only", "the hub's disk is read-only"),
    errno.EACCES: ("not_writable", "the hub may not write to its disk"),
    errno.EPERM: ("not_writable", "the hub may not write to its disk"),
    errno.ENOSPC: ("full", "the hub's disk is full"),
    errno.EDQUOT: ("full", "the hub's disk quota is used up"),
    errno.EIO: ("io_error", "the hub's disk reported an I/O error"),
}


def classify(exc: BaseException) -> StorageFault | None:
    """What an exception says about the disk, or None when it is about something else."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's exception
    if isinstance(orig, sqlite3.Error):
        return _sqlite_fault(orig)
    if isinstance(exc, sqlite3.Error):
        return _sqlite_fault(exc)
    if isinstance(exc, OSError) and exc.errno in _OS_REASONS:
        reason, what = _OS_REASONS[exc.errno]
        where = f" ({exc.filename}: {exc.strerror})" if exc.filename else f" ({exc.strerror})"
        return StorageFault(reason, what + where)
    return None


class StorageProbe:
    """Can the hub write its database, its state dir and its audio folder?

    /readyz is polled by supervisors, so the answer is remembered for ``ttl_s``; finding out
    is a few access(2) calls and one small file created and removed per folder.
    """

    def __init__(self, state_dir: Path, audio_dir: Path, database: Path | None, ttl_s: float = 2.0) -> None:
        self.state_dir = state_dir
        self.audio_dir = audio_dir
        self.database = database
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._checked_at = -ttl_s
        self._problems: dict[str, str | None] = {}

    def checks(self) -> dict[str, bool]:
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at >= self.ttl_s:
                self._update(self._probe())
                self._checked_at = now
            return {name: problem is None for name, problem in self._problems.items()}

    def _probe(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        if self.database is not None:
            found["database_writable"] = "; ".join(database_problems(self.database)) or None
        found["state_dir_writable"] = probe_folder(self.state_dir)
        if not self.audio_dir.is_dir() and found["state_dir_writable"] is None:
            self.audio_dir.mkdir(mode=0o700, exist_ok=True)
        found["audio_writable"] = probe_folder(self.audio_dir)
        return found

    def _update(self, found: dict[str, str | None]) -> None:
        """Log each change once: /readyz is asked every few seconds."""
        for name, problem in found.items():
            before = self._problems.get(name)
            if problem is not None and before is None:
                folder = {"state_dir_writable": self.state_dir, "audio_writable": self.audio_dir}.get(name)
                log.error("storage check %s failed: %s%s", name, f"{folder}: " if folder else "", problem)
            elif problem is None and before is not None:
                log.warning("storage check %s passes again", name)
        self._problems = found
