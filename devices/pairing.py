"""Confirming commands to devices that echo no command id (Tasmota, Zigbee2MQTT, ESPHome).

A codec remembers each light order it encodes. The first state that device reports which
shows what was ordered, before the order expires, confirms it: the codec puts the order's
id in that state, as a native device would. A state reported while an order is still
on its way and does not show it (Tasmota's ``{"POWER":"ON"}`` before its ``Dimmer``) is a
step towards it, not a change made at the light, so the codec holds it back. A state that
matches no open order is a change made at the light (protocol §6.9).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from devices.payloads import LightSet

Key = tuple[str, str]  # (area, device)

DEFAULT_WAIT_S = 10.0  # how long an order sent waits for its state at most


@dataclass(frozen=True, slots=True)
class OpenOrder:
    command_id: str
    on: bool | None
    level: int | None
    until: float  # time.time() after which the order no longer waits


class Verdict:
    """What to do with one reported light state."""

    __slots__ = ("command_id", "hold")

    def __init__(self, command_id: str | None, hold: bool) -> None:
        self.command_id = command_id
        self.hold = hold  # on the way to an open order: not reported, not a local change


class OrderBook:
    """Open light orders per device; ``encode`` adds, ``decode`` settles (different threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[Key, OpenOrder] = {}

    def ordered(self, key: Key, command: LightSet, *, dims: bool = True, now: float | None = None) -> None:
        """Remember an order just encoded; it replaces any earlier one for that device.

        ``dims=False``: the device is a plain relay, sent only on/off, so only that is awaited.
        """
        now = time.time() if now is None else now
        # Encoded as it is sent: the device answers within seconds or not at all, whatever
        # time-to-live the command had while it waited for the device to come online.
        until = now + DEFAULT_WAIT_S
        if command.exp is not None:
            until = min(until, command.exp / 1000)
        on, level = command.on, command.level
        if not dims and level is not None:
            on, level = (on if on is not None else level > 0), None
        with self._lock:
            self._open[key] = OpenOrder(command.id, on, level, until)

    def settle(self, key: Key, on: bool, level: int, now: float | None = None) -> Verdict:
        """Match a reported state against the device's open order."""
        now = time.time() if now is None else now
        with self._lock:
            order = self._open.get(key)
            if order is None:
                return Verdict(None, False)
            if now > order.until:
                del self._open[key]
                return Verdict(None, False)
            if _shows(order, on, level):
                del self._open[key]
                return Verdict(order.command_id, False)
        return Verdict(None, True)

    def relax(self, key: Key) -> None:
        """The device turned out to be a plain relay: its open order now awaits on/off only."""
        with self._lock:
            order = self._open.get(key)
            if order is not None and order.level is not None:
                on = order.on if order.on is not None else order.level > 0
                self._open[key] = OpenOrder(order.command_id, on, None, order.until)

    def waiting(self, key: Key) -> bool:
        with self._lock:
            return key in self._open


def _shows(order: OpenOrder, on: bool, level: int) -> bool:
    """True when a light reporting ``on``/``level`` is in the state the order asked for."""
    if order.on is False:
        return not on
    if order.level is not None and order.level > 0:
        return on and level == order.level
    if order.level == 0 and order.on is None:
        return not on  # dimming to 0 switches off (protocol §6.4)
    return on


class StampClock:
    """Report times in ms that grow strictly per device, as the hub's stale check requires.

    These devices send no usable time (Tasmota's is local, without a zone), so the codec
    stamps reports when they arrive; two in the same millisecond get consecutive stamps.
    """

    def __init__(self) -> None:
        self._last: dict[Key, int] = {}

    def stamp(self, key: Key) -> int:
        now = time.time_ns() // 1_000_000
        last = self._last.get(key, 0)
        ts = now if now > last else last + 1
        self._last[key] = ts
        return ts
