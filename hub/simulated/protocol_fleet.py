"""``khu simulate --protocol …``: an area of emulated off-the-shelf devices on the real broker.

The devices are registered as an installer would (each with its broker account, in its
protocol's topics) and their accounts kept in a 0600 file, so the fleet can be started again
without ``--register``. Each emulator follows its project's documentation (devices/emulators).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from devices.emulators.esphome import EsphomeEmulator
from devices.emulators.frigate import FrigateEmulator
from devices.emulators.tasmota import TasmotaEmulator
from devices.emulators.zigbee2mqtt import Zigbee2MqttEmulator, bulb
from devices.mqtt_client import Credentials
from devices.payloads import Kind
from devices.protocols import all_codecs
from hub.broker.accounts import BrokerAccounts
from hub.broker.bootstrap import credentials_doc, credentials_from, write_private
from hub.registry.areas import Registration
from hub.settings import Settings
from hub.simulated.demo import register_in_demo_area


class Emulator(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Shape:
    """The devices one protocol's fleet of ``count`` is made of."""

    registrations: list[Registration]
    # Builds the emulators from the accounts ``register`` made (device id -> account).
    starts: Callable[[Settings, str, dict[str, Credentials]], list[Emulator]]


def _tasmota(count: int) -> Shape:
    ids = [f"tasmota-{n:03d}" for n in range(1, count + 1)]
    regs = [
        Registration(i, Kind.LIGHT, f"Đèn Tasmota {n}", "Tasmota", "tasmota") for n, i in enumerate(ids, 1)
    ]

    def start(settings: Settings, area: str, creds: dict[str, Credentials]) -> list[Emulator]:
        return [
            TasmotaEmulator(
                area,
                i,
                settings.mqtt_host,
                settings.mqtt_port,
                creds[i].username,
                creds[i].password,
                power_w=60.0,
                mac=f"A4CF12{n:06X}",
                tele_period_s=60,
            )
            for n, i in enumerate(ids, 1)
        ]

    return Shape(regs, start)


def _esphome(count: int) -> Shape:
    ids = [f"esphome-{n:03d}" for n in range(1, count + 1)]
    regs = [
        Registration(i, Kind.LIGHT, f"Đèn ESPHome {n}", "ESPHome", "esphome") for n, i in enumerate(ids, 1)
    ]

    def start(settings: Settings, area: str, creds: dict[str, Credentials]) -> list[Emulator]:
        host, port = settings.mqtt_host, settings.mqtt_port
        return [EsphomeEmulator(area, i, host, port, creds[i].username, creds[i].password) for i in ids]

    return Shape(regs, start)


def _frigate(count: int) -> Shape:
    """One Frigate (a gateway) watching ``count`` cameras, registered behind it."""
    cams = [f"frigate-cam-{n:02d}" for n in range(1, count + 1)]
    regs = [Registration("frigate-1", Kind.GATEWAY, "Đầu ghi Frigate", None, "frigate")]
    regs += [
        Registration(c, Kind.CAMERA, f"Camera {n}", "Cổng", "frigate", via="frigate-1")
        for n, c in enumerate(cams, 1)
    ]

    def start(settings: Settings, area: str, creds: dict[str, Credentials]) -> list[Emulator]:
        own = creds["frigate-1"]
        host, port = settings.mqtt_host, settings.mqtt_port
        # Frigate's shortest stats_interval: a camera gone dark shows within 15 s.
        return [
            FrigateEmulator(
                area,
                "frigate-1",
                host,
                port,
                own.username,
                own.password,
                cams,
                stats_interval_s=15,
                first_stats_s=3,
            )
        ]

    return Shape(regs, start)


def _zigbee2mqtt(count: int) -> Shape:
    """One Zigbee2MQTT bridge (a gateway) with ``count`` bulbs, registered behind it."""
    names = [f"bong-{n:03d}" for n in range(1, count + 1)]
    regs = [Registration("z2m-1", Kind.GATEWAY, "Cầu Zigbee", None, "zigbee2mqtt")]
    regs += [
        Registration(b, Kind.LIGHT, f"Bóng Zigbee {n}", "Zigbee", "zigbee2mqtt", via="z2m-1")
        for n, b in enumerate(names, 1)
    ]

    def start(settings: Settings, area: str, creds: dict[str, Credentials]) -> list[Emulator]:
        own = creds["z2m-1"]
        bulbs = [bulb(b, n) for n, b in enumerate(names, 1)]
        host, port = settings.mqtt_host, settings.mqtt_port
        return [
            Zigbee2MqttEmulator(
                area, "z2m-1", host, port, own.username, own.password, bulbs, availability=True
            )
        ]

    return Shape(regs, start)


SHAPES: dict[str, Callable[[int], Shape]] = {
    "tasmota": _tasmota,
    "esphome": _esphome,
    "frigate": _frigate,
    "zigbee2mqtt": _zigbee2mqtt,
}


def accounts_path(settings: Settings, area: str, protocol: str) -> Path:
    return settings.state_dir / "broker" / f"simulator-{area}-{protocol}.json"


def register(settings: Settings, area: str, protocol: str, count: int) -> Path:
    """Create the area if needed, register the devices in ``protocol`` and give each an account."""
    shape = SHAPES[protocol](count)
    register_in_demo_area(settings, area, shape.registrations)
    codec = next(c for c in all_codecs() if c.name == protocol)
    made: dict[str, Credentials] = {}
    with BrokerAccounts.for_tools(settings) as accounts:
        for reg in shape.registrations:
            if reg.via is not None:
                continue  # behind a bridge: the bridge's account speaks for it
            own = codec.device_topics(area, reg.device_id, reg.kind is Kind.GATEWAY)
            made[reg.device_id] = accounts.provision_device(area, reg.device_id, reg.kind, foreign=own)
    path = accounts_path(settings, area, protocol)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps({k: credentials_doc(v) for k, v in made.items()}, indent=1) + "\n")
    return path


def start(settings: Settings, area: str, protocol: str, count: int) -> list[Emulator]:
    path = accounts_path(settings, area, protocol)
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
        creds = {k: credentials_from(v) for k, v in doc.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RuntimeError(
            f"cannot read the {protocol} simulator's accounts from {path} ({exc}); "
            f"run 'khu simulate --protocol {protocol} --register' first"
        ) from None
    emulators = SHAPES[protocol](count).starts(settings, area, creds)
    for emulator in emulators:
        emulator.start()
    return emulators
