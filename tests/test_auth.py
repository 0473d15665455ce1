"""Logging in: tokens, refresh rotation, the phone's cookie session and the brute-force limit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from hub.auth.tokens import ALGORITHM, AUDIENCE, ISSUER, TokenIssuer, TokenType, load_secret
from hub.broker.process import Broker
from hub.models import Role
from tests.conftest import HubHarness, make_area

TOKEN = "/api/v1/auth/token"
ME = "/api/v1/auth/me"


def login(h: HubHarness, username: str, password: str) -> Any:
    return TestClient(h.http.app).post(TOKEN, data={"username": username, "password": password})


def me(h: HubHarness, token: str) -> Any:
    return TestClient(h.http.app).get(ME, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def head(hub: HubHarness, area_code: str) -> tuple[str, str]:
    make_area(hub, area_code)
    username = f"head-{area_code}"
    return username, hub.add_user(username, Role.HEAD, area_code)


def test_token_login_gives_access_and_refresh_tokens(hub: HubHarness, head: tuple[str, str]) -> None:
    r = login(hub, *head)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == hub.settings.access_token_minutes * 60
    assert body["refresh_token"] != body["access_token"]
    who = me(hub, body["access_token"])
    assert who.status_code == 200
    assert who.json()["username"] == head[0]
    assert who.json()["role"] == "head"
    assert set(who.json()) == {"id", "username", "display_name", "role", "area_id", "active"}  # no hash


def test_wrong_password_and_unknown_user_look_the_same(hub: HubHarness, head: tuple[str, str]) -> None:
    wrong = login(hub, head[0], "not-the-password")
    unknown = login(hub, "no-such-user", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json() == unknown.json() == {"detail": "incorrect username or password", "code": "login_failed"}
    )
    assert wrong.headers.get("www-authenticate") == unknown.headers.get("www-authenticate") == "Bearer"


def test_repeated_failures_are_limited_even_for_the_right_password(
    broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str
) -> None:
    h = hub_factory(broker, login_failures_per_user=3)
    make_area(h, area_code)
    password = h.add_user("victim", Role.HEAD, area_code)
    for _ in range(3):
        assert login(h, "victim", "guess-guess").status_code == 401
    limited = login(h, "victim", "guess-again")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert "too many failed logins" in limited.json()["detail"]
    refused = login(h, "victim", password)
    assert refused.status_code == 429  # the attacker cannot tell when they finally guessed right
    cookie = TestClient(h.http.app).post(
        "/api/v1/auth/login", json={"username": "victim", "password": password}
    )
    assert cookie.status_code == 429
    # Only that username is limited: others log in as usual.
    assert login(h, "bystander", "whatever-pass").status_code == 401


def _user_id(h: HubHarness, head: tuple[str, str]) -> int:
    user_id: int = me(h, login(h, *head).json()["access_token"]).json()["id"]
    return user_id


def test_expired_access_token_is_refused(hub: HubHarness, head: tuple[str, str]) -> None:
    token = hub.runtime.tokens.issue(_user_id(hub, head), TokenType.ACCESS, timedelta(seconds=-5))
    r = me(hub, token)
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]


def test_token_signed_with_another_key_is_refused(hub: HubHarness, head: tuple[str, str]) -> None:
    forged = TokenIssuer("some-other-secret-of-decent-length").issue(
        _user_id(hub, head), TokenType.ACCESS, timedelta(minutes=5)
    )
    r = me(hub, forged)
    assert r.status_code == 401
    assert "signature" in r.json()["detail"].lower()


def _claims(user_id: int, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "typ": "access",
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    return claims | overrides


def test_token_for_another_audience_or_issuer_is_refused(hub: HubHarness, head: tuple[str, str]) -> None:
    secret = load_secret(hub.settings)
    user_id = _user_id(hub, head)
    good = jwt.encode(_claims(user_id), secret, algorithm=ALGORITHM)
    assert me(hub, good).status_code == 200  # the forging itself is right
    for wrong in ({"aud": "another-app"}, {"iss": "someone-else"}, {"typ": "admin"}):
        r = me(hub, jwt.encode(_claims(user_id, **wrong), secret, algorithm=ALGORITHM))
        assert r.status_code == 401, wrong
    unsigned = jwt.encode(_claims(user_id), key=None, algorithm="none")
    assert me(hub, unsigned).status_code == 401


def test_refresh_rotates_and_the_old_refresh_token_dies(hub: HubHarness, head: tuple[str, str]) -> None:
    client = TestClient(hub.http.app)
    first = login(hub, *head).json()
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert me(hub, second["access_token"]).status_code == 200
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert again.status_code == 401
    assert "already used" in again.json()["detail"]
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 200


def test_tokens_only_work_for_their_purpose(hub: HubHarness, head: tuple[str, str]) -> None:
    pair = login(hub, *head).json()
    as_access = me(hub, pair["refresh_token"])
    assert as_access.status_code == 401
    assert "refresh token cannot be used here" in as_access.json()["detail"]
    r = TestClient(hub.http.app).post("/api/v1/auth/refresh", json={"refresh_token": pair["access_token"]})
    assert r.status_code == 401


def test_cookie_session_for_the_phone_page(hub: HubHarness, head: tuple[str, str]) -> None:
    # https: the cookie is Secure, so a client on plain http would never send it back.
    phone = TestClient(hub.http.app, base_url="https://testserver")
    r = phone.post("/api/v1/auth/login", json={"username": head[0], "password": head[1]})
    assert r.status_code == 200, r.text
    set_cookie = r.headers["set-cookie"].lower()
    assert set_cookie.startswith("khu_session=")
    for attribute in ("httponly", "samesite=strict", "secure", "path=/"):
        assert attribute in set_cookie
    assert phone.get(ME).json()["username"] == head[0]
    stolen = phone.cookies["khu_session"]
    assert phone.post("/api/v1/auth/logout").status_code == 204
    assert phone.get(ME).status_code == 401
    # The session ended on the server too: a copy of the cookie no longer works.
    replay = TestClient(hub.http.app, base_url="https://testserver", cookies={"khu_session": stolen})
    r = replay.get(ME)
    assert r.status_code == 401
    assert "session ended" in r.json()["detail"]


def test_wrong_cookie_login_is_refused_like_the_token_login(hub: HubHarness, head: tuple[str, str]) -> None:
    phone = TestClient(hub.http.app, base_url="https://testserver")
    r = phone.post("/api/v1/auth/login", json={"username": head[0], "password": "not-the-password"})
    assert r.status_code == 401
    assert r.json() == {"detail": "incorrect username or password", "code": "login_failed"}
    assert "set-cookie" not in r.headers


def test_deactivated_user_is_locked_out_at_once(hub: HubHarness, head: tuple[str, str]) -> None:
    pair = login(hub, *head).json()
    user_id = me(hub, pair["access_token"]).json()["id"]
    r = hub.http.patch(f"/api/v1/users/{user_id}", json={"active": False})
    assert r.status_code == 200, r.text
    assert me(hub, pair["access_token"]).status_code == 401  # a live access token stops working
    refresh = TestClient(hub.http.app).post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refresh.status_code == 401
    again = login(hub, *head)
    assert again.status_code == 401
    assert again.json() == {
        "detail": "incorrect username or password",
        "code": "login_failed",
    }  # no hint that it exists


def test_password_reset_ends_existing_sessions(hub: HubHarness, head: tuple[str, str]) -> None:
    pair = login(hub, *head).json()
    user_id = me(hub, pair["access_token"]).json()["id"]
    r = hub.http.patch(f"/api/v1/users/{user_id}", json={"password": "brand-new-Passw0rd"})
    assert r.status_code == 200, r.text
    refresh = TestClient(hub.http.app).post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refresh.status_code == 401
    assert login(hub, head[0], head[1]).status_code == 401
    assert login(hub, head[0], "brand-new-Passw0rd").status_code == 200
