"""Between stored timetable rows (JSON steps) and the pure ``Timetable`` of schedules.timetable."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from devices.payloads import Percent
from schedules.sun import Place
from schedules.timetable import LightAction, Step, Timetable, Trigger


class StepSpec(BaseModel):
    """One step as the API and the database hold it."""

    model_config = ConfigDict(extra="forbid")

    trigger: Trigger
    at: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")] | None = Field(
        None, description="HH:MM (or HH:MM:SS) local time, for clock steps"
    )
    offset_min: Annotated[int, Field(ge=-720, le=720)] = Field(
        0, description="minutes after (+) or before (-) sunrise/sunset"
    )
    on: bool
    level: Percent | None = None

    @model_validator(mode="after")
    def _consistent(self) -> StepSpec:
        if self.trigger is Trigger.CLOCK and self.at is None:
            raise ValueError("a clock step needs 'at' (HH:MM)")
        if self.trigger is not Trigger.CLOCK and self.at is not None:
            raise ValueError(f"a {self.trigger.value} step takes 'offset_min', not 'at'")
        if not self.on and self.level not in (None, 0):
            raise ValueError("a step that switches off cannot set a level")
        return self

    def to_step(self) -> Step:
        at = time.fromisoformat(self.at) if self.at else None
        return Step(self.trigger, LightAction(self.on, self.level), at=at, offset_min=self.offset_min)


def weekdays_from_mask(mask: int) -> frozenset[int]:
    return frozenset(d for d in range(7) if mask & (1 << d))


def mask_from_weekdays(days: list[int]) -> int:
    return sum(1 << d for d in set(days))


def to_timetable(
    row_id: int,
    place: Place,
    steps: list[dict[str, Any]],
    weekdays: int,
    valid_from: date | None,
    valid_until: date | None,
    exceptions: dict[str, list[dict[str, Any]]],
) -> Timetable:
    return Timetable(
        id=row_id,
        place=place,
        steps=tuple(StepSpec.model_validate(s).to_step() for s in steps),
        weekdays=weekdays_from_mask(weekdays),
        valid_from=valid_from,
        valid_until=valid_until,
        exceptions={
            date.fromisoformat(day): tuple(StepSpec.model_validate(s).to_step() for s in day_steps)
            for day, day_steps in exceptions.items()
        },
    )


MisfirePolicy = Literal["run_late", "skip"]
