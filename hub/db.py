"""Engine and session factory; SQLite gets WAL and a busy timeout so readers never block ingest,
and its writers of one process take turns on a lock instead of sleeping in SQLite's busy handler."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from hub.storage.state_files import create_private


class Base(DeclarativeBase):
    pass


# One lock per SQLite file, shared by every engine of this process on it.
_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class _LockingCursor(sqlite3.Cursor):
    """Takes its connection's process-wide write lock before the first write of a transaction."""

    def execute(self, sql: str, parameters: Any = (), /) -> _LockingCursor:
        conn: _LockingConnection = self.connection  # type: ignore[assignment]
        conn.before(sql)
        try:
            super().execute(sql, parameters)
        finally:
            conn.after()
        return self

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> _LockingCursor:
        conn: _LockingConnection = self.connection  # type: ignore[assignment]
        conn.before(sql)
        try:
            super().executemany(sql, seq_of_parameters)
        finally:
            conn.after()
        return self


class _LockingConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions queue on a lock in this process.

    SQLite lets one writer in at a time and makes the others poll, sleeping 1, 2, 5, 10,
    ... 100 ms between tries: with the ingest writer, command requests, schedules and
    broadcasts writing from their own threads, those sleeps were most of a command's
    latency. Here a second writer of this process waits on a lock that is handed over the
    moment the first commits. The lock is held exactly while SQLite's own write lock is
    (first write to commit or rollback), with the same timeout, so nothing blocks that did
    not before; other processes still meet SQLite's busy handler.
    """

    write_lock: threading.Lock
    lock_timeout_s: float
    _holding = False

    def cursor(self, factory: Any = _LockingCursor) -> Any:
        return super().cursor(factory)

    def before(self, sql: str) -> None:
        if not self._holding and sql.lstrip()[:7].upper().startswith(_WRITES):
            if not self.write_lock.acquire(timeout=self.lock_timeout_s):
                raise sqlite3.OperationalError("database is locked")
            self._holding = True

    def after(self) -> None:
        if self._holding and not self.in_transaction:
            self._release()

    def commit(self) -> None:
        super().commit()
        self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._holding:
            self._holding = False
            self.write_lock.release()


def _locking_factory(path: str, timeout_s: float) -> type[_LockingConnection]:
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.setdefault(path, threading.Lock())
    return type("LockingConnection", (_LockingConnection,), {"write_lock": lock, "lock_timeout_s": timeout_s})


def make_engine(url: str, busy_timeout_s: float = 15) -> Engine:
    if url.startswith("sqlite"):
        connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": busy_timeout_s}
        path = make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            connect_args["factory"] = _locking_factory(os.path.realpath(path), busy_timeout_s)
            create_private(Path(path))  # SQLite makes -wal and -shm with the same mode
        # Enough pooled connections for the HTTP worker threads and the hub's own: past the
        # pool size SQLAlchemy opens a fresh connection (and runs the pragmas) per checkout.
        engine = create_engine(url, connect_args=connect_args, pool_size=20, max_overflow=40)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "handle_error")
        def _reopen_after_disk_fault(context: ExceptionContext) -> None:
            # SQLite decides at open whether a connection is read-only; one opened while the
            # disk was read-only would stay so after it is fixed. Such a connection is dropped
            # (only it: the others are fine) and the pool opens a fresh one.
            err = context.original_exception
            name = getattr(err, "sqlite_errorname", "") or ""
            if name.startswith(("SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")):
                context.is_disconnect = True
                context.invalidate_pool_on_disconnect = False

        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=busy_timeout_s,
        connect_args={"connect_timeout": max(1, int(busy_timeout_s))},
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
