"""The state dir's files: owner-only permissions, and a refusal to start on a database it cannot write.

The state dir holds the database (password hashes, residents' push keys), the signing key,
the VAPID key and the broker's accounts: nobody but the hub's own user may read any of it.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

from sqlalchemy import make_url

from hub.settings import Settings, SettingsError

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# Folders under the state dir that the hub or its broker create.
SUBDIRS = ("broker", "audio")
# SQLite's companions of a database file; it creates them with the main file's permissions.
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")
PROBE = ".khu-write-probe"


class StateNotWritable(SettingsError):
    """A file or folder the hub must write is not writable; the message names it and the fix."""


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL, or None (another database, or in memory)."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def database_files(db: Path) -> list[Path]:
    return [db.with_name(db.name + suffix) for suffix in SQLITE_SUFFIXES]


def create_private(path: Path) -> None:
    """Create an empty SQLite file 0600 before SQLite does (it would follow the umask)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except (FileExistsError, FileNotFoundError):
        return  # there already (its mode is fixed at start), or no folder yet (SQLite says so)
    os.close(fd)


def _tighten(path: Path, wanted: int, changed: list[str]) -> None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) & ~wanted == 0:
        return
    try:
        path.chmod(stat.S_IMODE(st.st_mode) & wanted)
    except OSError as exc:
        log.warning("cannot make %s private (%s); do it by hand: chmod %o %s", path, exc, wanted, path)
        return
    changed.append(f"{path} {oct(stat.S_IMODE(st.st_mode))}")


def secure_state(settings: Settings) -> None:
    """Create the state dir owner-only, and tighten what an older install left readable."""
    state = settings.state_dir
    state.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    try:
        (state / "audio").mkdir(mode=PRIVATE_DIR, exist_ok=True)
    except OSError as exc:
        log.warning("cannot create %s: %s", state / "audio", exc)  # readyz reports it
    changed: list[str] = []
    _tighten(state, PRIVATE_DIR, changed)
    for sub in SUBDIRS:
        folder = state / sub
        _tighten(folder, PRIVATE_DIR, changed)
        if sub != "audio" and folder.is_dir():  # audio files are always written 0600
            for path in folder.iterdir():
                _tighten(path, PRIVATE_DIR if path.is_dir() else PRIVATE_FILE, changed)
    for path in state.iterdir():
        if path.is_file():
            _tighten(path, PRIVATE_FILE, changed)
    db = sqlite_path(settings.db_url)
    if db is not None:
        for path in database_files(db):
            _tighten(path, PRIVATE_FILE, changed)
    if changed:
        # Said once: the next start finds nothing to change.
        log.warning(
            "tightened permissions so only the hub's user can read its data (was): %s", ", ".join(changed)
        )


def _reason(path: Path) -> str | None:
    """Why ``path`` cannot be written, without opening it.

    Opening and closing a database file would drop the POSIX locks SQLite holds on it in
    this process; access(2) asks the kernel instead, and it answers read-only mounts
    (EROFS) and immutable files (EPERM) for root too.
    """
    if os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids):
        return None
    if path.exists():
        try:
            st = os.statvfs(path)
        except OSError:
            st = None
        if st is not None and st.f_flag & os.ST_RDONLY:
            return os.strerror(errno.EROFS)
    return os.strerror(errno.EACCES)


def probe_folder(folder: Path) -> str | None:
    """Create and remove a small file in ``folder``: None if that worked, else why not."""
    probe = folder / f"{PROBE}-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        try:
            os.write(fd, b"\0" * 512)
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def database_problems(db: Path) -> list[str]:
    """Each file or folder of a SQLite database that the hub could not write, with the fix."""
    problems = []
    for path in database_files(db):
        if path.exists() and (why := _reason(path)) is not None:
            problems.append(f"{path} is not writable ({why})")
    folder = db.parent
    if folder.exists() and (why := _reason(folder)) is not None:
        problems.append(f"the folder {folder} holding the database is not writable ({why})")
    return problems


FIX = (
    "to fix: run the hub as the user that owns these files (or chown them to its user and "
    "chmod 600), remount a read-only disk read-write after checking it for errors, or remove "
    "an immutable flag (chattr -i)"
)


def require_writable(settings: Settings) -> None:
    """Refuse to start on a database the hub could read but not write.

    SQLite opens such a file read-only without a word; the hub would then serve reads and
    fail every write, and a read-only ``-shm`` it maps can even end the process with SIGBUS.
    """
    db = sqlite_path(settings.db_url)
    problems = database_problems(db) if db is not None else []
    if (why := probe_folder(settings.state_dir)) is not None:
        problems.append(f"the state dir {settings.state_dir} is not writable ({why})")
    if problems:
        raise StateNotWritable(f"cannot start: {'; '.join(problems)}; {FIX}")


def prepare_state(settings: Settings) -> None:
    """At start: private permissions, then make sure the hub can write what it must."""
    secure_state(settings)
    require_writable(settings)
