"""Quiet hours: a daily local time range (overnight ranges like 22:00-06:00 included)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class QuietHoursError(ValueError):
    pass


def parse_hhmm(value: str) -> time:
    """``"22:30"`` -> 22:30; QuietHoursError for anything else."""
    m = _HHMM.match(value)
    if m is None:
        raise QuietHoursError(f"{value!r} is not a time of day as HH:MM (00:00 to 23:59)")
    return time(int(m.group(1)), int(m.group(2)))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise QuietHoursError(f"unknown time zone {name!r}; use an IANA name like Asia/Ho_Chi_Minh") from None


@dataclass(frozen=True, slots=True)
class QuietHours:
    """From ``start`` (inclusive) to ``end`` (exclusive), local time in ``tz``, every day."""

    start: time
    end: time
    tz: ZoneInfo

    @classmethod
    def parse(cls, start: str, end: str, tz: str) -> QuietHours:
        qh = cls(parse_hhmm(start), parse_hhmm(end), zone(tz))
        if qh.start == qh.end:
            # Either nothing or the whole day: both are better said another way.
            raise QuietHoursError("quiet hours must start and end at different times")
        return qh

    def active(self, now: datetime) -> bool:
        """Whether ``now`` (an aware datetime) falls within the quiet hours."""
        local = now.astimezone(self.tz).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # overnight: wraps past midnight

    def ends_after(self, now: datetime) -> datetime:
        """The first end of quiet hours after ``now``, in UTC (``now`` itself when not quiet)."""
        if not self.active(now):
            return now.astimezone(UTC)
        local = now.astimezone(self.tz)
        # Wall-clock arithmetic on dates, then localised: right across daylight-saving changes.
        day = local.date()
        if local.time().replace(tzinfo=None) >= self.end:
            day += timedelta(days=1)  # an overnight range that ends tomorrow morning
        end = datetime.combine(day, self.end, tzinfo=self.tz)
        return end.astimezone(UTC)
