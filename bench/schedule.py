"""4. Schedule precision: planned vs actual firing of timetable steps; start spread of a broadcast.

A step has fired when its command reached the broker for the last light of its zone: an
observer subscribed to the area's command topics notes each arrival (wall clock, like the
planned time). Several zones share every step time, as "on at 18:00" does in practice. The
baseline is APScheduler itself in the benchmark process (memory job store, the same number
of jobs at the same instants, each publishing to as many bare topics) measured the same way.

The broadcast spread is what the speakers report: the earliest to the latest ``started_at``
of one announcement to 100 speakers (the hub's ``coverage.start_spread_ms``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger

from bench.accounts import Accounts, link_config
from bench.fanout import upload_request
from bench.harness import Result, Stack, percentile, wait_until
from bench.wav import silent_wav
from devices.messages import Outbound
from devices.mqtt_client import MqttLink, Received
from devices.sim import demo_layout

AREA = "sch"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class Observer:
    """Notes when each command reaches the broker (wall clock), by device."""

    def __init__(self, port: int, account: Accounts, filters: tuple[str, ...]) -> None:
        self.seen: list[tuple[float, str, int]] = []
        self._lock = threading.Lock()
        self.link = MqttLink(
            link_config(port, "bench-observer", account, persistent=False, subscriptions=filters),
            on_message=self._got,
        )
        self.link.start()
        if not self.link.wait_connected(10):
            raise RuntimeError("observer could not connect")
        time.sleep(0.3)  # let the subscription settle

    def _got(self, msg: Received) -> None:
        now = time.time()
        step = json.loads(msg.payload).get("level", -1) - LEVEL0
        with self._lock:
            self.seen.append((now, msg.topic.split("/")[-2], step))

    def take(self) -> list[tuple[float, str, int]]:
        with self._lock:
            out, self.seen = self.seen, []
        return out

    def stop(self) -> None:
        self.link.stop()


def _lateness(
    planned: list[float], arrivals: list[tuple[float, str, int]], zone_of: dict[str, int], zones: int
) -> list[float]:
    """Per (step, zone): the last arrival of that step's commands to the zone, minus the planned time.

    Every step sets its own level (``LEVEL0 + step``), so a late command is never taken for
    the next step's. A step that never reached a zone counts as infinitely late.
    """
    last: dict[tuple[int, int], float] = {}
    for at, dev, step in arrivals:
        if dev in zone_of and 0 <= step < len(planned):
            key = (step, zone_of[dev])
            last[key] = max(last.get(key, 0.0), at)
    return [
        last.get((i, z), float("inf")) - p
        for i, p in enumerate(planned)
        for z in sorted(set(zone_of.values()))
    ][: len(planned) * zones]


LEVEL0 = 10


def _baseline(port: int, account: Accounts, zones: int, per_zone: int, instants: list[float]) -> list[float]:
    observer = Observer(port, account, ("bare/sched/+/cmd",))
    link = MqttLink(link_config(port, "bench-bare-scheduler", account, persistent=False))
    link.start()
    link.wait_connected(10)
    zone_of = {f"z{z}-{n}": z for z in range(zones) for n in range(per_zone)}

    def fire(zone: int, step: int) -> None:
        body = json.dumps({"id": "x", "on": True, "level": LEVEL0 + step}).encode()
        for n in range(per_zone):
            link.publish(Outbound(f"bare/sched/z{zone}-{n}/cmd", body, qos=1))

    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"misfire_grace_time": 30})
    scheduler.start()
    for i, at in enumerate(instants):
        for z in range(zones):
            when = datetime.fromtimestamp(at, UTC)
            scheduler.add_job(fire, DateTrigger(run_date=when), args=[z, i])
    time.sleep(max(0.0, instants[-1] - time.time()) + 1.5)
    scheduler.shutdown()
    link.stop()
    arrivals = observer.take()
    observer.stop()
    return _lateness(instants, arrivals, zone_of, zones)


def run(
    zones: int = 8, per_zone: int = 25, steps: int = 20, gap_s: float = 1.0, speakers: int = 100
) -> list[Result]:
    with Stack("schedule") as stack:
        lights = zones * per_zone
        specs = demo_layout(AREA, lights=lights, streets=zones, speakers=speakers, speaker_zones=1, cameras=0)
        zone_ids = stack.register(AREA, specs, gateways=1)
        hub = stack.start_hub(broadcast_sync_lead_ms=500)
        stack.fleet(AREA, lights=lights, streets=zones, speakers=speakers, speaker_zones=1, play_s=0.3)
        stack.wait_online(hub, AREA, len(specs) + 1)
        client = hub.client()

        # --- baseline: APScheduler alone ------------------------------------------------------
        start = int(time.time()) + 3
        instants = [start + i * gap_s for i in range(max(5, steps // 2))]
        bare = _baseline(stack.port, stack.account, zones, per_zone, instants)

        # --- the hub's timetables ---------------------------------------------------------------
        observer = Observer(stack.port, stack.account, (f"khu/v1/{AREA}/+/cmd",))
        street_zone = {f"Đường {z + 1}": zone_ids[f"Đường {z + 1}"] for z in range(zones)}
        zone_of = {s.device_id: zone_ids[s.zone] for s in specs if s.kind == "light" and s.zone}
        start = int(time.time()) + 6
        planned = [start + i * gap_s for i in range(steps)]
        for name, zid in street_zone.items():
            steps_json = [
                {
                    "trigger": "clock",
                    "at": datetime.fromtimestamp(at, TZ).strftime("%H:%M:%S"),
                    "on": True,
                    "level": LEVEL0 + i,
                }
                for i, at in enumerate(planned)
            ]
            r = client.post(
                f"/api/v1/areas/{AREA}/timetables",
                {"name": f"Lịch {name}", "zone_id": zid, "steps": steps_json, "misfire": "run_late"},
            )
            assert r.status == 201, r.body[:300]
        if planned[0] - time.time() < 1:
            raise RuntimeError("timetables took too long to create; the first step is already due")
        time.sleep(max(0.0, planned[-1] - time.time()) + 2.0)
        hub_late = _lateness(planned, observer.take(), zone_of, zones)
        observer.stop()
        db = sqlite3.connect(f"file:{stack.dir / 'khu.db'}?mode=ro", uri=True)
        runs = db.execute("SELECT outcome, count(*) FROM schedule_runs GROUP BY outcome").fetchall()

        # --- synchronised broadcast ---------------------------------------------------------------
        uploader = hub.client()
        audio = uploader.send_raw(upload_request(AREA, hub.token, silent_wav(0.3)))
        uploader.close()
        assert audio.status == 201, audio.body[:300]
        spreads: list[float] = []
        started: list[int] = []
        for i in range(3):
            r = client.post(
                f"/api/v1/areas/{AREA}/announcements",
                {
                    "title": f"Phát thanh {i}",
                    "audio_id": audio.json()["id"],
                    "zone_ids": [zone_ids["Loa khu 1"]],
                },
            )
            assert r.status == 201, r.body[:300]
            ann = r.json()["id"]

            def done(ann: str = ann) -> bool:
                row = db.execute("SELECT status FROM announcements WHERE id = ?", (ann,)).fetchone()
                return bool(row and row[0] in ("done", "failed"))

            wait_until(done, 60, "the announcement to end", poll=0.05)
            cov = client.get(f"/api/v1/areas/{AREA}/announcements/{ann}").json()["coverage"]
            spreads.append(float(cov["start_spread_ms"]))
            started.append(int(cov["started"]))
        db.close()
        client.close()

    ms = 1000.0
    p99 = percentile(hub_late, 99) * ms
    b99 = percentile(bare, 99) * ms
    worst_spread = max(spreads)
    return [
        Result(
            "schedule.step_lateness.p99",
            p99,
            "ms",
            b99,
            p99 / b99 if b99 > 0 else None,
            "≤ 1.3× APScheduler alone + 10 ms",
            p99 <= 1.3 * b99 + 10,
            {
                "firings": len(hub_late),
                "zones_per_instant": zones,
                "lights_per_zone": per_zone,
                "p50_ms": round(percentile(hub_late, 50) * ms, 1),
                "max_ms": round(max(hub_late) * ms, 1),
                "bare_p50_ms": round(percentile(bare, 50) * ms, 1),
                "schedule_runs": dict(runs),
            },
        ),
        Result(
            "schedule.broadcast_start_spread_100_speakers",
            worst_spread,
            "ms",
            target="≤ 20 ms",
            met=worst_spread <= 20 and all(n == speakers for n in started),
            detail={"spreads_ms": spreads, "speakers_started": started},
        ),
    ]
