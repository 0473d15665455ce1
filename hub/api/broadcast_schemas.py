"""Request and response models of announcements, audio and the broadcast log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from devices.payloads import Priority
from hub.api.schemas import UtcDateTime
from hub.broadcasts.announce import MAX_TEXT


class AnnouncementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=200)]
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)] | None = Field(
        None, description="read out in Vietnamese with the area's voice"
    )
    audio_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="an uploaded file, instead of text"
    )
    zone_ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=100)] | None = (
        Field(None, description="omit for every speaker of the area")
    )
    priority: Priority = Field(
        Priority.NORMAL,
        description="Circular 39/2020: normal waits its turn, priority goes next, emergency interrupts",
    )
    start_at: AwareDatetime | None = Field(None, description="play at this time instead of now")
    notify: bool = Field(True, description="also notify residents' phones")


class AudioPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    source: str
    content_type: str
    size_bytes: int
    duration_ms: int
    url: str


class SpeakerDeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: str
    status: str
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    error: str | None
    clock_synced: bool | None = Field(
        None, description="the speaker's clock was NTP-synchronised when it started (None: not reported)"
    )
    clock_offset_ms: float | None = Field(None, description="its clock's offset from NTP time then")

    @model_validator(mode="before")
    @classmethod
    def _clock(cls, data: Any) -> Any:
        """The clock fields come from the delivery's ``detail``."""
        detail = getattr(data, "detail", None)
        if isinstance(detail, dict) and not isinstance(data, dict):
            return {
                **{
                    k: getattr(data, k) for k in ("device_id", "status", "started_at", "finished_at", "error")
                },
                "clock_synced": detail.get("clock_synced"),
                "clock_offset_ms": detail.get("clock_offset_ms"),
            }
        return data


class Coverage(BaseModel):
    targeted: int
    started: int
    finished: int
    percent: float = Field(description="speakers that played it to the end, of those targeted")
    offline: list[str]
    failed: list[str]
    stopped: list[str] = Field(default_factory=list, description="speakers a stop order ended")
    played_percent: float = Field(
        0.0,
        description="how much of the announcement the targeted speakers sounded, on average: one "
        "stopped halfway counts half",
    )
    start_spread_ms: float | None = Field(None, description="latest minus earliest actual start")


class AnnouncementPublic(BaseModel):
    id: str
    title: str
    text: str | None
    priority: str
    status: str
    source: str
    zone_ids: list[int] | None
    audio_id: str
    audio_url: str
    duration_ms: int
    not_before: UtcDateTime
    start_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    resumes: str | None
    note: str
    created_by: str | None
    # The sender's display name (their username when they have none): what people read.
    created_by_name: str | None = None
    created_at: UtcDateTime
    coverage: Coverage | None = None
    deliveries: list[SpeakerDeliveryPublic] | None = None


def spread_ms(starts: list[datetime]) -> float | None:
    return (max(starts) - min(starts)).total_seconds() * 1000 if len(starts) > 1 else None
