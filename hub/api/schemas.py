"""Response and request models of the HTTP API (``XCreate / XUpdate / XPublic``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field

from hub.models import as_utc

# Every time the API returns is UTC with an explicit offset, whatever the database kept.
UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class ZonePublic(ORMModel):
    id: int
    name: str


class DeviceCounts(BaseModel):
    total: int = 0
    online: int = 0
    pending: int = 0


class AreaPublic(ORMModel):
    code: str
    name: str
    latitude: float
    longitude: float
    timezone: str
    tts_voice: str
    local_changes: str = "adopt"
    zones: list[ZonePublic]


class AreaSummary(AreaPublic):
    devices: dict[str, DeviceCounts]


class DevicePublic(ORMModel):
    device_id: str
    kind: str
    name: str
    zone_id: int | None
    status: str
    model: str | None
    firmware: str | None
    capabilities: list[str]
    via: str | None
    protocol: str = Field(validation_alias=AliasChoices("codec", "protocol"))
    online: bool
    availability_at: UtcDateTime | None
    last_seen: UtcDateTime | None
    state: dict[str, Any] | None


class MqttAccountPublic(BaseModel):
    """A device's broker account. The password is shown this once; the hub keeps no copy."""

    username: str
    password: str
    # The broker refuses this account under any other client id.
    client_id: str
    host: str
    port: int
    protocol: str
    # What to type into the device's own settings (its console, its YAML), line by line.
    setup: list[str]


class DeviceWithAccountPublic(DevicePublic):
    mqtt: MqttAccountPublic


class DeviceEventPublic(ORMModel):
    id: int
    type: str
    ts: int
    data: dict[str, Any]
    received_at: UtcDateTime


class UserPublic(ORMModel):
    id: int
    username: str
    display_name: str
    role: str
    area_id: int | None
    active: bool


class HealthPublic(BaseModel):
    status: str
    checks: dict[str, bool] = {}


class EnrolmentStatePublic(BaseModel):
    open: bool
    until: UtcDateTime | None


class EnrolmentPublic(EnrolmentStatePublic):
    """The enrolment account, shown once; it may only announce new devices."""

    username: str
    password: str
    host: str
    port: int
    # Where a device of the hub's own protocol announces itself (docs/protocol.md §9.2).
    native_topic: str
    # One console line for a Tasmota device; put its device id in place of <device id>.
    tasmota_backlog: str
