"""One MQTT connection of a fleet: a gateway carrying many devices, or a device's own."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from devices import topics
from devices.codec import encode_report
from devices.messages import Outbound
from devices.mqtt_client import Credentials, LinkConfig, MqttLink, Receipt, Received
from devices.payloads import CAPABILITIES, Availability, DeviceInfo, Heartbeat, Kind
from devices.sim.device import SimDevice
from devices.sim.layout import GATEWAY_MODEL, SIM_FIRMWARE, SimTimings
from devices.sim.scheduler import Repeating, Scheduler, epoch_ms

log = logging.getLogger(__name__)

# Simulator-only topics live outside the protocol's root, so the hub never sees them.
SIM_ROOT = "khu-sim"


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the simulator connects."""

    host: str
    port: int


class SimConnection:
    """An MQTT connection whose Last Will is the retained "offline" of its owner."""

    # In gateway mode the owner is the gateway named ``name`` and every device on it
    # announces ``via`` that gateway; in dedicated mode ``name`` is the one device's id.

    def __init__(
        self,
        name: str,
        area: str,
        broker: BrokerAddress,
        scheduler: Scheduler,
        devices: Sequence[SimDevice[Any]],
        *,
        gateway: bool,
        timings: SimTimings,
        credentials: Credentials | None = None,
    ) -> None:
        if not gateway and len(devices) != 1:
            raise ValueError("a dedicated connection carries exactly one device")
        self.name = name
        self.area = area
        self.gateway_id = name if gateway else None
        self._broker = broker
        self._credentials = credentials
        self._scheduler = scheduler
        self._timings = timings
        self._devices = {d.device_id: d for d in devices}
        self._link: MqttLink | None = None
        # Bumped whenever the link is replaced, so late callbacks of an old one are ignored.
        self._generation = 0
        self._wanted = False
        self._announced = False
        self._ready = threading.Event()
        self._last_receipt: Receipt | None = None
        self._announce_receipt: Receipt | None = None
        self._heartbeat: Repeating | None = None
        self._started = time.monotonic()
        for device in devices:
            device.attach(self, via=self.gateway_id)

    @property
    def devices(self) -> list[SimDevice[Any]]:
        return list(self._devices.values())

    @property
    def wanted(self) -> bool:
        """True while the connection is meant to be up (not aborted, stopped or offline)."""
        return self._wanted

    @property
    def link(self) -> MqttLink | None:
        return self._link

    def wait_ready(self, timeout: float) -> bool:
        """Wait until subscribed and the broker acknowledged the whole announcement."""
        deadline = time.monotonic() + timeout
        while self._ready.wait(max(0.0, deadline - time.monotonic())):
            link, receipt = self._link, self._announce_receipt
            if link is not None and link.subscribed and receipt is not None and receipt.done():
                return True
            if time.monotonic() >= deadline:
                return False
            # QoS 1 acknowledgements come in order: the last one covers the whole announcement.
            time.sleep(0.005)
        return False

    # --- life cycle, any thread but the scheduler's ------------------------------------

    def start(self) -> None:
        """Connect in the background; the announce follows every (re)connection."""
        if self._wanted:
            return
        self._wanted = True
        self._started = time.monotonic()
        self._generation += 1
        gen = self._generation
        link = MqttLink(
            self._config(),
            on_message=lambda msg: self._message(gen, msg),
            on_connected=lambda: self._connected(gen),
            on_disconnected=lambda: self._disconnected(gen),
        )
        self._link = link
        link.start()

    def abort(self) -> None:
        """Drop the connection as a crash would: no DISCONNECT, so the broker sends the Will."""
        link = self._forget()
        if link is not None:
            link.abort()

    def stop(self) -> None:
        """Disconnect cleanly, first publishing the "offline" the suppressed Will would have."""
        link = self._forget()
        if link is None:
            return
        if link.connected:
            link.publish(self._status(self._owner_id(), Availability.OFFLINE))
        link.stop()

    # --- the device's uplink ------------------------------------------------------------

    def send(self, out: Outbound, *, announcing: bool = False) -> None:
        """Publish a report; dropped while the connection is down or not yet announced."""
        link = self._link
        if link is not None and (self._announced or announcing):
            self._last_receipt = link.publish_with_receipt(out)

    def drop_device(self, device: SimDevice[Any]) -> None:
        """Gateway: report the device offline; dedicated: kill the connection."""
        if self.gateway_id is None:
            self.abort()
        else:
            self.send(self._status(device.device_id, Availability.OFFLINE))

    def restore_device(self, device: SimDevice[Any]) -> None:
        """Gateway: announce the device now; dedicated: reconnect, which announces it."""
        if self.gateway_id is None:
            self.start()
        elif self._announced:
            self._scheduler.call_soon(device.announce)

    # --- internals ---------------------------------------------------------------------

    def _owner_id(self) -> str:
        return self.gateway_id or next(iter(self._devices))

    def _config(self) -> LinkConfig:
        if self.gateway_id is None:
            commands: tuple[str, ...] = (topics.device_subscription(self.area, self._owner_id()),)
        else:
            # The broker lets a gateway read the commands of its own devices only.
            commands = tuple(topics.device_subscription(self.area, d) for d in self._devices)
        return LinkConfig(
            host=self._broker.host,
            port=self._broker.port,
            # The protocol's client id, to which the broker binds the account.
            client_id=f"{self.area}.{self.name}",
            username=self._credentials.username if self._credentials else None,
            password=self._credentials.password if self._credentials else None,
            persistent=False,
            will=self._status(self._owner_id(), Availability.OFFLINE),
            subscriptions=commands,
        )

    def _status(self, device_id: str, availability: Availability) -> Outbound:
        return encode_report(self.area, device_id, topics.Channel.STATUS, availability.value.encode())

    def _forget(self) -> MqttLink | None:
        self._wanted = False
        self._generation += 1
        self._announced = False
        self._ready.clear()
        self._announce_receipt = None
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        link, self._link = self._link, None
        return link

    def _connected(self, gen: int) -> None:
        # Network thread: the announce is the scheduler's job, so it never races a device.
        if gen == self._generation:
            self._scheduler.call_soon(lambda: self._announce(gen))

    def _disconnected(self, gen: int) -> None:
        if gen == self._generation:
            self._announced = False
            self._ready.clear()
            self._announce_receipt = None

    def _announce(self, gen: int) -> None:
        if gen != self._generation or self._link is None:
            return
        if self.gateway_id is not None:
            self._announce_gateway()
        for device in self._devices.values():
            if device.online:
                device.announce()
            else:
                self.send(self._status(device.device_id, Availability.OFFLINE), announcing=True)
        self._announce_receipt = self._last_receipt
        self._announced = True
        self._ready.set()

    def _announce_gateway(self) -> None:
        assert self.gateway_id is not None
        info = DeviceInfo(
            kind=Kind.GATEWAY,
            model=GATEWAY_MODEL,
            firmware=SIM_FIRMWARE,
            capabilities=sorted(CAPABILITIES[Kind.GATEWAY]),
        )
        body = info.model_dump_json().encode()
        self.send(encode_report(self.area, self.gateway_id, topics.Channel.INFO, body), announcing=True)
        self.send(self._status(self.gateway_id, Availability.ONLINE), announcing=True)
        interval = self._timings.heartbeat_s
        if self._heartbeat is None and interval > 0:
            self._heartbeat = Repeating(self._scheduler, interval, self._gateway_heartbeat)
            self._heartbeat.start(interval)

    def _gateway_heartbeat(self) -> None:
        if self.gateway_id is None:
            return
        uptime = int(time.monotonic() - self._started)
        body = Heartbeat(ts=epoch_ms(), uptime_s=uptime).model_dump_json().encode()
        self.send(encode_report(self.area, self.gateway_id, topics.Channel.EVENT, body))

    def _message(self, gen: int, msg: Received) -> None:
        parsed = topics.parse(msg.topic)
        if parsed is None or parsed.channel is not topics.Channel.CMD or parsed.area != self.area:
            return
        device = self._devices.get(parsed.device)
        if device is None:
            return  # another connection's device, or not one of ours
        if msg.retain:
            # A retained command would replay on every reconnect (see DESIGN.md).
            log.warning("%s ignores a retained command", device.device_id)
            return
        self._scheduler.call_soon(lambda: device.receive_command(msg.payload))
