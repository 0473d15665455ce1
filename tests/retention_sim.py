"""Months of an area's history written straight into the tables, at rates stated per day.

The rates of a 1,000-device area (``AREA_1000``), per day:
- device events: cameras report motion 6 times an hour (devices/sim/layout.py
  ``motion_per_hour``), each a start and an end row: 40 cameras x 6 x 24 x 2 = 11,520;
- commands: 4 timetable steps a day to each of 900 lights, 3 announcements to 60 speakers,
  20 by hand: 3,800;
- schedule runs: 10 timetables x 4 steps + 3 programmes = 43;
- notifications: 3 to residents (300 phones each) and 5 to staff (3 each): 8, with 915 deliveries;
- announcements: 3, each with a delivery per speaker (180);
- audit: 50 rows; camera outages: 2, grouped in 1 incident.

Each table gets its retention plus 30 days of this (the default retention unless told), so a
purge leaves exactly the steady state: what the database holds at any time at those rates.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert

from hub.broadcasts.models import Announcement, AudioAsset, SpeakerDelivery
from hub.models import Area, AuditEntry, CommandRow, Device, DeviceEventRow, ScheduleRun
from hub.notifications.models import CameraOutage, Delivery, Incident, Notification
from hub.storage.retention_plans import table_of

EXTRA_DAYS = 30  # days of history older than each retention: what the purge must remove
DAY = timedelta(days=1)
OPEN_COMMANDS = ("queued", "sent", "timed_out")


@dataclass(frozen=True)
class AreaShape:
    lights: int
    speakers: int
    cameras: int
    phones: int  # residents' push subscriptions


AREA_1000 = AreaShape(lights=900, speakers=60, cameras=40, phones=300)


@dataclass
class Spans:
    """Days of history per table: its retention plus ``EXTRA_DAYS``."""

    events: int
    commands: int
    runs: int
    notifications: int
    outages: int
    broadcasts: int
    audit: int


def spread(day0: datetime, n: int) -> Iterator[datetime]:
    """``n`` instants spread over the day, none on its first instant (the cutoffs fall there)."""
    step = DAY / max(n, 1)
    for k in range(n):
        yield day0 + step * (k + 0.5)


class History:
    """Writes the rows; remembers how many were written before each table's cutoff."""

    def __init__(self, conn: Connection, shape: AreaShape, now: datetime, spans: Spans) -> None:
        self.conn, self.shape, self.now, self.spans = conn, shape, now, spans
        self.ids: dict[str, int] = {}
        self.area_id = conn.execute(
            insert(table_of(Area)).returning(table_of(Area).c.id),
            {"code": "sim", "name": "Sim", "latitude": 21.0, "longitude": 105.8, "created_at": now},
        ).scalar_one()
        kinds = [("light", shape.lights), ("speaker", shape.speakers), ("camera", shape.cameras)]
        devices = [
            {
                "id": self.next_id("devices"),
                "area_id": self.area_id,
                "device_id": f"{k}-{i}",
                "kind": k,
                "capabilities": [],
                "status": "active",
                "created_at": now,
                "updated_at": now,
            }
            for k, n in kinds
            for i in range(n)
        ]
        self.write(Device, devices)
        self.lights = [d["id"] for d in devices if d["kind"] == "light"]
        self.speakers = [d["id"] for d in devices if d["kind"] == "speaker"]
        self.cameras = [d["id"] for d in devices if d["kind"] == "camera"]
        self.write(
            AudioAsset,
            [
                {
                    "id": "a1",
                    "area_id": self.area_id,
                    "source": "tts",
                    "filename": "a1.ogg",
                    "content_type": "audio/ogg",
                    "size_bytes": 1,
                    "duration_ms": 1,
                    "sha256": "0" * 64,
                    "created_at": now,
                }
            ],
        )

    def next_id(self, table: str) -> int:
        self.ids[table] = self.ids.get(table, 0) + 1
        return self.ids[table]

    def write(self, model: type[object], rows: list[dict[str, Any]]) -> None:
        for k in range(0, len(rows), 20_000):
            self.conn.execute(insert(table_of(model)), rows[k : k + 20_000])

    def days(self, span: int) -> Iterator[datetime]:
        start = self.now - span * DAY
        for d in range(span):
            yield start + d * DAY

    def events(self) -> None:
        s = self.shape
        per_day = s.cameras * 6 * 24 * 2
        for day0 in self.days(self.spans.events):
            self.write(
                DeviceEventRow,
                [
                    {
                        "id": self.next_id("events"),
                        "device_pk": self.cameras[k % s.cameras],
                        "type": "motion",
                        "ts": int(at.timestamp() * 1000),
                        "received_at": at,
                        "data": {"active": k % 2 == 0, "score": 0.87} if k % 2 == 0 else {"active": False},
                    }
                    for k, at in enumerate(spread(day0, per_day))
                ],
            )

    def commands(self, open_old: int) -> None:
        s = self.shape
        per_day = s.lights * 4 + s.speakers * 3 + 20
        for d, day0 in enumerate(self.days(self.spans.commands)):
            rows = []
            for k, at in enumerate(spread(day0, per_day)):
                pk = self.lights[k % s.lights]
                status = OPEN_COMMANDS[k % 3] if d == 0 and k < open_old else "confirmed"
                rows.append(
                    {
                        "id": uuid.uuid4().hex,
                        "group_id": uuid.uuid4().hex,
                        "area_id": self.area_id,
                        "device_pk": pk,
                        "device_id": f"light-{pk}",
                        "action": "light.set",
                        "params": {"on": True, "level": 60},
                        "status": status,
                        "source": "schedule",
                        "result_state": {
                            "on": True,
                            "level": 60,
                            "power_w": 41.5,
                            "ts": int(at.timestamp() * 1000),
                        },
                        "created_at": at,
                        "sent_at": at,
                        "confirm_by": at + timedelta(seconds=30),
                        "expires_at": at + timedelta(minutes=15),
                        "finished_at": at + timedelta(seconds=1),
                    }
                )
            self.write(CommandRow, rows)

    def runs(self) -> None:
        for day0 in self.days(self.spans.runs):
            self.write(
                ScheduleRun,
                [
                    {
                        "id": self.next_id("runs"),
                        "schedule_kind": "timetable" if k < 40 else "programme",
                        "schedule_id": k % 10 if k < 40 else k,
                        "area_id": self.area_id,
                        "planned_at": at,
                        "ran_at": at,
                        "outcome": "ok",
                        "detail": "900 lights: 900 confirmed",
                    }
                    for k, at in enumerate(spread(day0, 43))
                ],
            )

    def notifications(self, open_old: int) -> None:
        s = self.shape
        for d, day0 in enumerate(self.days(self.spans.notifications)):
            notes, deliveries = [], []
            for k, at in enumerate(spread(day0, 8)):
                nid, residents = self.next_id("notifications"), k < 3
                notes.append(
                    {
                        "id": nid,
                        "area_id": self.area_id,
                        "audience": "residents" if residents else "staff",
                        "kind": "announcement" if residents else "alert",
                        "priority": "normal",
                        "title": "Thông báo họp tổ dân phố",
                        "created_at": at,
                        "body": "Mời bà con đến nhà văn hoá lúc 19 giờ tối nay để họp về vệ sinh môi trường.",
                    }
                )
                for j in range(s.phones if residents else 3):
                    status = "queued" if d == 0 and k == 0 and j < open_old else "sent"
                    deliveries.append(
                        {
                            "id": self.next_id("deliveries"),
                            "notification_id": nid,
                            "channel": "webpush",
                            "target": "fcm.googleapis.com",
                            "status": status,
                            "attempts": 1,
                            "next_attempt_at": at,
                            "created_at": at,
                            "updated_at": at,
                            "sent_at": at,
                        }
                    )
            self.write(Notification, notes)
            self.write(Delivery, deliveries)

    def outages(self) -> None:
        cameras = self.cameras
        for d, day0 in enumerate(self.days(self.spans.outages)):
            at = day0 + DAY / 2
            iid = self.next_id("incidents")
            ended = None if d == 0 else at + timedelta(minutes=20)  # the oldest is still open
            self.write(
                Incident,
                [
                    {
                        "id": iid,
                        "area_id": self.area_id,
                        "started_at": at,
                        "ended_at": ended,
                        "alerted": True,
                        "summary": {"kinds": {"camera": 2}},
                    }
                ],
            )
            self.write(
                CameraOutage,
                [
                    {
                        "id": self.next_id("outages"),
                        "area_id": self.area_id,
                        "device_pk": cameras[(2 * d + k) % len(cameras)],
                        "started_at": at + timedelta(seconds=k),
                        "ended_at": ended,
                        "duration_s": 1200.0,
                        "alerted": True,
                        "incident_id": iid,
                    }
                    for k in range(2)
                ],
            )

    def broadcasts(self) -> None:
        for day0 in self.days(self.spans.broadcasts):
            anns, plays = [], []
            for at in spread(day0, 3):
                aid = uuid.uuid4().hex
                anns.append(
                    {
                        "id": aid,
                        "area_id": self.area_id,
                        "title": "Phát thanh buổi sáng",
                        "audio_id": "a1",
                        "priority": "normal",
                        "status": "done",
                        "source": "programme",
                        "not_before": at,
                        "start_at": at,
                        "finished_at": at,
                        "note": "",
                        "notify": True,
                        "created_at": at,
                    }
                )
                plays += [
                    {
                        "announcement_id": aid,
                        "device_pk": pk,
                        "device_id": f"speaker-{pk}",
                        "status": "finished",
                        "command_id": uuid.uuid4().hex,
                        "started_at": at,
                        "finished_at": at,
                        "detail": {"clock_offset_ms": 3},
                    }
                    for pk in self.speakers
                ]
            self.write(Announcement, anns)
            self.write(SpeakerDelivery, plays)

    def audit(self) -> None:
        for day0 in self.days(self.spans.audit):
            self.write(
                AuditEntry,
                [
                    {
                        "id": self.next_id("audit"),
                        "at": at,
                        "actor": "truong-khu",
                        "area_id": self.area_id,
                        "action": "command.issue",
                        "target": "zone:ngo-5",
                        "params": {"on": True, "level": 80},
                        "result": "42 confirmed, 0 failed",
                        "ref": uuid.uuid4().hex,
                    }
                    for at in spread(day0, 50)
                ],
            )
