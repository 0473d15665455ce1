"""Zero-touch enrolment: a new device given the hub's address appears pending; accepting it
gives it an account of its own (native: the password it chose; Tasmota: one console line)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from devices.emulators.tasmota import TasmotaEmulator
from devices.messages import Outbound
from devices.mqtt_client import LinkConfig, MqttLink
from hub.broker.process import Broker
from tests.conftest import HubHarness, make_area, raw_link


@pytest.fixture
def links() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for link in started:
        link.stop()


def _open(hub: HubHarness, area: str, minutes: int = 5) -> dict[str, Any]:
    r = hub.http.post(f"/api/v1/areas/{area}/enrolment", json={"minutes": minutes})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _link(broker: Broker, client_id: str, username: str, password: str, started: list[Any]) -> MqttLink:
    link = MqttLink(LinkConfig("127.0.0.1", broker.port, client_id, username, password, persistent=False))
    link.start()
    started.append(link)
    return link


def _announcement(secret: str) -> bytes:
    info = {"kind": "light", "model": "KL-60", "firmware": "2.1.0", "capabilities": ["switch", "dim"]}
    return json.dumps({**info, "secret": secret}).encode()


def test_a_native_light_enrols_itself_and_gets_the_account_it_chose(
    broker: Broker, hub: HubHarness, area_code: str, links: list[Any]
) -> None:
    make_area(hub, area_code)
    window = _open(hub, area_code)
    assert window["username"] == f"{area_code}._enrol"
    assert window["native_topic"] == f"khu/enrol/{area_code}/<device id>"
    assert hub.http.get(f"/api/v1/areas/{area_code}/enrolment").json()["open"] is True

    secret = secrets.token_urlsafe(24)
    enrolling = _link(broker, "kl60-a1b2c3", window["username"], window["password"], links)
    assert enrolling.wait_connected(5)
    assert enrolling.publish(Outbound(f"khu/enrol/{area_code}/den-moi", _announcement(secret), qos=1))
    hub.wait(lambda: (hub.device(area_code, "den-moi") or {}).get("status") == "pending", what="pending")
    assert hub.device(area_code, "den-moi")["model"] == "KL-60"  # type: ignore[index]

    # Before the head accepts, the account the device chose does not exist.
    own = f"{area_code}.den-moi"
    early = _link(broker, own, own, secret, links)
    assert not early.wait_connected(1.5)
    early.stop()

    r = hub.http.post(f"/api/v1/areas/{area_code}/devices/den-moi/accept", json={"name": "Đèn mới"})
    assert r.status_code == 200, r.text
    assert r.json()["mqtt"]["username"] == own
    device = _link(broker, own, own, secret, links)
    assert device.wait_connected(5), "the device's own account works once accepted"
    status = Outbound(f"khu/v1/{area_code}/den-moi/status", b"online", qos=1, retain=True)
    assert device.publish(status)
    hub.wait(lambda: (hub.device(area_code, "den-moi") or {}).get("online") is True, what="online")


def test_the_enrolment_account_only_announces_and_the_window_bounds_it(
    broker: Broker, hub: HubHarness, area_code: str, links: list[Any]
) -> None:
    make_area(hub, area_code)
    window = _open(hub, area_code)
    heard: list[str] = []
    enrolling = MqttLink(
        LinkConfig(
            "127.0.0.1",
            broker.port,
            "spy-1",
            window["username"],
            window["password"],
            persistent=False,
            subscriptions=(f"khu/v1/{area_code}/#", "khu/enrol/#"),
        ),
        on_message=lambda m: heard.append(m.topic),
    )
    enrolling.start()
    links.append(enrolling)
    assert enrolling.wait_connected(5)
    # It reads nothing: the broker refuses its subscriptions.
    assert not enrolling.wait_subscribed(1.0)
    # It writes no device's topics (the broker drops these).
    before = hub.rejections()
    forged = Outbound(f"khu/v1/{area_code}/x/info", _announcement("s" * 30), qos=1)
    receipt = enrolling.publish_with_receipt(forged)
    assert receipt is not None
    hub.wait(receipt.done, what="the forged publish handled")
    assert hub.device(area_code, "x") is None
    assert heard == []

    # A flood through a stolen password: 60 new devices a minute, the rest refused.
    probe = raw_link(broker, "enrol-flood", filters=(f"khu/enrol/{area_code}/+",))
    try:
        for n in range(70):
            body = _announcement(secrets.token_urlsafe(24))
            last = probe.publish_with_receipt(Outbound(f"khu/enrol/{area_code}/flood-{n}", body, qos=1))
        assert last is not None
        hub.wait(last.done, what="the flood published")

        def flooded() -> bool:
            return hub.rejections().get("enrolment_flood", 0) - before.get("enrolment_flood", 0) == 10

        hub.wait(flooded, what="ten announcements refused as a flood")
        pending = hub.http.get(f"/api/v1/areas/{area_code}/devices", params={"status": "pending"}).json()
        assert pending["total"] == 60

        # Closed: the account is gone and the hub refuses announcements all the same.
        assert hub.http.delete(f"/api/v1/areas/{area_code}/enrolment").status_code == 204
        gone = _link(broker, "late-1", window["username"], window["password"], links)
        assert not gone.wait_connected(1.5)
        body = _announcement(secrets.token_urlsafe(24))
        assert probe.publish(Outbound(f"khu/enrol/{area_code}/late", body, qos=1))
        hub.wait(
            lambda: hub.rejections().get("enrolment_closed", 0) > before.get("enrolment_closed", 0),
            what="the closed window's refusal",
        )
        assert hub.device(area_code, "late") is None
    finally:
        probe.stop()


def test_a_tasmota_on_the_enrolment_account_is_discovered_then_joins_with_its_backlog(
    broker: Broker, hub: HubHarness, area_code: str, links: list[Any]
) -> None:
    make_area(hub, area_code)
    window = _open(hub, area_code)
    assert f"FullTopic %prefix%/{area_code}/%topic%/" in window["tasmota_backlog"]
    enrolling = TasmotaEmulator(
        area_code,
        "den-cong",
        "127.0.0.1",
        broker.port,
        window["username"],
        window["password"],
        client_id="DVES_B3C4D5",
        discovery_delay_s=0.2,
        module="Sonoff D1",
    )
    enrolling.start()
    links.append(enrolling)
    hub.wait(lambda: (hub.device(area_code, "den-cong") or {}).get("status") == "pending", what="discovered")
    found = hub.device(area_code, "den-cong") or {}
    assert (found["protocol"], found["model"], found["firmware"]) == ("tasmota", "Sonoff D1", "14.3.0")
    assert found["online"] is False  # its LWT was not let through on the enrolment account

    zone = hub.http.post(f"/api/v1/areas/{area_code}/zones", json={"name": "Cổng"}).json()["id"]
    r = hub.http.post(f"/api/v1/areas/{area_code}/devices/den-cong/accept", json={"zone_id": zone})
    assert r.status_code == 200, r.text
    mqtt = r.json()["mqtt"]
    (line,) = mqtt["setup"]
    assert (
        f"MqttUser {mqtt['username']}; MqttPassword {mqtt['password']}; MqttClient {mqtt['username']}" in line
    )
    # The installer pastes the line; the device restarts with its own account.
    enrolling.stop()
    joined = TasmotaEmulator(
        area_code,
        "den-cong",
        "127.0.0.1",
        broker.port,
        mqtt["username"],
        mqtt["password"],
        module="Sonoff D1",
    )
    joined.start()
    links.append(joined)
    hub.wait(lambda: (hub.device(area_code, "den-cong") or {}).get("online") is True, what="online")
    r = hub.http.post(
        f"/api/v1/areas/{area_code}/commands",
        json={"target": {"zone_id": zone}, "action": {"type": "light.set", "level": 55}},
    )
    assert r.json()["results"][0]["status"] == "confirmed", r.text
    assert joined.state.dimmer == 55
