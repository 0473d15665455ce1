"""The scale run's end: a power cut of the whole fleet, then its recovery, with ingest timed.

Every gateway of the fleet is aborted at once (the broker publishes each one's Will, as a
power cut would), and later restarted: each announces its 12,500 devices again (info,
status, state: 300,000 messages), as a fleet whose power comes back would. Throughout, a
probe area of its own (``bench.probe``) reports at a steady rate; its reports' time to the
database before the cut is the baseline of the same run for the same figures during the
cut and during the recovery.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import Result, wait_until
from bench.ingest import Publisher
from bench.probe import Phase, Probe
from devices.messages import Outbound
from devices.sim import control_payload, control_topic

BASELINE_S = 20.0  # the probe alone, before the cut
AFTER_S = 5.0  # the recovery phase runs on this long after the last of it


class Cut:
    """The fleet's gateways cut and restored through the simulator's controls."""

    def __init__(self, publisher: Publisher, db: Path, area: str, area_id: int, gateways: int) -> None:
        self._publisher = publisher
        self._db = db
        self._area = area
        self._area_id = area_id
        self._gateways = [f"gw-{i + 1}" for i in range(gateways)]

    def _all(self, action: str) -> None:
        for gw in self._gateways:
            self._publisher.link.publish(
                Outbound(control_topic(self._area, gw), control_payload(action), qos=1)
            )

    def _count(self, db: sqlite3.Connection) -> Callable[[str], int]:
        def one(where: str) -> int:
            (n,) = db.execute(where, (self._area_id,)).fetchone()
            return int(n)

        return one

    def cut(self, debounce_s: float) -> dict[str, Any]:
        """Power off; wait for the cut's alert and a debounce more, then count what was sent."""
        db = sqlite3.connect(f"file:{self._db}?mode=ro", uri=True)
        one = self._count(db)
        try:
            start = time.monotonic()
            self._all("offline")
            wait_until(
                lambda: one("SELECT count(*) FROM devices WHERE area_id = ? AND online = 1") == 0,
                600,
                "all dark",
                0.5,
            )
            dark_s = time.monotonic() - start
            wait_until(
                lambda: one("SELECT count(*) FROM incidents WHERE area_id = ? AND alerted = 1") >= 1,
                debounce_s + 300,
                "the power cut's alert",
            )
            alert_s = time.monotonic() - start
            time.sleep(debounce_s + 5)  # any camera's own alert would have come by now
            return {
                "notifications": one("SELECT count(*) FROM notifications WHERE area_id = ?"),
                "incidents": one("SELECT count(*) FROM incidents WHERE area_id = ?"),
                "alerted": one("SELECT count(*) FROM incidents WHERE area_id = ? AND alerted = 1"),
                "camera_outages": one("SELECT count(*) FROM camera_outages WHERE area_id = ?"),
                "all_dark_s": round(dark_s, 1),
                "alert_after_s": round(alert_s, 1),
                "debounce_s": debounce_s,
            }
        finally:
            db.close()

    def recover(self, devices: int, cameras: int, timeout: float = 900) -> dict[str, Any]:
        """Power on; seconds until each part of the recovery was seen, and what was sent."""
        db = sqlite3.connect(f"file:{self._db}?mode=ro", uri=True)
        one = self._count(db)
        checks: dict[str, Callable[[], bool]] = {
            "cameras_online_s": lambda: (
                one("SELECT count(*) FROM devices WHERE area_id = ? AND kind = 'camera' AND online = 1")
                >= cameras
            ),
            "outages_closed_s": lambda: (
                one("SELECT count(*) FROM camera_outages WHERE area_id = ? AND ended_at IS NULL") == 0
            ),
            "recovery_notice_s": lambda: (
                one("SELECT count(*) FROM notifications WHERE area_id = ? AND kind = 'camera_online'") >= 1
            ),
            "all_online_s": lambda: (
                one("SELECT count(*) FROM devices WHERE area_id = ? AND online = 1") >= devices
            ),
        }
        seen: dict[str, Any] = {}
        try:
            start = time.monotonic()
            self._all("online")
            while len(seen) < len(checks):
                if time.monotonic() - start > timeout:
                    raise TimeoutError(f"recovery not seen within {timeout:.0f}s: only {sorted(seen)}")
                for name, check in checks.items():
                    if name not in seen and check():
                        seen[name] = round(time.monotonic() - start, 1)
                time.sleep(0.25)
            time.sleep(AFTER_S)  # a second notice would have come by now
            seen["recovery_notifications"] = one(
                "SELECT count(*) FROM notifications WHERE area_id = ? AND kind = 'camera_online'"
            )
            seen["notifications"] = one("SELECT count(*) FROM notifications WHERE area_id = ?")
            seen["incidents_open"] = one(
                "SELECT count(*) FROM incidents WHERE area_id = ? AND ended_at IS NULL"
            )
            # The camera-alert thread's own lag: from the hub knowing every camera back to
            # every outage closed.
            seen["outages_closed_after_cameras_s"] = round(
                seen["outages_closed_s"] - seen["cameras_online_s"], 1
            )
            return seen
        finally:
            db.close()


def run_cut(
    probe: Probe,
    cut: Cut,
    *,
    devices: int,
    cameras: int,
    debounce_s: float,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
    """Baseline, cut, recovery: (the cut's counts, the recovery's, the probe's figures by phase)."""
    probe.start()
    probe.mark("warm-up")
    time.sleep(3)
    probe.mark("baseline")
    time.sleep(BASELINE_S)
    probe.mark("cut")
    cut_figures = cut.cut(debounce_s)
    power_on = probe.mark("recovery")
    recovery = cut.recover(devices, cameras)
    lost = probe.stop()
    phases = {p.name: probe.figures(p) for p in probe.phases() if p.name != "warm-up"}
    phases["baseline"]["lost"] = lost
    # The recovery's tail, once every announcement is in: the camera-alert thread's own work
    # (closing outages, the notice) beside ingest, without the flood of announcements.
    tail = Phase(
        "tail",
        power_on + recovery["all_online_s"],
        power_on + max(recovery["outages_closed_s"], recovery["recovery_notice_s"]),
    )
    if tail.end > tail.start:
        phases["tail"] = probe.figures(tail)
    return cut_figures, recovery, phases


def cut_results(
    cut: dict[str, Any],
    recovery: dict[str, Any],
    phases: dict[str, dict[str, Any]],
    *,
    devices: int,
    cameras: int,
) -> list[Result]:
    """The cut's and the recovery's notifications, the recovery's time, ingest against before."""
    base = phases["baseline"]
    return [
        Result(
            "scale.power_cut_notifications",
            cut["notifications"],
            "notifications",
            target="≤ 1 per area (1 area)",
            met=cut["notifications"] <= 1 and cut["alerted"] == 1,
            detail=cut | {"devices_dark": devices},
        ),
        Result(
            "scale.recovery_notifications",
            recovery["recovery_notifications"],
            "notifications",
            target="1 per incident (1)",
            met=recovery["recovery_notifications"] == 1 and recovery["incidents_open"] == 0,
            detail=recovery,
        ),
        Result(
            # Against the time the hub took to know every camera back: the floor for closing.
            "scale.recovery_outages_closed",
            recovery["outages_closed_s"],
            "s",
            recovery["cameras_online_s"],
            recovery["outages_closed_s"] / recovery["cameras_online_s"],
            detail={"from": "every gateway reconnecting", "cameras": cameras},
        ),
        _ingest("cut", phases, "≤ 2× before the cut, none lost", base["lost"] == 0),
        # The recovery's announcements (3 a device) are ahead of the probe's reports in the
        # hub's one queue: the figure is the flood's, shown for context; "tail" is the time
        # after the flood, while outages close.
        _ingest("recovery", phases, None, None),
    ]


def _ingest(
    phase: str, phases: dict[str, dict[str, Any]], target: str | None, none_lost: bool | None
) -> Result:
    base, mine = phases["baseline"], phases[phase]
    ratio = mine["p99_ms"] / base["p99_ms"]
    extra = {"tail": phases["tail"]} if phase == "recovery" and "tail" in phases else {}
    return Result(
        f"scale.ingest_during_{phase}.p99",
        mine["p99_ms"],
        "ms",
        base["p99_ms"],
        ratio,
        target,
        None if none_lost is None else none_lost and ratio <= 2,
        {
            "p50_ratio": round(mine["p50_ms"] / base["p50_ms"], 2),
            "stored_rate_ratio": round(mine["stored_per_s"] / base["stored_per_s"], 3),
            phase: mine,
            "baseline": base,
            **extra,
        },
    )
