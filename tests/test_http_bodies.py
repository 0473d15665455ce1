"""Request bodies: size limits before reading, lone surrogates, nulls in PATCH (issue 15)."""

from __future__ import annotations

import logging
import select
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from devices.payloads import Kind
from hub.broker.process import Broker
from hub.models import Role
from hub.registry.areas import Registration
from tests.conftest import HubHarness, make_area, serve

MB = 1_000_000
# Loopback socket buffers hold a few megabytes that the server never read: "early" means well
# before the whole body, not at the exact limit.
EARLY = 16 * MB


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def _peak_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def send_until_answered(
    base: str, head: str, total: int, chunked: bool, preamble: bytes = b""
) -> tuple[bytes, int]:
    """Send ``head``, ``preamble`` then up to ``total`` bytes of body, stopping as soon as the
    server answers.

    Returns the answer and how many body bytes were sent before it came.
    """
    port = urlsplit(base).port
    sock = socket.create_connection(("127.0.0.1", port or 80), timeout=10)
    chunk = b"a" * 65536
    sent = 0
    try:
        sock.sendall(head.encode())
        if preamble:
            sock.sendall(f"{len(preamble):x}\r\n".encode() + preamble + b"\r\n" if chunked else preamble)
        while sent < total:
            if select.select([sock], [], [], 0)[0]:
                break
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            sent += len(chunk)
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass  # the server answered and stopped reading
    sock.settimeout(30)
    answer = sock.recv(65536)
    sock.close()
    return answer, sent


def _head(path: str, content_type: str, length: int | None = None, token: str | None = None) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return "\r\n".join(lines) + "\r\n\r\n"


def _token(h: HubHarness) -> str:
    return str(h.http.headers["Authorization"]).split(" ", 1)[1]


# --- 1. body sizes ------------------------------------------------------------------------


def test_a_huge_content_length_is_refused_before_the_body_is_read(hub: HubHarness) -> None:
    with serve(hub.http.app) as base:
        port = urlsplit(base).port or 80
        for path in ("/api/v1/auth/login", "/api/v1/areas/x/audio"):
            kind = "application/json" if "login" in path else "multipart/form-data; boundary=b"
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(_head(path, kind, length=500 * MB).encode() + b'{"username": "x"')
            answer = sock.recv(65536)  # at once: the hub does not wait for 500 MB
            sock.close()
            assert _status(answer) == 413, answer
            assert b"too large" in answer


def test_a_chunked_json_body_is_cut_off_at_the_limit(hub: HubHarness) -> None:
    peak = _peak_rss()
    with serve(hub.http.app) as base:
        head = _head("/api/v1/auth/login", "application/json")
        answer, sent = send_until_answered(base, head, 64 * MB, chunked=True)
    assert _status(answer) == 413, answer
    assert sent < EARLY, f"the hub read {sent} bytes before refusing"
    assert _peak_rss() - peak < 48 * MB


@pytest.mark.parametrize("with_token", [False, True])
def test_an_audio_upload_is_refused_before_its_bytes_are_read(
    broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str, with_token: bool
) -> None:
    h = hub_factory(broker, audio_max_bytes=1 * MB)
    make_area(h, area_code)
    path = f"/api/v1/areas/{area_code}/audio"
    kind = "multipart/form-data; boundary=XyZ"
    with serve(h.http.app) as base:
        head = _head(path, kind, token=_token(h) if with_token else None)
        part = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF'
        answer, sent = send_until_answered(base, head, 64 * MB, chunked=True, preamble=part)
        # The same with an honest Content-Length just over the limit: no byte of it is needed.
        honest = _head(path, kind, length=h.settings.audio_max_bytes + 200_000, token=_token(h))
        sock = socket.create_connection(("127.0.0.1", urlsplit(base).port or 80), timeout=5)
        sock.sendall(honest.encode())
        early = sock.recv(65536)
        sock.close()
    assert _status(answer) == (413 if with_token else 401), answer
    assert sent < EARLY, f"the hub read {sent} bytes before answering"
    assert _status(early) == 413


def test_an_audio_upload_within_the_limit_still_works(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    url = f"/api/v1/areas/{area_code}/audio"
    bad = hub.http.post(
        url, files={"file": ("note.txt", b"hello, this is not audio at all" * 4, "text/plain")}
    )
    assert bad.status_code == 422, bad.text
    assert "WAV, MP3 or OGG" in bad.json()["detail"]  # the file was read and checked
    assert (
        TestClient(hub.http.app).post(url, files={"file": ("a.wav", b"RIFF", "audio/wav")}).status_code == 401
    )
    none = hub.http.post(url, files={"other": ("a.wav", b"RIFF", "audio/wav")})
    assert none.status_code == 422
    assert "file" in none.text


# --- 2. lone surrogates -------------------------------------------------------------------


def test_a_lone_surrogate_is_refused_on_every_route_without_a_traceback(
    hub: HubHarness, area_code: str, caplog: pytest.LogCaptureFixture
) -> None:
    make_area(hub, area_code)
    anonymous = TestClient(hub.http.app, raise_server_exceptions=False)
    admin = TestClient(hub.http.app, raise_server_exceptions=False, headers=dict(hub.http.headers))
    bodies: list[tuple[TestClient, str, str, str]] = [
        (anonymous, "POST", "/api/v1/auth/login", '{"username": "\\ud800", "password": "whatever-pass"}'),
        (anonymous, "POST", "/api/v1/auth/refresh", '{"refresh_token": "abcdefghijkl\\udfff"}'),
        (
            anonymous,
            "POST",
            "/api/v1/auth/register",
            '{"invite_code": "\\ud800abcd", "username": "abc", "password": "0123456789ab"}',
        ),
        (admin, "POST", f"/api/v1/areas/{area_code}/zones", '{"name": "Ng\\udc00 5"}'),
        (admin, "POST", f"/api/v1/areas/{area_code}/zones", '{"\\ud800": 1}'),
        (
            admin,
            "POST",
            "/api/v1/users",
            '{"username": "abc", "password": "\\ud800123456789", "role": "admin"}',
        ),
    ]
    with caplog.at_level(logging.INFO):
        for client, method, path, body in bodies:
            r = client.request(method, path, content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 422, (path, r.status_code, r.text)
            assert "surrogate" in r.text, r.text
    assert not [rec for rec in caplog.records if rec.exc_info or rec.levelno >= logging.ERROR]
    # A proper pair (an emoji) is a character like any other.
    ok = admin.post(
        f"/api/v1/areas/{area_code}/zones",
        content='{"name": "T\\u1ed5 5 \\ud83d\\udca1"}',
        headers={"Content-Type": "application/json"},
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["name"] == "Tổ 5 💡"


# --- 3. null in PATCH ---------------------------------------------------------------------

TIMETABLE_FIELDS = ["name", "steps", "weekdays", "exceptions", "misfire", "grace_s", "enabled"]
PROGRAMME_FIELDS = ["name", "title", "priority", "recurrence", "weekdays", "misfire", "grace_s", "enabled"]


def _refused_null(h: HubHarness, url: str, field: str) -> None:
    client = TestClient(h.http.app, raise_server_exceptions=False, headers=dict(h.http.headers))
    r = client.patch(url, json={field: None})
    assert r.status_code == 422, (url, field, r.status_code, r.text)
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", field], error
    assert "null" in error["msg"], error


def test_null_in_a_timetable_or_programme_patch_is_a_clear_422(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    base = f"/api/v1/areas/{area_code}"
    step = {"trigger": "clock", "at": "18:00", "on": True}
    tt = hub.http.post(f"{base}/timetables", json={"name": "t", "steps": [step]})
    assert tt.status_code == 201, tt.text
    pr = hub.http.post(
        f"{base}/programmes",
        json={"name": "p", "title": "p", "text": "x", "recurrence": "daily", "at": "06:00"},
    )
    assert pr.status_code == 201, pr.text
    for field in TIMETABLE_FIELDS:
        _refused_null(hub, f"{base}/timetables/{tt.json()['id']}", field)
    for field in PROGRAMME_FIELDS:
        _refused_null(hub, f"{base}/programmes/{pr.json()['id']}", field)
    # Where null means something, it is still accepted: no end date, the whole area.
    assert (
        hub.http.patch(f"{base}/timetables/{tt.json()['id']}", json={"valid_until": None}).status_code == 200
    )
    assert hub.http.patch(f"{base}/programmes/{pr.json()['id']}", json={"zone_ids": None}).status_code == 200


def test_null_in_other_patches_is_a_clear_422(hub: HubHarness, area_code: str, device_link: Any) -> None:
    make_area(hub, area_code, [Registration("light-1", Kind.LIGHT, "Đèn 1", "Ngõ 1")])
    hub.add_user(f"dep-{area_code}", Role.DEPUTY, area_code)
    user_id = next(u["id"] for u in hub.http.get("/api/v1/users", params={"area": area_code}).json()["items"])
    for field in ("display_name", "active", "password"):
        _refused_null(hub, f"/api/v1/users/{user_id}", field)
    for field in ("name", "latitude", "longitude", "timezone", "tts_voice"):
        _refused_null(hub, f"/api/v1/areas/{area_code}", field)
    _refused_null(hub, f"/api/v1/areas/{area_code}/devices/light-1", "name")
    # zone_id: null takes a device out of its zone (documented).
    moved = hub.http.patch(f"/api/v1/areas/{area_code}/devices/light-1", json={"zone_id": None})
    assert moved.status_code == 200, moved.text
