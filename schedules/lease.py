"""A lease in the database so that only one hub process runs the scheduler at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hub.models import SchedulerLease, as_utc

LEASE_NAME = "scheduler"


class Lease:
    def __init__(self, sessions: sessionmaker[Session], holder: str, ttl_s: float) -> None:
        self._sessions = sessions
        self.holder = holder
        self._ttl = timedelta(seconds=ttl_s)

    def try_acquire(self) -> bool:
        """Take or renew the lease; False while another live process holds it."""
        now = datetime.now(UTC)
        try:
            with self._sessions.begin() as session:
                row = session.scalar(
                    select(SchedulerLease).where(SchedulerLease.name == LEASE_NAME).with_for_update()
                )
                if row is None:
                    session.add(
                        SchedulerLease(name=LEASE_NAME, holder=self.holder, expires_at=now + self._ttl)
                    )
                    return True
                if row.holder != self.holder and as_utc(row.expires_at) > now:
                    return False
                row.holder, row.expires_at = self.holder, now + self._ttl
                return True
        except (IntegrityError, OperationalError):
            return False  # another process won the race, or the database is away: not ours

    def holder_now(self) -> str | None:
        with self._sessions() as session:
            row = session.get(SchedulerLease, LEASE_NAME)
            return row.holder if row and as_utc(row.expires_at) > datetime.now(UTC) else None

    def release(self) -> None:
        with self._sessions.begin() as session:
            row = session.get(SchedulerLease, LEASE_NAME)
            if row is not None and row.holder == self.holder:
                session.delete(row)
