"""Timetable arithmetic without a broker: sun times against an independent reference, DST, exceptions."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import ephem
import pytest

from schedules.sun import Place, sun_event
from schedules.timetable import (
    LightAction,
    Step,
    Timetable,
    Trigger,
    last_occurrence,
    local_at,
    occurrences,
)
from schedules.trigger import TimetableTrigger

VIET_TRI = Place(21.32, 105.40, "Asia/Ho_Chi_Minh")
NEW_YORK = Place(40.71, -74.01, "America/New_York")
ON_FULL = LightAction(True, 100)
HALF = LightAction(True, 50)
OFF = LightAction(False)
EVENING = (
    Step(Trigger.SUNSET, ON_FULL, offset_min=-15),
    Step(Trigger.CLOCK, HALF, at=time(23, 0)),
    Step(Trigger.SUNRISE, OFF, offset_min=10),
)


def ephem_sun(place: Place, day: date, event: str) -> datetime:
    """Sunrise/sunset from PyEphem (a different algorithm and code base than astral)."""
    tz = ZoneInfo(place.timezone)
    obs = ephem.Observer()
    obs.lat, obs.lon = str(place.latitude), str(place.longitude)
    obs.pressure = 0
    obs.horizon = "-0:34"  # refraction; with the upper limb this is astral's 90.833° zenith
    obs.date = datetime.combine(day, time(0), tz).astimezone(UTC).replace(tzinfo=None)
    sun = ephem.Sun()
    found = obs.next_rising(sun) if event == "sunrise" else obs.next_setting(sun)
    return found.datetime().replace(tzinfo=UTC).astimezone(tz)  # type: ignore[no-any-return]


@pytest.mark.parametrize("day", [date(2026, 3, 20), date(2026, 6, 21), date(2026, 9, 23), date(2026, 12, 21)])
@pytest.mark.parametrize("event", ["sunrise", "sunset"])
def test_sun_times_for_viet_tri_match_an_independent_reference(day: date, event: str) -> None:
    ours = sun_event(VIET_TRI, day, event)
    assert ours is not None
    reference = ephem_sun(VIET_TRI, day, event)
    assert abs((ours - reference).total_seconds()) < 60, (ours, reference)
    assert ours.utcoffset() == timedelta(hours=7)


def test_sun_steps_follow_that_dates_sunset() -> None:
    tt = Timetable(1, VIET_TRI, EVENING)
    start = datetime(2026, 6, 21, 5, 0, tzinfo=UTC)  # 12:00 local
    occ = occurrences(tt, start, start + timedelta(hours=24))
    assert [o.step.action for o in occ] == [ON_FULL, HALF, OFF]
    sunset = sun_event(VIET_TRI, date(2026, 6, 21), "sunset")
    assert sunset is not None
    assert occ[0].at == (sunset - timedelta(minutes=15)).astimezone(UTC)
    assert occ[0].sun_at == sunset
    assert occ[1].at.astimezone(VIET_TRI.tz).time() == time(23, 0)
    assert occ[2].day == date(2026, 6, 22)


def test_exception_date_replaces_the_days_steps() -> None:
    tet = date(2027, 2, 6)
    tt = Timetable(1, VIET_TRI, EVENING, exceptions={tet: (Step(Trigger.SUNSET, ON_FULL),)})
    start = datetime.combine(tet, time(12), VIET_TRI.tz).astimezone(UTC)
    occ = occurrences(tt, start, start + timedelta(hours=12))
    assert [o.step.action for o in occ] == [ON_FULL]  # no 23:00 dimming on Tết eve


def test_weekday_mask_and_date_range() -> None:
    tt = Timetable(
        1,
        VIET_TRI,
        (Step(Trigger.CLOCK, HALF, at=time(6, 0)),),
        weekdays=frozenset({0}),
        valid_until=date(2026, 12, 31),
    )
    start = datetime(2026, 11, 1, tzinfo=UTC)
    occ = occurrences(tt, start, start + timedelta(days=90))
    assert occ
    assert all(o.day.weekday() == 0 and o.day <= date(2026, 12, 31) for o in occ)


def test_desired_step_is_the_latest_one_before_now() -> None:
    tt = Timetable(1, VIET_TRI, EVENING)
    late_night = datetime.combine(date(2026, 6, 21), time(23, 30), VIET_TRI.tz)
    last = last_occurrence(tt, late_night)
    assert last is not None
    assert last.step.action == HALF


@pytest.mark.parametrize("day", [date(2026, 3, 8), date(2026, 11, 1)])
def test_dst_changes_neither_skip_nor_double_a_step(day: date) -> None:
    steps = (
        Step(Trigger.CLOCK, HALF, at=time(2, 30)),
        Step(Trigger.CLOCK, OFF, at=time(1, 30)),
        Step(Trigger.SUNSET, ON_FULL),
    )
    tt = Timetable(1, NEW_YORK, steps)
    start = datetime.combine(day, time(0), NEW_YORK.tz).astimezone(UTC)
    occ = occurrences(tt, start - timedelta(seconds=1), start + timedelta(hours=24))
    same_day = [o for o in occ if o.day == day]
    assert sorted(o.step.describe() for o in same_day) == ["01:30", "02:30", "sunset"]
    assert len({o.at for o in same_day}) == 3


def test_spring_forward_step_runs_when_the_clock_jumps() -> None:
    at = local_at(date(2026, 3, 8), time(2, 30), NEW_YORK)
    assert at.astimezone(NEW_YORK.tz).replace(tzinfo=None) == datetime(2026, 3, 8, 3, 0)


def test_fall_back_step_runs_at_its_first_occurrence() -> None:
    at = local_at(date(2026, 11, 1), time(1, 30), NEW_YORK)
    assert at.astimezone(NEW_YORK.tz).utcoffset() == timedelta(hours=-4)


def test_trigger_fires_once_per_step_across_a_dst_change_and_survives_pickling() -> None:
    tt = Timetable(1, NEW_YORK, (Step(Trigger.CLOCK, HALF, at=time(2, 30)),))
    trigger = pickle.loads(pickle.dumps(TimetableTrigger(tt)))
    fire = trigger.get_next_fire_time(None, datetime(2026, 3, 6, tzinfo=UTC))
    seen = []
    for _ in range(5):
        seen.append(fire.astimezone(NEW_YORK.tz))
        fire = trigger.get_next_fire_time(fire, fire)
    assert [d.date() for d in seen] == [date(2026, 3, d) for d in (6, 7, 8, 9, 10)]
    assert [d.time() for d in seen] == [time(2, 30), time(2, 30), time(3, 0), time(2, 30), time(2, 30)]


def test_trigger_with_a_lead_fires_that_long_before_each_step_and_keeps_it_when_pickled() -> None:
    tt = Timetable(1, NEW_YORK, (Step(Trigger.CLOCK, HALF, at=time(18, 0)),))
    lead = timedelta(milliseconds=500)
    trigger = pickle.loads(pickle.dumps(TimetableTrigger(tt, lead)))
    start = datetime(2026, 6, 1, 12, tzinfo=UTC)
    first = trigger.get_next_fire_time(None, start)
    step = local_at(date(2026, 6, 1), time(18, 0), NEW_YORK)
    assert first == step - lead
    tomorrow = local_at(date(2026, 6, 2), time(18, 0), NEW_YORK)
    assert trigger.get_next_fire_time(first, first) == tomorrow - lead
    # A step closer than the lead is still ahead: its firing time is already past, so it runs at once.
    assert trigger.get_next_fire_time(None, step - lead / 2) == step - lead


def test_trigger_pickled_before_leads_existed_fires_at_the_step() -> None:
    tt = Timetable(1, NEW_YORK, (Step(Trigger.CLOCK, HALF, at=time(18, 0)),))
    old = TimetableTrigger.__new__(TimetableTrigger)
    old.__setstate__({"version": 1, "timetable": tt})
    fire = old.get_next_fire_time(None, datetime(2026, 6, 1, 12, tzinfo=UTC))
    assert fire == local_at(date(2026, 6, 1), time(18, 0), NEW_YORK)
