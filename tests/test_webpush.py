"""Web Push against a local push service that decrypts the payload and checks the VAPID signature."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import select

from devices.payloads import Priority
from hub.broker.process import Broker
from hub.models import Area, Role
from hub.notifications.models import Delivery, PushSubscription
from hub.notifications.webpush import (
    SubscriptionError,
    b64url,
    b64url_decode,
    check_subscription,
    load_vapid_key,
    public_key_b64,
)
from hub.settings import Settings
from tests.conftest import HubHarness, make_area

# Quick retries and polls, and 127.0.0.1 push endpoints, for tests.
FAST_NOTIFY: dict[str, Any] = {
    "notify_poll_s": 0.05,
    "notify_retry_base_s": 0.2,
    "notify_retry_max_s": 1.0,
    "notify_max_attempts": 4,
    "push_allow_private_endpoints": True,
    "notify_allow_private_urls": True,
}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    payload: dict[str, Any] | None
    at: float


@dataclass
class PushService:
    """A push service on 127.0.0.1 that also plays the browser: it holds the subscription's keys."""

    vapid_public_key: str
    base: str = ""
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))
    received: list[Received] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Status codes to answer per path, in turn; the last one repeats. 201 when unlisted.
    answers: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def subscription(self, path: str) -> dict[str, Any]:
        """What the browser's ``PushSubscription.toJSON()`` would give for this path."""
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{self.base}{path}",
            "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)},
        }

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        payload = None
        try:
            self._check_vapid(headers)
            assert headers.get("content-encoding") == "aes128gcm", headers
            assert "ttl" in headers
            plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
            payload = json.loads(plain)
        except Exception as exc:
            with self.lock:
                self.problems.append(f"{path}: {exc!r}")
            return 400
        with self.lock:
            self.received.append(Received(path, headers, payload, time.monotonic()))
            queue = self.answers.get(path, [201])
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _check_vapid(self, headers: dict[str, str]) -> None:
        scheme, _, params = headers["authorization"].partition(" ")
        assert scheme == "vapid"
        parts = dict(p.split("=", 1) for p in params.split(","))
        assert parts["k"] == self.vapid_public_key, "signed with another key than the hub publishes"
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(parts["k"]))
        claims = jwt.decode(parts["t"], key=public, algorithms=["ES256"], audience=self.base)
        assert claims["sub"].startswith(("mailto:", "https://"))
        assert claims["exp"] <= time.time() + 24 * 3600  # RFC 8292: at most 24 hours ahead

    def on(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]


@contextmanager
def push_service(vapid_public_key: str) -> Iterator[PushService]:
    service = PushService(vapid_public_key)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            code = service.handle(self.path, headers, body)
            self.send_response(code)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def nhub(broker: Broker, hub_factory: Callable[..., HubHarness]) -> HubHarness:
    return hub_factory(broker, **FAST_NOTIFY)


def area_id(hub: HubHarness, code: str) -> int:
    with hub.runtime.sessions() as session:
        found = session.scalar(select(Area.id).where(Area.code == code))
    assert found is not None
    return found


def resident(hub: HubHarness, code: str, name: str = "cu-dan") -> TestClient:
    return hub.client_for(name, hub.add_user(name, Role.RESIDENT, code))


def deliveries(hub: HubHarness, notification_id: int) -> list[Delivery]:
    with hub.runtime.sessions() as session:
        return list(
            session.scalars(
                select(Delivery).where(Delivery.notification_id == notification_id).order_by(Delivery.id)
            )
        )


def wait_status(hub: HubHarness, notification_id: int, status: str, timeout: float = 10) -> Delivery:
    def done() -> bool:
        return any(d.status == status for d in deliveries(hub, notification_id))

    hub.wait(done, timeout, f"a delivery of notification {notification_id} {status}")
    return next(d for d in deliveries(hub, notification_id) if d.status == status)


def test_push_is_encrypted_signed_and_decrypted(nhub: HubHarness, area_code: str) -> None:
    make_area(nhub, area_code)
    phone = resident(nhub, area_code)
    key = phone.get("/api/v1/push/vapid-public-key").json()["public_key"]
    assert len(b64url_decode(key)) == 65
    with push_service(key) as push:
        r = phone.post("/api/v1/push/subscriptions", json=push.subscription("/sub/1"))
        assert r.status_code == 201, r.text
        assert r.json()["origin"] == push.base
        nid = nhub.runtime.notifications.notify_residents(
            area_id(nhub, area_code),
            "Thông báo cắt điện",
            "Khu phố cắt điện từ 8:00 đến 11:00 ngày mai để sửa đường dây.",
            Priority.NORMAL,
            audio_url="/api/v1/audio/cat-dien.wav",
            ref="ann-1",
        )
        nhub.wait(lambda: len(push.on("/sub/1")) == 1, what="the push arrived")
        assert push.problems == []
        got = push.on("/sub/1")[0]
        assert got.payload is not None
        assert got.payload["id"] == nid
        assert got.payload["title"] == "Thông báo cắt điện"
        assert got.payload["body"].startswith("Khu phố cắt điện")
        assert got.payload["priority"] == "normal"
        assert got.payload["audio_url"] == f"{nhub.settings.base_url}/api/v1/audio/cat-dien.wav"
        assert got.payload["url"].startswith(nhub.settings.base_url)
        assert got.headers["urgency"] == "normal"
        sent = wait_status(nhub, nid, "sent")
        assert sent.attempts == 1
        assert sent.channel == "webpush"

        nhub.runtime.notifications.notify_residents(
            area_id(nhub, area_code), "Cháy!", "Sơ tán ngay.", Priority.EMERGENCY, kind="emergency"
        )
        nhub.wait(lambda: len(push.on("/sub/1")) == 2, what="the emergency push")
        assert push.on("/sub/1")[1].headers["urgency"] == "high"
    counts = nhub.runtime.notifications.metrics.delivery_counts()
    assert counts[("webpush", "sent")] == 2


def test_gone_subscription_is_pruned(nhub: HubHarness, area_code: str) -> None:
    make_area(nhub, area_code)
    phone = resident(nhub, area_code)
    with push_service(nhub.runtime.notifications.vapid_public_key) as push:
        push.answers["/gone"] = [410]
        assert phone.post("/api/v1/push/subscriptions", json=push.subscription("/gone")).status_code == 201
        assert phone.post("/api/v1/push/subscriptions", json=push.subscription("/ok")).status_code == 201
        aid = area_id(nhub, area_code)
        nid = nhub.runtime.notifications.notify_residents(
            aid, "Họp tổ dân phố", "19:30 tối nay.", Priority.NORMAL
        )
        pruned = wait_status(nhub, nid, "pruned")
        assert pruned.attempts == 1
        assert "410" in (pruned.last_error or "")
        wait_status(nhub, nid, "sent")
        mine = phone.get("/api/v1/push/subscriptions").json()
        assert len(mine) == 1  # only the live one is left
        with nhub.runtime.sessions() as session:
            endpoints = list(session.scalars(select(PushSubscription.endpoint)))
        assert f"{push.base}/gone" not in endpoints
        # The next notification no longer tries the dead endpoint.
        again = nhub.runtime.notifications.notify_residents(
            aid, "Nhắc lại", "Họp lúc 19:30.", Priority.NORMAL
        )
        wait_status(nhub, again, "sent")
        assert len(deliveries(nhub, again)) == 1
        assert len(push.on("/gone")) == 1


def test_server_error_is_retried_with_backoff_then_delivered(nhub: HubHarness, area_code: str) -> None:
    make_area(nhub, area_code)
    phone = resident(nhub, area_code)
    with push_service(nhub.runtime.notifications.vapid_public_key) as push:
        push.answers["/flaky"] = [500, 503, 201]
        assert phone.post("/api/v1/push/subscriptions", json=push.subscription("/flaky")).status_code == 201
        nid = nhub.runtime.notifications.notify_residents(
            area_id(nhub, area_code),
            "Tiêm phòng",
            "Tiêm phòng dại cho chó mèo sáng thứ Bảy.",
            Priority.PRIORITY,
        )
        sent = wait_status(nhub, nid, "sent", timeout=15)
        assert sent.attempts == 3
        assert "503" in (sent.last_error or "")  # the trouble stays on record
        tries = push.on("/flaky")
        assert len(tries) == 3
        # Backoff: 0.2 s then 0.4 s at least (with jitter on top), never back to back.
        assert tries[1].at - tries[0].at >= 0.2
        assert tries[2].at - tries[1].at >= 0.4
        assert all(t.payload == tries[0].payload for t in tries)
    counts = nhub.runtime.notifications.metrics.delivery_counts()
    assert counts[("webpush", "retry")] == 2
    assert counts[("webpush", "sent")] == 1


def test_subscriptions_are_validated(nhub: HubHarness, area_code: str) -> None:
    make_area(nhub, area_code)
    phone = resident(nhub, area_code)
    good = PushService("x").subscription("/s")
    good["endpoint"] = "https://push.example.net/abc"
    for bad in (
        {**good, "endpoint": "ftp://push.example.net/abc"},
        {**good, "keys": {"p256dh": "A" * 87, "auth": good["keys"]["auth"]}},  # not a curve point
        {**good, "keys": {"p256dh": good["keys"]["p256dh"], "auth": b64url(b"x" * 12)}},
        {"endpoint": good["endpoint"]},
    ):
        r = phone.post("/api/v1/push/subscriptions", json=bad)
        assert r.status_code == 422, (bad, r.text)
    assert phone.post("/api/v1/push/subscriptions", json=good).status_code == 201
    # The same browser again: updated, not duplicated.
    assert phone.post("/api/v1/push/subscriptions", json=good).status_code == 201
    assert len(phone.get("/api/v1/push/subscriptions").json()) == 1
    r = phone.request("DELETE", "/api/v1/push/subscriptions", json={"endpoint": good["endpoint"]})
    assert r.status_code == 204
    assert phone.get("/api/v1/push/subscriptions").json() == []
    assert TestClient(nhub.http.app).post("/api/v1/push/subscriptions", json=good).status_code == 401

    keys = good["keys"]
    with pytest.raises(SubscriptionError, match="public push service"):
        check_subscription("http://127.0.0.1:9/x", keys["p256dh"], keys["auth"], allow_private=False)
    with pytest.raises(SubscriptionError, match="public push service"):
        check_subscription("https://10.1.2.3/x", keys["p256dh"], keys["auth"], allow_private=False)
    check_subscription(
        "https://fcm.googleapis.com/fcm/send/x", keys["p256dh"], keys["auth"], allow_private=False
    )


def test_vapid_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    first = public_key_b64(load_vapid_key(settings))
    path = tmp_path / "state" / "vapid_private.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public_key_b64(load_vapid_key(settings)) == first  # kept across restarts

    raw = b64url(ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32, "big"))
    configured = Settings(state_dir=tmp_path / "other", push_vapid_private_key=raw)
    assert public_key_b64(load_vapid_key(configured)) != first
    assert not (tmp_path / "other").exists()  # a configured key writes nothing
