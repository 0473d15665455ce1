"""Sunrise and sunset for an area, from its latitude and longitude (``astral``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from astral import Observer
from astral.sun import sunrise, sunset


@dataclass(frozen=True, slots=True)
class Place:
    latitude: float
    longitude: float
    timezone: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@lru_cache(maxsize=4096)
def _sun(lat: float, lon: float, tz: str, day: date, event: str) -> datetime | None:
    observer = Observer(latitude=lat, longitude=lon)
    fn = sunrise if event == "sunrise" else sunset
    try:
        return fn(observer, date=day, tzinfo=ZoneInfo(tz))
    except ValueError:
        return None  # the sun does not rise or set that day (polar day or night)


def sun_event(place: Place, day: date, event: str) -> datetime | None:
    """Local time of ``sunrise`` or ``sunset`` on ``day``; None when it does not happen."""
    return _sun(place.latitude, place.longitude, place.timezone, day, event)
