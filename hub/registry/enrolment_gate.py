"""Whether a device announcing itself (enrolment) may become a pending device of an area now."""

from __future__ import annotations

import time
from collections import deque
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.messages import Rejected, RejectReason
from hub.models import Area, as_utc

# New pending devices per area per minute: an installer with a box of lights stays well
# under it; a stolen enrolment password cannot fill the head's list with thousands.
PER_MINUTE = 60


class EnrolmentGate:
    """Only while the area's window is open, and not faster than ``PER_MINUTE`` (writer thread)."""

    def __init__(self, per_minute: int = PER_MINUTE) -> None:
        self._per_minute = per_minute
        self._recent: dict[int, deque[float]] = {}

    def admit(self, session: Session, area_id: int, code: str, now: datetime) -> None:
        until = session.scalar(select(Area.enrol_until).where(Area.id == area_id))
        if until is None or as_utc(until) <= now:
            raise Rejected(
                RejectReason.ENROLMENT_CLOSED,
                f"area {code!r} takes no new devices now; the area head opens enrolment in the app",
            )
        recent = self._recent.setdefault(area_id, deque())
        clock = time.monotonic()
        while recent and clock - recent[0] > 60:
            recent.popleft()
        if len(recent) >= self._per_minute:
            raise Rejected(
                RejectReason.ENROLMENT_FLOOD, f"area {code!r}: over {self._per_minute} new devices a minute"
            )
        recent.append(clock)
