"""Three ``khu serve`` replicas on PostgreSQL share one area's device traffic; one dies mid-stream."""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from devices import topics
from devices.messages import Outbound
from devices.mqtt_client import MqttLink, Received
from hub.auth.accounts import create_user
from hub.broker.process import Broker
from hub.db import make_engine, make_sessionmaker
from hub.metrics import HubMetrics
from hub.models import Area, Device, DeviceEventRow, Role, SchedulerLease
from hub.registry.areas import create_area, preregister
from hub.registry.changes import Change
from hub.replicas import ReplicaPeers, decode_changes, encode_changes
from hub.storage.migrate import upgrade
from tests.conftest import raw_link
from tests.test_live import open_stream
from tests.test_process_faults import ADMIN_PASSWORD, ServedHub, registrations, start_fleet

LIGHTS = 6
REPORTS = 3000


def test_changes_cross_to_a_replica_as_they_were_committed() -> None:
    at = datetime(2026, 12, 4, 19, 0, tzinfo=ZoneInfo("UTC"))
    sent = [
        Change("a", "light-1", "light", {"state": {"on": True, "level": 40, "cmd": "c1"}, "last_seen": at}),
        Change("a", "cam-1", "camera", {"online": False}, retained=True),
    ]
    assert decode_changes(encode_changes(sent)) == sent
    with pytest.raises(ValueError, match="not a list"):
        decode_changes(b'{"not": "a list"}')


def test_a_replica_hears_the_others_skips_its_own_and_counts_what_it_cannot_read() -> None:
    metrics = HubMetrics()
    sent: list[Outbound] = []
    heard: list[list[Change]] = []

    def publish(out: Outbound) -> bool:
        sent.append(out)
        return True

    peers = ReplicaPeers("g", "khu-hub-a", publish, metrics)
    peers.add_listener(heard.append)
    change = Change("a", "light-1", "light", {"online": True})
    peers.on_changes([change] * 450)
    assert [len(decode_changes(out.payload)) for out in sent] == [200, 200, 50]
    assert {out.topic for out in sent} == {"khu/hubs/g/changes/khu-hub-a"}
    peers.on_message(Received(sent[0].topic, sent[0].payload, retain=False, qos=1))  # its own
    peers.on_message(Received("khu/hubs/g/changes/khu-hub-b", sent[2].payload, retain=False, qos=1))
    peers.on_message(Received("khu/hubs/g/changes/khu-hub-b", b"[[1, 2]]", retain=False, qos=1))
    assert heard == [[change] * 50]
    assert metrics.replica_changes._value.get() == 50
    assert metrics.replica_refused._value.get() == 1


@pytest.fixture
def replicas(
    tmp_path: Path, broker: Broker, area_code: str, pg_database: Callable[[], str]
) -> Iterator[list[ServedHub]]:
    url = pg_database()
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        create_user(session, "admin", ADMIN_PASSWORD, Role.ADMIN)
        area = create_area(session, area_code, "Khu", 21.0285, 105.8542, "Asia/Ho_Chi_Minh")
        preregister(session, area, registrations(area_code, LIGHTS))
    engine.dispose()
    group = f"g-{area_code}"  # a killed replica's session keeps its turn in its group
    hubs = [
        ServedHub(tmp_path / f"replica-{n}", broker, KHU_DATABASE_URL=url, KHU_REPLICA_GROUP=group)
        for n in range(3)
    ]
    yield hubs
    for hub in hubs:
        hub.stop()


def events_stored(url: str, area_code: str) -> tuple[int, int]:
    """(lamp fault reports stored, distinct timestamps among them) for the area."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            q = (
                select(func.count(), func.count(func.distinct(DeviceEventRow.ts)))
                .join(Device, Device.id == DeviceEventRow.device_pk)
                .join(Area, Area.id == Device.area_id)
                .where(Area.code == area_code, DeviceEventRow.type == "lamp_fault")
            )
            total, distinct = conn.execute(q).one()
            return int(total), int(distinct)
    finally:
        engine.dispose()


def all_online(hub: ServedHub, api: str, devices: int) -> bool:
    return bool(hub.http.get(f"{api}/devices", params={"online": True}).json()["total"] == devices)


def events_taken(hub: ServedHub) -> int:
    text = hub.http.get("/metrics").text
    found = re.search(r'khu_mqtt_messages_in_total\{channel="event"\} (\d+)', text)
    return int(float(found.group(1))) if found else 0


def lease_holder(url: str, hubs: list[ServedHub]) -> ServedHub:
    """The replica whose process holds the scheduler lease (its holder names the pid)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            holder = conn.execute(select(SchedulerLease.holder)).scalar_one()
    finally:
        engine.dispose()
    pid = holder.split(":")[1]
    return next(hub for hub in hubs if hub.proc is not None and str(hub.proc.pid) == pid)


def publish_faults(link: MqttLink, area: str, lights: list[str], first: int, count: int) -> None:
    """Lamp fault reports, each with its own timestamp, spread over the lights."""
    base = 1_700_000_000_000
    for i in range(first, first + count):
        light = lights[i % len(lights)]
        body = json.dumps({"type": "lamp_fault", "ts": base + i, "fault": None}).encode()
        assert link.publish(Outbound(f"{topics.ROOT}/{area}/{light}/{topics.Channel.EVENT.value}", body))


def test_three_replicas_share_reports_confirm_commands_and_fire_a_schedule_once(
    replicas: list[ServedHub], broker: Broker, area_code: str
) -> None:
    for hub in replicas:
        hub.start()
    first, second, third = replicas
    url = first.env["KHU_DATABASE_URL"]
    fleet, lights = start_fleet(broker, area_code, LIGHTS)
    api = f"/api/v1/areas/{area_code}"
    devices = LIGHTS + 3  # and two cameras and the gateway, as start_fleet lays them out
    for hub in replicas:  # every replica knows every device online, whichever ingested it
        hub.wait(functools.partial(all_online, hub, api, devices), f"devices online on {hub.port}")

    # A command issued on one replica is confirmed by states that others ingested, and a
    # phone on a replica sees every light's new state, whichever replica stored it.
    zone = first.http.get(f"{api}/devices/{lights[0]}").json()["zone_id"]
    auth = {"Authorization": third.http.headers["Authorization"]}
    with open_stream(f"http://127.0.0.1:{third.port}", area_code, headers=auth) as stream:
        for hub, level in ((first, 30), (second, 40), (third, 50)):
            done = hub.http.post(
                f"{api}/commands",
                json={
                    "target": {"zone_id": zone},
                    "action": {"type": "light.set", "on": True, "level": level},
                    "wait_ms": 5000,
                },
            )
            assert done.status_code == 200, done.text
            assert done.json()["summary"] == {"confirmed": LIGHTS}, done.text
        for light in lights:
            stream.find(
                lambda e, light=light: (
                    e.event == "state" and e.data["device_id"] == light and e.data["state"]["level"] == 50
                )
            )

    # A lighting step 15 s ahead; the lease holder is killed before it is due.
    at = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(seconds=15)
    step = {"trigger": "clock", "at": at.strftime("%H:%M:%S"), "on": True, "level": 70}
    made = second.http.post(f"{api}/timetables", json={"name": "tối", "zone_id": zone, "steps": [step]})
    assert made.status_code == 201, made.text

    # Reports mid-stream: the lease holder is killed, and restarted later (as systemd would).
    holder = lease_holder(url, replicas)
    others = [hub for hub in replicas if hub is not holder]
    link = raw_link(broker, "replica-stream")
    said: list[bytes] = []
    watcher = raw_link(
        broker, "hub-status", lambda m: said.append(m.payload), subscriptions=(topics.HUB_STATUS_TOPIC,)
    )
    try:
        publish_faults(link, area_code, lights, 0, REPORTS // 3)
        holder.wait(lambda: events_taken(holder) > 0, "the lease holder's share")
        holder.kill()
        # Its Last Will says the hub is offline; the others say it is not.
        others[0].wait(lambda: b"offline" in said and said[-1] == b"online", "the hub online again")
        publish_faults(link, area_code, lights, REPORTS // 3, REPORTS - REPORTS // 3)
        # The broker keeps the dead replica's share in its session until it comes back.
        others[0].wait(
            lambda: all(events_taken(hub) > 0 for hub in others), "the survivors' shares", timeout=30
        )
        holder.start()
        others[0].wait(lambda: events_stored(url, area_code)[0] >= REPORTS, "every report stored", timeout=60)
        # Its turns while it was dead were kept in its session and came to it on its return.
        assert events_taken(holder) > 0
    finally:
        link.stop()
        watcher.stop()
    assert events_stored(url, area_code) == (REPORTS, REPORTS)  # each once

    # The step fires once, from whichever replica holds the lease now.
    second.wait(lambda: all(fleet.light(x).state.level == 70 for x in lights), "the scheduled step", 40)
    runs = third.http.get(f"{api}/schedule/runs").json()
    items = runs["items"] if isinstance(runs, dict) else runs
    assert [r["outcome"] for r in items] == ["done"]

    # After the kill, commands from any replica are still confirmed.
    order = {"type": "light.set", "on": True, "level": 20}
    body = {"target": {"zone_id": zone}, "action": order, "wait_ms": 5000}
    done = first.http.post(f"{api}/commands", json=body)
    assert done.json()["summary"] == {"confirmed": LIGHTS}, done.text

    stop_one_on_purpose(replicas, holder, broker, area_code, lights)
    fleet.stop()


def stop_one_on_purpose(
    replicas: list[ServedHub], holder: ServedHub, broker: Broker, area_code: str, lights: list[str]
) -> None:
    """A replica stopped on purpose hands its turn to the others at once: no report waits for it."""
    url = holder.env["KHU_DATABASE_URL"]
    leaving = next(hub for hub in replicas if hub is not holder)
    staying = next(hub for hub in replicas if hub is not leaving)
    leaving.stop()
    link = raw_link(broker, "replica-stream-2")
    try:
        publish_faults(link, area_code, lights, REPORTS, 300)
        staying.wait(lambda: events_stored(url, area_code)[0] >= REPORTS + 300, "the reports after a stop")
    finally:
        link.stop()
    assert events_stored(url, area_code) == (REPORTS + 300, REPORTS + 300)


def test_a_camera_outage_alerts_once_though_the_lease_holder_dies_during_its_debounce(
    replicas: list[ServedHub], broker: Broker, area_code: str
) -> None:
    for hub in replicas:
        hub.env["KHU_CAMERA_ALERT_DEBOUNCE_S"] = "6"
        hub.start()
    url = replicas[0].env["KHU_DATABASE_URL"]
    fleet, _ = start_fleet(broker, area_code, LIGHTS)
    api = f"/api/v1/areas/{area_code}"
    for hub in replicas:
        hub.wait(functools.partial(all_online, hub, api, LIGHTS + 3), f"devices online on {hub.port}")
    holder = lease_holder(url, replicas)
    survivor = next(hub for hub in replicas if hub is not holder)

    def camera_alerts() -> list[dict[str, Any]]:
        page = survivor.http.get(f"{api}/notifications", params={"limit": 100}).json()
        return [n for n in page["items"] if n["kind"] == "camera_offline"]

    fleet.device("cam-01").go_offline()
    # The holder opened the incident; it dies before the debounce is over.
    survivor.wait(lambda: len(survivor.http.get(f"{api}/incidents").json()["items"]) == 1, "incident")
    holder.kill()
    survivor.wait(lambda: len(camera_alerts()) == 1, "the alert from the new lease holder", timeout=40)
    [incident] = survivor.http.get(f"{api}/incidents").json()["items"]
    assert incident["alerted"]
    assert incident["cameras"] == 1
    time.sleep(2)
    assert len(camera_alerts()) == 1
    fleet.stop()
