"""The simulated demo area: its layout, its registration in the hub, and its fleet."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from devices.mqtt_client import Credentials
from devices.payloads import Kind
from devices.sim import DeviceSpec, SimFleet, SimTimings, demo_layout
from devices.sim.connection import SIM_ROOT
from devices.sim.fleet import gateway_shares
from hub.broker.accounts import BrokerAccounts
from hub.broker.acls import tool_acls
from hub.broker.bootstrap import credentials_doc, credentials_from, write_private
from hub.db import make_engine, make_sessionmaker
from hub.models import Area
from hub.registry.areas import Registration, create_area, preregister
from hub.settings import Settings

# Hoàn Kiếm, Hà Nội: a real place, so sunrise and sunset come out right in the demo.
DEMO_LATITUDE = 21.0285
DEMO_LONGITUDE = 105.8542


def layout_from_args(args: argparse.Namespace) -> list[DeviceSpec]:
    return demo_layout(
        args.area,
        lights=args.lights,
        streets=args.streets,
        speakers=args.speakers,
        speaker_zones=args.speaker_zones,
        cameras=args.cameras,
    )


def gateway_ids(connections: int) -> list[str]:
    return list(gateway_shares([], connections))


def register_demo_area(settings: Settings, code: str, specs: list[DeviceSpec], connections: int) -> int:
    """Create the area if needed and pre-register its devices; returns how many were new."""
    regs = [Registration(s.device_id, s.kind, s.name, s.zone) for s in specs]
    regs += [Registration(g, Kind.GATEWAY, f"Bộ gom {g}") for g in gateway_ids(connections)]
    return register_in_demo_area(settings, code, regs)


def register_in_demo_area(settings: Settings, code: str, regs: list[Registration]) -> int:
    """Create the area (at the demo's place) if needed and pre-register ``regs``; how many were new."""
    engine = make_engine(settings.db_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            area = session.query(Area).filter_by(code=code).one_or_none()
            if area is None:
                area = create_area(
                    session,
                    code,
                    f"Khu dân cư {code}",
                    DEMO_LATITUDE,
                    DEMO_LONGITUDE,
                    settings.default_timezone,
                )
            return preregister(session, area, regs)
    finally:
        engine.dispose()


def simulator_accounts_path(settings: Settings, area: str) -> Path:
    return settings.state_dir / f"simulator-accounts-{area}.json"


def simulator_accounts(
    accounts: BrokerAccounts, area: str, specs: list[DeviceSpec], connections: int, dedicated: bool
) -> tuple[dict[str, Credentials], Credentials]:
    """An account for each simulated connection (gateway or device), and one for remote controls.

    A gateway's account carries the devices the fleet puts behind it, as if each had been
    accepted with ``via`` that gateway.
    """
    if dedicated:
        made = {s.device_id: accounts.provision_device(area, s.device_id, s.kind) for s in specs}
    else:
        shares = gateway_shares([s.device_id for s in specs], connections)
        made = {g: accounts.provision_device(area, g, Kind.GATEWAY, share) for g, share in shares.items()}
    control = accounts.provision_tool(f"sim-control.{area}", tool_acls([f"{SIM_ROOT}/{area}/#"]))
    return made, control


def provision_simulator(
    settings: Settings, area: str, specs: list[DeviceSpec], connections: int, dedicated: bool
) -> Path:
    """Create the simulator's accounts, as an installer would, and keep them in a 0600 file."""
    with BrokerAccounts.for_tools(settings) as accounts:
        made, control = simulator_accounts(accounts, area, specs, connections, dedicated)
    return write_simulator_accounts(simulator_accounts_path(settings, area), made, control)


def write_simulator_accounts(path: Path, made: dict[str, Credentials], control: Credentials) -> Path:
    doc = {
        "connections": {n: credentials_doc(c) for n, c in made.items()},
        "control": credentials_doc(control),
    }
    write_private(path, json.dumps(doc, indent=1) + "\n")
    return path


def load_simulator_accounts(path: Path) -> tuple[dict[str, Credentials], Credentials]:
    try:
        doc = json.loads(path.read_text())
        conns = {n: credentials_from(c) for n, c in doc["connections"].items()}
        return conns, credentials_from(doc["control"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RuntimeError(
            f"cannot read the simulator's broker accounts from {path} ({exc}); "
            "run 'khu simulate --register' (or 'khu up') to create them"
        ) from None


def start_fleet(
    settings: Settings, area: str, specs: list[DeviceSpec], connections: int, dedicated: bool
) -> SimFleet:
    conns, control = load_simulator_accounts(simulator_accounts_path(settings, area))
    fleet = SimFleet(
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        area=area,
        specs=specs,
        connections=connections,
        dedicated=dedicated,
        timings=SimTimings(),
        credentials=conns,
        control_credentials=control,
    )
    fleet.start()
    if not fleet.wait_online(timeout=30):
        fleet.stop()
        raise RuntimeError(
            f"simulated devices could not connect to {settings.mqtt_host}:{settings.mqtt_port}"
        )
    return fleet
