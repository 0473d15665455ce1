"""The ingest writer's cache of what it needs to know about each device, with undo per batch.

Only the ingest writer thread reads and changes it, except ``forget``, which any thread may
call after changing a device elsewhere.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.messages import Inbound, Rejected, RejectReason
from hub.bulk_sql import IN_CHUNK
from hub.models import Area, Device

# What the cache keeps of a device.
_COLUMNS = (Device.id, Device.kind, Device.status, Device.state_ts, Device.state, Device.via, Device.model)

Key = tuple[str, str]  # (area code, device id)


@dataclass(slots=True)
class DeviceRef:
    pk: int
    area_id: int
    kind: str
    status: str
    state_ts: int | None
    state_cmd: str | None = None
    via: str | None = None
    # False for a device registered in advance that has not announced itself (no ``info`` yet).
    announced: bool = True

    def copy(self) -> DeviceRef:
        # Not dataclasses.replace: it inspects the fields on every call (per device a batch changes).
        return DeviceRef(
            self.pk,
            self.area_id,
            self.kind,
            self.status,
            self.state_ts,
            self.state_cmd,
            self.via,
            self.announced,
        )


class DeviceRefs:
    def __init__(self) -> None:
        self._areas: dict[str, int] = {}
        self._devices: dict[Key, DeviceRef] = {}
        self._forgotten: set[Key] = set()
        self._forget_lock = threading.Lock()
        # Cached devices as they were before the running batch changed them: what a rollback
        # puts back (None: added by the batch). Copying the whole cache per batch instead
        # would cost more than the batch itself with a hundred thousand devices.
        self._undo: dict[Key, DeviceRef | None] = {}

    def forget(self, area: str, device: str) -> None:
        """Drop a cached device after another part of the hub changed it (thread-safe)."""
        with self._forget_lock:
            self._forgotten.add((area, device))

    def begin(self) -> None:
        """A batch starts: drop what was forgotten meanwhile."""
        with self._forget_lock:
            for key in self._forgotten:
                self._devices.pop(key, None)
            self._forgotten.clear()
        self._undo = {}

    def end(self, committed: bool) -> None:
        """The batch's transaction ended; a rolled back one takes its changes here back too."""
        if not committed:
            for key, old in self._undo.items():
                if old is None:
                    self._devices.pop(key, None)
                else:
                    self._devices[key] = old
        self._undo = {}

    def touch(self, key: Key) -> None:
        """Remember a cached device before the running batch changes or adds it."""
        if key not in self._undo:
            old = self._devices.get(key)
            self._undo[key] = old.copy() if old is not None else None

    def add(self, key: Key, ref: DeviceRef) -> None:
        self.touch(key)
        self._devices[key] = ref

    def area_id(self, session: Session, code: str) -> int:
        area_id = self._areas.get(code)
        if area_id is None:
            area_id = session.scalar(select(Area.id).where(Area.code == code))
            if area_id is None:
                raise Rejected(RejectReason.UNKNOWN_AREA, f"no area {code!r}")
            self._areas[code] = area_id
        return area_id

    def prefetch(self, session: Session, batch: list[Inbound]) -> None:
        """Cache the batch's devices not cached yet, a few queries for all rather than one each.

        After a start every device is unknown, and a hundred thousand retained reports
        meant a hundred thousand single-row reads.
        """
        missing: dict[str, set[str]] = {}
        for msg in batch:
            src = msg.source
            if (src.area, src.device) not in self._devices:
                missing.setdefault(src.area, set()).add(src.device)
        for area, devices in missing.items():
            try:
                area_id = self.area_id(session, area)
            except Rejected:
                continue  # each of its messages is rejected on its own
            wanted = sorted(devices)
            for i in range(0, len(wanted), IN_CHUNK):
                rows = session.execute(
                    select(*_COLUMNS, Device.device_id).where(
                        Device.area_id == area_id, Device.device_id.in_(wanted[i : i + IN_CHUNK])
                    )
                )
                for row in rows:
                    self._remember((area, row.device_id), area_id, row)

    def get(self, session: Session, area: str, device: str) -> DeviceRef:
        """The device's reference, read if not cached; rejects unknown areas and devices."""
        ref = self._devices.get((area, device))
        if ref is not None:
            return ref
        area_id = self.area_id(session, area)
        row = session.execute(
            select(*_COLUMNS).where(Device.area_id == area_id, Device.device_id == device)
        ).first()
        if row is None:
            raise Rejected(RejectReason.UNKNOWN_DEVICE, f"{area}/{device} has not announced itself")
        return self._remember((area, device), area_id, row)

    def _remember(self, key: Key, area_id: int, row: Any) -> DeviceRef:
        last_cmd = (row.state or {}).get("cmd")
        announced = row.model is not None
        ref = DeviceRef(row.id, area_id, row.kind, row.status, row.state_ts, last_cmd, row.via, announced)
        self.add(key, ref)
        return ref
