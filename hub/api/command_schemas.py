"""Request and response models of device commands."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from devices.payloads import Ident, Percent
from hub.api.schemas import UtcDateTime


class Target(BaseModel):
    """Exactly one of: a device, a zone, or the whole area."""

    model_config = ConfigDict(extra="forbid")

    device_id: Ident | None = None
    zone_id: Annotated[int, Field(ge=1)] | None = None
    area: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> Target:
        chosen = sum([self.device_id is not None, self.zone_id is not None, self.area])
        if chosen != 1:
            raise ValueError("target exactly one of device_id, zone_id or area=true")
        return self

    def describe(self) -> str:
        if self.device_id is not None:
            return f"device:{self.device_id}"
        return f"zone:{self.zone_id}" if self.zone_id is not None else "area"


class LightSetAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["light.set"]
    on: bool | None = None
    level: Percent | None = None

    @model_validator(mode="after")
    def _something(self) -> LightSetAction:
        if self.on is None and self.level is None:
            raise ValueError("light.set needs 'on', 'level' or both")
        return self


class SpeakerVolumeAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["speaker.volume"]
    volume: Percent


class SpeakerStopAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["speaker.stop"]


Action = Annotated[LightSetAction | SpeakerVolumeAction | SpeakerStopAction, Field(discriminator="type")]


class CommandCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: Target
    action: Action
    wait_ms: Annotated[int, Field(ge=0, le=30_000)] | None = Field(
        None, description="how long to wait for confirmations (default from settings)"
    )
    ttl_s: Annotated[int, Field(ge=1, le=7 * 86400)] | None = Field(
        None, description="how long a command waits for an offline device before it expires"
    )


class OutcomePublic(BaseModel):
    device_id: str
    command_id: str
    status: str
    state: dict[str, Any] | None
    error: str | None


class CommandGroupPublic(BaseModel):
    group_id: str
    action: str
    target: str
    results: list[OutcomePublic]
    summary: dict[str, int]
    pending: list[str] = Field(description="devices that did not confirm in time; see GET /commands later")


class CommandPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    group_id: str
    device_id: str
    action: str
    params: dict[str, Any]
    status: str
    error: str | None
    result_state: dict[str, Any] | None
    issued_by: int | None
    source: str = Field(
        description="what issued it: manual (a person), schedule (a timetable step), restore (desired "
        "state re-applied), emergency, broadcast or resumed (announcements); local is a change made "
        "at the light itself, recorded as the desired state (protocol 6.9)"
    )
    created_at: UtcDateTime
    sent_at: UtcDateTime | None
    expires_at: UtcDateTime
    finished_at: UtcDateTime | None
