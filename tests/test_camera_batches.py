"""The camera-alert thread's batches alone (no broker, no thread): outages are opened and
closed a batch at a time, in the order the batch happened."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session, sessionmaker

from hub.db import make_engine, make_sessionmaker
from hub.models import Device
from hub.notifications.camera_alerts import CameraAlerts
from hub.notifications.metrics import NotificationMetrics
from hub.notifications.models import CameraOutage, Incident
from hub.notifications.service import NotificationService
from hub.registry.areas import create_area
from hub.registry.changes import Change
from hub.storage.migrate import upgrade

AREA = "a1"


@dataclass
class Told:
    """Stands in for the notification service: what the head would have been told."""

    kinds: list[str] = field(default_factory=list)

    def notify_staff(self, area_id: int, title: str, body: str, priority: Any, **kw: Any) -> None:
        self.kinds.append(kw["kind"])


@dataclass
class Setup:
    alerts: CameraAlerts
    sessions: sessionmaker[Session]
    told: Told
    statements: list[str]
    commits: list[int]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    url = f"sqlite:///{tmp_path / 'cams.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:
        area = create_area(s, AREA, "Khu 1", 21.0, 105.8, "Asia/Ho_Chi_Minh")
        rows = [
            {
                "area_id": area.id,
                "device_id": f"cam-{n}",
                "kind": "camera",
                "status": "active",
                "capabilities": [],
            }
            for n in range(600)
        ]
        s.execute(insert(Device), rows)
    told = Told()
    metrics = NotificationMetrics(CollectorRegistry())
    alerts = CameraAlerts(sessions, cast(NotificationService, told), metrics, debounce_s=0.0, window_s=60.0)
    seen: list[str] = []
    commits: list[int] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_: seen.append(sql))
    event.listen(engine, "commit", lambda _c: commits.append(1))
    yield Setup(alerts, sessions, told, seen, commits)
    engine.dispose()


def change(camera: int, online: bool) -> Change:
    return Change(AREA, f"cam-{camera}", "camera", {"online": online})


def outages(s: Setup, camera: int) -> list[tuple[bool, float | None, int | None]]:
    """(still open, duration, incident) of each outage of the camera, oldest first."""
    with s.sessions() as session:
        rows = session.execute(
            select(CameraOutage.ended_at, CameraOutage.duration_s, CameraOutage.incident_id)
            .join(Device, Device.id == CameraOutage.device_pk)
            .where(Device.device_id == f"cam-{camera}")
            .order_by(CameraOutage.id)
        ).all()
    return [(ended is None, duration, iid) for ended, duration, iid in rows]


def test_a_recovery_of_600_cameras_closes_their_outages_in_one_transaction(setup: Setup) -> None:
    s = setup
    s.alerts._apply([change(n, False) for n in range(600)])
    s.alerts._fire_due_timers()  # the debounce (0 s) is over: the incident's one alert
    assert s.told.kinds == ["camera_offline"]
    s.statements.clear()
    s.commits.clear()

    s.alerts._apply([change(n, True) for n in range(600)])
    updates = [q for q in s.statements if "UPDATE CAMERA_OUTAGES" in q.upper()]
    assert len(updates) == 3, updates  # 256 rows a statement, not one a camera
    assert len(s.commits) == 3  # the outages; the incident's end; its recovery notice's id
    assert all(o[0] is False and o[1] is not None for n in range(600) for o in outages(s, n))
    assert s.told.kinds == ["camera_offline", "camera_online"]
    with s.sessions() as session:
        assert session.scalar(select(Incident.ended_at)) is not None


def test_a_camera_down_and_back_in_one_batch_leaves_a_closed_outage(setup: Setup) -> None:
    s = setup
    s.alerts._apply([change(1, False), change(1, True), change(2, False)])
    [(open1, duration, first)] = outages(s, 1)
    assert not open1
    assert duration is not None
    [(open2, _, second)] = outages(s, 2)
    assert open2
    assert first != second  # cam-1 back ended its incident before cam-2 went dark


def test_a_camera_back_and_down_again_in_one_batch_has_one_outage_open(setup: Setup) -> None:
    s = setup
    s.alerts._apply([change(1, False)])
    s.alerts._apply([change(1, True), change(1, False), change(2, True)])
    [(open_first, _, first), (open_again, _, again)] = outages(s, 1)
    assert not open_first
    assert open_again
    assert first != again
    assert outages(s, 2) == []  # back without having been dark: nothing to close
