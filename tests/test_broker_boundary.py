"""The device/broker boundary: client ids bound to accounts, gateways held to their own devices,
and a device whose account the hub revokes shown offline at once. All against the real broker."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

from devices import topics
from devices.codec import encode_report
from devices.messages import Outbound
from devices.payloads import DeviceInfo, Kind, LightState
from hub.broker.bootstrap import DYNSEC_FILE, HUB_USERNAME, TOOLS_SECRET_FILE, ensure_accounts
from hub.broker.process import Broker
from tests.conftest import HubHarness, make_area, raw_link
from tests.test_broker_security import (
    Recorder,
    add_device,
    device_link,
    login,
    mosquitto_sub,
    wait_for,
)

C = topics.Channel
LIGHT_INFO = DeviceInfo(kind=Kind.LIGHT, model="LD-60", firmware="1.4.0", capabilities=["switch", "dim"])


_ts = itertools.count(int(time.time() * 1000))


def state(level_: int) -> bytes:
    """A light's state with a strictly increasing ``ts`` (the hub drops an older one)."""
    return LightState(ts=next(_ts), on=True, level=level_, power_w=1.0).model_dump_json().encode()


def level(hub: HubHarness, area: str, device: str) -> int | None:
    value = ((hub.device(area, device) or {}).get("state") or {}).get("level")
    return value if isinstance(value, int) else None


def online(hub: HubHarness, area: str, device: str) -> bool:
    return bool((hub.device(area, device) or {}).get("online"))


def command(hub: HubHarness, area: str, device: str, level_: int) -> None:
    order = {"target": {"device_id": device}, "action": {"type": "light.set", "level": level_}, "wait_ms": 0}
    r = hub.http.post(f"/api/v1/areas/{area}/commands", json=order)
    assert r.status_code == 200, r.text


def retained_status(broker: Broker, area: str, device: str) -> str:
    """What a newcomer reads from the broker for the device's status."""
    got = Recorder()
    reader = raw_link(broker, "status-reader", got, subscriptions=(topics.topic(area, device, C.STATUS),))
    try:
        wait_for(lambda: bool(got.messages), "the retained status")
        return got.messages[-1].payload.decode()
    finally:
        reader.stop()


# --- 1. client ids --------------------------------------------------------------------------


def test_no_account_can_take_the_hubs_or_a_gateways_client_id(
    hub: HubHarness, broker: Broker, area_code: str
) -> None:
    make_area(hub, area_code)
    thief = add_device(hub, area_code, "light-x")
    reporter_creds = add_device(hub, area_code, "light-r")
    gateway = add_device(hub, area_code, "gw-1", kind="gateway")
    gw_link, _ = device_link(broker, gateway)
    reporter, _ = device_link(broker, reporter_creds)
    seen = Recorder()
    observer = raw_link(broker, "observer", on_message=seen, subscriptions=(f"khu/v1/{area_code}/+/state",))
    hub_link = hub.runtime.link
    hub_connects, gw_connects = hub_link.connects, gw_link.connects
    victims = (hub.settings.mqtt_client_id, gateway.username)

    # Reports flow while the thief tries each victim's client id with its own valid account.
    refusals = []
    for i in range(1, 21):
        reporter.publish(encode_report(area_code, "light-r", C.STATE, state(i)))
        if i % 5 == 0:
            victim = victims[(i // 5) % 2]
            tried = mosquitto_sub(broker, "-i", victim, "-u", thief.username, "-P", thief.password, "-t", "x")
            refusals.append((victim, tried.returncode, tried.stderr.strip()))
    assert all(rc == 5 and "not authorised" in err for _, rc, err in refusals), refusals
    # The thief's own client id still works for it (the refusals above are about the id).
    assert mosquitto_sub(broker, *login(thief), "-t", topics.HUB_STATUS_TOPIC).stdout.strip() == "online"
    hub.wait(lambda: level(hub, area_code, "light-r") == 20, what="the last report applied")
    mine = topics.topic(area_code, "light-r", C.STATE)
    wait_for(lambda: seen.topics().count(mine) == 20, "every report delivered")
    # Neither victim was thrown off the broker, not even for a moment.
    assert (hub_link.connects, gw_link.connects) == (hub_connects, gw_connects)
    assert hub_link.connected
    assert gw_link.connected
    for link in (gw_link, reporter, observer):
        link.stop()


def test_the_hubs_and_tools_accounts_are_bound_to_their_own_client_ids(
    hub: HubHarness, broker: Broker
) -> None:
    account = hub.runtime.settings.mqtt_credentials()
    assert account is not None
    own = hub.settings.mqtt_client_id
    assert account.username == own
    for creds, wrong in ((account, "khu-hub"), (broker.hub, own), (broker.tools, "khu-hub")):
        tried = mosquitto_sub(broker, "-i", wrong, "-u", creds.username, "-P", creds.password, "-t", "x")
        assert tried.returncode == 5, (creds.username, wrong, tried)
    assert hub.runtime.link.connects == 1


# --- 2. a gateway speaks for its own devices only -------------------------------------------


def test_a_gateway_cannot_drive_or_read_a_direct_device(
    hub: HubHarness, broker: Broker, area_code: str
) -> None:
    make_area(hub, area_code)
    lamp_creds = add_device(hub, area_code, "den-1")
    gateway = add_device(hub, area_code, "gw-1", kind="gateway")
    lamp, _ = device_link(broker, lamp_creds)
    lamp.publish(encode_report(area_code, "den-1", C.INFO, LIGHT_INFO.model_dump_json().encode()))
    lamp.publish(encode_report(area_code, "den-1", C.STATE, state(35)))
    hub.wait(lambda: level(hub, area_code, "den-1") == 35, what="the lamp's own state")
    seen = Recorder()
    observer = raw_link(broker, "observer", on_message=seen, subscriptions=(f"khu/v1/{area_code}/#",))

    gw, _ = device_link(broker, gateway)
    forged = encode_report(area_code, "den-1", C.STATE, state(99))
    assert forged.retain
    gw.publish(forged)
    gw.publish(encode_report(area_code, "den-1", C.STATUS, b"offline"))
    gw.publish(encode_report(area_code, "gw-1", C.STATUS, b"online"))
    wait_for(lambda: topics.topic(area_code, "gw-1", C.STATUS) in seen.topics(), "the gateway's own status")
    time.sleep(0.3)
    den_topics = {topics.topic(area_code, "den-1", c) for c in (C.STATE, C.STATUS)}
    live = [m.topic for m in seen.messages if not m.retain]  # the lamp's retained state is replayed
    assert not den_topics & set(live), live
    assert level(hub, area_code, "den-1") == 35
    gw.stop()
    # Nor may it read the lamp's commands (nothing is retained on cmd, so ask the broker).
    cmd = topics.topic(area_code, "den-1", C.CMD)
    assert "All subscription requests were denied" in mosquitto_sub(broker, *login(gateway), "-t", cmd).stderr
    # A newcomer reading the retained state sees the lamp's, not the gateway's.
    got = Recorder()
    fresh = raw_link(broker, "fresh", got, subscriptions=(topics.topic(area_code, "den-1", C.STATE),))
    wait_for(lambda: bool(got.messages), "the retained state")
    assert b'"level":35' in got.messages[-1].payload
    for link in (lamp, observer, fresh):
        link.stop()


def test_a_gateway_speaks_for_a_device_from_its_acceptance_to_its_retirement(
    hub: HubHarness, broker: Broker, area_code: str
) -> None:
    make_area(hub, area_code)
    gateway = add_device(hub, area_code, "gw-1", kind="gateway")
    base = f"/api/v1/areas/{area_code}/devices/den-9"
    seen = Recorder()
    observer = raw_link(broker, "observer", on_message=seen, subscriptions=(f"khu/v1/{area_code}/+/state",))
    gw, got = device_link(broker, gateway)
    gw_state = topics.topic(area_code, "den-9", C.STATE)
    cmd = topics.topic(area_code, "den-9", C.CMD)
    gw.publish(encode_report(area_code, "gw-1", C.STATUS, b"online"))
    hub.wait(lambda: online(hub, area_code, "gw-1"), what="gateway online")
    info = LIGHT_INFO.model_copy(update={"via": "gw-1"})
    gw.publish(encode_report(area_code, "den-9", C.INFO, info.model_dump_json().encode()))
    hub.wait(lambda: (hub.device(area_code, "den-9") or {}).get("status") == "pending", what="den-9 pending")
    gw.publish(encode_report(area_code, "den-9", C.STATE, state(10)))  # not accepted yet: dropped

    accepted = hub.http.post(f"{base}/accept")
    assert accepted.status_code == 200, accepted.text
    gw.subscribe(cmd)
    gw.publish(encode_report(area_code, "den-9", C.STATUS, b"online"))
    gw.publish(encode_report(area_code, "den-9", C.STATE, state(20)))
    hub.wait(lambda: level(hub, area_code, "den-9") == 20, what="the gateway's report for den-9 applied")
    assert [m.payload for m in seen.messages if m.topic == gw_state][:1] != [state(10)]
    hub.wait(lambda: online(hub, area_code, "den-9"), what="den-9 online")
    command(hub, area_code, "den-9", 70)
    wait_for(lambda: cmd in got.topics(), "den-9's command at the gateway")

    assert hub.http.post(f"{base}/retire").status_code == 200
    before = len(got.messages)
    tool = raw_link(broker, "hub-stand-in")
    tool.publish(Outbound(cmd, b'{"id":"c-x","action":"set","level":5}', qos=1))
    gw.publish(encode_report(area_code, "den-9", C.STATE, state(30)))
    probe = topics.topic(area_code, "gw-1", C.STATE)
    gw.publish(Outbound(probe, b"{}", qos=1))  # the gateway's own topic: delivered, after the rest
    wait_for(lambda: probe in seen.topics(), "the gateway's later message")
    time.sleep(0.3)
    assert len(got.messages) == before  # no more commands for den-9
    assert [m for m in seen.messages if m.topic == gw_state and b'"level":30' in m.payload] == []
    gw.stop()
    assert "All subscription requests were denied" in mosquitto_sub(broker, *login(gateway), "-t", cmd).stderr
    assert accepted.json()["mqtt"]["client_id"] == f"{area_code}.den-9"
    for link in (observer, tool):
        link.stop()


def test_an_info_that_would_move_a_known_device_is_refused(
    hub: HubHarness, broker: Broker, area_code: str
) -> None:
    make_area(hub, area_code)
    lamp_creds = add_device(hub, area_code, "den-1")
    add_device(hub, area_code, "gw-1", kind="gateway")
    gw2 = add_device(hub, area_code, "gw-2", kind="gateway")
    lamp, _ = device_link(broker, lamp_creds)
    lamp.publish(encode_report(area_code, "den-1", C.INFO, LIGHT_INFO.model_dump_json().encode()))
    hub.wait(lambda: (hub.device(area_code, "den-1") or {}).get("model") == "LD-60", what="den-1 announced")
    gw, _ = device_link(broker, gw2)
    behind_1 = LIGHT_INFO.model_copy(update={"via": "gw-1"})
    gw.publish(encode_report(area_code, "den-5", C.INFO, behind_1.model_dump_json().encode()))
    hub.wait(lambda: (hub.device(area_code, "den-5") or {}).get("via") == "gw-1", what="den-5 behind gw-1")

    before = hub.rejections().get("via_mismatch", 0)
    claim = LIGHT_INFO.model_copy(update={"via": "gw-2"})
    for device in ("den-1", "den-5"):  # a direct device, and one behind another gateway
        gw.publish(encode_report(area_code, device, C.INFO, claim.model_dump_json().encode()))
    hub.wait(lambda: hub.rejections().get("via_mismatch", 0) == before + 2, what="both claims refused")
    assert (hub.device(area_code, "den-1") or {})["via"] is None
    assert (hub.device(area_code, "den-5") or {})["via"] == "gw-1"
    for link in (lamp, gw):
        link.stop()


# --- 3. a revoked account is offline at once ------------------------------------------------


def test_renewing_a_connected_device_shows_it_offline_at_once(
    hub: HubHarness, broker: Broker, area_code: str
) -> None:
    make_area(hub, area_code)
    creds = add_device(hub, area_code, "cam-1", kind="camera")
    link, _ = device_link(broker, creds)
    link.publish(encode_report(area_code, "cam-1", C.STATUS, b"online"))
    hub.wait(lambda: online(hub, area_code, "cam-1"), what="camera online")

    r = hub.http.post(f"/api/v1/areas/{area_code}/devices/cam-1/credentials")
    assert r.status_code == 200, r.text
    wait_for(lambda: not link.connected, "the broker to drop the old login")
    hub.wait(lambda: not online(hub, area_code, "cam-1"), timeout=3, what="camera offline in the API")
    assert retained_status(broker, area_code, "cam-1") == "offline"
    assert r.json()["mqtt"]["client_id"] == creds.username
    link.stop()


def test_retiring_a_gateway_shows_it_and_its_devices_offline(
    hub: HubHarness, broker: Broker, area_code: str
) -> None:
    make_area(hub, area_code)
    gateway = add_device(hub, area_code, "gw-1", kind="gateway")
    gw, _ = device_link(broker, gateway)
    info = LIGHT_INFO.model_copy(update={"via": "gw-1"})
    gw.publish(encode_report(area_code, "den-2", C.INFO, info.model_dump_json().encode()))
    hub.wait(lambda: (hub.device(area_code, "den-2") or {}).get("status") == "pending", what="den-2 pending")
    assert hub.http.post(f"/api/v1/areas/{area_code}/devices/den-2/accept").status_code == 200
    for device in ("gw-1", "den-2"):
        gw.publish(encode_report(area_code, device, C.STATUS, b"online"))
    hub.wait(lambda: online(hub, area_code, "den-2") and online(hub, area_code, "gw-1"), what="online")

    assert hub.http.post(f"/api/v1/areas/{area_code}/devices/gw-1/retire").status_code == 200
    hub.wait(lambda: not online(hub, area_code, "den-2"), timeout=3, what="den-2 offline")
    assert not online(hub, area_code, "gw-1")
    assert retained_status(broker, area_code, "den-2") == "offline"
    assert retained_status(broker, area_code, "gw-1") == "offline"
    gw.stop()


def test_an_account_file_from_before_client_ids_were_bound_is_upgraded(tmp_path: Path) -> None:
    data = tmp_path / "broker"
    ensure_accounts(data)
    # As the first versions wrote it: the hub's account unbound, no tools' account.
    config = json.loads((data / DYNSEC_FILE).read_text())
    config["clients"] = [c for c in config["clients"] if c["username"] == HUB_USERNAME]
    del config["clients"][0]["clientid"]
    config["roles"] = [r for r in config["roles"] if r["rolename"] != "khu-accounts"]
    (data / DYNSEC_FILE).write_text(json.dumps(config))
    (data / TOOLS_SECRET_FILE).unlink()

    old = Broker(data)
    old.start()
    try:
        hub = old.hub
        taken = mosquitto_sub(old, "-i", "someone-else", "-u", hub.username, "-P", hub.password, "-t", "x")
        assert taken.returncode == 5, taken
        own = mosquitto_sub(old, "-i", HUB_USERNAME, "-u", hub.username, "-P", hub.password, "-t", "x")
        assert own.stderr.strip() == "Timed out", own
        with old.admin() as accounts:  # the tools' account was added
            assert accounts.provision_hub("khu-hub-2").username == "khu-hub-2"
    finally:
        old.stop()


# --- a gateway of many devices ---------------------------------------------------------------


def test_a_gateway_of_thousands_of_devices_is_provisioned_renewed_and_narrowed(
    own_broker: Broker, area_code: str
) -> None:
    """Its grants are bigger than one packet the broker accepts (64 KiB), yet provisioning takes
    a few requests; renewal replaces every role; one device taken back leaves the others.

    A broker of its own: the plugin rewrites its whole file on every change, and a file grown
    by 15,000 grants would slow every later test's account changes on a shared broker."""
    broker = own_broker
    carried = [f"den-{i:04d}" for i in range(3000)]
    with broker.admin() as accounts:
        accounts.provision_device(area_code, "gw-big", Kind.GATEWAY, carried)
        creds = accounts.provision_device(area_code, "gw-big", Kind.GATEWAY, carried)  # a renewal
        accounts.carry(area_code, "gw-big", "den-2999", allow=False)
    seen = Recorder()
    observer = raw_link(broker, "observer", on_message=seen, subscriptions=(f"khu/v1/{area_code}/+/state",))
    gateway, _ = device_link(broker, creds)
    try:
        for device in ("den-0000", "den-1500", "den-2999", "den-2998"):
            gateway.publish(Outbound(topics.topic(area_code, device, C.STATE), state(10), qos=1))
        wait_for(lambda: len(seen.messages) >= 3, "the gateway's three allowed states")
        time.sleep(0.5)  # what the broker would still deliver
        delivered = sorted(m.topic.split("/")[3] for m in seen.messages)
        assert delivered == ["den-0000", "den-1500", "den-2998"]
    finally:
        gateway.stop()
        observer.stop()
