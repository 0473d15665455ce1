"""5. Scale: 100,000 registered devices on a few multiplexed connections.

The devices are registered and simulated (gateway mode, a handful of MQTT connections)
before the hub starts, so the broker holds every device's retained info, status and state.
Then a ``khu serve`` process starts and is timed to ``/readyz`` answering 200; it then
takes in the retained replay (300,000 messages; timed as catch-up, for context). Once it
has settled (under 15 % of a core), pages of the device list are asked for at random
offsets. Its memory is read from /proc: the peak (VmHWM) over the whole run is the figure.
Last, the fleet's power is cut (every gateway's connection drops: the broker sends its Will)
and the notifications that makes are counted: one incident per area, so one alert here, not
30,000; then the power comes back (every gateway reconnects and announces its devices) and
the recovery is timed and its notices counted. A probe area reporting at a steady rate
throughout times ingest during both against its own baseline before the cut (``scale_cut``).
"""

from __future__ import annotations

import random
import sqlite3
import time

from bench.harness import Result, Stack, percentile, wait_until
from bench.ingest import Publisher
from bench.probe import Probe, probe_specs
from bench.processes import Hub, memory_of
from bench.scale_cut import Cut, cut_results, run_cut
from devices.sim import demo_layout

AREA = "scale"
PROBE = "probe"  # the small area whose ingest is timed through the cut and the recovery
PROBE_DEVICES = 200
PROBE_RATE = 100.0  # reports a second: each probe light every 2 s, a few % of the hub's ingest
GIB = 1024**3
CUT_DEBOUNCE_S = 15.0  # the camera alert debounce of this run: the cut's alert comes this soon


def layout(devices: int) -> dict[str, int]:
    lights = devices * 6 // 10
    speakers = devices // 10
    return {
        "lights": lights,
        "streets": max(1, lights // 600),
        "speakers": speakers,
        "speaker_zones": max(1, speakers // 100),
        "cameras": devices - lights - speakers,
    }


def run(devices: int = 100_000, connections: int = 8, pages: int = 300) -> list[Result]:
    with Stack("scale") as stack:
        shape = layout(devices)
        specs = demo_layout(AREA, **shape)
        stack.register(AREA, specs, gateways=connections)
        stack.register(PROBE, probe_specs(PROBE_DEVICES))
        fleet_started = time.monotonic()
        fleet = stack.fleet(AREA, timeout=600, connections=connections, **shape)
        fleet_s = time.monotonic() - fleet_started

        hub = stack.hub(camera_alert_debounce_s=CUT_DEBOUNCE_S)
        hub.start()
        ready_s = hub.wait_ready(120)
        hub.login("bench-admin", stack.admin_password)
        db = sqlite3.connect(f"file:{stack.dir / 'khu.db'}?mode=ro", uri=True)
        area_id = stack.area_id(AREA)
        total = len(specs) + connections

        def caught_up() -> bool:
            (n,) = db.execute(
                "SELECT count(*) FROM devices WHERE area_id = ? AND online = 1", (area_id,)
            ).fetchone()
            return bool(n >= total)

        catch_up_s = wait_until(caught_up, 900, "every device online in the hub", poll=0.5) + ready_s
        db.close()
        after_catch_up = memory_of(hub.pid)
        settle_s = _settle(hub)

        client = hub.client()
        rng = random.Random(7)
        path = f"/api/v1/areas/{AREA}/devices"
        for _ in range(20):  # warm-up
            client.get(path, limit=50, offset=rng.randrange(total))
        times: list[float] = []
        bad = 0
        for _ in range(pages):
            offset = rng.randrange(0, total - 50)
            start = time.perf_counter()
            r = client.get(path, limit=50, offset=offset)
            times.append(time.perf_counter() - start)
            bad += r.status != 200 or len(r.json()["items"]) != 50
        client.close()
        before_cut = memory_of(hub.pid)
        publisher = Publisher(stack.port, stack.account)
        db_path = stack.dir / "khu.db"
        probe = Probe(publisher, db_path, PROBE, stack.area_id(PROBE), PROBE_DEVICES, PROBE_RATE)
        cut, recovery, ingest = run_cut(
            probe,
            Cut(publisher, db_path, AREA, area_id, connections),
            devices=total,
            cameras=shape["cameras"],
            debounce_s=CUT_DEBOUNCE_S,
        )
        publisher.stop()
        memory = memory_of(hub.pid)  # the peak so far takes in the recovery's flood
        fleet.stop()

    peak = memory["VmHWM"]
    p99 = percentile(times, 99) * 1000
    return [
        Result(
            "scale.hub_memory_100k_devices",
            peak / 2**20,
            "MiB",
            target="≤ 1024 MiB",
            met=peak <= GIB,
            detail={
                "peak_rss_mib": round(peak / 2**20, 1),
                "rss_after_catch_up_mib": round(after_catch_up["VmRSS"] / 2**20, 1),
                "peak_before_cut_mib": round(before_cut["VmHWM"] / 2**20, 1),
                "rss_at_end_mib": round(memory["VmRSS"] / 2**20, 1),
                "devices": total,
                "connections": connections,
            },
        ),
        Result(
            "scale.startup_to_ready",
            ready_s,
            "s",
            target="≤ 15 s",
            met=ready_s <= 15,
            detail={
                "catch_up_s": round(catch_up_s, 1),
                "settled_after_catch_up_s": round(settle_s, 1),
                "retained_replay_msgs": 3 * total,
                "fleet_start_s": round(fleet_s, 1),
            },
        ),
        Result(
            "scale.device_page.p99",
            p99,
            "ms",
            target="≤ 50 ms",
            met=p99 <= 50 and bad == 0,
            detail={
                "requests": pages,
                "page_size": 50,
                "p50_ms": round(percentile(times, 50) * 1000, 2),
                "errors": bad,
            },
        ),
        *cut_results(cut, recovery, ingest, devices=total, cameras=shape["cameras"]),
    ]


def _settle(hub: Hub, share: float = 0.15, timeout: float = 300) -> float:
    """Wait until the hub uses under ``share`` of a core over a second: the device list is
    timed on a hub that has finished taking in the replay (camera outage bookkeeping, for
    one, goes on for a while after every device is online)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        before = hub.cpu()
        time.sleep(1.0)
        if hub.cpu() - before < share:
            break
    return time.monotonic() - start
