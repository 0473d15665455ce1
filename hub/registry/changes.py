"""What an accepted report changed, as the ingest writer tells its listeners."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.models import DeviceStatus

# A device in one of these states speaks for nothing any more.
CLOSED = (DeviceStatus.RETIRED.value, DeviceStatus.REJECTED.value)


@dataclass(frozen=True, slots=True)
class Change:
    """What one accepted report changed, for live listeners.

    ``fields`` holds one of: ``online``; ``state`` (the device's new state); ``answer`` (a
    command's answer that a newer stored state overtook: it confirms, the state stays);
    ``event``; or what an announcement changed.
    """

    area: str
    device: str
    kind: str
    fields: dict[str, Any]
    # Replayed by the broker from its retained copy, not published now (see schedules.local_changes).
    retained: bool = False


# (area, device, gateway): a device registered in advance announced for the first time, via
# that gateway, which must now be let to speak for it.
Claim = tuple[str, str, str]


def jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields as a live event carries them (times as ISO 8601)."""
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()}
