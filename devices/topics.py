"""Topic layout of the native protocol: ``khu/v1/<area>/<device>/<channel>``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

ROOT = "khu/v1"
HUB_STATUS_TOPIC = f"{ROOT}/_hub/status"
# Hub replicas tell each other what they ingested here; no device may read or write it.
HUB_PEERS_ROOT = "khu/hubs"

# Area codes and device ids travel in topics and in broker usernames, so they must
# never contain MQTT wildcards, separators or anything a shell or ACL would mangle.
IDENT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,47}$"
_IDENT = re.compile(IDENT_PATTERN)


class Channel(StrEnum):
    """What a topic carries."""

    CMD = "cmd"  # hub -> device, QoS 1, never retained
    STATE = "state"  # device -> hub, QoS 1, retained, after the device acted
    STATUS = "status"  # device -> hub, QoS 1, retained "online"/"offline", Last Will
    EVENT = "event"  # device -> hub, QoS 1, not retained
    INFO = "info"  # device -> hub, QoS 1, retained self-description


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    """A parsed native topic."""

    area: str
    device: str
    channel: Channel


def is_ident(value: str) -> bool:
    """True when ``value`` is a valid area code or device id."""
    # Too long to be one is decided here, so the cache only ever holds short strings.
    return len(value) <= 48 and _is_ident(value)


# Every command published and every report received checks two identifiers, and they are
# the same few thousand device ids again and again: the regex was ~2 % of a fan-out's CPU.
@lru_cache(maxsize=1 << 16)
def _is_ident(value: str) -> bool:
    return bool(_IDENT.fullmatch(value))


def topic(area: str, device: str, channel: Channel) -> str:
    """Build a topic, refusing identifiers that would break the layout."""
    if not (is_ident(area) and is_ident(device)):
        raise ValueError(f"invalid area or device id: {area!r}/{device!r}")
    return f"{ROOT}/{area}/{device}/{channel.value}"


def parse(name: str) -> DeviceTopic | None:
    """Parse a native topic; None when it is not one."""
    # Longer than two identifiers of the longest allowed length can make; the cache only
    # ever holds short strings.
    return _parse(name) if len(name) <= _MAX_TOPIC else None


_MAX_TOPIC = len(ROOT) + 2 * 48 + max(len(c.value) for c in Channel) + 3


# Reports come from the same topics again and again, and building the answer (a frozen
# dataclass, an enum lookup, two identifier checks) was ~8 % of the network thread's time
# while it took in a backlog.
@lru_cache(maxsize=1 << 16)
def _parse(name: str) -> DeviceTopic | None:
    parts = name.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != ROOT:
        return None
    area, device, channel = parts[2], parts[3], parts[4]
    if not (is_ident(area) and is_ident(device)):
        return None
    try:
        return DeviceTopic(area, device, Channel(channel))
    except ValueError:
        return None


def hub_subscriptions() -> list[str]:
    """Filters the hub subscribes to: everything devices publish, in every area."""
    return [f"{ROOT}/+/+/{c.value}" for c in (Channel.STATE, Channel.STATUS, Channel.EVENT, Channel.INFO)]


def device_subscription(area: str, device: str) -> str:
    """The single filter a native device subscribes to."""
    return topic(area, device, Channel.CMD)
