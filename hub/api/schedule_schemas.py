"""Request and response models of lighting timetables and the schedule preview."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    steps: Steps | None = None
    weekdays: Annotated[list[Weekday], Field(min_length=1, max_length=7)] | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    exceptions: dict[date, Steps] | None = None
    misfire: MisfirePolicy | None = None
    grace_s: Annotated[int, Field(ge=1, le=86_400)] | None = None
    enabled: bool | None = Field(None, description="false pauses the timetable")


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
    kind: str
    schedule_id: int
    schedule_name: str
    zone_id: int | None
    step: str
    action: str
    sun_event_at: str | None = Field(None, description="the sunrise/sunset the step is computed from, local")


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
