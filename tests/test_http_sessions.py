"""Sessions over HTTP: origin checks, lock-out rules, forwarded addresses, ending sessions (issue 15)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi.testclient import TestClient

from hub.broker.process import Broker
from hub.models import Role
from tests.conftest import HubHarness, make_area, serve

TOKEN = "/api/v1/auth/token"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
SITE = "https://testserver"


def phone_for(h: HubHarness, username: str, password: str) -> TestClient:
    """A phone logged in with the session cookie (https: the cookie is Secure)."""
    phone = TestClient(h.http.app, base_url=SITE)
    r = phone.post(LOGIN, json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return phone


def head_of(h: HubHarness, code: str) -> tuple[str, str]:
    username = f"head-{code}"
    return username, h.add_user(username, Role.HEAD, code)


# --- 5. origin of cookie requests ---------------------------------------------------------


def test_cookie_requests_that_change_things_need_the_hubs_own_origin(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    phone = phone_for(hub, *head_of(hub, area_code))
    zones = f"/api/v1/areas/{area_code}/zones"
    forged = phone.post(zones, json={"name": "Tổ 1"}, headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403, forged.text
    assert forged.json()["code"] == "origin_mismatch"
    assert "https://evil.example" in forged.json()["detail"]
    bare = phone.post(zones, json={"name": "Tổ 1"})
    assert bare.status_code == 403
    assert bare.json()["code"] == "origin_missing"
    foreign_referer = phone.post(zones, json={"name": "Tổ 1"}, headers={"Referer": "https://evil.example/x"})
    assert foreign_referer.status_code == 403
    null_origin = phone.post(zones, json={"name": "Tổ 1"}, headers={"Origin": "null"})
    assert null_origin.status_code == 403
    assert phone.get(zones, headers={"Origin": "https://evil.example"}).status_code == 200  # reading is safe
    assert phone.post(zones, json={"name": "Tổ 1"}, headers={"Origin": SITE}).status_code == 201
    by_referer = phone.post(zones, json={"name": "Tổ 2"}, headers={"Referer": f"{SITE}/app/#zones"})
    assert by_referer.status_code == 201
    # A bearer token is not sent by browsers on their own: no origin needed.
    assert (
        hub.http.post(zones, json={"name": "Tổ 3"}, headers={"Origin": "https://evil.example"}).status_code
        == 201
    )


def test_the_public_url_is_the_hubs_origin_too(
    broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str
) -> None:
    h = hub_factory(broker, public_url="https://hub.example.vn/")
    make_area(h, area_code)
    phone = phone_for(h, *head_of(h, area_code))
    zones = f"/api/v1/areas/{area_code}/zones"
    ok = phone.post(zones, json={"name": "Tổ 1"}, headers={"Origin": "https://hub.example.vn"})
    assert ok.status_code == 201, ok.text
    assert (
        phone.post(zones, json={"name": "Tổ 2"}, headers={"Origin": "http://hub.example.vn"}).status_code
        == 403
    )


# --- 6. lock-out and forwarded addresses --------------------------------------------------


def test_a_locked_account_still_logs_in_from_a_device_it_used_before(
    broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str
) -> None:
    h = hub_factory(broker, login_failures_per_user=3)
    make_area(h, area_code)
    username, password = head_of(h, area_code)
    phone = phone_for(h, username, password)  # yesterday's login: the phone holds a device cookie
    assert "khu_device" in phone.cookies
    laptop = TestClient(h.http.app, base_url=SITE)
    assert laptop.post(TOKEN, data={"username": username, "password": password}).status_code == 200
    assert "khu_device" in laptop.cookies  # the token flow gives one too

    for _ in range(3):  # someone guesses from elsewhere
        assert (
            TestClient(h.http.app)
            .post(TOKEN, data={"username": username, "password": "guess-guess"})
            .status_code
            == 401
        )
    stranger = TestClient(h.http.app, base_url=SITE)
    assert stranger.post(LOGIN, json={"username": username, "password": password}).status_code == 429

    again = phone.post(LOGIN, json={"username": username, "password": password})
    assert again.status_code == 200, again.text
    assert laptop.post(TOKEN, data={"username": username, "password": password}).status_code == 200

    # A known device has a counter of its own: guessing from it locks only it.
    for _ in range(3):
        assert laptop.post(TOKEN, data={"username": username, "password": "guess-guess"}).status_code == 401
    assert laptop.post(TOKEN, data={"username": username, "password": password}).status_code == 429
    assert phone.post(LOGIN, json={"username": username, "password": password}).status_code == 200

    # A device cookie is for its own user only.
    other = f"dep-{area_code}"
    other_password = h.add_user(other, Role.DEPUTY, area_code)
    for _ in range(3):
        assert (
            TestClient(h.http.app)
            .post(TOKEN, data={"username": other, "password": "guess-guess"})
            .status_code
            == 401
        )
    assert phone.post(LOGIN, json={"username": other, "password": other_password}).status_code == 429
    forged = TestClient(h.http.app, base_url=SITE, cookies={"khu_device": "not.a.token"})
    assert forged.post(LOGIN, json={"username": username, "password": password}).status_code == 429


def _failures_from(base: str, username: str, forwarded: list[str]) -> list[int]:
    codes = []
    for address in forwarded:
        r = httpx.post(
            base + TOKEN,
            data={"username": username, "password": "guess-guess"},
            headers={"X-Forwarded-For": address},
        )
        codes.append(r.status_code)
    return codes


def test_forwarded_addresses_are_ignored_unless_from_a_trusted_proxy(
    broker: Broker, hub_factory: Callable[..., HubHarness]
) -> None:
    h = hub_factory(broker, login_failures_per_ip=3, login_failures_per_user=100)
    with serve(h.http.app) as base:
        # From loopback, a made-up X-Forwarded-For does not buy a fresh address.
        codes = _failures_from(base, "nobody-1", [f"203.0.113.{i}" for i in range(1, 6)])
    assert codes == [401, 401, 401, 429, 429], codes

    proxied = hub_factory(
        broker, login_failures_per_ip=3, login_failures_per_user=100, trusted_proxies="127.0.0.1"
    )
    with serve(proxied.http.app) as base:
        one = _failures_from(base, "nobody-2", ["198.51.100.7"] * 4)
        # Behind the proxy, the address it saw counts (the rightmost untrusted one).
        other = _failures_from(base, "nobody-3", ["10.9.9.9, 198.51.100.8"] * 2)
    assert one == [401, 401, 401, 429], one
    assert other == [401, 401], other


# --- 7. a password reset ends every session -----------------------------------------------


def test_a_password_reset_ends_access_tokens_at_once(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    username, password = head_of(hub, area_code)
    client = TestClient(hub.http.app)
    pair: dict[str, Any] = client.post(TOKEN, data={"username": username, "password": password}).json()
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    phone = phone_for(hub, username, password)
    me = client.get(ME, headers=bearer)
    assert me.status_code == 200
    r = hub.http.patch(f"/api/v1/users/{me.json()['id']}", json={"password": "brand-new-Passw0rd"})
    assert r.status_code == 200, r.text
    old = client.get(ME, headers=bearer)
    assert old.status_code == 401, old.text
    assert "password" in old.json()["detail"]
    assert phone.get(ME).status_code == 401
    fresh = client.post(TOKEN, data={"username": username, "password": "brand-new-Passw0rd"}).json()
    assert client.get(ME, headers={"Authorization": f"Bearer {fresh['access_token']}"}).status_code == 200


def test_deactivation_still_ends_access_tokens(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    username, password = head_of(hub, area_code)
    client = TestClient(hub.http.app)
    token = client.post(TOKEN, data={"username": username, "password": password}).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    user_id = client.get(ME, headers=bearer).json()["id"]
    assert hub.http.patch(f"/api/v1/users/{user_id}", json={"active": False}).status_code == 200
    assert client.get(ME, headers=bearer).status_code == 401
