"""The project's broker is locked down: tried with ``mosquitto_sub`` as a newcomer would, and with devices."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable

from devices import topics
from devices.codec import encode_report
from devices.messages import Outbound
from devices.mqtt_client import Credentials, LinkConfig, MqttLink, Received
from devices.payloads import LightState
from hub.broker.process import Broker
from tests.conftest import HubHarness, make_area, raw_link

C = topics.Channel


def mosquitto_sub(broker: Broker, *args: str, wait: int = 1) -> subprocess.CompletedProcess[str]:
    cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-W", str(wait), "-C", "1", *args]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=wait + 10)


def login(creds: Credentials) -> tuple[str, ...]:
    """As a device must log in: the broker binds its account to client id = username."""
    return ("-i", creds.username, "-u", creds.username, "-P", creds.password)


def add_device(hub: HubHarness, area: str, device_id: str, kind: str = "light") -> Credentials:
    r = hub.http.post(f"/api/v1/areas/{area}/devices", json={"device_id": device_id, "kind": kind})
    assert r.status_code == 201, r.text
    mqtt = r.json()["mqtt"]
    return Credentials(mqtt["username"], mqtt["password"])


class Recorder:
    """Everything that arrives on one connection."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()

    def __call__(self, msg: Received) -> None:
        with self._lock:
            self.messages.append(msg)

    def topics(self) -> list[str]:
        with self._lock:
            return [m.topic for m in self.messages]


def device_link(broker: Broker, creds: Credentials, *subscriptions: str) -> tuple[MqttLink, Recorder]:
    seen = Recorder()
    link = MqttLink(
        LinkConfig(
            "127.0.0.1",
            broker.port,
            creds.username,
            creds.username,
            creds.password,
            persistent=False,
            subscriptions=subscriptions,
        ),
        on_message=seen,
    )
    link.start()
    assert link.wait_connected(5), f"{creds.username} could not log in"
    return link, seen


def state(level: int) -> bytes:
    return (
        LightState(ts=int(time.time() * 1000), on=True, level=level, power_w=1.0).model_dump_json().encode()
    )


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_anonymous_and_wrong_password_clients_are_refused(broker: Broker) -> None:
    anonymous = mosquitto_sub(broker, "-t", "#")
    assert anonymous.returncode == 5, anonymous
    assert "not authorised" in anonymous.stderr
    wrong = mosquitto_sub(broker, "-t", "#", "-u", broker.hub.username, "-P", "guess")
    assert wrong.returncode == 5
    assert "not authorised" in wrong.stderr
    # Not even a hub-looking client id gets in without the password.
    assert mosquitto_sub(broker, "-t", "#", "-i", "khu-hub").returncode == 5


def test_a_device_reads_only_its_own_commands(hub: HubHarness, broker: Broker, area_code: str) -> None:
    make_area(hub, area_code)
    a = add_device(hub, area_code, "light-a")
    b = add_device(hub, area_code, "light-b")
    assert a.username == f"{area_code}.light-a"
    own, other = topics.topic(area_code, "light-a", C.CMD), topics.topic(area_code, "light-b", C.CMD)

    # As a newcomer would try it: the broker denies the subscription outright.
    denied = mosquitto_sub(broker, *login(a), "-t", other)
    assert "All subscription requests were denied" in denied.stderr
    assert (
        "All subscription requests were denied" in mosquitto_sub(broker, *login(a), "-t", "khu/v1/#").stderr
    )
    assert mosquitto_sub(broker, *login(a), "-t", own).stderr.strip() == "Timed out"  # allowed, nothing sent
    hub_status = mosquitto_sub(broker, *login(a), "-t", topics.HUB_STATUS_TOPIC)
    assert hub_status.stdout.strip() == "online"  # read-only: whether the hub is up

    link, seen = device_link(broker, a, own, other, f"{topics.ROOT}/{area_code}/+/{C.CMD.value}")
    assert not link.wait_subscribed(1)  # the broker refused part of the request
    b_link, _ = device_link(broker, b, other)
    for device, dev_link in (("light-a", link), ("light-b", b_link)):
        dev_link.publish(encode_report(area_code, device, C.STATUS, b"online"))
        hub.wait(lambda d=device: bool((hub.device(area_code, d) or {}).get("online")), what="online")
    order = {"action": {"type": "light.set", "on": True}, "wait_ms": 0}
    for device in ("light-b", "light-a"):
        r = hub.http.post(
            f"/api/v1/areas/{area_code}/commands", json={"target": {"device_id": device}, **order}
        )
        assert r.status_code == 200, r.text
    wait_for(lambda: own in seen.topics(), "light-a's own command")
    time.sleep(0.3)
    assert seen.topics() == [own]  # light-b's command never reached light-a's account
    link.stop()
    b_link.stop()


def test_a_device_cannot_speak_for_another_device_or_area(
    hub: HubHarness, broker: Broker, area_code: str
) -> None:
    other_area = f"{area_code}x"
    make_area(hub, area_code)
    make_area(hub, other_area)
    a = add_device(hub, area_code, "light-a")
    add_device(hub, area_code, "light-b")
    add_device(hub, other_area, "light-a")
    gateway = add_device(hub, area_code, "gw-1", kind="gateway")
    seen = Recorder()
    observer = raw_link(broker, "observer", on_message=seen, subscriptions=("khu/v1/#",))

    link, _ = device_link(broker, a)
    forged = [
        topics.topic(area_code, "light-b", C.STATE),
        topics.topic(area_code, "light-b", C.STATUS),
        topics.topic(other_area, "light-a", C.STATE),
        topics.topic(area_code, "light-a", C.CMD),  # a command to itself
    ]
    for t in forged:
        link.publish(Outbound(t, state(66), qos=1))
    mine = topics.topic(area_code, "light-a", C.STATE)
    link.publish(encode_report(area_code, "light-a", C.STATE, state(33)))
    gw_link, _ = device_link(broker, gateway)
    # A gateway speaks only for the devices behind it: light-b is connected directly.
    gw_link.publish(encode_report(area_code, "light-b", C.STATE, state(44)))
    gw_link.publish(encode_report(other_area, "light-a", C.STATE, state(99)))
    gw_own = topics.topic(area_code, "gw-1", C.STATUS)
    gw_link.publish(encode_report(area_code, "gw-1", C.STATUS, b"online"))

    # Check what arrives, not the PUBACK (MQTT 3.1.1 acknowledges a dropped message too).
    wait_for(lambda: mine in seen.topics() and gw_own in seen.topics(), "the allowed reports")
    time.sleep(0.3)
    arrived = [(m.topic, m.payload) for m in seen.messages]
    assert all(t not in {x for x, _ in arrived} for t in forged[1:]), arrived
    assert topics.topic(area_code, "light-b", C.STATE) not in {t for t, _ in arrived}, arrived
    hub.wait(lambda: ((hub.device(area_code, "light-a") or {}).get("state") or {}).get("level") == 33)
    assert (hub.device(area_code, "light-b") or {})["state"] is None
    assert (hub.device(other_area, "light-a") or {})["state"] is None
    for link_ in (link, gw_link, observer):
        link_.stop()


def test_retiring_a_device_disconnects_it_and_renewal_replaces_the_password(
    hub: HubHarness, broker: Broker, area_code: str
) -> None:
    make_area(hub, area_code)
    first = add_device(hub, area_code, "light-a")
    base = f"/api/v1/areas/{area_code}/devices/light-a"
    r = hub.http.post(f"{base}/credentials")
    assert r.status_code == 200, r.text
    account = r.json()["mqtt"]  # the same shape as adding or accepting a device
    assert r.json()["device_id"] == "light-a"
    renewed = Credentials(account["username"], account["password"])
    assert renewed.username == first.username
    assert renewed.password != first.password
    assert mosquitto_sub(broker, *login(first), "-t", "x").returncode == 5

    link, _ = device_link(broker, renewed)
    assert hub.http.post(f"{base}/retire").status_code == 200
    wait_for(lambda: not link.connected, "the broker to disconnect the retired device")
    assert mosquitto_sub(broker, *login(renewed), "-t", "x").returncode == 5
    link.stop()
    assert hub.http.post(f"{base}/credentials").status_code == 409  # retired devices get none
    actions = [e["action"] for e in hub.http.get(f"/api/v1/areas/{area_code}/audit").json()["items"]]
    assert {"device.create", "device.credentials", "device.retire"} <= set(actions)
    assert all(
        "password" not in str(e) for e in hub.http.get(f"/api/v1/areas/{area_code}/audit").json()["items"]
    )


def test_accounts_survive_a_broker_crash_and_changes_fail_cleanly_without_it(
    own_broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str
) -> None:
    hub = hub_factory(own_broker)
    make_area(hub, area_code)
    creds = add_device(hub, area_code, "light-a")
    own_broker.kill()
    r = hub.http.post(f"/api/v1/areas/{area_code}/devices", json={"device_id": "light-b", "kind": "light"})
    assert r.status_code == 503, r.text
    assert "not reachable" in r.json()["detail"]
    assert "nothing was changed" in r.json()["detail"]
    assert hub.device(area_code, "light-b") is None
    own_broker.start()
    link, _ = device_link(own_broker, creds)  # the account file was saved before the crash
    link.stop()
    assert add_device(hub, area_code, "light-b").username == f"{area_code}.light-b"
