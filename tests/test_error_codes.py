"""Every error the app can show carries a stable ``code`` (and ``params``) beside the English detail."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.api.errors import CODES, KNOWN_CODES, STATUS_CODES, ApiError
from hub.models import Role
from tests.conftest import HubHarness, make_area

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Mat-khau-dai-123"


def error(r: Any, status: int, code: str) -> dict[str, Any]:
    """The error body, after checking its status and code; its English detail is kept."""
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert body["detail"], body
    return body


def test_auth_errors_have_codes(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    anon = TestClient(hub.http.app)
    error(anon.get(f"/api/v1/areas/{area_code}/devices"), 401, "not_logged_in")
    bad = {"Authorization": "Bearer not-a-token"}
    error(anon.get(f"/api/v1/areas/{area_code}/devices", headers=bad), 401, "session_ended")
    for _ in range(hub.settings.login_failures_per_user):
        error(
            anon.post("/api/v1/auth/login", json={"username": "no.one", "password": "x" * 10}),
            401,
            "login_failed",
        )
    limited = error(
        anon.post("/api/v1/auth/login", json={"username": "no.one", "password": "x" * 10}),
        429,
        "login_rate_limited",
    )
    assert limited["params"]["wait"] > 0
    error(
        anon.post("/api/v1/auth/refresh", json={"refresh_token": "not-a-refresh-token"}),
        401,
        "refresh_invalid",
    )


def test_account_errors_have_codes(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    password = hub.add_user("lan.tran", Role.HEAD, area_code)
    head = hub.client_for("lan.tran", password)
    resident = hub.client_for("ba.tu", hub.add_user("ba.tu", Role.RESIDENT, area_code))
    new = {"username": "lan.tran", "password": PASSWORD, "role": "deputy"}
    taken = error(head.post("/api/v1/users", json=new), 409, "user_exists")
    assert taken["params"] == {"username": "lan.tran"}
    assert taken["detail"] == "user 'lan.tran' already exists"
    denied = error(resident.post(f"/api/v1/areas/{area_code}/invites", json={}), 403, "role_forbidden")
    assert denied["params"]["role"] == "resident"
    error(
        head.post("/api/v1/users", json={**new, "username": "x.y", "role": "admin"}), 403, "head_creates_only"
    )
    error(head.get("/api/v1/areas/nowhere/devices"), 404, "area_not_found")
    error(head.get("/api/v1/users/999999"), 404, "user_not_found")


def test_refused_fields_name_the_field_and_the_problem(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    head = hub.client_for("head.x", hub.add_user("head.x", Role.HEAD, area_code))
    r = head.post("/api/v1/users", json={"username": "Lan Tran", "password": PASSWORD, "role": "deputy"})
    body = error(r, 422, "invalid_field")
    assert body["params"]["field"] == "username"
    assert body["params"]["type"] == "string_pattern_mismatch"
    assert isinstance(body["detail"], list)
    assert body["detail"][0]["loc"] == ["body", "username"]  # pydantic's list, as before
    short = error(
        head.post("/api/v1/users", json={"username": "lan", "password": "ngan", "role": "deputy"}),
        422,
        "invalid_field",
    )
    assert short["params"] == {"field": "password", "type": "string_too_short", "min_length": 10}
    assert [e["field"] for e in short["errors"]] == ["password"]


def test_registration_errors_have_codes(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    head = hub.client_for("head.y", hub.add_user("head.y", Role.HEAD, area_code))
    anon = TestClient(hub.http.app)
    form = {"invite_code": "NOPE-NOPE", "username": "ba.lan", "password": PASSWORD}
    error(anon.post("/api/v1/auth/register", json=form), 400, "invite_unknown")
    code = head.post(f"/api/v1/areas/{area_code}/invites", json={"max_uses": 1}).json()["code"]
    invite = head.get(f"/api/v1/areas/{area_code}/invites").json()["items"][0]
    assert anon.post("/api/v1/auth/register", json={**form, "invite_code": code}).status_code == 201
    error(
        anon.post("/api/v1/auth/register", json={**form, "invite_code": code, "username": "x.y"}),
        410,
        "invite_used_up",
    )
    other = head.post(f"/api/v1/areas/{area_code}/invites", json={}).json()["code"]
    taken = error(anon.post("/api/v1/auth/register", json={**form, "invite_code": other}), 409, "user_exists")
    assert taken["params"] == {"username": "ba.lan"}
    error(head.delete(f"/api/v1/areas/{area_code}/invites/{invite['id'] + 99}"), 404, "invite_not_found")


def test_device_zone_and_command_errors_have_codes(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    base = f"/api/v1/areas/{area_code}"
    error(hub.http.get(f"{base}/devices/no-such"), 404, "device_not_found")
    error(hub.http.patch(f"{base}/zones/999999", json={"name": "x"}), 404, "zone_not_found")
    cmd = {"target": {"zone_id": 999999}, "action": {"type": "light.set", "level": 42}}
    error(hub.http.post(f"{base}/commands", json=cmd), 404, "zone_not_found")
    cmd = {"target": {"area": True}, "action": {"type": "light.set", "level": 42}}
    error(hub.http.post(f"{base}/commands", json=cmd), 422, "no_targets")
    error(hub.http.get(f"{base}/commands/nope"), 404, "command_not_found")
    error(hub.http.get(f"{base}/timetables/999999"), 404, "timetable_not_found")
    error(hub.http.get(f"{base}/announcements/999999"), 404, "announcement_not_found")
    error(hub.http.get(f"{base}/notifications/999999"), 404, "notification_not_found")
    error(hub.http.get(f"{base}/incidents/999999"), 404, "incident_not_found")
    error(
        hub.http.post(
            "/api/v1/areas", json={"code": area_code, "name": "x", "latitude": 21, "longitude": 105}
        ),
        409,
        "area_exists",
    )


def test_every_code_is_known_documented_and_spoken_in_both_languages() -> None:
    doc = (ROOT / "docs" / "errors.md").read_text()
    for code in [*CODES, *STATUS_CODES.values()]:
        assert f"`{code}`" in doc, f"{code} is not in docs/errors.md"
    strings = (ROOT / "hub" / "web" / "static" / "i18n.js").read_text()
    for code in [*CODES, *STATUS_CODES.values()]:
        # Once in Vietnamese, once in English.
        assert strings.count(f'"apierr.{code}":') == 2, f"apierr.{code} is not in both languages"
    sources = "\n".join(p.read_text() for p in (ROOT / "hub" / "api").rglob("*.py"))
    used = set(re.findall(r'ApiError\(\s*[^,]+,\s*"(\w+)"', sources))
    assert len(used) > 30
    assert used <= KNOWN_CODES, used - KNOWN_CODES  # a status's own code may be raised too
    with pytest.raises(ValueError, match="unknown error code"):
        ApiError(400, "made_up", "x")
