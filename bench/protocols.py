"""7. Protocols: a zone of 1,000 Tasmota lights beside the native zone of 1,000, in one run.

Both zones are in one area of one hub. The native lights are the simulator's, on two gateway
connections; the Tasmota lights speak Tasmota's topics (``devices/emulators/tasmota_device``)
on one connection. Each zone gets the same light command, the two zones taking turns; each is
timed from the request to its answer listing every light's confirmed state. The figure is
the Tasmota zone's median over the native zone's: what confirming by state, without command
ids, costs the hub (target: within 1.2×).
"""

from __future__ import annotations

import time

from bench.harness import Result, Stack, percentile
from bench.http import Client
from devices.emulators.tasmota_fleet import TasmotaFleet
from devices.payloads import Kind
from devices.sim import demo_layout
from hub.broker.acls import tool_acls
from hub.db import make_engine, make_sessionmaker
from hub.models import Area
from hub.registry.areas import Registration, ensure_zone, preregister

AREA = "proto"
TASMOTA_ZONE = "Tasmota"


def run(lights: int = 1000, repeats: int = 5) -> list[Result]:
    with Stack("protocols") as stack:
        specs = demo_layout(AREA, lights=lights, streets=1, speakers=0, speaker_zones=1, cameras=0)
        native_zone = stack.register(AREA, specs, gateways=2)["Đường 1"]
        ids = [f"tasmota-{n:04d}" for n in range(1, lights + 1)]
        tasmota_zone = _register_tasmota(stack, ids)
        hub = stack.start_hub()
        stack.fleet(AREA, lights=lights, streets=1, speakers=0, speaker_zones=1, connections=2)
        with stack.broker.admin() as accounts:
            account = accounts.provision_tool("bench-tasmota", tool_acls(TasmotaFleet.filters(AREA)))
        fleet = TasmotaFleet(AREA, ids, "127.0.0.1", stack.port, account)
        fleet.start()
        stack.wait_online(hub, AREA, len(specs) + 2 + lights)
        client = hub.client()
        native: list[float] = []
        tasmota: list[float] = []
        unconfirmed = 0
        for i in range(repeats + 1):  # the first round warms up
            for zone, times in ((native_zone, native), (tasmota_zone, tasmota)):
                took, missing = _zone(client, zone, lights, 40 + i)
                if i > 0:
                    times.append(took)
                    unconfirmed += missing
        client.close()
        fleet.stop()

    ms = 1000.0
    native_med, tasmota_med = percentile(native, 50) * ms, percentile(tasmota, 50) * ms
    ratio = tasmota_med / native_med
    return [
        Result(
            f"protocols.tasmota_zone_{lights}_lights",
            tasmota_med,
            "ms",
            native_med,
            ratio,
            target="≤ 1.2× the native zone",
            met=ratio <= 1.2 and unconfirmed == 0,
            detail={
                "runs": len(tasmota),
                "native_median_ms": round(native_med, 1),
                "tasmota_max_ms": round(max(tasmota) * ms, 1),
                "native_max_ms": round(max(native) * ms, 1),
                "unconfirmed": unconfirmed,
            },
        )
    ]


def _register_tasmota(stack: Stack, ids: list[str]) -> int:
    engine = make_engine(stack.db_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            area = session.query(Area).filter_by(code=AREA).one()
            regs = [Registration(i, Kind.LIGHT, i, TASMOTA_ZONE, "tasmota") for i in ids]
            preregister(session, area, regs)
            return ensure_zone(session, area, TASMOTA_ZONE).id
    finally:
        engine.dispose()


def _zone(client: Client, zone: int, lights: int, level: int) -> tuple[float, int]:
    body = {
        "target": {"zone_id": zone},
        "action": {"type": "light.set", "on": True, "level": level},
        "wait_ms": 10_000,
    }
    start = time.perf_counter()
    r = client.post(f"/api/v1/areas/{AREA}/commands", body)
    took = time.perf_counter() - start
    assert r.status == 200, r.body[:300]
    return took, lights - r.json()["summary"].get("confirmed", 0)
