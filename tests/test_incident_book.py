"""The incident grouping alone, at the scale of the 100,000-device benchmark: bounded by areas."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, update

from hub.db import make_engine, make_sessionmaker
from hub.models import Device
from hub.notifications.incidents import IncidentBook
from hub.notifications.models import CameraOutage, Incident
from hub.registry.areas import create_area
from hub.storage.migrate import upgrade

T0 = datetime(2025, 3, 10, 3, 0, tzinfo=UTC)


def test_thirty_thousand_cameras_in_ten_areas_make_ten_incidents(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'book.db'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    with sessions.begin() as s:
        areas = [create_area(s, f"a{n}", f"Khu {n}", 21.0, 105.8, "Asia/Ho_Chi_Minh").id for n in range(10)]
    book = IncidentBook(window_s=60)
    cams = [(pk, areas[pk % 10]) for pk in range(1, 30_001)]
    started = time.perf_counter()
    with sessions.begin() as s:
        # The cut reaches the hub in a few ingest batches, seconds apart: still one per area.
        of = book.join(s, cams[:20_000], T0)
        of |= book.join(s, cams[20_000:], T0 + timedelta(seconds=5))
    assert time.perf_counter() - started < 5
    assert book.opened == 10
    assert len(set(of.values())) == 10
    assert all(of[pk] == of[pk + 10] for pk in range(1, 29_991))  # same area, same incident

    # Flaps of members add nothing, even past the window; a newcomer past it opens another.
    inc = book.get(of[1])
    assert inc is not None
    assert book.back(1) is None
    with sessions.begin() as s:
        assert book.join(s, [(1, areas[1])], T0 + timedelta(minutes=5)) == {1: inc.id}
        newcomer = book.join(s, [(40_001, areas[1])], T0 + timedelta(minutes=5))[40_001]
    assert newcomer != inc.id
    assert book.opened == 11

    # The incident ends with the last of its cameras, not before.
    members = sorted(inc.members)
    assert all(book.back(pk) is None for pk in members[:-1])
    assert book.back(members[-1]) is inc
    assert book.get(inc.id) is None
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 11


def test_a_restarted_hub_finds_its_open_incidents_and_their_cameras(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'book.db'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    with sessions.begin() as s:
        area = create_area(s, "a1", "Khu 1", 21.0, 105.8, "Asia/Ho_Chi_Minh")
        pks = []
        for n in range(1, 4):
            cam = Device(
                area_id=area.id, device_id=f"cam-{n}", kind="camera", status="active", capabilities=[]
            )
            s.add(cam)
            s.flush()
            pks.append(cam.id)
        area_id = area.id
    book = IncidentBook(window_s=60)
    with sessions.begin() as s:
        of = book.join(s, [(pk, area_id) for pk in pks], T0)
        s.execute(
            insert(CameraOutage),
            [{"area_id": area_id, "device_pk": pk, "started_at": T0, "incident_id": of[pk]} for pk in pks],
        )
        # Outages of before incidents existed: a closed one is left alone, an open one adopted.
        s.execute(
            insert(CameraOutage).values(
                area_id=area_id, device_pk=pks[0], started_at=T0 - timedelta(hours=1), ended_at=T0
            )
        )
        legacy = Device(area_id=area_id, device_id="cam-old", kind="camera", status="active", capabilities=[])
        s.add(legacy)
        s.flush()
        s.execute(
            insert(CameraOutage).values(
                area_id=area_id, device_pk=legacy.id, started_at=T0 - timedelta(hours=2), alerted=True
            )
        )
    with sessions.begin() as s:
        s.execute(
            update(CameraOutage)
            .where(CameraOutage.device_pk == pks[2])
            .values(ended_at=T0 + timedelta(seconds=3))
        )

    again = IncidentBook(window_s=60)
    with sessions.begin() as s:
        still_open, done = again.resume(s, T0 + timedelta(minutes=1))
    assert done == []
    [inc] = still_open
    assert inc.id == of[pks[0]]
    assert inc.members == {*pks, legacy.id}
    assert inc.dark == {*pks[:2], legacy.id}
    assert inc.alerted  # the legacy outage had been told: its recovery will be too
    with sessions.begin() as s:  # a member flapping after the restart stays in it
        assert again.join(s, [(pks[2], area_id)], T0 + timedelta(minutes=5)) == {pks[2]: inc.id}
