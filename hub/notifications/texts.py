"""Vietnamese wording shared by the notifications: durations and local times."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def vi_duration(seconds: float) -> str:
    """``192`` -> "3 phút 12 giây" (hours: giờ, minutes: phút, seconds: giây); two units at most."""
    total = max(0, round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "ngày"), (hours, "giờ"), (minutes, "phút"), (secs, "giây")]
    shown = [f"{n} {name}" for n, name in units if n][:2]
    return " ".join(shown) if shown else "0 giây"


def local_time(at: datetime, tz: str) -> str:
    """``14:05 ngày 03/02/2025`` in the area's time zone (ngày = "on the day")."""
    local = at.astimezone(ZoneInfo(tz))
    return f"{local:%H:%M} ngày {local:%d/%m/%Y}"
