"""``khu restore``: a ``khu backup`` archive back into the configured state dir and database.

Everything is checked before anything is written (the archive, the kind of database, the
schema it was made with, a state dir or database already in use), so a refused restore
leaves the machine as it was. The migrations run last: an older backup restores into a newer hub.
"""

from __future__ import annotations

import json
import os
import socket
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from hub.settings import Settings
from hub.storage import backup_db
from hub.storage.backup import FORMAT, MANIFEST, PG_MEMBER, SQLITE_MEMBER, STATE, VERSION, database_kind
from hub.storage.backup_db import BackupError
from hub.storage.migrate import alembic_config, upgrade
from hub.storage.state_files import PRIVATE_DIR, PRIVATE_FILE, sqlite_path

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, mode="r:gz")
    except FileNotFoundError:
        raise BackupError(f"{archive} does not exist: give the path of a file made by 'khu backup'") from None
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive} is not a khu backup (not a readable tar.gz: {exc})") from None


def read_manifest(tar: tarfile.TarFile, archive: Path) -> dict[str, Any]:
    try:
        f = tar.extractfile(MANIFEST)
        manifest = json.loads(f.read()) if f is not None else None
    except (KeyError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{archive} is not a khu backup (no {MANIFEST} of a khu backup in it)")
    if manifest.get("version") != VERSION:
        raise BackupError(
            f"{archive} is a khu backup of format {manifest.get('version')}, this khu reads {VERSION}: "
            "restore it with the khu version that made it"
        )
    return manifest


def _safe_name(name: str) -> PurePosixPath:
    """A state file's path inside the state dir; nothing that could land outside it."""
    rel = PurePosixPath(name.removeprefix(STATE))
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise BackupError(f"the archive holds a file named {name!r} outside the state dir: not a khu backup")
    return rel


def _check_schema(manifest: dict[str, Any], settings: Settings) -> None:
    rev = manifest.get("schema_revision")
    if rev is None:
        return
    try:
        ScriptDirectory.from_config(alembic_config(settings.db_url)).get_revision(str(rev))
    except CommandError:
        raise BackupError(
            f"the backup's database is at schema revision {rev}, which this khu does not know: "
            "it was made by a newer khu; install that version (or a later one) and restore again"
        ) from None


def _broker_running(settings: Settings) -> bool:
    """A Mosquitto on this machine; one elsewhere does not read this state dir's files."""
    if settings.mqtt_host not in LOCAL_HOSTS:
        return False
    try:
        with socket.create_connection((settings.mqtt_host, settings.mqtt_port), timeout=0.5):
            return True
    except OSError:
        return False


def _check_target(settings: Settings, kind: str, force: bool) -> None:
    state = settings.state_dir
    if state.exists() and not state.is_dir():
        raise BackupError(f"the state dir {state} is a file: set KHU_STATE_DIR to a folder")
    busy = state.is_dir() and any(state.iterdir())
    db = sqlite_path(settings.db_url)
    if db is not None and db.exists():
        busy = True
    if busy and not force:
        raise BackupError(
            f"the state dir {state} (or its database) is not empty: restore into a fresh state dir, "
            "or add --force to replace what the backup holds"
        )
    if not busy:
        return
    holder = backup_db.live_lease(settings.db_url) if db is None or db.exists() else None
    if holder is not None:
        raise BackupError(f"a hub ({holder}) is running on this database: stop it (khu serve / khu up) first")
    if _broker_running(settings):
        # Mosquitto writes its accounts file on every change and on stop: it would undo the restore.
        raise BackupError(
            f"a broker answers on {settings.mqtt_host}:{settings.mqtt_port}: stop it (khu broker / khu up) "
            "and the hub before restoring over an existing state dir"
        )


def _write_private(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    src = tar.extractfile(member)
    assert src is not None
    dest.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)  # a file replaced with --force keeps its old mode otherwise
    with os.fdopen(fd, "wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)


def restore_backup(settings: Settings, archive: Path, force: bool = False) -> dict[str, Any]:
    """Restore ``archive``; returns its manifest. Raises BackupError with the fix on any refusal."""
    with _open(archive) as tar:
        manifest = read_manifest(tar, archive)
        kind = database_kind(settings.db_url)
        if manifest.get("database") != kind:
            raise BackupError(
                f"the backup holds a {manifest.get('database')} database but this hub is configured for "
                f"{kind} (KHU_DATABASE_URL): configure the same kind; moving between them is not supported"
            )
        _check_schema(manifest, settings)
        members = tar.getmembers()
        files = [(m, _safe_name(m.name)) for m in members if m.name.startswith(STATE)]
        if any(not m.isfile() for m, _ in files):
            raise BackupError(f"{archive} holds links or devices among its files: not a khu backup")
        db_name = SQLITE_MEMBER if kind == "sqlite" else PG_MEMBER
        db_member = next((m for m in members if m.name == db_name and m.isfile()), None)
        if db_member is None:
            raise BackupError(f"{archive} has no {db_name}: the archive is incomplete; use another backup")
        _check_target(settings, kind, force)
        settings.state_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        os.chmod(settings.state_dir, PRIVATE_DIR)
        try:
            with tempfile.TemporaryDirectory(prefix="khu-restore-") as tmp:
                copy = Path(tmp) / Path(db_name).name
                _write_private(tar, db_member, copy)
                if kind == "sqlite":
                    target = sqlite_path(settings.db_url)
                    assert target is not None
                    backup_db.sqlite_load(copy, target)
                else:
                    backup_db.pg_load(copy, settings.db_url, force)
            for member, rel in files:
                _write_private(tar, member, settings.state_dir.joinpath(*rel.parts))
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise BackupError(
                f"the restore stopped half-way ({exc}): fix that (disk space, permissions, a damaged "
                "archive) and run it again with --force"
            ) from None
    upgrade(settings.db_url)
    return manifest
