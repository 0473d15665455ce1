"""Request models for managing accounts, areas, zones and devices (``XCreate / XUpdate``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from devices.payloads import Ident, Kind
from hub.accounts import MIN_PASSWORD_LENGTH
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
    display_name: Name | None = None
    active: bool | None = None
    password: Password | None = Field(None, description="a new password; ends the user's sessions")


class AreaCreate(_Request):
    code: Ident
    name: Name
    latitude: Latitude
    longitude: Longitude
    timezone: TimeZone | None = Field(None, description="default: the hub's (Asia/Ho_Chi_Minh)")


class AreaUpdate(_Update):
    name: Name | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    timezone: TimeZone | None = None
    tts_voice: Literal["vi", "vi-vn-x-central", "vi-vn-x-south"] | None = Field(
        None, description="voice that reads text announcements: northern, central or southern"
    )


class ZoneCreate(_Request):
    name: Name


class ZoneUpdate(_Request):
    name: Name


class DeviceUpdate(_Update):
    name: Name | None = None
    zone_id: ZoneId | None = Field(None, description="null takes the device out of its zone")


class DeviceAccept(_Request):
    name: Name | None = None
    zone_id: ZoneId | None = None


class DeviceCreate(_Request):
    device_id: Ident
    kind: Kind
    name: Name | None = Field(None, description="default: the device id")
    zone_id: ZoneId | None = None
