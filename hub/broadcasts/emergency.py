"""Emergency mode: every speaker plays the alert, every light goes to 100 %, every resident is told.

Ending it puts things back: the alert stops, lights return to their desired state (timetable
or the last manual order), timetables fire again, and what the alert interrupted plays again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devices.payloads import Priority
from hub.audit import record
from hub.broadcasts.announce import announce
from hub.broadcasts.audio import AudioStore
from hub.broadcasts.models import EmergencyState
from hub.broadcasts.service import BroadcastService
from hub.commands.factory import copies
from hub.commands.service import CommandService
from hub.models import Area, Device, DeviceStatus, User

log = logging.getLogger(__name__)
FULL = {"on": True, "level": 100}
# Residents' notices are written in Vietnamese (the hub's notices reach phones, Zalo and SMS
# gateways as plain text); the app shows the same notice in the reader's language by its ref.
OVER_TITLE = "Đã kết thúc tình trạng khẩn cấp"
OVER_BODY = "Cảnh báo “{reason}” đã kết thúc. Bà con có thể sinh hoạt bình thường."
OVER_REF = "emergency-end:"


class EmergencyError(ValueError):
    pass


def active_emergency(session: Session, area_id: int) -> EmergencyState | None:
    return session.scalar(
        select(EmergencyState).where(EmergencyState.area_id == area_id, EmergencyState.ended_at.is_(None))
    )


class EmergencyService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        audio: AudioStore,
        broadcasts: BroadcastService,
        commands: CommandService,
        restore_lights: Callable[[str], object],
    ) -> None:
        self._sessions = sessions
        self._audio = audio
        self._broadcasts = broadcasts
        self._commands = commands
        self._restore_lights = restore_lights

    def start(self, area: Area, user: User, title: str, text: str) -> EmergencyState:
        with self._sessions.begin() as session:
            if active_emergency(session, area.id) is not None:
                raise EmergencyError("emergency mode is already on in this area")
            ann = announce(
                session,
                self._audio,
                self._broadcasts,
                area,
                title=title,
                text=text,
                audio_id=None,
                zone_ids=None,
                priority=Priority.EMERGENCY,
                not_before=None,
                user=user,
                source="emergency",
            )
            state = EmergencyState(area_id=area.id, announcement_id=ann.id, started_by=user.id, reason=title)
            session.add(state)
            lights = list(
                session.scalars(
                    select(Device).where(
                        Device.area_id == area.id,
                        Device.kind == "light",
                        Device.status == DeviceStatus.ACTIVE.value,
                    )
                )
            )
            record(
                session,
                user,
                area.id,
                "emergency.start",
                "area",
                f"speakers and {len(lights)} lights",
                {"title": title},
                ref=ann.id,
            )
        self._broadcasts.wake()
        if lights:
            self._commands.issue(
                area,
                lights,
                "light.set",
                FULL,
                copies("light.set", FULL),
                user,
                wait_s=0,
                ttl_s=3600,
                source="emergency",
            )
        log.warning("emergency mode ON in %s by %s: %s", area.code, user.username, title)
        return state

    def end(self, area: Area, user: User) -> EmergencyState:
        with self._sessions.begin() as session:
            state = active_emergency(session, area.id)
            if state is None:
                raise EmergencyError("emergency mode is not on in this area")
            state.ended_at, state.ended_by = datetime.now(UTC), user.id
            record(
                session,
                user,
                area.id,
                "emergency.end",
                "area",
                "lights, speakers and schedules restored",
                ref=state.announcement_id,
            )
        if state.announcement_id:
            self._broadcasts.cancel(area, state.announcement_id)
        self._restore_lights(area.code)
        self._tell_residents_it_is_over(area, state)
        log.warning("emergency mode OFF in %s by %s", area.code, user.username)
        return state

    def _tell_residents_it_is_over(self, area: Area, state: EmergencyState) -> None:
        """Residents were told of the alert; without this the alert stays their latest news."""
        notify = self._broadcasts.notifier  # the residents' notifier the runtime wired in
        if notify is None:
            return
        reason = state.reason or "Khẩn cấp"
        try:
            notify(
                area.id,
                OVER_TITLE,
                OVER_BODY.format(reason=reason),
                Priority.PRIORITY,
                None,
                # The feed recognises the notice by this ref (and draws it as "over").
                f"{OVER_REF}{state.id}",
            )
        except Exception:
            log.exception("could not tell the residents of %s that the emergency is over", area.code)
