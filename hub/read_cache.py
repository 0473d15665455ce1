"""What the API read from the database, kept for a moment so hot requests do no I/O.

A change this process makes through the ORM to a watched table empties the cache as it
is flushed and again once it commits, so it shows at once. A change made by another
process (``khu user ...`` beside a running hub, a second hub) shows within ``ttl_s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

V = TypeVar("V")
# Beyond this many values the cache starts again empty rather than grow with every device
# and login ever read.
MAX_VALUES = 200_000


class ReadCache(Generic[V]):
    def __init__(self, sessions: sessionmaker[Session], ttl_s: float, watched: tuple[type, ...]) -> None:
        self._ttl_s = ttl_s
        self._watched = watched
        self._watched_tables = frozenset(m.__table__.name for m in watched)  # type: ignore[attr-defined]
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[float, V]] = {}
        # Bumped on every change; a lookup that raced with one does not store what it read.
        self._generation = 0
        self._changed_sessions: set[int] = set()
        event.listen(sessions, "after_flush", self._after_flush)
        event.listen(sessions, "do_orm_execute", self._on_execute)
        event.listen(sessions, "after_commit", self._after_commit)
        event.listen(sessions, "after_soft_rollback", self._after_rollback)

    def peek(self, key: Hashable) -> V | None:
        hit = self._values.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def load(self, session: Session | None, key: Hashable, read: Callable[[Session], V | None]) -> V | None:
        """The cached value; on a miss, read with ``session`` (from a thread), or None without one."""
        known = self.peek(key)
        if known is not None or session is None:
            return known
        generation = self._generation
        value = read(session)
        if value is not None:
            with self._lock:
                if len(self._values) >= MAX_VALUES:
                    self._values.clear()
                if generation == self._generation:
                    self._values[key] = (time.monotonic() + self._ttl_s, value)
        return value

    def discard(self, keys: list[Hashable]) -> None:
        with self._lock:
            for key in keys:
                self._values.pop(key, None)
            self._generation += 1

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._generation += 1

    # --- changes made through this process's sessions ---------------------------------

    def _after_flush(self, session: Session, _context: Any) -> None:
        if any(isinstance(o, self._watched) for o in (*session.new, *session.dirty, *session.deleted)):
            self._mark(session)

    def _on_execute(self, state: ORMExecuteState) -> None:
        # Core-style UPDATE/DELETE through a session (a logout, devices leaving a deleted zone).
        if state.is_update or state.is_delete:
            table = getattr(state.statement, "table", None)
            if getattr(table, "name", None) in self._watched_tables:
                self._mark(state.session)

    def _mark(self, session: Session) -> None:
        self.clear()  # now, so no lookup in between stores the old value
        self._changed_sessions.add(id(session))

    def _after_commit(self, session: Session) -> None:
        if id(session) in self._changed_sessions:
            self._changed_sessions.discard(id(session))
            self.clear()  # and again once committed: a lookup may have read the old value meanwhile

    def _after_rollback(self, session: Session, _previous: Any) -> None:
        self._changed_sessions.discard(id(session))
