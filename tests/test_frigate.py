"""A Frigate NVR with three cameras (emulated from Frigate's documentation) on the real broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devices.emulators.frigate import VERSION, FrigateEmulator, snapshot
from devices.messages import Outbound
from hub.broker.process import Broker
from tests.conftest import HubHarness, make_area, raw_link
from tests.protocol_helpers import device as _dev
from tests.protocol_helpers import register

DEBOUNCE_S = 1.0
CAMERAS = {"cong-chinh": "Cổng chính", "cong-sau": "Cổng sau", "bai-xe": "Bãi xe"}


@pytest.fixture
def frigates() -> Iterator[list[FrigateEmulator]]:
    started: list[FrigateEmulator] = []
    yield started
    for f in started:
        f.stop()


def _frigate(
    broker: Broker, hub: HubHarness, area: str, frigate_id: str, started: list[FrigateEmulator]
) -> tuple[FrigateEmulator, dict[str, Any]]:
    mqtt = register(hub, area, frigate_id, "gateway", "frigate")
    emu = FrigateEmulator(
        area,
        frigate_id,
        "127.0.0.1",
        broker.port,
        mqtt["username"],
        mqtt["password"],
        list(CAMERAS),
        stats_interval_s=0.5,
        first_stats_s=0.2,
    )
    emu.start()
    started.append(emu)
    return emu, mqtt


def _online(hub: HubHarness, area: str, *ids: str) -> list[bool | None]:
    return [_dev(hub, area, i).get("online") for i in ids]


def _events(hub: HubHarness, area: str, camera: str) -> list[dict[str, Any]]:
    page = hub.http.get(f"/api/v1/areas/{area}/devices/{camera}/events", params={"limit": 50}).json()
    return list(reversed(page["items"]))  # oldest first


def _alerts(hub: HubHarness, area: str, kind: str) -> list[dict[str, Any]]:
    page = hub.http.get(f"/api/v1/areas/{area}/notifications", params={"limit": 500}).json()
    return [n for n in page["items"] if n["kind"] == kind]


def _a_person_at_the_entrance(hub: HubHarness, area_code: str, emu: FrigateEmulator) -> None:
    """A detection (a person, with its score) and its snapshot, which reaches the app."""
    jpeg = emu.detect("cong-chinh", "person", 0.91)
    url = f"/api/v1/areas/{area_code}/cameras/cong-chinh/snapshot"
    hub.wait(lambda: hub.http.get(url).status_code == 200, what="the snapshot stored")
    r = hub.http.get(url)
    assert r.content == jpeg
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["x-snapshot-label"] == "person"
    assert hub.http.get(url, headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    [listed] = hub.http.get(f"/api/v1/areas/{area_code}/cameras/snapshots").json()
    assert (listed["device_id"], listed["label"]) == ("cong-chinh", "person")
    assert hub.http.get(f"/api/v1/areas/{area_code}/cameras/cong-sau/snapshot").status_code == 404
    emu.detection_ends("cong-chinh")
    hub.wait(lambda: len(_events(hub, area_code, "cong-chinh")) == 5, what="detection start and end")
    start, end = _events(hub, area_code, "cong-chinh")[3:]
    assert (start["type"], start["data"]["label"], start["data"]["active"]) == ("detection", "person", True)
    assert start["data"]["score"] == 0.91
    assert (end["type"], end["data"]["active"], end["data"]["score"]) == ("detection", False, 0.91)


def test_a_frigate_announces_its_cameras_reports_their_health_motion_snapshots_and_its_will(
    broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str, frigates: list[FrigateEmulator]
) -> None:
    hub = hub_factory(broker, camera_alert_debounce_s=DEBOUNCE_S)
    make_area(hub, area_code)
    emu, mqtt = _frigate(broker, hub, area_code, "nvr-1", frigates)
    # What the head pastes in Frigate's config.yml: its mqtt block, with the area's prefix.
    setup = mqtt["setup"]
    assert setup[0] == "mqtt:"
    assert f"  topic_prefix: frigate/{area_code}/nvr-1" in setup
    assert f'  user: "{mqtt["username"]}"' in setup
    assert f'  client_id: "{mqtt["username"]}"' in setup
    assert f'  password: "{mqtt["password"]}"' in setup

    assert emu.link.wait_subscribed(5), "Frigate reads its whole prefix (its .../set topics)"
    # ``available`` online makes the gateway online; its first stats announce the cameras.
    hub.wait(lambda: _dev(hub, area_code, "nvr-1").get("online") is True, what="available online")
    hub.wait(
        lambda: all(_dev(hub, area_code, c).get("status") == "pending" for c in CAMERAS),
        what="three cameras pending",
    )
    gateway = _dev(hub, area_code, "nvr-1")
    assert (gateway["model"], gateway["firmware"]) == ("Frigate", VERSION)
    cam = _dev(hub, area_code, "cong-chinh")
    assert (cam["kind"], cam["model"], cam["firmware"], cam["via"]) == (
        "camera",
        "Frigate camera",
        VERSION,
        "nvr-1",
    )
    for device_id, name in CAMERAS.items():
        r = hub.http.post(f"/api/v1/areas/{area_code}/devices/{device_id}/accept", json={"name": name})
        assert r.status_code == 200, r.text
    hub.wait(lambda: _online(hub, area_code, *CAMERAS) == [True] * 3, what="three cameras online")

    # Motion ON/OFF; Frigate's own OFF on connecting was no event.
    emu.motion("cong-chinh", True)
    emu.motion("cong-chinh", False)
    hub.wait(lambda: len(_events(hub, area_code, "cong-chinh")) == 2, what="motion on and off")
    assert [e["data"]["active"] for e in _events(hub, area_code, "cong-chinh")] == [True, False]

    _a_person_at_the_entrance(hub, area_code, emu)

    # The back gate's stream dies: camera_fps 0 in the stats; the head is alerted after the debounce.
    emu.camera_down("cong-sau")
    hub.wait(lambda: _online(hub, area_code, "cong-sau") == [False], what="cong-sau offline")
    hub.wait(lambda: len(_alerts(hub, area_code, "camera_offline")) == 1, timeout=DEBOUNCE_S + 5)
    [alert] = _alerts(hub, area_code, "camera_offline")
    assert alert["title"] == "Camera Cổng sau mất kết nối"
    assert "cong-sau" in alert["body"]
    assert alert["audience"] == "staff"
    assert _online(hub, area_code, "cong-chinh", "bai-xe") == [True, True]

    # Frigate's box loses power: its Will takes every camera down with it.
    emu.power_cut()
    hub.wait(lambda: _online(hub, area_code, "nvr-1", *CAMERAS) == [False] * 4, what="the Will")
    # Back: its stats report each camera again, the dead one still dead.
    emu.power_back()
    hub.wait(
        lambda: _online(hub, area_code, "nvr-1", *CAMERAS) == [True, True, False, True],
        what="the Frigate and two cameras back",
    )
    emu.camera_up("cong-sau")
    hub.wait(lambda: _online(hub, area_code, "cong-sau") == [True], what="cong-sau back")


def test_frigate_garbage_is_counted_and_the_hub_carries_on(
    broker: Broker, hub: HubHarness, area_code: str, frigates: list[FrigateEmulator]
) -> None:
    make_area(hub, area_code)
    emu, _ = _frigate(broker, hub, area_code, "nvr-2", frigates)
    hub.wait(lambda: all(_dev(hub, area_code, c).get("status") == "pending" for c in CAMERAS))
    base = f"frigate/{area_code}/nvr-2"
    garbage = [
        (f"{base}/stats", b'{"cameras": {"cong-chinh": '),  # cut short
        (
            f"{base}/stats",
            b'{"cameras": {"cong-chinh": {"camera_fps": "fast"}}, "service": {"version": "1"}}',
        ),
        (f"{base}/cong-chinh/person/snapshot", b"GIF89a" + b"\x00" * 100),  # not a JPEG
        (f"{base}/cong-chinh/person/snapshot", snapshot("x" * 10) + b"\x00" * 50_000),  # over 48 KiB
        (f"{base}/Cổng Chính/motion", b"ON"),  # not a valid id
        (f"{base}/events", b'{"type": "new", "after": {"camera": "Cong Chinh", "label": "person"}}'),
        (f"{base}/available", b"sleeping"),
        (f"{base}/cong-chinh/motion", b"MAYBE"),
    ]
    before = hub.rejections()
    probe = raw_link(broker, "frigate-garbage", filters=("frigate/#",))
    try:
        receipts = [probe.publish_with_receipt(Outbound(topic, body, qos=1)) for topic, body in garbage]
        hub.wait(lambda: all(r is not None and r.done() for r in receipts), what="the garbage published")
    finally:
        probe.stop()

    def counted() -> bool:
        return sum(hub.rejections().values()) - sum(before.values()) >= len(garbage)

    hub.wait(counted, what=f"{len(garbage)} rejections, {before} -> {hub.rejections()}")
    after = hub.rejections()
    for reason in ("malformed_json", "invalid", "oversized", "bad_topic"):
        assert after.get(reason, 0) > before.get(reason, 0), reason
    # The hub carries on: Frigate's next messages still count.
    assert _dev(hub, area_code, "nvr-2")["online"] is True
    emu.camera_down("bai-xe")
    hub.wait(lambda: _online(hub, area_code, "bai-xe") == [False], what="stats still read")
    assert hub.http.get(f"/api/v1/areas/{area_code}/cameras/cong-chinh/snapshot").status_code == 404
