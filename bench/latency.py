"""1. Tap-to-confirmed latency: HTTP command to one light -> the light confirms -> HTTP answer.

Measured against a bare MQTT command -> state round trip (``bench.peer echo``) in the same
run, interleaved in blocks so both see the same machine. The stack's floor for a tap
(``bench/floor.py``: HTTP through uvicorn and FastAPI, one MQTT round trip, no database) is
measured alongside, so what the hub itself adds can be told from what any FastAPI + paho
service pays.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from bench.bare import BareRoundTrip
from bench.harness import Result, Stack, percentile
from bench.http import Client
from devices.sim import demo_layout
from hub.broker.process import free_port

AREA = "lat"


Sample = Callable[[], "tuple[float, bool]"]  # seconds taken, and whether it was confirmed


def run(commands: int = 1000, block: int = 100) -> list[Result]:
    with Stack("latency") as stack:
        specs = demo_layout(AREA, lights=10, streets=1, speakers=0, cameras=0)
        stack.register(AREA, specs, gateways=1)
        hub = stack.start_hub()
        stack.fleet(AREA, lights=10, streets=1)
        stack.wait_online(hub, AREA, len(specs) + 1)
        stack.peer("echo").expect_ready(15)
        floor_port = free_port()
        stack.peer("floor", "--http-port", str(floor_port)).expect_ready(30)
        floor = Client("127.0.0.1", floor_port)
        bare = BareRoundTrip(stack.port, stack.account)
        bare.start()
        client = hub.client()
        path = f"/api/v1/areas/{AREA}/commands"
        light = specs[0].device_id
        levels = itertools.cycle(range(0, 101, 7))

        def tap() -> tuple[float, bool]:
            body = {
                "target": {"device_id": light},
                "action": {"type": "light.set", "on": True, "level": next(levels)},
            }
            start = time.perf_counter()
            r = client.post(path, body)
            took = time.perf_counter() - start
            return took, r.status == 200 and r.json()["results"][0]["status"] == "confirmed"

        def floor_tap() -> tuple[float, bool]:
            start = time.perf_counter()
            r = floor.post("/command", {"level": next(levels)})
            took = time.perf_counter() - start
            return took, r.status == 200 and r.json()["status"] == "confirmed"

        def bare_trip() -> tuple[float, bool]:
            took = bare.once()
            return (took or 0.0), took is not None

        times, failed = _interleave({"hub": tap, "floor": floor_tap, "bare": bare_trip}, commands, block)
        client.close()
        floor.close()
        bare.stop()

    ms = 1000.0
    p50, p99 = percentile(times["hub"], 50) * ms, percentile(times["hub"], 99) * ms
    b50, b99 = percentile(times["bare"], 50) * ms, percentile(times["bare"], 99) * ms
    f50, f99 = percentile(times["floor"], 50) * ms, percentile(times["floor"], 99) * ms
    detail = {
        "commands": len(times["hub"]),
        "not_confirmed": failed["hub"],
        "bare_round_trips": len(times["bare"]),
        "bare_lost": failed["bare"],
        "hub_mean_ms": round(sum(times["hub"]) / len(times["hub"]) * ms, 3),
        "bare_mean_ms": round(sum(times["bare"]) / len(times["bare"]) * ms, 3),
        "bare_p50_ms": round(b50, 3),
        "bare_p99_ms": round(b99, 3),
    }
    return [
        # Against the stack floor: what a tap costs in this stack before the hub does anything.
        Result(
            "latency.tap_to_confirmed.p50",
            p50,
            "ms",
            f50,
            p50 / f50,
            "≤ 2× the stack floor",
            p50 / f50 <= 2 and failed["hub"] == 0,
            detail,
        ),
        Result(
            "latency.tap_to_confirmed.p99",
            p99,
            "ms",
            f99,
            p99 / f99,
            "≤ 3× the stack floor",
            p99 / f99 <= 3 and failed["hub"] == 0,
        ),
        # Not a target: the floor itself, against a bare MQTT round trip.
        Result(
            "latency.stack_floor.p50",
            f50,
            "ms",
            b50,
            f50 / b50,
            None,
            None,
            {"p99_ms": round(f99, 3), "not_confirmed": failed["floor"]},
        ),
    ]


def _interleave(
    samples: dict[str, Sample], count: int, block: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """``count`` of each sample, taken in turns of ``block`` so all see the same machine.

    A first turn of 100 each warms up connection pools, caches and lazy imports. Failed
    samples are counted, not timed.
    """
    for sample in samples.values():
        for _ in range(100):
            sample()
    times: dict[str, list[float]] = {name: [] for name in samples}
    failed = dict.fromkeys(samples, 0)
    for _ in range(0, count, block):
        for name, sample in samples.items():
            for _ in range(block):
                took, ok = sample()
                if ok:
                    times[name].append(took)
                else:
                    failed[name] += 1
    return times, failed
