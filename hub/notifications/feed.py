"""The live feed: new notifications fanned out to the open streams of their area.

It reuses ``LiveHub`` (bounded queue per stream, ``resync`` on overflow); residents'
streams take ``notification`` events, the head's and deputies' ``staff_notification`` too.
"""

from __future__ import annotations

from typing import Any

from hub.live import LiveHub
from hub.models import Role, as_utc
from hub.notifications.models import Audience, Notification

RESIDENT_EVENT = "notification"
STAFF_EVENT = "staff_notification"
RESIDENT_FEED = frozenset({RESIDENT_EVENT})
STAFF_FEED = frozenset({RESIDENT_EVENT, STAFF_EVENT})


def feed_for(role: str) -> frozenset[str]:
    """The feed events a user of this role may receive."""
    return RESIDENT_FEED if role == Role.RESIDENT else STAFF_FEED


def audiences_for(role: str) -> tuple[str, ...]:
    """The audiences whose notifications a user of this role may read."""
    if role == Role.RESIDENT:
        return (Audience.RESIDENTS.value,)
    return (Audience.RESIDENTS.value, Audience.STAFF.value)


def public(n: Notification) -> dict[str, Any]:
    """A notification as the feed, the API and the push payload show it (JSON-able)."""
    return {
        "id": n.id,
        "kind": n.kind,
        "audience": n.audience,
        "title": n.title,
        "body": n.body,
        "priority": n.priority,
        "audio_url": n.audio_url,
        "ref": n.ref,
        # The same form as the API's times (pydantic writes UTC as "Z").
        "created_at": as_utc(n.created_at).isoformat().replace("+00:00", "Z"),
    }


def publish(feed: LiveHub, area_code: str, n: Notification) -> None:
    """Hand a committed notification to the area's open streams (never blocks)."""
    event = RESIDENT_EVENT if n.audience == Audience.RESIDENTS else STAFF_EVENT
    feed.publish(area_code, event, public(n))
