"""Every /api/v1 route × every role: who gets through (exact success code), 401, 403 or 404.

The table below must name every route of the app; a new route without a row fails
``test_every_route_is_in_the_table``. Each row acts on area A's resources, so the head of
area B must get 404 (the area does not exist for them), never 403.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from devices.emulators.frigate import SNAPSHOT_JPEG
from devices.messages import SnapshotReport, Source
from devices.payloads import Kind, Priority
from hub.api.app import create_app
from hub.auth.accounts import create_user
from hub.broadcasts.models import Announcement, AudioAsset
from hub.broker.process import Broker
from hub.models import Area, CommandRow, CommandStatus, Device, DeviceStatus, Role
from hub.notifications.models import Incident
from hub.registry.areas import Registration, create_area, create_zone, preregister
from hub.registry.snapshots import keep
from hub.runtime import HubRuntime
from hub.storage.migrate import upgrade
from tests.conftest import make_settings, serve

ADMIN, HEAD_A, DEPUTY_A, RESIDENT_A, HEAD_B, ANON = (
    "admin",
    "head_a",
    "deputy_a",
    "resident_a",
    "head_b",
    "anonymous",
)
ROLES = (ADMIN, HEAD_A, DEPUTY_A, RESIDENT_A, HEAD_B, ANON)
PASSWORD = "matrix-Passw0rd!"


@dataclass
class Call:
    """One request: path parameters (``code`` defaults to area A) and what to send."""

    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    data: dict[str, str] | None = None
    query: dict[str, str] | None = None
    bearer: bool = True  # False: a client with no credentials, e.g. for the login routes


@dataclass
class World:
    """One hub with areas A and B, a user per role and a few objects to act on."""

    runtime: HubRuntime
    app: FastAPI
    base_url: str  # a real server, for streams (TestClient waits for a body's end)
    a: str
    b: str
    zone_a: int
    target_user: int
    command_id: str
    tokens: dict[str, str] = field(default_factory=dict)
    seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(self.seq)}"

    def area_id(self, code: str) -> int:
        with self.runtime.sessions() as s:
            area_id = s.scalar(select(Area.id).where(Area.code == code))
        assert area_id is not None
        return area_id

    def fresh_zone(self) -> int:
        with self.runtime.sessions.begin() as s:
            area = s.scalar(select(Area).where(Area.code == self.a))
            assert area is not None
            return create_zone(s, area, self.unique("zone ")).id

    def fresh_device(self, status: DeviceStatus) -> str:
        device_id = self.unique("dev-")
        area_id = self.area_id(self.a)
        with self.runtime.sessions.begin() as s:
            s.add(
                Device(
                    area_id=area_id,
                    device_id=device_id,
                    kind=Kind.LIGHT.value,
                    name=device_id,
                    status=status.value,
                    capabilities=[],
                )
            )
        return device_id

    def fresh_timetable(self) -> int:
        r = TestClient(self.app).post(
            f"/api/v1/areas/{self.a}/timetables",
            json=_timetable(self, ADMIN).json,
            headers={"Authorization": f"Bearer {self.tokens[ADMIN]}"},
        )
        assert r.status_code == 201, r.text
        timetable_id: int = r.json()["id"]
        return timetable_id

    def fresh_announcement(self) -> tuple[str, str]:
        """A scheduled announcement of area A (rows written directly: area A has no speakers)."""
        area_id = self.area_id(self.a)
        stored = self.runtime.audio.render_tts("Kiểm tra quyền.", "vi")
        ann_id = self.unique("ann")
        with self.runtime.sessions.begin() as s:
            s.add(
                AudioAsset(
                    id=stored.id,
                    area_id=area_id,
                    source="tts",
                    filename=stored.filename,
                    content_type=stored.content_type,
                    size_bytes=stored.size_bytes,
                    duration_ms=stored.duration_ms,
                    sha256=stored.sha256,
                )
            )
            s.flush()
            s.add(
                Announcement(
                    id=ann_id,
                    area_id=area_id,
                    title="x",
                    audio_id=stored.id,
                    priority="normal",
                    status="scheduled",
                    not_before=datetime(2099, 1, 1, tzinfo=UTC),
                )
            )
        return ann_id, stored.filename

    def login(self, role: str) -> dict[str, Any]:
        r = TestClient(self.app).post(
            "/api/v1/auth/token", data={"username": username(role), "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


def username(role: str) -> str:
    return f"m-{role.replace('_', '-')}"


# --- who may do what -----------------------------------------------------------------------


def any_user(ok: int) -> dict[str, int]:
    """Every user of area A."""
    return {ADMIN: ok, HEAD_A: ok, DEPUTY_A: ok, RESIDENT_A: ok, HEAD_B: 404, ANON: 401}


def controller(ok: int) -> dict[str, int]:
    """Admin, head and deputy of area A; residents watch but do not control."""
    return {ADMIN: ok, HEAD_A: ok, DEPUTY_A: ok, RESIDENT_A: 403, HEAD_B: 404, ANON: 401}


def manager(ok: int) -> dict[str, int]:
    """Admin and the head of area A."""
    return {ADMIN: ok, HEAD_A: ok, DEPUTY_A: 403, RESIDENT_A: 403, HEAD_B: 404, ANON: 401}


def area_admin(ok: int) -> dict[str, int]:
    """The commune admin only, on area A (its own head gets 403, a stranger 404)."""
    return {ADMIN: ok, HEAD_A: 403, DEPUTY_A: 403, RESIDENT_A: 403, HEAD_B: 404, ANON: 401}


def commune_admin(ok: int) -> dict[str, int]:
    """The commune admin only, on something of no area."""
    return {ADMIN: ok, HEAD_A: 403, DEPUTY_A: 403, RESIDENT_A: 403, HEAD_B: 403, ANON: 401}


def everyone(ok: int, anonymous: int) -> dict[str, int]:
    return {role: ok for role in ROLES if role != ANON} | {ANON: anonymous}


@dataclass(frozen=True)
class Case:
    expect: dict[str, int]
    prepare: Callable[[World, str], Call] = lambda w, role: Call()
    stream: bool = False


def _token_login(w: World, role: str) -> Call:
    if role == ANON:
        return Call(data={"username": "nobody", "password": "wrong-password"}, bearer=False)
    return Call(data={"username": username(role), "password": PASSWORD}, bearer=False)


def _cookie_login(w: World, role: str) -> Call:
    name = "nobody" if role == ANON else username(role)
    password = "wrong-password" if role == ANON else PASSWORD
    return Call(json={"username": name, "password": password}, bearer=False)


def _refresh(w: World, role: str) -> Call:
    token = "not-a-refresh-token" if role == ANON else w.login(role)["refresh_token"]
    return Call(json={"refresh_token": token}, bearer=False)


def _new_user(w: World, role: str) -> Call:
    body = {"username": w.unique("new."), "password": PASSWORD, "role": "resident", "area_code": w.a}
    return Call(json=body)


def _new_area(w: World, role: str) -> Call:
    return Call(json={"code": w.unique("new-"), "name": "Khu mới", "latitude": 21.0, "longitude": 105.8})


def _command(w: World, role: str) -> Call:
    # Area A has no active light: an authorised caller gets past the checks to a 422.
    return Call(json={"target": {"area": True}, "action": {"type": "light.set", "on": True}})


def _timetable(w: World, role: str) -> Call:
    step = {"trigger": "clock", "at": "23:00", "on": True, "level": 50}
    return Call(json={"name": w.unique("Đêm "), "steps": [step], "enabled": False})


TABLE: dict[tuple[str, str], Case] = {
    ("POST", "/api/v1/auth/token"): Case(everyone(200, 401), _token_login),
    ("POST", "/api/v1/auth/login"): Case(everyone(200, 401), _cookie_login),
    ("POST", "/api/v1/auth/refresh"): Case(everyone(200, 401), _refresh),
    ("POST", "/api/v1/auth/logout"): Case(everyone(204, 204), lambda w, r: Call(bearer=False)),
    ("GET", "/api/v1/auth/me"): Case(everyone(200, 401)),
    ("POST", "/api/v1/users"): Case(manager(201), _new_user),
    ("GET", "/api/v1/users"): Case(manager(200), lambda w, r: Call(query={"area": w.a})),
    ("GET", "/api/v1/users/{user_id}"): Case(manager(200), lambda w, r: Call({"user_id": w.target_user})),
    ("PATCH", "/api/v1/users/{user_id}"): Case(
        manager(200), lambda w, r: Call({"user_id": w.target_user}, json={"display_name": "Cư dân"})
    ),
    ("GET", "/api/v1/areas"): Case(everyone(200, 401)),
    ("POST", "/api/v1/areas"): Case(commune_admin(201), _new_area),
    ("GET", "/api/v1/areas/{code}"): Case(any_user(200)),
    ("PATCH", "/api/v1/areas/{code}"): Case(area_admin(200), lambda w, r: Call(json={"name": "Khu A"})),
    ("GET", "/api/v1/areas/{code}/zones"): Case(any_user(200)),
    ("POST", "/api/v1/areas/{code}/zones"): Case(
        manager(201), lambda w, r: Call(json={"name": w.unique("Ngõ ")})
    ),
    ("PATCH", "/api/v1/areas/{code}/zones/{zone_id}"): Case(
        manager(200), lambda w, r: Call({"zone_id": w.fresh_zone()}, json={"name": w.unique("Hẻm ")})
    ),
    ("DELETE", "/api/v1/areas/{code}/zones/{zone_id}"): Case(
        manager(204), lambda w, r: Call({"zone_id": w.fresh_zone()})
    ),
    ("GET", "/api/v1/areas/{code}/devices"): Case(controller(200)),
    ("GET", "/api/v1/areas/{code}/enrolment"): Case(manager(200)),
    ("POST", "/api/v1/areas/{code}/enrolment"): Case(manager(200), lambda w, r: Call(json={"minutes": 1})),
    ("DELETE", "/api/v1/areas/{code}/enrolment"): Case(manager(204)),
    ("GET", "/api/v1/areas/{code}/devices/{device_id}"): Case(
        controller(200), lambda w, r: Call({"device_id": "cam-1"})
    ),
    ("PATCH", "/api/v1/areas/{code}/devices/{device_id}"): Case(
        controller(200), lambda w, r: Call({"device_id": "cam-1"}, json={"name": "Camera cổng"})
    ),
    ("GET", "/api/v1/areas/{code}/devices/{device_id}/events"): Case(
        controller(200), lambda w, r: Call({"device_id": "cam-1"})
    ),
    ("POST", "/api/v1/areas/{code}/devices/{device_id}/accept"): Case(
        manager(200), lambda w, r: Call({"device_id": w.fresh_device(DeviceStatus.PENDING)})
    ),
    ("POST", "/api/v1/areas/{code}/devices/{device_id}/reject"): Case(
        manager(200), lambda w, r: Call({"device_id": w.fresh_device(DeviceStatus.PENDING)})
    ),
    ("POST", "/api/v1/areas/{code}/devices/{device_id}/retire"): Case(
        manager(200), lambda w, r: Call({"device_id": w.fresh_device(DeviceStatus.ACTIVE)})
    ),
    ("POST", "/api/v1/areas/{code}/devices"): Case(
        manager(201), lambda w, r: Call(json={"device_id": w.unique("dev-"), "kind": "light"})
    ),
    ("POST", "/api/v1/areas/{code}/devices/{device_id}/credentials"): Case(
        manager(200), lambda w, r: Call({"device_id": w.fresh_device(DeviceStatus.ACTIVE)})
    ),
    ("POST", "/api/v1/areas/{code}/commands"): Case(controller(422), _command),
    ("GET", "/api/v1/areas/{code}/commands"): Case(controller(200)),
    ("GET", "/api/v1/areas/{code}/commands/{command_id}"): Case(
        controller(200), lambda w, r: Call({"command_id": w.command_id})
    ),
    ("GET", "/api/v1/areas/{code}/cameras"): Case(controller(200)),
    ("GET", "/api/v1/areas/{code}/audit"): Case(controller(200)),
    ("GET", "/api/v1/areas/{code}/audit/export"): Case(controller(200)),
    ("GET", "/api/v1/audit"): Case(commune_admin(200)),
    ("GET", "/api/v1/areas/{code}/stream"): Case(any_user(200), stream=True),
    ("GET", "/api/v1/areas/{code}/timetables"): Case(controller(200)),
    ("POST", "/api/v1/areas/{code}/timetables"): Case(controller(201), _timetable),
    ("GET", "/api/v1/areas/{code}/timetables/{timetable_id}"): Case(
        controller(200), lambda w, r: Call({"timetable_id": w.fresh_timetable()})
    ),
    ("PATCH", "/api/v1/areas/{code}/timetables/{timetable_id}"): Case(
        controller(200), lambda w, r: Call({"timetable_id": w.fresh_timetable()}, json={"grace_s": 60})
    ),
    ("DELETE", "/api/v1/areas/{code}/timetables/{timetable_id}"): Case(
        controller(204), lambda w, r: Call({"timetable_id": w.fresh_timetable()})
    ),
    ("GET", "/api/v1/areas/{code}/schedule/preview"): Case(controller(200)),
    ("GET", "/api/v1/areas/{code}/schedule/runs"): Case(controller(200)),
    ("GET", "/api/v1/areas/{code}/lights/desired"): Case(controller(200)),
    ("POST", "/api/v1/areas/{code}/announcements"): Case(
        controller(422), lambda w, r: Call(json={"title": "x", "text": "Không có loa."})
    ),
    ("GET", "/api/v1/areas/{code}/announcements"): Case(controller(200)),
    ("GET", "/api/v1/areas/{code}/announcements/export"): Case(controller(200)),
    ("GET", "/api/v1/areas/{code}/announcements/{announcement_id}"): Case(
        controller(200), lambda w, r: Call({"announcement_id": w.fresh_announcement()[0]})
    ),
    ("POST", "/api/v1/areas/{code}/announcements/{announcement_id}/cancel"): Case(
        controller(200), lambda w, r: Call({"announcement_id": w.fresh_announcement()[0]})
    ),
    # No file sent: an authorised caller gets past the checks to a 422.
    ("POST", "/api/v1/areas/{code}/audio"): Case(controller(422)),
    # The app plays audio with a login; speakers bring a play's token (tests/test_speaker_agent.py).
    ("GET", "/api/v1/audio/{filename}"): Case(
        any_user(200), lambda w, r: Call({"filename": w.fresh_announcement()[1]})
    ),
    ("GET", "/api/v1/areas/{code}/emergency"): Case(controller(200)),
    # The first step only answers with a confirmation token; nothing happens yet.
    ("POST", "/api/v1/areas/{code}/emergency"): Case(
        controller(202), lambda w, r: Call(json={"text": "Kiểm tra."})
    ),
    ("POST", "/api/v1/areas/{code}/emergency/end"): Case(controller(409)),
}


def _notification(w: World, role: str) -> Call:
    """A residents' notification of area A (the broadcast API that makes them is elsewhere)."""
    nid = w.runtime.notifications.notify_residents(
        w.area_id(w.a), "Kiểm tra", "Kiểm tra quyền.", Priority.NORMAL
    )
    return Call({"notification_id": nid})


def _incident(w: World, role: str) -> Call:
    """An incident of area A, written directly (only outages of real cameras open one)."""
    with w.runtime.sessions.begin() as s:
        row = Incident(area_id=w.area_id(w.a), started_at=datetime.now(UTC))
        s.add(row)
        s.flush()
        return Call({"incident_id": row.id})


def _as_admin(w: World, method: str, url: str, body: Any = None) -> Any:
    r = TestClient(w.app).request(
        method, url, json=body, headers={"Authorization": f"Bearer {w.tokens[ADMIN]}"}
    )
    assert r.status_code < 300, r.text
    return r.json()


def _invite(w: World, role: str) -> Call:
    return Call({"invite_id": _as_admin(w, "POST", f"/api/v1/areas/{w.a}/invites", {})["id"]})


def _share_invite(w: World, role: str) -> Call:
    made = _as_admin(w, "POST", f"/api/v1/areas/{w.a}/invites", {})
    return Call({"invite_id": made["id"]}, json={"code": made["code"]})


def _register(w: World, role: str) -> Call:
    code = _as_admin(w, "POST", f"/api/v1/areas/{w.a}/invites", {})["code"]
    body = {"invite_code": code, "username": w.unique("moi."), "password": PASSWORD}
    return Call(json=body, bearer=False)


# A valid browser subscription on a public-looking push service (nothing is ever sent to it).
_P256DH = "BEdwQ1jXVIryNePX-GlmcGrOY6EGp0I7tlyj_fQWUTXQRkRtyPtFwLfeZNowP0P63nZfnyVlRGrKJHaCHfZX0Us"
_AUTH = "6V-UFmMWikCIk4Ssa8WZJQ"


def _push(w: World, role: str) -> Call:
    endpoint = f"https://push.example.net/{w.unique('sub')}"
    return Call(json={"endpoint": endpoint, "keys": {"p256dh": _P256DH, "auth": _AUTH}})


def _own_subscription(w: World, role: str) -> Call:
    if role == ANON:
        return Call({"subscription_id": 1})
    r = TestClient(w.app).post(
        "/api/v1/push/subscriptions",
        json=_push(w, role).json,
        headers={"Authorization": f"Bearer {w.tokens[role]}"},
    )
    assert r.status_code == 201, r.text
    return Call({"subscription_id": r.json()["id"]})


NOTIFICATION_ROWS: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/areas/{code}/notifications"): Case(any_user(200)),
    ("GET", "/api/v1/areas/{code}/notifications/stream"): Case(any_user(200), stream=True),
    ("GET", "/api/v1/areas/{code}/notifications/{notification_id}"): Case(any_user(200), _notification),
    ("GET", "/api/v1/areas/{code}/notifications/{notification_id}/deliveries"): Case(
        controller(200), _notification
    ),
    ("GET", "/api/v1/areas/{code}/notification-channels"): Case(controller(200)),
    ("PUT", "/api/v1/areas/{code}/notification-channels"): Case(
        manager(200), lambda w, r: Call(json={"channels": []})
    ),
    ("GET", "/api/v1/areas/{code}/cameras/{device_id}/outages"): Case(
        controller(200), lambda w, r: Call({"device_id": "cam-1"})
    ),
    ("GET", "/api/v1/areas/{code}/incidents"): Case(controller(200)),
    ("GET", "/api/v1/areas/{code}/incidents/{incident_id}"): Case(controller(200), _incident),
    ("POST", "/api/v1/areas/{code}/invites"): Case(manager(201), lambda w, r: Call(json={})),
    ("GET", "/api/v1/areas/{code}/invites"): Case(manager(200)),
    ("DELETE", "/api/v1/areas/{code}/invites/{invite_id}"): Case(manager(204), _invite),
    ("POST", "/api/v1/areas/{code}/invites/{invite_id}/share"): Case(manager(200), _share_invite),
    # Anyone with an invite code may register; the code is the credential.
    ("POST", "/api/v1/auth/register"): Case(everyone(201, 201), _register),
    ("GET", "/api/v1/push/vapid-public-key"): Case(everyone(200, 200)),
    ("POST", "/api/v1/push/subscriptions"): Case(everyone(201, 401), _push),
    ("GET", "/api/v1/push/subscriptions"): Case(everyone(200, 401)),
    ("DELETE", "/api/v1/push/subscriptions"): Case(
        everyone(204, 401), lambda w, r: Call(json={"endpoint": "https://push.example.net/none"})
    ),
    ("DELETE", "/api/v1/push/subscriptions/{subscription_id}"): Case(everyone(204, 401), _own_subscription),
    ("GET", "/api/v1/me/quiet-hours"): Case(everyone(200, 401)),
    ("PUT", "/api/v1/me/quiet-hours"): Case(
        everyone(200, 401), lambda w, r: Call(json={"start": "22:00", "end": "06:00"})
    ),
    ("DELETE", "/api/v1/me/quiet-hours"): Case(everyone(204, 401)),
}


def _programme(w: World, role: str) -> Call:
    body = {
        "name": w.unique("Bản tin "),
        "title": "Bản tin",
        "text": "Bản tin sáng.",
        "recurrence": "daily",
        "at": "06:00",
        "enabled": False,
    }
    return Call(json=body)


def _fresh_programme(w: World, role: str, **extra: Any) -> Call:
    created = _as_admin(w, "POST", f"/api/v1/areas/{w.a}/programmes", _programme(w, ADMIN).json)
    return Call({"programme_id": created["id"]}, **extra)


PROGRAMME_ROWS: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/areas/{code}/programmes"): Case(controller(200)),
    ("POST", "/api/v1/areas/{code}/programmes"): Case(controller(201), _programme),
    ("GET", "/api/v1/areas/{code}/programmes/{programme_id}"): Case(controller(200), _fresh_programme),
    ("PATCH", "/api/v1/areas/{code}/programmes/{programme_id}"): Case(
        controller(200), lambda w, r: _fresh_programme(w, r, json={"grace_s": 60})
    ),
    ("DELETE", "/api/v1/areas/{code}/programmes/{programme_id}"): Case(controller(204), _fresh_programme),
}


def _staff_alert(w: World, role: str) -> Call:
    nid = w.runtime.notifications.notify_staff(w.area_id(w.a), "Camera", "Mất kết nối.", Priority.PRIORITY)
    return Call({"notification_id": nid})


NOTIFICATION_ROWS[("POST", "/api/v1/areas/{code}/notifications/{notification_id}/share")] = Case(
    controller(201), _staff_alert
)


def _snapshot(w: World, role: str) -> Call:
    """cam-1 of area A with a snapshot, kept as ingest keeps a Frigate's."""
    with w.runtime.sessions.begin() as s:
        pk = s.scalar(select(Device.id).join(Area).where(Area.code == w.a, Device.device_id == "cam-1"))
        assert pk is not None
        report = SnapshotReport(Source(w.a, "cam-1", "frigate"), "person", SNAPSHOT_JPEG)
        keep(s, pk, "camera", report, datetime.now(UTC))
    return Call({"device_id": "cam-1"})


NOTIFICATION_ROWS[("GET", "/api/v1/areas/{code}/cameras/snapshots")] = Case(controller(200))
NOTIFICATION_ROWS[("GET", "/api/v1/areas/{code}/cameras/{device_id}/snapshot")] = Case(
    controller(200), _snapshot
)
TABLE.update(NOTIFICATION_ROWS)
TABLE.update(PROGRAMME_ROWS)


# --- the hub they run against --------------------------------------------------------------


def _populate(runtime: HubRuntime, a: str, b: str) -> tuple[int, int, str]:
    """Areas A and B with a camera each, one user per role, and objects the routes act on."""
    with runtime.sessions.begin() as s:
        areas: dict[str, Area] = {}
        for code in (a, b):
            areas[code] = create_area(s, code, f"Khu {code}", 21.03, 105.85, "Asia/Ho_Chi_Minh")
            preregister(s, areas[code], [Registration("cam-1", Kind.CAMERA, "Camera 1", "Cổng")])
        zone_a = create_zone(s, areas[a], "Đường 1").id
        create_user(s, username(ADMIN), PASSWORD, Role.ADMIN)
        for role, user_role, code in (
            (HEAD_A, Role.HEAD, a),
            (DEPUTY_A, Role.DEPUTY, a),
            (RESIDENT_A, Role.RESIDENT, a),
            (HEAD_B, Role.HEAD, b),
        ):
            create_user(s, username(role), PASSWORD, user_role, areas[code].id)
        target = create_user(s, "m-target", PASSWORD, Role.RESIDENT, areas[a].id).id
        camera = s.scalar(select(Device).where(Device.area_id == areas[a].id))
        assert camera is not None
        now = datetime.now(UTC)
        s.add(
            CommandRow(
                id="matrix-cmd-1",
                group_id="matrix-group-1",
                area_id=areas[a].id,
                device_pk=camera.id,
                device_id=camera.device_id,
                action="light.set",
                params={},
                status=CommandStatus.EXPIRED.value,
                expires_at=now,
                finished_at=now,
            )
        )
    return zone_a, target, "matrix-cmd-1"


@pytest.fixture(scope="module")
def world(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One hub for the whole matrix: the rows only differ in who asks."""
    settings = make_settings(tmp_path_factory.mktemp("matrix"), broker, scheduler_enabled=False)
    upgrade(settings.db_url)
    runtime = HubRuntime(settings)
    app = create_app(settings, runtime)
    runtime.start()
    stamp = f"{time.monotonic_ns() % 10**9}"
    zone_a, target, command_id = _populate(runtime, f"ma{stamp}", f"mb{stamp}")
    try:
        with serve(app) as base_url:
            w = World(runtime, app, base_url, f"ma{stamp}", f"mb{stamp}", zone_a, target, command_id)
            for role in ROLES:
                if role != ANON:
                    w.tokens[role] = w.login(role)["access_token"]
            yield w
    finally:
        runtime.stop()


def _send(w: World, method: str, path: str, case: Case, role: str) -> int:
    call = case.prepare(w, role)
    url = path.format(**({"code": w.a} | call.params))
    headers = {"Authorization": f"Bearer {w.tokens[role]}"} if role != ANON and call.bearer else {}
    if case.stream:
        # Only the status matters; leave before the (endless) body.
        with httpx.stream(method, w.base_url + url, headers=headers, params=call.query, timeout=10) as r:
            return r.status_code
    client = TestClient(w.app)
    r = client.request(method, url, headers=headers, json=call.json, data=call.data, params=call.query)
    if r.status_code in (401, 403, 404, 422):
        assert isinstance(r.json().get("detail"), (str, list)), f"{method} {url}: no detail in {r.text}"
    if r.status_code == 403:  # says who may, e.g. "only admin, head may do this; you are deputy"
        assert "only" in r.json()["detail"], f"{method} {url}: {r.text}"
    return r.status_code


def _api_routes(app: FastAPI) -> set[tuple[str, str]]:
    # The OpenAPI document is FastAPI's public list of operations (app.routes now holds
    # lazily included routers); a route hidden from the schema would escape this check.
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/v1/")
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }


def test_every_route_is_in_the_table(world: World) -> None:
    routes = _api_routes(world.app)
    missing = sorted(routes - TABLE.keys())
    assert not missing, f"add these routes to TABLE in {__name__}: {missing}"
    stale = sorted(TABLE.keys() - routes)
    assert not stale, f"TABLE names routes the app does not have: {stale}"


@pytest.mark.parametrize(("method", "path"), sorted(TABLE), ids=[f"{m} {p}" for m, p in sorted(TABLE)])
def test_route_answers_each_role_as_expected(world: World, method: str, path: str) -> None:
    case = TABLE[(method, path)]
    got = {role: _send(world, method, path, case, role) for role in ROLES}
    wrong = {
        role: f"got {got[role]}, expected {case.expect[role]}"
        for role in ROLES
        if got[role] != case.expect[role]
    }
    assert not wrong, f"{method} {path}: {wrong}"
