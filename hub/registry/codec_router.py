"""Which codec speaks to a device: the protocol it was registered with or announced in."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devices.codec import Codec
from hub.models import Area, Device
from hub.registry.changes import Change

NATIVE = "native"


class CodecRouter:
    """Device -> codec, cached; an area's devices are read in one query the first time."""

    def __init__(self, sessions: sessionmaker[Session], codecs: Sequence[Codec]) -> None:
        self._sessions = sessions
        self._by_name = {c.name: c for c in codecs}
        self._lock = threading.Lock()
        self._codec_of: dict[tuple[str, str], str] = {}
        self._areas_read: set[str] = set()

    def named(self, name: str) -> Codec:
        """The codec called ``name``; unknown names (an older hub's) fall back to native."""
        return self._by_name.get(name) or self._by_name[NATIVE]

    def codec_for(self, area: str, device: str) -> Codec:
        key = (area, device)
        with self._lock:
            name = self._codec_of.get(key)
            fresh = area not in self._areas_read
        if name is None and fresh:
            self._read_area(area)
            with self._lock:
                name = self._codec_of.get(key)
        if name is None:  # not read yet (added since): one query, not cached if absent
            with self._sessions() as session:
                name = session.scalar(
                    select(Device.codec).join(Area).where(Area.code == area, Device.device_id == device)
                )
            if name is not None:
                self.learn(area, device, name)
        return self.named(name or NATIVE)

    def learn(self, area: str, device: str, name: str) -> None:
        with self._lock:
            self._codec_of[(area, device)] = name

    def on_changes(self, changes: list[Change]) -> None:
        """Ingest listener: a device announced (or re-announced) in a protocol."""
        for ch in changes:
            name = ch.fields.get("codec")
            if isinstance(name, str):
                self.learn(ch.area, ch.device, name)

    def _read_area(self, area: str) -> None:
        with self._sessions() as session:
            rows = session.execute(
                select(Device.device_id, Device.codec).join(Area).where(Area.code == area)
            ).all()
        with self._lock:
            for device_id, name in rows:
                self._codec_of.setdefault((area, device_id), name)
            self._areas_read.add(area)
