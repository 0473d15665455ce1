"""The database half of a backup: SQLite's online backup API, PostgreSQL's pg_dump and pg_restore."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import make_url

from hub.storage.state_files import create_private


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says what is wrong and how to fix it."""


IN_USE = "{}: stop every hub on it (khu serve / khu up) and try again"


def sqlite_copy(source: Path, dest: Path) -> None:
    """Copy a live SQLite database page by page (one read transaction: a consistent snapshot).

    A plain file copy of a database in WAL mode, taken while the hub writes, can miss the
    last commits (still in ``-wal``) or catch a half-written page; the backup API cannot.
    """
    if not source.exists():
        raise BackupError(f"the database {source} does not exist: check KHU_STATE_DIR / KHU_DATABASE_URL")
    create_private(dest)
    # Read-only: a backup must never create or change the hub's database.
    src = sqlite3.connect(f"file:{quote(str(source.resolve()))}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)  # pages=-1: all at once, under one read lock
        # The copy inherits WAL mode; the archive must hold one self-contained file.
        dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"cannot read the database {source}: {exc}") from None
    finally:
        dst.close()
        src.close()


def sqlite_load(copy: Path, target: Path) -> None:
    """Replace ``target``'s whole content with the backup's copy (the backup API, again)."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    create_private(target)
    src = sqlite3.connect(copy)
    dst = sqlite3.connect(target, timeout=0)
    try:
        # Nobody else may hold the file: a hub writing while its database is replaced
        # would go on from what it had in memory.
        dst.execute("BEGIN EXCLUSIVE")
        dst.rollback()
        src.backup(dst)
    except sqlite3.OperationalError as exc:
        raise BackupError(IN_USE.format(f"the database {target} is in use ({exc})")) from None
    finally:
        dst.close()
        src.close()


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL for pg_dump/pg_restore without the password, which goes in the environment.

    A password on the command line would show in ``ps`` to every user of the machine.
    """
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise BackupError(
            f"{name} not found: install the PostgreSQL client of the server's version "
            "(Debian: apt-get install postgresql-client)"
        )
    return exe


def pg_dump(url: str, dest: Path) -> None:
    """pg_dump in its custom format (compressed; pg_restore can pick and reorder from it)."""
    target, env = _libpq(url)
    create_private(dest)
    done = subprocess.run(
        [_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(dest), target],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")


def pg_load(dump: Path, url: str, force: bool) -> None:
    """Restore a dump into the configured database; an existing schema only with ``force``."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            others = conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            if others:
                raise BackupError(IN_USE.format(f"the database is in use ({others} other connection(s))"))
            tables = conn.scalar(
                sa.text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            )
            if tables and not force:
                raise BackupError(
                    f"the database already holds {tables} table(s): restore into an empty database, "
                    "or add --force to replace everything in it"
                )
            if tables:
                # pg_restore --clean drops only what the dump holds; tables a newer hub added
                # would stay and stop the migrations that create them again.
                conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
                conn.commit()
    except sa.exc.OperationalError as exc:
        raise BackupError(f"cannot reach the database: {exc.orig}") from None
    finally:
        engine.dispose()
    target, env = _libpq(url)
    done = subprocess.run(
        [
            _tool("pg_restore"),
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            "-d",
            target,
            str(dump),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {done.stderr.strip()}")


def revision(url: str) -> str | None:
    """The Alembic revision the database is at (None: never migrated)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            found = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
            return None if found is None else str(found)
    finally:
        engine.dispose()


def live_lease(url: str) -> str | None:
    """The hub holding the scheduler lease right now, if one does: it is running."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("scheduler_lease"):
                return None
            row = conn.execute(sa.text("SELECT holder, expires_at FROM scheduler_lease")).first()
    except sa.exc.OperationalError as exc:
        if "locked" in str(exc.orig):
            raise BackupError(IN_USE.format(f"the database is in use ({exc.orig})")) from None
        raise BackupError(f"cannot reach the database: {exc.orig}") from None
    finally:
        engine.dispose()
    if row is None:
        return None
    expires = row.expires_at
    if isinstance(expires, str):  # SQLite hands back text
        expires = datetime.fromisoformat(expires)
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return str(row.holder) if expires > datetime.now(UTC) else None
