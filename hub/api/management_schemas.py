"""Request models for managing accounts, areas, zones and devices (``XCreate / XUpdate``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from devices.payloads import Ident, Kind
from devices.protocols import KINDS_BY_PROTOCOL, Protocol
from hub.api.patch_fields import NotNull
from hub.auth.accounts import MIN_PASSWORD_LENGTH
from hub.models import Role

Username = Annotated[
    str,
    StringConstraints(min_length=3, max_length=64, pattern=r"^[a-z0-9._-]+$"),
    Field(description="3 to 64 of a-z, 0-9, '.', '_', '-'"),
]
Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=256)]
# Stripped first, so a name of blanks is refused as too short.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
TimeZone = Annotated[str, Field(min_length=1, max_length=64, description="IANA name, e.g. Asia/Ho_Chi_Minh")]
ZoneId = Annotated[int, Field(ge=1)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Update(_Request):
    @model_validator(mode="after")
    def _not_empty(self) -> _Update:
        if not self.model_fields_set:
            raise ValueError(f"nothing to change: send at least one of {', '.join(type(self).model_fields)}")
        return self


class UserCreate(_Request):
    username: Username
    password: Password
    role: Role
    area_code: Ident | None = Field(
        None, description="required for every role but admin; a head's own area when left out"
    )
    display_name: Name | None = None

    @model_validator(mode="after")
    def _admin_has_no_area(self) -> UserCreate:
        if self.role is Role.ADMIN and self.area_code is not None:
            raise ValueError("an admin belongs to no area: leave area_code out")
        return self


class UserUpdate(_Update):
    display_name: NotNull[Name] = None
    active: NotNull[bool] = None
    password: NotNull[Password] = Field(None, description="a new password; ends the user's sessions")


class AreaCreate(_Request):
    code: Ident
    name: Name
    latitude: Latitude
    longitude: Longitude
    timezone: TimeZone | None = Field(None, description="default: the hub's (Asia/Ho_Chi_Minh)")


class AreaUpdate(_Update):
    name: NotNull[Name] = None
    latitude: NotNull[Latitude] = None
    longitude: NotNull[Longitude] = None
    timezone: NotNull[TimeZone] = None
    tts_voice: NotNull[Literal["vi", "vi-vn-x-central", "vi-vn-x-south"]] = Field(
        None, description="voice that reads text announcements: northern, central or southern"
    )
    local_changes: NotNull[Literal["adopt", "hub_wins"]] = Field(
        None,
        description="a light changed at the light itself (wall switch, its button): adopt it as the "
        "desired state, or let the hub put its desired state back (hub_wins)",
    )


class ZoneCreate(_Request):
    name: Name


class ZoneUpdate(_Request):
    name: Name


class DeviceUpdate(_Update):
    name: NotNull[Name] = None
    zone_id: ZoneId | None = Field(None, description="null takes the device out of its zone")


class DeviceAccept(_Request):
    name: Name | None = None
    zone_id: ZoneId | None = None


class DeviceCreate(_Request):
    device_id: Ident
    kind: Kind
    protocol: Protocol = Field(
        "native", description="what the device speaks: the hub's own protocol, Tasmota, Zigbee2MQTT, ..."
    )
    name: Name | None = Field(None, description="default: the device id")
    zone_id: ZoneId | None = None

    @model_validator(mode="after")
    def _kind_fits_protocol(self) -> DeviceCreate:
        kinds = KINDS_BY_PROTOCOL[self.protocol]
        if self.kind not in kinds:
            allowed = " or ".join(k.value for k in kinds)
            hint = ""
            if self.protocol in ("zigbee2mqtt", "frigate"):
                hint = "; add the bridge: the devices behind it announce themselves through it"
            raise ValueError(f"a {self.protocol} device is a {allowed}, not a {self.kind.value}{hint}")
        return self


class EnrolmentOpen(_Request):
    minutes: int = Field(30, ge=1, le=24 * 60, description="how long new devices may announce themselves")
