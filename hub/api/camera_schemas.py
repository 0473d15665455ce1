"""Response models of the camera status list."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from hub.api.schemas import DeviceEventPublic


class CameraStatePublic(BaseModel):
    """What the camera last reported; ``ts`` is the camera's own clock (epoch ms)."""

    recording: bool
    motion: bool
    tampering: bool
    storage: str
    ts: int


class CameraPublic(BaseModel):
    device_id: str
    name: str
    zone_id: int | None
    status: str
    model: str | None
    firmware: str | None
    online: bool
    availability_at: datetime | None
    last_seen: datetime | None
    state: CameraStatePublic | None
    events: list[DeviceEventPublic]
