"""6. API throughput: authenticated reads of a device's state per second on one worker.

``connections`` keep-alive clients (asyncio, one process) ask for
``GET /api/v1/areas/{code}/devices/{id}`` back to back against one ``khu serve`` process.
The baseline is the same server and client on ``GET /healthz`` (no login, no database):
what FastAPI and uvicorn manage on this machine with nothing to do.
"""

from __future__ import annotations

from bench.harness import Result, Stack
from bench.http import closed_loop, request_bytes
from devices.sim import demo_layout

AREA = "api"


def run(seconds: float = 8.0, connections: int = 16) -> list[Result]:
    with Stack("api") as stack:
        specs = demo_layout(AREA, lights=20, streets=2, speakers=0, cameras=0)
        stack.register(AREA, specs, gateways=1)
        hub = stack.start_hub()
        stack.fleet(AREA, lights=20, streets=2)
        stack.wait_online(hub, AREA, len(specs) + 1)
        light = specs[0].device_id
        raw = request_bytes("GET", f"/api/v1/areas/{AREA}/devices/{light}", hub.token)
        client = hub.client()
        r = client.send_raw(raw)
        client.close()
        assert r.status == 200, r.body[:300]
        assert r.json()["state"] is not None, "the light has not reported its state"
        closed_loop("127.0.0.1", hub.port, raw, connections, 1.5)  # warm-up
        cpu = hub.cpu()
        ok, errors, elapsed = closed_loop("127.0.0.1", hub.port, raw, connections, seconds)
        cpu = hub.cpu() - cpu
        # The framework's ceiling on this machine, same server, same client: an empty route.
        empty = request_bytes("GET", "/healthz")
        closed_loop("127.0.0.1", hub.port, empty, connections, 1.0)
        empty_ok, _, empty_s = closed_loop("127.0.0.1", hub.port, empty, connections, seconds / 2)
    rate = ok / elapsed
    ceiling = empty_ok / empty_s
    return [
        Result(
            "api.state_reads_per_s",
            rate,
            "req/s",
            ceiling,
            rate / ceiling,
            target="≥ 2000 req/s",
            met=rate >= 2000 and errors == 0,
            detail={
                "responses": ok,
                "errors": errors,
                "seconds": round(elapsed, 2),
                "connections": connections,
                "hub_cpu_ms_per_request": round(cpu / max(ok, 1) * 1000, 3),
                "hub_cpu_share": round(cpu / elapsed, 2),
            },
        )
    ]
