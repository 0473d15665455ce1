"""Closing an area's enrolment window on time: its account goes when the window ends."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.broker.accounts import BrokerAccounts
from hub.models import Area, as_utc

log = logging.getLogger(__name__)


class EnrolmentWindows:
    def __init__(self, accounts: BrokerAccounts, sessions: sessionmaker[Session]) -> None:
        self._accounts = accounts
        self._sessions = sessions
        self._timers: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        """After a restart: windows still open get their timers back, ended ones are closed."""
        with self._sessions() as session:
            rows = session.execute(select(Area.code, Area.enrol_until).where(Area.enrol_until.is_not(None)))
            windows = [(code, as_utc(until)) for code, until in rows if until is not None]
        for code, until in windows:
            self.close_at(code, until)

    def stop(self) -> None:
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()

    def close_at(self, code: str, until: datetime) -> None:
        delay = max(0.0, (until - datetime.now(UTC)).total_seconds())
        timer = threading.Timer(delay, self._close, (code,))
        timer.daemon = True
        with self._lock:
            old = self._timers.pop(code, None)
            if old is not None:
                old.cancel()
            self._timers[code] = timer
        timer.start()

    def _close(self, code: str) -> None:
        try:
            with self._sessions.begin() as session:
                area = session.scalar(select(Area).where(Area.code == code))
                if area is None or area.enrol_until is None:
                    return
                if as_utc(area.enrol_until) > datetime.now(UTC):
                    return  # reopened meanwhile: its own timer closes it
                self._accounts.revoke_enrolment(code)
                area.enrol_until = None
            log.info("enrolment window of area %s closed", code)
        except Exception as exc:  # the broker away: announcements are refused by the hub anyway
            log.error("could not close the enrolment window of %s: %s", code, exc)
