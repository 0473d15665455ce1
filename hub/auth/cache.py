"""Callers, their login sessions and areas as the API looked them up (see ``hub.read_cache``).

Every area route needs the caller's account and the area before anything else: two
database reads and a thread-pool hop, about a millisecond of a command's three. The rows
are kept detached and only read, so most requests authorise on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.models import Area, AuthSession, User
from hub.read_cache import ReadCache

_Row = TypeVar("_Row", User, Area, AuthSession)


class AuthCache:
    def __init__(self, sessions: sessionmaker[Session], ttl_s: float) -> None:
        self._cache: ReadCache[Any] = ReadCache(sessions, ttl_s, (User, Area, AuthSession))

    # Each lookup reads the database on a miss when given a session; without, it only peeks.

    def user(self, session: Session | None, user_id: int) -> User | None:
        return self._load(session, User, user_id, lambda s: s.get(User, user_id))

    def area(self, session: Session | None, code: str) -> Area | None:
        return self._load(session, Area, code, lambda s: s.scalar(select(Area).where(Area.code == code)))

    def auth_session(self, session: Session | None, session_id: str) -> AuthSession | None:
        return self._load(session, AuthSession, session_id, lambda s: s.get(AuthSession, session_id))

    def _load(
        self, session: Session | None, kind: type[_Row], key: Any, read: Callable[[Session], _Row | None]
    ) -> _Row | None:
        def detached(s: Session) -> _Row | None:
            row = read(s)
            if row is not None:
                s.expunge(row)  # nobody's session's from here on, and only read
            return row

        found: _Row | None = self._cache.load(session, (kind, key), detached)
        return found
