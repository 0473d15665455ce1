"""Times written for people in an area: its own clock, with the offset so nothing is ambiguous."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def local_iso(at: datetime, zone: ZoneInfo) -> str:
    """ISO 8601 in the area's time, with its offset ("2026-12-04T19:05:00+07:00")."""
    when = at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return when.astimezone(zone).isoformat(timespec="seconds")
