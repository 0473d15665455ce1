"""An APScheduler trigger that fires at each step of a lighting timetable (clock or sun based)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apscheduler.triggers.base import BaseTrigger

from schedules.timetable import Timetable, next_occurrence


class TimetableTrigger(BaseTrigger):  # type: ignore[misc]
    """Pickled into the job store with the timetable it was built from."""

    __slots__ = ("timetable",)

    def __init__(self, timetable: Timetable) -> None:
        self.timetable = timetable

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        after = previous_fire_time if previous_fire_time is not None else now
        occurrence = next_occurrence(self.timetable, after)
        return occurrence.at if occurrence else None

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 1, "timetable": self.timetable}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.timetable = state["timetable"]

    def __str__(self) -> str:
        return f"timetable[{self.timetable.id}]"
