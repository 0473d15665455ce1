"""3. Status ingestion: camera and light reports validated and persisted per second.

Both consumers drain the same backlog: the consumer (the hub, or a bare QoS 1 paho
subscriber with the hub's topic filters and a persistent session) is frozen with SIGSTOP,
the backlog is published to the broker, which queues it for the frozen session, and the
clock starts at SIGCONT. This measures the consumer, not the publisher. The bare subscriber
ends when it has received the last message; the hub when the last message is in the
database. Then everything is counted in the database: every event row, every device's
latest state, and the hub's committed and rejected counters.

States travel without the retain flag here: a live subscriber receives them so anyway
(retain is only set on the copy replayed at subscription), and a retained copy would be
replayed into the count at the next subscription.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time

from bench.accounts import Accounts, link_config
from bench.harness import Result, Stack, wait_until
from bench.processes import cpu_seconds
from devices.messages import Outbound
from devices.mqtt_client import MqttLink, Received
from devices.payloads import Kind
from devices.sim import DeviceSpec

AREA = "ing"


def make_specs(lights: int, cameras: int) -> list[DeviceSpec]:
    out = [
        DeviceSpec(f"l{i:05d}", Kind.LIGHT, "Đường 1", f"Đèn {i}", "KHU-SIM-LED", rated_w=60.0)
        for i in range(lights)
    ]
    out += [
        DeviceSpec(f"c{i:05d}", Kind.CAMERA, "Cổng", f"Camera {i}", "KHU-SIM-CAM") for i in range(cameras)
    ]
    return out


def make_backlog(specs: list[DeviceSpec], total: int, ts0: int) -> tuple[list[Outbound], int, dict[str, int]]:
    """Light states, camera states and camera motion events in turn, device after device."""
    out: list[Outbound] = []
    events = 0
    last_ts: dict[str, int] = {}
    lights = [s.device_id for s in specs if s.kind is Kind.LIGHT]
    cameras = [s.device_id for s in specs if s.kind is Kind.CAMERA]
    i = 0
    while len(out) < total:
        ts = ts0 + i
        light = lights[i % len(lights)]
        camera = cameras[i % len(cameras)]
        level = i % 101
        out.append(
            Outbound(
                f"khu/v1/{AREA}/{light}/state",
                json.dumps(
                    {"ts": ts, "kind": "light", "on": level > 0, "level": level, "power_w": 0.6 * level}
                ).encode(),
                qos=1,
            )
        )
        last_ts[light] = ts
        if len(out) < total:
            out.append(
                Outbound(
                    f"khu/v1/{AREA}/{camera}/state",
                    json.dumps(
                        {
                            "ts": ts,
                            "kind": "camera",
                            "recording": True,
                            "motion": i % 2 == 0,
                            "tampering": False,
                            "storage": "ok",
                        }
                    ).encode(),
                    qos=1,
                )
            )
            last_ts[camera] = ts
        if len(out) < total:
            out.append(
                Outbound(
                    f"khu/v1/{AREA}/{camera}/event",
                    json.dumps({"ts": ts, "type": "motion", "active": i % 2 == 0, "score": 0.8}).encode(),
                    qos=1,
                )
            )
            events += 1
        i += 1
    return out, events, last_ts


class Publisher:
    """Publishes a backlog and returns once the broker has all of it (a probe comes back after it)."""

    def __init__(self, port: int, account: Accounts) -> None:
        self._probe = "bare/ingest-probe"
        self._back = threading.Event()
        self.link = MqttLink(
            link_config(port, "bench-publisher", account, persistent=False, subscriptions=(self._probe,)),
            on_message=self._got,
        )
        self.link.start()
        if not self.link.wait_connected(10):
            raise RuntimeError("publisher could not connect")

    def _got(self, msg: Received) -> None:
        if msg.topic == self._probe:
            self._back.set()

    def publish_all(self, messages: list[Outbound]) -> None:
        for m in messages:
            while not self.link.publish(m):
                time.sleep(0.01)  # paho's queue is full: let it drain
        self._back.clear()
        deadline = time.monotonic() + 120
        while not self._back.wait(0.5):
            self.link.publish(Outbound(self._probe, b"1", qos=1))
            if time.monotonic() > deadline:
                raise TimeoutError("the broker did not take the backlog")

    def stop(self) -> None:
        self.link.stop()


def _bare(stack: Stack, publisher: Publisher, specs: list[DeviceSpec], messages: int) -> tuple[float, float]:
    """A bare QoS 1 subscriber drains the same backlog: its seconds and CPU seconds."""
    backlog, _, _ = make_backlog(specs, messages, int(time.time() * 1000))
    sink = stack.peer("sink", "--expect", str(messages))
    sink.expect_ready(15)
    sink.pause()
    publisher.publish_all(backlog)
    cpu_before = cpu_seconds(sink.pid)
    start = time.monotonic()
    sink.resume()
    done = sink.line(120)
    seconds = float(done["done"]) - start
    cpu = cpu_seconds(sink.pid) - cpu_before
    sink.stop()
    return seconds, cpu


def run(messages: int = 60_000, lights: int = 1000, cameras: int = 1000) -> list[Result]:
    with Stack("ingest") as stack:
        specs = make_specs(lights, cameras)
        stack.register(AREA, specs)
        publisher = Publisher(stack.port, stack.account)

        bare_s, bare_cpu = _bare(stack, publisher, specs, messages)

        # --- hub ----------------------------------------------------------------------------
        hub = stack.start_hub()
        ts0 = int(time.time() * 1000) + 1000
        backlog, events, last_ts = make_backlog(specs, messages, ts0)
        db = sqlite3.connect(f"file:{stack.dir / 'khu.db'}?mode=ro", uri=True)
        area_id = stack.area_id(AREA)
        last_event = json.loads(backlog[-1].payload) if backlog[-1].topic.endswith("/event") else None
        # The last message of the backlog is known; once it is in the database, so is the
        # rest (one connection delivers in order and the hub commits in order).
        last_topic = backlog[-1].topic.split("/")[3]
        last_value = (last_event or json.loads(backlog[-1].payload))["ts"]
        committed_before = hub.metrics().get("khu_ingest_committed_total", 0.0)

        def arrived() -> bool:
            if last_event is not None:
                row = db.execute(
                    "SELECT 1 FROM device_events e JOIN devices d ON d.id = e.device_pk "
                    "WHERE d.area_id = ? AND d.device_id = ? AND e.type = 'motion' AND e.ts = ?",
                    (area_id, last_topic, last_value),
                ).fetchone()
            else:
                row = db.execute(
                    "SELECT 1 FROM devices WHERE area_id = ? AND device_id = ? AND state_ts = ?",
                    (area_id, last_topic, last_value),
                ).fetchone()
            return row is not None

        hub.pause()
        publisher.publish_all(backlog)
        cpu_before = hub.cpu()
        start = time.monotonic()
        hub.resume()
        wait_until(arrived, 300, "the backlog in the database", poll=0.005)
        hub_s = time.monotonic() - start
        hub_cpu = hub.cpu() - cpu_before
        publisher.stop()

        # --- count what reached the database ------------------------------------------------
        time.sleep(0.5)
        (stored_events,) = db.execute(
            "SELECT count(*) FROM device_events e JOIN devices d ON d.id = e.device_pk "
            "WHERE d.area_id = ? AND e.ts >= ?",
            (area_id, ts0),
        ).fetchone()
        states = dict(
            db.execute("SELECT device_id, state_ts FROM devices WHERE area_id = ?", (area_id,)).fetchall()
        )
        db.close()
        stale = sum(1 for dev, ts in last_ts.items() if states.get(dev) != ts)
        metrics = hub.metrics()
        committed = metrics.get("khu_ingest_committed_total", 0.0) - committed_before
        rejected = hub.rejected()

    bare_rate = messages / bare_s
    hub_rate = messages / hub_s
    lost = (events - stored_events) + stale + int(messages - committed)
    # CPU seconds per 10,000 reports, from /proc: unlike wall time, it holds on a busy machine.
    hub_per_10k = hub_cpu / messages * 10_000
    bare_per_10k = bare_cpu / messages * 10_000
    return [
        Result(
            "ingest.status_messages_per_s",
            hub_rate,
            "msg/s",
            bare_rate,
            hub_rate / bare_rate,
            "≥ 0.8× bare, nothing lost",
            hub_rate / bare_rate >= 0.8 and lost == 0 and rejected == 0,
            {
                "messages": messages,
                "events_sent": events,
                "events_stored": stored_events,
                "devices_with_latest_state": len(last_ts) - stale,
                "devices": len(last_ts),
                "committed": int(committed),
                "rejected": int(rejected),
                "hub_s": round(hub_s, 3),
                "bare_s": round(bare_s, 3),
            },
        ),
        Result(
            "ingest.cpu_s_per_10k_reports",
            hub_per_10k,
            "CPU s",
            bare_per_10k,
            hub_per_10k / bare_per_10k if bare_per_10k > 0 else None,
            "≤ 2× bare",
            bare_per_10k > 0 and hub_per_10k / bare_per_10k <= 2 and lost == 0,
            {"hub_cpu_s": round(hub_cpu, 3), "bare_cpu_s": round(bare_cpu, 3), "messages": messages},
        ),
    ]
