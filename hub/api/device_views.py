"""Devices as the API shows them, kept as ready JSON until they change (see ``hub.read_cache``).

A phone checking a light, or a dashboard polling the area, reads the same few devices
over and over; from here such a read does no database work and no thread-pool hop. The
ingest writer tells of every report it stores (after its commit), and the API's own
changes to devices clear the cache as they commit.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.api.schemas import DevicePublic
from hub.models import Area, Device
from hub.read_cache import ReadCache
from hub.registry.changes import Change


class DeviceViews:
    def __init__(self, sessions: sessionmaker[Session], ttl_s: float) -> None:
        self._cache: ReadCache[bytes] = ReadCache(sessions, ttl_s, (Device,))

    def json(self, session: Session | None, area: Area, device_id: str) -> bytes | None:
        """The device's public JSON; None if it is not in the area (or, without a session, not cached)."""

        def read(s: Session) -> bytes | None:
            device = s.scalar(select(Device).where(Device.area_id == area.id, Device.device_id == device_id))
            return None if device is None else DevicePublic.model_validate(device).model_dump_json().encode()

        return self._cache.load(session, (area.code, device_id), read)

    def on_changes(self, changes: list[Change]) -> None:
        """Reports the ingest writer stored (it writes outside the API's sessions)."""
        self._cache.discard([(c.area, c.device) for c in changes])
