"""A small area's lights reporting at a steady rate on a connection of their own, each report
timed from its publish to the poll that finds it in the database: ingest, seen from outside
while the rest of the hub is busy (the scale run's power cut and recovery)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import percentile
from bench.ingest import Publisher
from devices.messages import Outbound
from devices.payloads import Kind
from devices.sim import DeviceSpec

POLL_S = 0.01  # a report's time to the database is known to within this (and a query)


def probe_specs(devices: int) -> list[DeviceSpec]:
    return [
        DeviceSpec(f"p{i:04d}", Kind.LIGHT, "Probe", f"Probe {i}", "KHU-SIM-LED", rated_w=60.0)
        for i in range(devices)
    ]


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    start: float  # monotonic
    end: float


class Probe:
    """``start``; ``mark`` each phase as it begins; ``stop``; then ``figures`` of each phase."""

    def __init__(
        self, publisher: Publisher, db: Path, area: str, area_id: int, devices: int, rate: float
    ) -> None:
        self._publisher = publisher
        self._db = db
        self._area = area
        self._area_id = area_id
        self._ids = [s.device_id for s in probe_specs(devices)]
        self._rate = rate
        self._lock = threading.Lock()
        self._pending: dict[str, deque[tuple[int, float]]] = {d: deque() for d in self._ids}
        self._done: list[tuple[float, float]] = []  # (published, found in the database), monotonic
        self._sent: list[float] = []
        self._marks: list[tuple[str, float]] = []
        self._publishing = threading.Event()
        self._polling = threading.Event()
        self._threads = [
            threading.Thread(target=self._publish, name="probe-publish", daemon=True),
            threading.Thread(target=self._poll, name="probe-poll", daemon=True),
        ]

    def start(self) -> None:
        self._publishing.set()
        self._polling.set()
        for t in self._threads:
            t.start()

    def mark(self, phase: str) -> float:
        """A phase begins now (and the one before ends); returns the time, monotonic."""
        now = time.monotonic()
        self._marks.append((phase, now))
        return now

    def stop(self, drain_s: float = 300) -> int:
        """Stop publishing, wait for what was sent to be stored; returns how many never were."""
        self.mark("end")
        self._publishing.clear()
        self._threads[0].join(10)
        deadline = time.monotonic() + drain_s
        while self.pending() and time.monotonic() < deadline:
            time.sleep(0.2)
        self._polling.clear()
        self._threads[1].join(10)
        return self.pending()

    def pending(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._pending.values())

    def phases(self) -> list[Phase]:
        return [
            Phase(name, start, end)
            for (name, start), (_, end) in zip(self._marks, self._marks[1:], strict=False)
        ]

    def figures(self, phase: Phase) -> dict[str, Any]:
        """Latency of the reports published in the phase; stored rate of those stored in it."""
        lat = [(found - sent) * 1000 for sent, found in self._done if phase.start <= sent < phase.end]
        stored = sum(1 for _, found in self._done if phase.start <= found < phase.end)
        sent = sum(1 for t in self._sent if phase.start <= t < phase.end)
        seconds = phase.end - phase.start
        return {
            "seconds": round(seconds, 1),
            "sent": sent,
            "stored_per_s": round(stored / seconds, 1) if seconds else 0.0,
            "p50_ms": round(percentile(lat, 50), 1),
            "p99_ms": round(percentile(lat, 99), 1),
            "max_ms": round(max(lat, default=float("nan")), 1),
        }

    # --- threads -----------------------------------------------------------------------

    def _publish(self) -> None:
        start = time.monotonic()
        n = 0
        while self._publishing.is_set():
            due = start + n / self._rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            device = self._ids[n % len(self._ids)]
            level = n % 100 + 1
            # The wall clock, as a device's; unique per device (each reports every few seconds).
            ts = int(time.time() * 1000)
            body = {"ts": ts, "kind": "light", "on": True, "level": level, "power_w": 0.6 * level}
            topic = f"khu/v1/{self._area}/{device}/state"
            sent = time.monotonic()
            with self._lock:
                self._pending[device].append((ts, sent))
                self._sent.append(sent)
            while not self._publisher.link.publish(Outbound(topic, json.dumps(body).encode(), qos=1)):
                time.sleep(0.01)
            n += 1

    def _poll(self) -> None:
        db = sqlite3.connect(f"file:{self._db}?mode=ro", uri=True)
        try:
            while self._polling.is_set():
                rows = db.execute(
                    "SELECT device_id, state_ts FROM devices WHERE area_id = ?", (self._area_id,)
                ).fetchall()
                found = time.monotonic()
                with self._lock:
                    for device, stored in rows:
                        queue = self._pending.get(device)
                        while queue and stored is not None and queue[0][0] <= stored:
                            self._done.append((queue.popleft()[1], found))
                time.sleep(POLL_S)
        finally:
            db.close()
