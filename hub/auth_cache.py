"""Callers, their login sessions and areas as the API looked them up, remembered for a moment.

Every area route needs the caller's account and the area before anything else: two
database reads and a thread-pool hop, about a millisecond of a command's three. Here they
are kept (as detached, read-only rows) so most requests authorise without I/O.

A change made by this process through the ORM (an account disabled, a password reset, a
logout, an area renamed) empties the cache as it commits, so it takes effect at once. A
change made by another process (``khu user ...`` beside a running hub) takes effect within
``ttl_s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from hub.models import Area, AuthSession, User

_WATCHED = (User, Area, AuthSession)
_WATCHED_TABLES = frozenset(m.__table__.name for m in _WATCHED)  # type: ignore[attr-defined]
_Row = TypeVar("_Row", User, Area, AuthSession)


class AuthCache:
    def __init__(self, sessions: sessionmaker[Session], ttl_s: float = 2.0) -> None:
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._rows: dict[tuple[type, Any], tuple[float, Any]] = {}
        # Bumped on every change; a lookup that raced with one does not store what it read.
        self._generation = 0
        self._changed_sessions: set[int] = set()
        event.listen(sessions, "after_flush", self._after_flush)
        event.listen(sessions, "do_orm_execute", self._on_execute)
        event.listen(sessions, "after_commit", self._after_end)
        event.listen(sessions, "after_soft_rollback", self._after_rollback)

    # --- lookups ----------------------------------------------------------------------

    # Each lookup reads the database on a miss when given a session; without, it only peeks.

    def user(self, session: Session | None, user_id: int) -> User | None:
        return self._load(session, User, user_id, lambda s: s.get(User, user_id))

    def area(self, session: Session | None, code: str) -> Area | None:
        return self._load(session, Area, code, lambda s: s.scalar(select(Area).where(Area.code == code)))

    def auth_session(self, session: Session | None, session_id: str) -> AuthSession | None:
        return self._load(session, AuthSession, session_id, lambda s: s.get(AuthSession, session_id))

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self._generation += 1

    def _peek(self, kind: type[_Row], key: Any) -> _Row | None:
        hit = self._rows.get((kind, key))
        if hit is None or hit[0] < time.monotonic():
            return None
        row: _Row = hit[1]
        return row

    def _load(
        self, session: Session | None, kind: type[_Row], key: Any, read: Callable[[Session], _Row | None]
    ) -> _Row | None:
        known = self._peek(kind, key)
        if known is not None or session is None:
            return known
        generation = self._generation
        row = read(session)
        if row is None:
            return None
        # Detached, so the row is nobody's session's and only read from here on.
        session.expunge(row)
        with self._lock:
            if generation == self._generation:
                self._rows[(kind, key)] = (time.monotonic() + self._ttl_s, row)
        return row

    # --- invalidation -------------------------------------------------------------------

    def _after_flush(self, session: Session, _context: Any) -> None:
        if any(isinstance(o, _WATCHED) for o in (*session.new, *session.dirty, *session.deleted)):
            self._mark(session)

    def _on_execute(self, state: ORMExecuteState) -> None:
        # Core-style UPDATE/DELETE through a session (a logout, ending a user's sessions).
        if state.is_update or state.is_delete:
            table = getattr(state.statement, "table", None)
            if getattr(table, "name", None) in _WATCHED_TABLES:
                self._mark(state.session)

    def _mark(self, session: Session) -> None:
        self.clear()  # now, so no lookup in between stores the old row
        self._changed_sessions.add(id(session))

    def _after_end(self, session: Session) -> None:
        if id(session) in self._changed_sessions:
            self._changed_sessions.discard(id(session))
            self.clear()  # and again once committed: a lookup may have read the old row meanwhile

    def _after_rollback(self, session: Session, _previous: Any) -> None:
        self._changed_sessions.discard(id(session))
