"""``khu backup``: the database, the broker's accounts and the state dir's keys in one private tar.gz.

What it holds (``state/`` mirrors the state dir):
- ``database/khu.db`` (SQLite, copied with the online backup API) or ``database/khu.pgdump``
  (``pg_dump --format=custom``); both are consistent while the hub runs;
- the state dir's own files: ``secret.key`` (signs logins), ``vapid_private.pem`` (residents'
  push subscriptions are bound to it), ``admin-password.txt``, simulators' accounts;
- ``broker/*.json``: Mosquitto's ``dynamic-security.json`` (every device's and hub's account,
  roles and ACLs) and the hub's and tools' passwords;
- ``audio/``: the announcements' audio, which broadcasts refer to.

Left out on purpose: Mosquitto's persistence file (``broker/mosquitto.db``). It holds retained
messages and queued QoS 1 messages as of its last autosave, not of the backup: replayed after a
restore they would pass an old state or availability as current, and deliver commands long
expired. Devices publish their state and availability again when they reconnect. Also left
out: ``mosquitto.conf`` and the log, which the broker writes at every start.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.settings import Settings
from hub.storage import backup_db
from hub.storage.backup_db import BackupError
from hub.storage.state_files import PROBE, database_files, sqlite_path

FORMAT = "khu-backup"
VERSION = 1
MANIFEST = "manifest.json"
STATE = "state/"
DATABASE = "database/"
SQLITE_MEMBER = DATABASE + "khu.db"
PG_MEMBER = DATABASE + "khu.pgdump"
BACKUP_SUFFIXES = (".tar.gz", ".tar.gz.partial")


def database_kind(url: str) -> str:
    if sqlite_path(url) is not None:
        return "sqlite"
    if url.startswith("postgresql"):
        return "postgresql"
    raise BackupError(f"cannot back up the database {url!r}: only a SQLite file or PostgreSQL is supported")


def state_files(settings: Settings, skip: set[Path]) -> list[Path]:
    """The state dir's files worth keeping, relative to it (see the module's docstring)."""
    state = settings.state_dir
    if not state.is_dir():
        raise BackupError(f"the state dir {state} does not exist: set KHU_STATE_DIR to the hub's state dir")
    db = sqlite_path(settings.db_url)
    skip = skip | (set(database_files(db.resolve())) if db is not None else set())
    found: list[Path] = []
    for path in sorted(state.iterdir()):
        # Symlinks are not followed: a backup must hold the hub's files, not whatever they point at.
        if path.is_symlink() or not path.is_file() or path.resolve() in skip or path.name.startswith(PROBE):
            continue
        if path.name.endswith(BACKUP_SUFFIXES):  # earlier backups kept here must not nest
            continue
        found.append(path)
    broker = state / "broker"
    if broker.is_dir():
        found += [p for p in sorted(broker.glob("*.json")) if p.is_file() and not p.is_symlink()]
    audio = state / "audio"
    if audio.is_dir():
        found += [p for p in sorted(audio.iterdir()) if p.is_file() and not p.is_symlink()]
    return [p.relative_to(state) for p in found]


def _add_file(tar: tarfile.TarFile, source: Path, name: str) -> None:
    info = tar.gettarinfo(str(source), arcname=name)
    # Every file of a hub is private; owner names mean nothing on the machine it is restored on.
    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
    with source.open("rb") as f:
        tar.addfile(info, f)


def _add_bytes(tar: tarfile.TarFile, data: bytes, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


def _not_included(settings: Settings) -> list[str]:
    """Secrets given in the environment: the hub needs them back, and the backup cannot hold them."""
    notes = []
    if settings.secret_key is not None:
        notes.append("KHU_SECRET_KEY (set in the environment)")
    if settings.push_vapid_private_key is not None:
        notes.append("KHU_PUSH_VAPID_PRIVATE_KEY (set in the environment)")
    if settings.mqtt_password_file is not None and not settings.mqtt_password_file.resolve().is_relative_to(
        settings.state_dir.resolve()
    ):
        notes.append(f"KHU_MQTT_PASSWORD_FILE={settings.mqtt_password_file} (outside the state dir)")
    return notes


def create_backup(settings: Settings, archive: Path) -> dict[str, Any]:
    """Write the backup to ``archive`` (0600, refused if it exists); returns its manifest."""
    if archive.exists():
        raise BackupError(f"{archive} already exists: choose another name or remove it first")
    if not archive.parent.is_dir():
        raise BackupError(f"the folder {archive.parent} does not exist: create it first")
    kind = database_kind(settings.db_url)
    partial = archive.with_name(archive.name + ".partial")
    skip = {archive.resolve(), partial.resolve()}
    files = state_files(settings, skip)
    with tempfile.TemporaryDirectory(prefix="khu-backup-") as tmp:  # created 0700
        if kind == "sqlite":
            db = sqlite_path(settings.db_url)
            assert db is not None
            dump, member = Path(tmp) / "khu.db", SQLITE_MEMBER
            backup_db.sqlite_copy(db, dump)
            rev = backup_db.revision(f"sqlite:///{dump}")
        else:
            dump, member = Path(tmp) / "khu.pgdump", PG_MEMBER
            # Read before the dump: a migration in between would show in the restore's upgrade.
            rev = backup_db.revision(settings.db_url)
            backup_db.pg_dump(settings.db_url, dump)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": kind,
            "schema_revision": rev,
            "files": [str(p) for p in files],
            "not_included": _not_included(settings),
        }
        # Written under another name first: an interrupted backup must not look like a whole one.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a .partial left by an earlier attempt keeps its mode otherwise
            with os.fdopen(fd, "wb") as raw:
                with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                    _add_bytes(tar, json.dumps(manifest, indent=1).encode() + b"\n", MANIFEST)
                    _add_file(tar, dump, member)
                    for rel in files:
                        _add_file(tar, settings.state_dir / rel, STATE + str(rel))
                raw.flush()
                os.fsync(raw.fileno())
            partial.rename(archive)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise BackupError(f"cannot write {archive}: {exc.strerror or exc}") from None
    return manifest
