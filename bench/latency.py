"""1. Tap-to-confirmed latency: HTTP command to one light -> the light confirms -> HTTP answer.

Measured against a bare MQTT command -> state round trip (``bench.peer echo``) in the same
run, interleaved in blocks so both see the same machine.
"""

from __future__ import annotations

import time

from bench.bare import BareRoundTrip
from bench.harness import Result, Stack, percentile
from devices.sim import demo_layout

AREA = "lat"


def run(commands: int = 1000, block: int = 100) -> list[Result]:
    with Stack("latency") as stack:
        specs = demo_layout(AREA, lights=10, streets=1, speakers=0, cameras=0)
        stack.register(AREA, specs, gateways=1)
        hub = stack.start_hub()
        stack.fleet(AREA, lights=10, streets=1)
        stack.wait_online(hub, AREA, len(specs) + 1)
        stack.peer("echo").expect_ready(15)
        bare = BareRoundTrip(stack.port, stack.account)
        bare.start()
        client = hub.client()
        path = f"/api/v1/areas/{AREA}/commands"
        light = specs[0].device_id
        level = 0

        def tap() -> tuple[float, bool]:
            nonlocal level
            level = (level + 7) % 101
            body = {
                "target": {"device_id": light},
                "action": {"type": "light.set", "on": True, "level": level},
            }
            start = time.perf_counter()
            r = client.post(path, body)
            took = time.perf_counter() - start
            ok = r.status == 200 and r.json()["results"][0]["status"] == "confirmed"
            return took, ok

        for _ in range(100):  # warm-up: connection pools, caches, JIT-less but lazy imports
            tap()
            bare.once()
        hub_times: list[float] = []
        bare_times: list[float] = []
        failures = bare_lost = 0
        while len(hub_times) < commands:
            for _ in range(block):
                took, ok = tap()
                hub_times.append(took)
                failures += not ok
            for _ in range(block):
                rt = bare.once()
                if rt is None:
                    bare_lost += 1
                else:
                    bare_times.append(rt)
        client.close()
        bare.stop()

    ms = 1000.0
    p50, p99 = percentile(hub_times, 50) * ms, percentile(hub_times, 99) * ms
    b50, b99 = percentile(bare_times, 50) * ms, percentile(bare_times, 99) * ms
    detail = {
        "commands": len(hub_times),
        "not_confirmed": failures,
        "bare_round_trips": len(bare_times),
        "bare_lost": bare_lost,
        "hub_mean_ms": round(sum(hub_times) / len(hub_times) * ms, 3),
        "bare_mean_ms": round(sum(bare_times) / len(bare_times) * ms, 3),
    }
    return [
        Result(
            "latency.tap_to_confirmed.p50",
            p50,
            "ms",
            b50,
            p50 / b50,
            "≤ 3 ms and ≤ 5× bare",
            p50 <= 3 and p50 / b50 <= 5 and failures == 0,
            detail,
        ),
        Result("latency.tap_to_confirmed.p99", p99, "ms", b99, p99 / b99, None, None),
    ]
