"""The simulated demo area: its layout, its registration in the hub, and its fleet."""

from __future__ import annotations

import argparse

from devices.payloads import Kind
from devices.sim import DeviceSpec, SimFleet, SimTimings, demo_layout
from hub.areas import Registration, create_area, preregister
from hub.db import make_engine, make_sessionmaker
from hub.models import Area
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
    return [f"gw-{i + 1}" for i in range(connections)]


def register_demo_area(settings: Settings, code: str, specs: list[DeviceSpec], connections: int) -> int:
    """Create the area if needed and pre-register its devices; returns how many were new."""
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
            regs = [Registration(s.device_id, s.kind, s.name, s.zone) for s in specs]
            regs += [Registration(g, Kind.GATEWAY, f"Bộ gom {g}") for g in gateway_ids(connections)]
            return preregister(session, area, regs)
    finally:
        engine.dispose()


def start_fleet(
    settings: Settings, area: str, specs: list[DeviceSpec], connections: int, dedicated: bool
) -> SimFleet:
    fleet = SimFleet(
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        area=area,
        specs=specs,
        connections=connections,
        dedicated=dedicated,
        timings=SimTimings(),
        username=None,
        password=None,
    )
    fleet.start()
    if not fleet.wait_online(timeout=30):
        fleet.stop()
        raise RuntimeError(
            f"simulated devices could not connect to {settings.mqtt_host}:{settings.mqtt_port}"
        )
    return fleet
