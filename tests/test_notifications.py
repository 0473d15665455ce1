"""Residents' notifications: feed and live stream, quiet hours, Apprise channels, invites, restarts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from devices.payloads import Priority
from hub.broker.process import Broker
from hub.models import Role
from hub.notifications.models import AreaInvite
from hub.notifications.quiet_hours import QuietHours, QuietHoursError
from tests.conftest import HubHarness, make_area
from tests.test_live import SseReader, serve
from tests.test_webpush import FAST_NOTIFY, area_id, deliveries, push_service, resident, wait_status

# Asia/Ho_Chi_Minh is UTC+7: 23:00 there is 16:00 UTC.
NIGHT = datetime(2025, 3, 10, 16, 0, tzinfo=UTC)


@pytest.fixture
def nhub(broker: Broker, hub_factory: Callable[..., HubHarness]) -> HubHarness:
    return hub_factory(broker, **FAST_NOTIFY)


def head_client(hub: HubHarness, code: str, name: str = "truong-khu") -> TestClient:
    return hub.client_for(name, hub.add_user(name, Role.HEAD, code))


@contextmanager
def feed_stream(base: str, code: str, token: str) -> Iterator[SseReader]:
    url = f"{base}/api/v1/areas/{code}/notifications/stream"
    with httpx.stream("GET", url, headers={"Authorization": token}, timeout=10) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        yield SseReader(r)


# --- feed ---------------------------------------------------------------------------------


def test_feed_history_and_live_stream(nhub: HubHarness, area_code: str) -> None:
    make_area(nhub, area_code)
    aid = area_id(nhub, area_code)
    phone = resident(nhub, area_code)
    head = head_client(nhub, area_code)
    notes = nhub.runtime.notifications
    notes.feed.ping_s = 0.2
    first = notes.notify_residents(
        aid, "Lịch thu gom rác", "Thu gom rác lúc 18:00 hằng ngày.", Priority.NORMAL
    )

    with (
        serve(nhub.http.app) as base,
        feed_stream(base, area_code, phone.headers["Authorization"]) as mine,
        feed_stream(base, area_code, head.headers["Authorization"]) as heads,
    ):
        hello = mine.next()
        assert hello.event == "hello"
        assert hello.data["events"] == ["notification"]
        assert hello.data["latest_id"] == first
        assert heads.next().data["events"] == ["notification", "staff_notification"]

        alert = notes.notify_staff(aid, "Camera 01 mất kết nối", "Kiểm tra nguồn.", Priority.PRIORITY)
        news = notes.notify_residents(
            aid, "Phun thuốc muỗi", "Sáng Chủ nhật phun thuốc.", Priority.PRIORITY, "/a.wav", "ann-9"
        )
        got = mine.find(lambda e: e.event == "notification")
        assert got.data["id"] == news
        assert got.data["title"] == "Phun thuốc muỗi"
        assert got.data["priority"] == "priority"
        assert got.data["audio_url"] == "/a.wav"
        assert got.data["ref"] == "ann-9"
        assert not any(e.event == "staff_notification" for e in mine.seen)  # residents never see alerts
        staff = heads.find(lambda e: e.event == "staff_notification")
        assert staff.data["id"] == alert
        heads.find(lambda e: e.event == "notification" and e.data["id"] == news)

    url = f"/api/v1/areas/{area_code}/notifications"
    page = phone.get(url).json()
    assert [n["id"] for n in page["items"]] == [news, first]  # newest first, no staff alert
    assert page["total"] == 2
    assert page["items"][0]["created_at"] == got.data["created_at"]
    assert got.data["created_at"].endswith("Z")
    assert [n["id"] for n in head.get(url).json()["items"]] == [news, alert, first]
    assert [n["id"] for n in head.get(url, params={"after_id": first}).json()["items"]] == [news, alert]
    assert head.get(url, params={"limit": 1, "offset": 1}).json()["items"][0]["id"] == alert
    assert phone.get(f"{url}/{alert}").status_code == 404
    assert phone.get(f"{url}/{news}").json()["body"] == "Sáng Chủ nhật phun thuốc."
    assert phone.get(f"{url}/{news}/deliveries").status_code == 403

    make_area(nhub, f"{area_code}x")
    stranger = resident(nhub, f"{area_code}x", "nguoi-la")
    assert stranger.get(url).status_code == 404
    assert TestClient(nhub.http.app).get(url).status_code == 401


# --- quiet hours --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "local", "active", "ends"),
    [
        ("22:00", "06:00", "23:30", True, "06:00+1"),
        ("22:00", "06:00", "02:00", True, "06:00"),
        ("22:00", "06:00", "06:00", False, None),
        ("22:00", "06:00", "21:59", False, None),
        ("12:00", "13:30", "12:45", True, "13:30"),
        ("12:00", "13:30", "13:30", False, None),
    ],
)
def test_quiet_hours_ranges(start: str, end: str, local: str, active: bool, ends: str | None) -> None:
    qh = QuietHours.parse(start, end, "Asia/Ho_Chi_Minh")
    hh, mm = map(int, local.split(":"))
    now = datetime(2025, 3, 10, hh, mm, tzinfo=qh.tz)
    assert qh.active(now) is active
    if ends is None:
        assert qh.ends_after(now) == now
    else:
        day = 11 if ends.endswith("+1") else 10
        eh, em = map(int, ends[:5].split(":"))
        assert qh.ends_after(now) == datetime(2025, 3, day, eh, em, tzinfo=qh.tz)


def test_quiet_hours_follow_daylight_saving() -> None:
    # Berlin springs forward on 30 March 2025: 22:00-06:00 that night lasts 7 hours.
    qh = QuietHours.parse("22:00", "06:00", "Europe/Berlin")
    night = datetime(2025, 3, 29, 21, 30, tzinfo=UTC)  # 22:30 local (UTC+1)
    assert qh.ends_after(night) == datetime(2025, 3, 30, 4, 0, tzinfo=UTC)  # 06:00 local (UTC+2)
    for bad in (("24:00", "06:00"), ("7:00", "08:00"), ("08:00", "08:00")):
        with pytest.raises(QuietHoursError):
            QuietHours.parse(*bad, "Asia/Ho_Chi_Minh")
    with pytest.raises(QuietHoursError):
        QuietHours.parse("22:00", "06:00", "Mars/Olympus")


def test_quiet_hours_hold_normal_but_not_emergency(nhub: HubHarness, area_code: str) -> None:
    make_area(nhub, area_code)
    aid = area_id(nhub, area_code)
    phone = resident(nhub, area_code)
    notes = nhub.runtime.notifications
    clock = [NIGHT]
    notes.clock = lambda: clock[0]
    r = phone.put("/api/v1/me/quiet-hours", json={"start": "22:00", "end": "06:00"})
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["timezone"] == "Asia/Ho_Chi_Minh"  # the area's, by default
    assert shown["active_now"] is True
    assert shown["ends_at"] == "2025-03-10T23:00:00Z"  # 06:00 in Hà Nội
    assert phone.put("/api/v1/me/quiet-hours", json={"start": "22:00", "end": "22:00"}).status_code == 422
    assert phone.put("/api/v1/me/quiet-hours", json={"start": "25:00", "end": "06:00"}).status_code == 422

    with push_service(notes.vapid_public_key) as push:
        assert phone.post("/api/v1/push/subscriptions", json=push.subscription("/night")).status_code == 201
        normal = notes.notify_residents(aid, "Họp tổ", "Họp tổ dân phố tối mai.", Priority.NORMAL)
        urgent = notes.notify_residents(
            aid, "Ngập lụt", "Nước lên nhanh, di chuyển đồ lên cao.", Priority.EMERGENCY
        )
        held = wait_status(nhub, normal, "held_quiet")
        assert held.next_attempt_at.replace(tzinfo=UTC) == datetime(2025, 3, 10, 23, 0, tzinfo=UTC)
        wait_status(nhub, urgent, "sent")
        assert [r.payload["id"] for r in push.on("/night") if r.payload] == [urgent]
        # The feed has both at once: quiet hours only hold the pushes.
        assert [n["id"] for n in phone.get(f"/api/v1/areas/{area_code}/notifications").json()["items"]] == [
            urgent,
            normal,
        ]

        clock[0] = NIGHT + timedelta(hours=6, minutes=59)  # 05:59: still quiet
        notes.worker.wake()
        time.sleep(0.3)  # several rounds of the worker
        assert deliveries(nhub, normal)[0].status == "held_quiet"

        clock[0] = NIGHT + timedelta(hours=7, minutes=1)  # 06:01
        notes.worker.wake()
        wait_status(nhub, normal, "sent")
        assert [r.payload["id"] for r in push.on("/night") if r.payload] == [urgent, normal]

        # Quiet hours cleared: a held push goes at once.
        clock[0] = NIGHT
        later = notes.notify_residents(aid, "Nhắc", "Nộp quỹ khuyến học.", Priority.NORMAL)
        wait_status(nhub, later, "held_quiet")
        assert phone.delete("/api/v1/me/quiet-hours").status_code == 204
        wait_status(nhub, later, "sent")
    assert phone.get("/api/v1/me/quiet-hours").json()["enabled"] is False


# --- Apprise channels ---------------------------------------------------------------------


@dataclass
class JsonSink:
    """A local HTTP endpoint for Apprise's ``json://`` URLs; ``/fail`` always answers 500."""

    base: str = ""
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for p, body in self.posts if p == path]


@contextmanager
def json_sink() -> Iterator[JsonSink]:
    sink = JsonSink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            with sink.lock:
                sink.posts.append((self.path, body))
            self.send_response(500 if self.path.startswith("/fail") else 200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.base = f"127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


def test_apprise_channels_deliver_retry_and_report(nhub: HubHarness, area_code: str) -> None:
    make_area(nhub, area_code)
    aid = area_id(nhub, area_code)
    head = head_client(nhub, area_code)
    phone = resident(nhub, area_code)
    url = f"/api/v1/areas/{area_code}/notification-channels"
    with json_sink() as sink:
        good = f"json://{sink.base}/hook-secret-token"
        body = {
            "channels": [
                {"label": "Nhóm Zalo tổ 5", "url": good},
                {"label": "Máy chủ hỏng", "url": f"json://{sink.base}/fail"},
                {"label": "Ban quản lý", "url": f"json://{sink.base}/staff", "audience": "staff"},
            ]
        }
        r = head.put(url, json=body)
        assert r.status_code == 200, r.text
        assert "hook-secret-token" not in r.text  # URLs are secrets: never shown again
        assert [c["label"] for c in r.json()] == ["Nhóm Zalo tổ 5", "Máy chủ hỏng", "Ban quản lý"]
        assert all(c["url_masked"].startswith("json://") for c in r.json())
        assert "hook-secret-token" not in head.get(url).text
        assert phone.put(url, json=body).status_code == 403
        assert phone.get(url).status_code == 403
        bogus = {"channels": [{"label": "x", "url": "nonsense://what"}]}
        assert head.put(url, json=bogus).status_code == 422

        nid = nhub.runtime.notifications.notify_residents(
            aid, "Cúp nước", "Cúp nước từ 9:00 đến 12:00.", Priority.EMERGENCY, audio_url="http://hub/a.wav"
        )
        nhub.wait(lambda: len(sink.on("/hook-secret-token")) == 1, what="the Apprise message")
        message = sink.on("/hook-secret-token")[0]
        assert message["title"] == "[KHẨN CẤP] Cúp nước"
        assert message["message"].startswith("Cúp nước từ 9:00")
        assert "http://hub/a.wav" in message["message"]
        failed = wait_status(nhub, nid, "failed", timeout=15)
        assert failed.attempts == FAST_NOTIFY["notify_max_attempts"]
        assert len(sink.on("/fail")) == FAST_NOTIFY["notify_max_attempts"]
        assert sink.on("/staff") == []  # staff channels only carry staff alerts

        report = head.get(f"/api/v1/areas/{area_code}/notifications/{nid}/deliveries").json()
        assert report["counts"] == {"sent": 1, "failed": 1}
        assert report["by_channel"] == {"apprise": {"sent": 1, "failed": 1}}
        [problem] = report["problems"]
        assert problem["target"] == "Máy chủ hỏng"
        assert problem["status"] == "failed"
        assert problem["last_error"]

        alert = nhub.runtime.notifications.notify_staff(aid, "Camera 03 mất kết nối", "…", Priority.PRIORITY)
        nhub.wait(lambda: len(sink.on("/staff")) == 1, what="the staff channel")
        wait_status(nhub, alert, "sent")

        # Keep the first channel by id (its URL stays), drop the others.
        first_id = r.json()[0]["id"]
        kept = head.put(url, json={"channels": [{"id": first_id, "label": "Zalo tổ 5", "enabled": True}]})
        assert [c["label"] for c in kept.json()] == ["Zalo tổ 5"]
        again = nhub.runtime.notifications.notify_residents(aid, "Nhắc lại", "Cúp nước.", Priority.NORMAL)
        nhub.wait(lambda: len(sink.on("/hook-secret-token")) == 2, what="the kept channel")
        assert sink.on("/hook-secret-token")[1]["title"] == "Nhắc lại"
        assert len(deliveries(nhub, again)) == 1


# --- invites ------------------------------------------------------------------------------


def test_invite_registration(nhub: HubHarness, area_code: str) -> None:
    make_area(nhub, area_code)
    head = head_client(nhub, area_code)
    anon = TestClient(nhub.http.app)
    r = head.post(f"/api/v1/areas/{area_code}/invites", json={"max_uses": 1, "expires_in_hours": 48})
    assert r.status_code == 201, r.text
    invite = r.json()
    code = invite["code"]
    assert invite["status"] == "active"
    assert invite["hint"] == code[:3]

    form = {
        "invite_code": code.lower(),
        "username": "ba-lan",
        "password": "Mat-khau-123",
        "display_name": "Bà Lan",
    }
    r = anon.post("/api/v1/auth/register", json=form)
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "resident"
    assert r.json()["display_name"] == "Bà Lan"
    lan = nhub.client_for("ba-lan", "Mat-khau-123")
    assert lan.get(f"/api/v1/areas/{area_code}/notifications").status_code == 200

    r = anon.post("/api/v1/auth/register", json={**form, "username": "ong-hai"})
    assert r.status_code == 410
    assert "used up" in r.json()["detail"]
    listed = head.get(f"/api/v1/areas/{area_code}/invites").json()
    assert listed["items"][0]["status"] == "used_up"
    assert "code" not in listed["items"][0]

    second = head.post(f"/api/v1/areas/{area_code}/invites", json={}).json()
    r = anon.post("/api/v1/auth/register", json={**form, "invite_code": second["code"]})
    assert r.status_code == 409  # ba-lan exists
    with nhub.runtime.sessions.begin() as session:
        session.execute(
            update(AreaInvite)
            .where(AreaInvite.id == second["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    r = anon.post(
        "/api/v1/auth/register", json={**form, "username": "ong-hai", "invite_code": second["code"]}
    )
    assert r.status_code == 410
    assert "expired" in r.json()["detail"]

    third = head.post(f"/api/v1/areas/{area_code}/invites", json={}).json()
    assert head.delete(f"/api/v1/areas/{area_code}/invites/{third['id']}").status_code == 204
    r = anon.post("/api/v1/auth/register", json={**form, "username": "ong-hai", "invite_code": third["code"]})
    assert r.status_code == 410

    assert lan.post(f"/api/v1/areas/{area_code}/invites", json={}).status_code == 403
    assert anon.post(f"/api/v1/areas/{area_code}/invites", json={}).status_code == 401

    # Guessing codes is rate limited like logging in.
    for _ in range(nhub.settings.login_failures_per_user):
        r = anon.post(
            "/api/v1/auth/register", json={**form, "username": "ke-doan", "invite_code": "AAAAA-AAAAA"}
        )
        assert r.status_code == 400
    r = anon.post("/api/v1/auth/register", json={**form, "username": "ke-doan", "invite_code": "AAAAA-AAAAA"})
    assert r.status_code == 429


# --- restarts -----------------------------------------------------------------------------


def test_queued_deliveries_survive_a_restart(
    broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str
) -> None:
    first = hub_factory(broker, **FAST_NOTIFY)
    make_area(first, area_code)
    phone = resident(first, area_code)
    with push_service(first.runtime.notifications.vapid_public_key) as push:
        assert phone.post("/api/v1/push/subscriptions", json=push.subscription("/later")).status_code == 201
        first.runtime.notifications.worker.stop()  # the hub "crashes" before it could send
        nid = first.runtime.notifications.notify_residents(
            area_id(first, area_code), "Bầu cử", "Bầu cử tổ trưởng Chủ nhật này.", Priority.NORMAL
        )
        assert deliveries(first, nid)[0].status == "queued"
        first.runtime.stop()

        second = hub_factory(broker, **FAST_NOTIFY)  # same database and state dir: same VAPID key
        assert second.runtime.notifications.vapid_public_key == push.vapid_public_key
        wait_status(second, nid, "sent")
        assert [r.payload["id"] for r in push.on("/later") if r.payload] == [nid]
        assert push.problems == []


def test_channel_quiet_hours_and_long_texts(nhub: HubHarness, area_code: str) -> None:
    make_area(nhub, area_code)
    aid = area_id(nhub, area_code)
    head = head_client(nhub, area_code)
    phone = resident(nhub, area_code)
    notes = nhub.runtime.notifications
    notes.clock = lambda: NIGHT  # 23:00 in Hà Nội
    url = f"/api/v1/areas/{area_code}/notification-channels"
    text = "Thông báo dài. " * 200
    with json_sink() as sink, push_service(notes.vapid_public_key) as push:
        assert phone.post("/api/v1/push/subscriptions", json=push.subscription("/long")).status_code == 201
        night = {"start": "21:00", "end": "05:00"}
        channel = {"label": "Nhóm tổ 5", "url": f"json://{sink.base}/group", "quiet_hours": night}
        r = head.put(url, json={"channels": [channel]})
        assert r.status_code == 200, r.text
        assert r.json()[0]["quiet_hours"] == night
        nid = notes.notify_residents(aid, "Văn bản dài", text, Priority.NORMAL)
        held = wait_status(nhub, nid, "held_quiet")
        assert held.channel == "apprise"
        nhub.wait(lambda: len(push.on("/long")) == 1, what="the push (the resident has no quiet hours)")
        payload = push.on("/long")[0].payload
        assert payload is not None
        assert len(payload["body"]) == 1000
        assert payload["body"].endswith("…")
        assert phone.get(f"{url.rsplit('/', 1)[0]}/notifications/{nid}").json()["body"] == text

        # The head lifts the channel's quiet hours: what it held goes out now.
        kept = {"id": r.json()[0]["id"], "label": "Nhóm tổ 5"}
        assert head.put(url, json={"channels": [kept]}).json()[0]["quiet_hours"] is None
        nhub.wait(lambda: len(sink.on("/group")) == 1, what="the held channel message")
        assert sink.on("/group")[0]["message"].strip() == text.strip()  # external channels get it all
        # The sink has the message before the worker records the delivery as sent.
        nhub.wait(lambda: {d.status for d in deliveries(nhub, nid)} == {"sent"}, what="deliveries recorded")
