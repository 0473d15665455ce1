"""Request and response models of lighting timetables and the schedule preview."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from devices.payloads import Priority
from hub.api.patch_fields import NotNull
from hub.api.schemas import UtcDateTime
from schedules.convert import MisfirePolicy, StepSpec

Weekday = Annotated[int, Field(ge=0, le=6, description="0 = Monday … 6 = Sunday")]
Steps = Annotated[list[StepSpec], Field(min_length=1, max_length=24)]


class TimetableBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("exceptions", check_fields=False)
    @classmethod
    def _few_exceptions(cls, value: dict[date, list[StepSpec]] | None) -> dict[date, list[StepSpec]] | None:
        if value is not None and len(value) > 366:
            raise ValueError("at most 366 exception dates")
        return value


class TimetableCreate(TimetableBase):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    zone_id: Annotated[int, Field(ge=1)] | None = Field(None, description="omit for the whole area")
    steps: Steps
    weekdays: Annotated[list[Weekday], Field(min_length=1, max_length=7)] = list(range(7))
    valid_from: date | None = None
    valid_until: date | None = None
    exceptions: dict[date, Steps] = Field(
        default_factory=dict, description="dates whose steps replace the usual"
    )
    misfire: MisfirePolicy = Field(
        "run_late", description="a step missed while the hub was down: run late or skip"
    )
    grace_s: Annotated[int, Field(ge=1, le=86_400)] = 300
    enabled: bool = True


class TimetableUpdate(TimetableBase):
    """Fields left out keep their value; only the dates may be null (no bound)."""

    name: NotNull[Annotated[str, Field(min_length=1, max_length=120)]] = None
    steps: NotNull[Steps] = None
    weekdays: NotNull[Annotated[list[Weekday], Field(min_length=1, max_length=7)]] = None
    valid_from: date | None = Field(None, description="null: from any date")
    valid_until: date | None = Field(None, description="null: with no end")
    exceptions: NotNull[dict[date, Steps]] = None
    misfire: NotNull[MisfirePolicy] = None
    grace_s: NotNull[Annotated[int, Field(ge=1, le=86_400)]] = None
    enabled: NotNull[bool] = Field(None, description="false pauses the timetable")


class TimetablePublic(BaseModel):
    id: int
    name: str
    zone_id: int | None
    steps: list[StepSpec]
    weekdays: list[int]
    valid_from: date | None
    valid_until: date | None
    exceptions: dict[date, list[StepSpec]]
    misfire: str
    grace_s: int
    enabled: bool
    next_run: UtcDateTime | None = Field(None, description="next firing, when this hub runs the scheduler")
    updated_at: UtcDateTime


class PreviewItem(BaseModel):
    at: UtcDateTime
    local_time: str
    kind: str = Field(description="lighting, broadcast (a programme) or announcement (one-off, for later)")
    schedule_id: int | None = Field(description="the timetable or programme; null for an announcement")
    schedule_name: str
    zone_id: int | None
    step: str
    action: str
    sun_event_at: str | None = Field(None, description="the sunrise/sunset the step is computed from, local")
    announcement_id: str | None = Field(None, description="the one-off announcement set for this time")
    zone_ids: list[int] | None = Field(None, description="an announcement's zones; null for the whole area")


class ScheduleRunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    schedule_kind: str
    schedule_id: int
    planned_at: UtcDateTime
    ran_at: UtcDateTime | None
    outcome: str
    detail: str


class DesiredLightPublic(BaseModel):
    device_id: str
    on: bool
    level: int | None
    source: str
    since: UtcDateTime
    timetable_id: int | None


Recurrence = Literal["once", "daily", "weekly", "monthly", "cron"]
ClockTime = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", description="local HH:MM")]


class ProgrammeBase(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProgrammeCreate(ProgrammeBase):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    text: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    audio_id: Annotated[str, Field(max_length=64)] | None = None
    zone_ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=100)] | None = None
    priority: Priority = Priority.NORMAL
    recurrence: Recurrence
    at: ClockTime | None = None
    on_date: date | None = Field(None, description="for recurrence=once")
    weekdays: Annotated[list[Weekday], Field(min_length=1, max_length=7)] = list(range(7))
    day_of_month: Annotated[int, Field(ge=1, le=31)] | None = None
    cron: Annotated[str, Field(max_length=120)] | None = Field(None, description="5-field crontab, area time")
    misfire: MisfirePolicy = "skip"
    grace_s: Annotated[int, Field(ge=1, le=86_400)] = 120
    enabled: bool = True


class ProgrammeUpdate(ProgrammeBase):
    """Fields left out keep their value; null is refused except where it means something."""

    name: NotNull[Annotated[str, Field(min_length=1, max_length=120)]] = None
    title: NotNull[Annotated[str, Field(min_length=1, max_length=200)]] = None
    text: Annotated[str, Field(min_length=1, max_length=2000)] | None = Field(
        None, description="null: no text (the programme plays its audio_id)"
    )
    zone_ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=100)] | None = (
        Field(None, description="null: the whole area")
    )
    priority: NotNull[Priority] = None
    recurrence: NotNull[Recurrence] = None
    at: ClockTime | None = Field(None, description="null: unset (a cron programme needs none)")
    on_date: date | None = Field(None, description="null: unset (only recurrence=once needs it)")
    weekdays: NotNull[Annotated[list[Weekday], Field(min_length=1, max_length=7)]] = None
    day_of_month: Annotated[int, Field(ge=1, le=31)] | None = Field(None, description="null: unset")
    cron: Annotated[str, Field(max_length=120)] | None = Field(None, description="null: unset")
    misfire: NotNull[MisfirePolicy] = None
    grace_s: NotNull[Annotated[int, Field(ge=1, le=86_400)]] = None
    enabled: NotNull[bool] = None


class ProgrammePublic(BaseModel):
    id: int
    name: str
    title: str
    text: str | None
    audio_id: str | None
    zone_ids: list[int] | None
    priority: str
    recurrence: str
    at: str | None
    on_date: date | None
    weekdays: list[int]
    day_of_month: int | None
    cron: str | None
    misfire: str
    grace_s: int
    enabled: bool
    next_run: UtcDateTime | None
    updated_at: UtcDateTime
