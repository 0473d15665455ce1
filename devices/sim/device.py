"""Behaviour every simulated device shares: announcing, commands, faults, availability."""

from __future__ import annotations

import logging
import random
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from devices import topics
from devices.codec import encode_report
from devices.messages import AnyEvent, Outbound
from devices.payloads import (
    CAPABILITIES,
    MAX_PAYLOAD_BYTES,
    Availability,
    CommandBase,
    DeviceInfo,
    Heartbeat,
    Kind,
    StateBase,
)
from devices.sim.layout import DeviceSpec, SimTimings
from devices.sim.scheduler import Repeating, Scheduler, Timer, epoch_ms

log = logging.getLogger(__name__)

S = TypeVar("S", bound=StateBase)

# Command ids remembered to recognise a QoS 1 redelivery, which must not act twice.
_REMEMBERED_IDS = 64


class Uplink(Protocol):
    """The connection a device reports through (its gateway's, or its own)."""

    def send(self, out: Outbound, *, announcing: bool = False) -> None:
        """Publish a report; dropped while the connection is not up and announced."""
        ...

    def drop_device(self, device: SimDevice[Any]) -> None:
        """Make the device unreachable, the way its connection type shows it."""
        ...

    def restore_device(self, device: SimDevice[Any]) -> None:
        """Make the device reachable again and have it announce itself."""
        ...


class SimDevice(ABC, Generic[S]):
    """A simulated device; its behaviour runs on the fleet's scheduler thread."""

    # The public methods may be called from any thread: they hand the work to the
    # scheduler thread and wait, so device fields are only ever touched by one thread
    # and devices need no locks (which paho callbacks could deadlock on).

    kind: ClassVar[Kind]

    def __init__(
        self,
        spec: DeviceSpec,
        area: str,
        timings: SimTimings,
        scheduler: Scheduler,
        rng: random.Random,
    ) -> None:
        if spec.kind is not self.kind:
            raise ValueError(f"{spec.device_id} is a {spec.kind}, not a {self.kind}")
        self.spec = spec
        self.area = area
        self.timings = timings
        self.via: str | None = None
        # Fault controls, read by the scheduler thread; plain attributes are atomic to set.
        self.ignore_commands = False
        self.drop_rate = 0.0
        self.action_delay_s = timings.action_delay_s
        self._scheduler = scheduler
        self._rng = rng
        self._uplink: Uplink | None = None
        self._online = False
        self._booted_at = time.monotonic()
        self._last_ts = 0
        self._seen_ids: deque[str] = deque(maxlen=_REMEMBERED_IDS)
        self._timers: set[Timer | Repeating] = set()
        # Subclasses set their own fields before calling this, so the snapshot can read them.
        self._state: S = self._snapshot(self._next_ts(), None, None)

    @property
    def device_id(self) -> str:
        return self.spec.device_id

    @property
    def online(self) -> bool:
        """False while the device was told to go offline."""
        return self._online

    @property
    def state(self) -> S:
        """The state last reported (or about to be reported on announce)."""
        return self._state

    def attach(self, uplink: Uplink, via: str | None) -> None:
        """Put the device on a connection; ``via`` names its gateway, if any."""
        self._uplink = uplink
        self.via = via

    # --- public controls, any thread ---------------------------------------------------

    def go_offline(self) -> None:
        """Drop off the network as a power cut would; actions in progress are lost."""
        if self._scheduler.run_sync(self._halt) and self._uplink is not None:
            self._uplink.drop_device(self)

    def come_back(self) -> None:
        """Power up again: info, status and state are published once connected."""
        if self._scheduler.run_sync(self.boot) and self._uplink is not None:
            self._uplink.restore_device(self)

    def set_fault(self, fault: str | None) -> None:
        """Inject a fault of this kind of device (None clears it); ValueError if unknown."""
        self._scheduler.run_sync(lambda: self._apply_fault(fault))

    # --- on the scheduler thread -------------------------------------------------------

    def boot(self) -> bool:
        """Start the device's routines; False when it was already running."""
        if self._online:
            return False
        self._online = True
        self._booted_at = time.monotonic()
        self._start_routines()
        return True

    def announce(self) -> None:
        """Publish info, then status online, then the current state."""
        if self._uplink is None or not self._online:
            return
        self._send(topics.Channel.INFO, self.info().model_dump_json().encode(), announcing=True)
        self._send(topics.Channel.STATUS, Availability.ONLINE.value.encode(), announcing=True)
        self._state = self._snapshot(self._next_ts(), None, None)
        self._send(topics.Channel.STATE, self._state.model_dump_json().encode(), announcing=True)

    def info(self) -> DeviceInfo:
        """The device's retained self-description."""
        return DeviceInfo(
            kind=self.kind,
            model=self.spec.model,
            firmware=self.spec.firmware,
            capabilities=sorted(CAPABILITIES[self.kind]),
            via=self.via,
            rated_w=self.spec.rated_w,
        )

    def receive_command(self, payload: bytes) -> None:
        """Handle one message from the device's command topic."""
        if not self._online:
            return
        if self.ignore_commands:
            log.info("%s ignores a command (ignore_commands is on)", self.device_id)
            return
        if self.drop_rate > 0 and self._rng.random() < self.drop_rate:
            log.info("%s drops a command (drop_rate %.2f)", self.device_id, self.drop_rate)
            return
        if len(payload) > MAX_PAYLOAD_BYTES:
            log.warning("%s ignores an oversized command (%d bytes)", self.device_id, len(payload))
            return
        try:
            command = self._parse_command(payload)
        except ValueError as exc:
            log.warning("%s ignores an invalid command: %s", self.device_id, exc)
            return
        if command.id in self._seen_ids:
            log.info("%s already handled command %s", self.device_id, command.id)
            if self._state.cmd == command.id:
                # Sent again because our answer was lost: answer again (protocol §3.6).
                self.report_state(cmd=command.id, error=self._state.error)
            return
        self._seen_ids.append(command.id)
        if command.exp is not None and epoch_ms() > command.exp:
            self.report_state(cmd=command.id, error="expired")
            return
        self._execute(command)

    def report_state(self, cmd: str | None = None, error: str | None = None) -> None:
        """Take a fresh snapshot and publish it (kept, not sent, while offline)."""
        self._state = self._snapshot(self._next_ts(), cmd, error)
        self._send(topics.Channel.STATE, self._state.model_dump_json().encode())

    # --- for subclasses ----------------------------------------------------------------

    @abstractmethod
    def _snapshot(self, ts: int, cmd: str | None, error: str | None) -> S:
        """The device's state as a payload model."""

    @abstractmethod
    def _parse_command(self, payload: bytes) -> CommandBase:
        """Validate a command this kind understands; ValueError otherwise."""

    @abstractmethod
    def _execute(self, command: CommandBase) -> None:
        """Act on a valid, fresh command."""

    @abstractmethod
    def _apply_fault(self, fault: str | None) -> None:
        """Set or clear this kind's fault from its text form."""

    def _start_routines(self) -> None:
        """Start periodic behaviour; subclasses add theirs."""
        interval = self.timings.heartbeat_s
        if interval > 0:
            # A random phase keeps thousands of devices from beating in step.
            self._every(interval, self._heartbeat, first_s=self._rng.uniform(0, interval))

    def _on_halt(self) -> None:
        """Adjust the state when the device loses power; nothing by default."""

    def _report_event(self, event: AnyEvent) -> None:
        self._send(topics.Channel.EVENT, event.model_dump_json().encode())

    def _next_ts(self) -> int:
        # Strictly increasing, because the hub drops a state no newer than the last one.
        self._last_ts = max(epoch_ms(), self._last_ts + 1)
        return self._last_ts

    def _later(self, delay_s: float, fn: Callable[[], None]) -> Timer:
        """Run ``fn`` after a delay, unless the device goes offline first."""

        def run() -> None:
            self._timers.discard(timer)
            fn()

        timer = self._scheduler.call_later(delay_s, run)
        self._timers.add(timer)
        return timer

    def _at_epoch_ms(self, at_ms: int, fn: Callable[[], None]) -> Timer:
        """Run ``fn`` at a wall-clock instant, unless the device goes offline first."""
        return self._later((at_ms - epoch_ms()) / 1000, fn)

    def _every(self, interval_s: float, fn: Callable[[], None], first_s: float) -> Repeating:
        repeating = Repeating(self._scheduler, interval_s, fn).start(first_s)
        self._timers.add(repeating)
        return repeating

    # --- internals ---------------------------------------------------------------------

    def _heartbeat(self) -> None:
        uptime = int(time.monotonic() - self._booted_at)
        self._report_event(Heartbeat(ts=self._next_ts(), uptime_s=uptime))

    def _halt(self) -> bool:
        if not self._online:
            return False
        self._online = False
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._on_halt()
        return True

    def _send(self, channel: topics.Channel, body: bytes, *, announcing: bool = False) -> None:
        if self._uplink is None or not self._online:
            return
        out = encode_report(self.area, self.device_id, channel, body)
        self._uplink.send(out, announcing=announcing)
