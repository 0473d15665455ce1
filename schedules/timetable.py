"""Lighting timetables as pure data: when each step happens, and what a light should be doing now.

A step is evaluated for each calendar day the timetable applies to (weekday mask, date
range); an exception date replaces that day's steps (Tết: all night at full).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache

from schedules.sun import Place, sun_event

ALL_DAYS = frozenset(range(7))  # Monday = 0


class Trigger(StrEnum):
    CLOCK = "clock"
    SUNRISE = "sunrise"
    SUNSET = "sunset"


@dataclass(frozen=True, slots=True)
class LightAction:
    on: bool
    level: int | None = None


@dataclass(frozen=True, slots=True)
class Step:
    trigger: Trigger
    action: LightAction
    at: time | None = None  # clock steps
    offset_min: int = 0  # sun steps: minutes after (+) or before (-) the event

    def describe(self) -> str:
        if self.trigger is Trigger.CLOCK:
            return f"{self.at:%H:%M}" if self.at else "?"
        sign = "+" if self.offset_min >= 0 else "-"
        return (
            f"{self.trigger.value} {sign} {abs(self.offset_min)} min"
            if self.offset_min
            else self.trigger.value
        )


@dataclass(frozen=True, slots=True)
class Timetable:
    id: int
    place: Place
    steps: tuple[Step, ...]
    weekdays: frozenset[int] = ALL_DAYS
    valid_from: date | None = None
    valid_until: date | None = None
    exceptions: dict[date, tuple[Step, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Occurrence:
    at: datetime  # aware, UTC
    day: date  # the local calendar day the step belongs to
    step: Step
    sun_at: datetime | None = None  # the sunrise/sunset it was computed from (local)


# Pure and called for every step of every day looked at (a trigger's next run, a job's due
# step, desired state): a 20-step timetable took ~1.5 ms per lookup. Bounded.
@lru_cache(maxsize=16384)
def local_at(day: date, at: time, place: Place) -> datetime:
    """A wall-clock time on a local day, as an aware UTC instant.

    In a spring-forward gap the step happens when the clock jumps (never skipped); in a
    fall-back overlap it happens the first time (never doubled).
    """
    tz = place.tz
    naive = datetime.combine(day, at)
    first = naive.replace(tzinfo=tz, fold=0)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive:
        return first.astimezone(UTC)
    # Nonexistent local time: walk from just before the gap to the moment the clock jumps,
    # which keeps steps in order (a 02:30 step still comes before a 03:15 one).
    moment = min(naive.replace(tzinfo=tz, fold=f).astimezone(UTC) for f in (0, 1))
    while moment.astimezone(tz).replace(tzinfo=None) < naive:
        moment += timedelta(minutes=1)
    return moment.replace(second=0, microsecond=0)


def step_time(step: Step, day: date, place: Place) -> tuple[datetime, datetime | None] | None:
    """When ``step`` happens on local ``day`` (UTC), with the sun event it used; None if never."""
    if step.trigger is Trigger.CLOCK:
        assert step.at is not None
        return local_at(day, step.at, place), None
    sun = sun_event(place, day, step.trigger.value)
    if sun is None:
        return None
    return (sun + timedelta(minutes=step.offset_min)).astimezone(UTC), sun


def applies_on(tt: Timetable, day: date) -> bool:
    if tt.valid_from and day < tt.valid_from:
        return False
    if tt.valid_until and day > tt.valid_until:
        return False
    return day in tt.exceptions or day.weekday() in tt.weekdays


def steps_on(tt: Timetable, day: date) -> tuple[Step, ...]:
    return tt.exceptions.get(day, tt.steps) if applies_on(tt, day) else ()


def occurrences(tt: Timetable, start: datetime, end: datetime) -> list[Occurrence]:
    """Every step occurrence with ``start < at <= end``, in time order."""
    tz = tt.place.tz
    # Sun offsets can push a step over midnight; look one day either side.
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    out: list[Occurrence] = []
    day = first
    while day <= last:
        for step in steps_on(tt, day):
            when = step_time(step, day, tt.place)
            if when is not None and start < when[0] <= end:
                out.append(Occurrence(when[0], day, step, when[1]))
        day += timedelta(days=1)
    out.sort(key=lambda o: o.at)
    return out


def next_occurrence(tt: Timetable, after: datetime, horizon_days: int = 400) -> Occurrence | None:
    """The first occurrence strictly after ``after`` (None if the timetable has ended)."""
    start = after
    for _ in range(horizon_days // 7 + 1):
        end = start + timedelta(days=7)
        found = occurrences(tt, start, end)
        if found:
            return found[0]
        if tt.valid_until and start.date() > tt.valid_until:
            return None
        start = end
    return None


def last_occurrence(tt: Timetable, at_or_before: datetime, lookback_days: int = 8) -> Occurrence | None:
    """The latest occurrence at or before an instant: what the timetable says should hold now."""
    # Most timetables have a step every day: the last two days first (the latest occurrence
    # in a window that ends at the instant is the latest of all), the whole lookback only
    # when they hold none. Each day costs a sunrise/sunset computation per sun step.
    for days in sorted({min(2, lookback_days), lookback_days}):
        found = occurrences(tt, at_or_before - timedelta(days=days), at_or_before)
        if found:
            return found[-1]
    return None
