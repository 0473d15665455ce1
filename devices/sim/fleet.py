"""A fleet of simulated devices for one area, over gateways or one connection per device."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from typing import TypeVar

from devices.mqtt_client import Credentials, LinkConfig, MqttLink, Received
from devices.sim.camera import SimCamera
from devices.sim.connection import BrokerAddress, SimConnection
from devices.sim.control import (
    ComeBack,
    Control,
    GoOffline,
    apply_control,
    control_filter,
    control_target,
    control_topic,
    parse_control,
)
from devices.sim.kinds import AnySimDevice, make_device
from devices.sim.layout import DeviceSpec, SimTimings
from devices.sim.light import SimLight
from devices.sim.scheduler import Scheduler
from devices.sim.speaker import SimSpeaker
from devices.topics import is_ident

log = logging.getLogger(__name__)

D = TypeVar("D", SimLight, SimSpeaker, SimCamera)

# Not an identifier, so it can never collide with a device's or gateway's client id.
_CONTROL_NAME = "_control"


def gateway_shares(device_ids: Sequence[str], count: int) -> dict[str, list[str]]:
    """Which devices each of ``count`` gateways ``gw-1``, ``gw-2``... carries.

    Contiguous slices keep a street's lights on one gateway, as wiring would.
    """
    n = len(device_ids)
    return {f"gw-{i + 1}": list(device_ids[n * i // count : n * (i + 1) // count]) for i in range(count)}


class SimFleet:
    """Simulated devices of one area: ``start``, ``wait_online``, drive them, ``stop``."""

    # Gateway mode (the default) multiplexes the devices over ``connections`` gateways
    # ``gw-1``, ``gw-2``...; dedicated mode gives each device its own connection and Will.
    # Controls arrive on ``khu-sim/<area>/<device>/control`` through a separate control
    # connection, so they still reach a device whose own connection is down.

    def __init__(
        self,
        host: str,
        port: int,
        area: str,
        specs: Sequence[DeviceSpec],
        connections: int = 1,
        dedicated: bool = False,
        timings: SimTimings | None = None,
        credentials: Mapping[str, Credentials] | None = None,
        control_credentials: Credentials | None = None,
        seed: int | None = None,
    ) -> None:
        """``credentials`` maps each connection (gateway or dedicated device id) to its broker
        account; ``control_credentials`` may read ``khu-sim/<area>/#`` for remote controls."""
        if not is_ident(area):
            raise ValueError(f"invalid area code {area!r}")
        if connections < 1:
            raise ValueError("a fleet needs at least one connection")
        self.area = area
        self.timings = timings or SimTimings()
        self._scheduler = Scheduler(f"sim-{area}")
        rng = random.Random(seed)
        self._devices: dict[str, AnySimDevice] = {}
        for spec in specs:
            if spec.device_id in self._devices:
                raise ValueError(f"device id {spec.device_id} listed twice")
            self._devices[spec.device_id] = make_device(spec, area, self.timings, self._scheduler, rng)
        broker = BrokerAddress(host, port)
        self._credentials = dict(credentials or {})
        self._connections = self._build_connections(broker, connections, dedicated)
        self._gateways = [c for c in self._connections if c.gateway_id is not None]
        self._control = MqttLink(
            LinkConfig(
                host,
                port,
                # A control account is bound to client id = its username.
                control_credentials.username if control_credentials else f"sim-{area}-{_CONTROL_NAME}",
                control_credentials.username if control_credentials else None,
                control_credentials.password if control_credentials else None,
                persistent=False,
                subscriptions=(control_filter(area),),
            ),
            on_message=self._on_control_message,
        )
        self._started = False
        self._stopped = False

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Power the devices up and connect; reports follow each connection's arrival."""
        if self._stopped:
            raise RuntimeError("a stopped fleet cannot start again; build a new one")
        if self._started:
            return
        self._started = True
        self._scheduler.start()
        self._scheduler.run_sync(self._boot_all)
        self._control.start()
        for conn in self._connections:
            conn.start()

    def wait_online(self, timeout: float) -> bool:
        """Wait until every connection meant to be up is subscribed and has announced."""
        deadline = time.monotonic() + timeout
        if not self._control.wait_subscribed(timeout):
            return False
        return all(
            conn.wait_ready(max(0.0, deadline - time.monotonic()))
            for conn in self._connections
            if conn.wanted
        )

    def stop(self) -> None:
        """Stop acting, then disconnect cleanly; each connection reports its owner offline."""
        if not self._started:
            return
        self._started = False
        self._stopped = True
        # Control first: a control being applied may still need the scheduler thread.
        self._control.stop()
        self._scheduler.stop()
        for conn in self._connections:
            conn.stop()

    # --- devices and gateways ------------------------------------------------------------

    @property
    def devices(self) -> list[AnySimDevice]:
        return list(self._devices.values())

    @property
    def gateway_ids(self) -> list[str]:
        return [c.name for c in self._gateways]

    def device(self, device_id: str) -> AnySimDevice:
        """The simulated device with this id; KeyError when the fleet has none."""
        return self._devices[device_id]

    def light(self, device_id: str) -> SimLight:
        return _expect(self.device(device_id), SimLight)

    def speaker(self, device_id: str) -> SimSpeaker:
        return _expect(self.device(device_id), SimSpeaker)

    def camera(self, device_id: str) -> SimCamera:
        return _expect(self.device(device_id), SimCamera)

    def abort_gateway(self, index: int) -> None:
        """Kill gateway ``index``'s connection abruptly, so the broker publishes its Will."""
        self._gateways[index].abort()

    def restart_gateway(self, index: int) -> None:
        """Reconnect an aborted gateway; it announces itself and its devices again."""
        self._gateways[index].start()

    def control_topic(self, target: str) -> str:
        """Where another process sends controls for a device or gateway of this fleet."""
        return control_topic(self.area, target)

    # --- internals -----------------------------------------------------------------------

    def _build_connections(self, broker: BrokerAddress, count: int, dedicated: bool) -> list[SimConnection]:
        devices = list(self._devices.values())
        if dedicated:
            return [
                SimConnection(
                    d.device_id,
                    self.area,
                    broker,
                    self._scheduler,
                    [d],
                    gateway=False,
                    timings=self.timings,
                    credentials=self._credentials.get(d.device_id),
                )
                for d in devices
            ]
        conns = []
        for name, share in gateway_shares(list(self._devices), count).items():
            if name in self._devices:
                raise ValueError(f"device id {name} is reserved for a gateway")
            conns.append(
                SimConnection(
                    name,
                    self.area,
                    broker,
                    self._scheduler,
                    [self._devices[d] for d in share],
                    gateway=True,
                    timings=self.timings,
                    credentials=self._credentials.get(name),
                )
            )
        return conns

    def _boot_all(self) -> None:
        for device in self._devices.values():
            device.boot()

    def _on_control_message(self, msg: Received) -> None:
        # Runs on the control link's own network thread, which may wait on devices.
        target = control_target(msg.topic, self.area)
        if target is None:
            return
        if msg.retain:
            log.warning("ignoring a retained control for %s: it would replay on restart", target)
            return
        try:
            self._apply(target, parse_control(msg.payload))
        except (ValueError, TimeoutError) as exc:
            log.warning("ignoring control for %s: %s", target, exc)

    def _apply(self, target: str, control: Control) -> None:
        for index, gateway in enumerate(self._gateways):
            if gateway.name == target:
                if isinstance(control, GoOffline):
                    self.abort_gateway(index)
                elif isinstance(control, ComeBack):
                    self.restart_gateway(index)
                else:
                    raise ValueError(f"a gateway only takes offline/online, not {control.action}")
                return
        device = self._devices.get(target)
        if device is None:
            log.debug("control for %s, which is not in this fleet", target)
            return
        apply_control(device, control)


def _expect(device: AnySimDevice, cls: type[D]) -> D:
    if not isinstance(device, cls):
        raise TypeError(f"{device.device_id} is a {device.kind}, not a {cls.__name__}")
    return device
