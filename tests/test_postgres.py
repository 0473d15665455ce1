"""The hub on PostgreSQL (the machine's server on 127.0.0.1:5432, trust auth), not only SQLite."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devices import topics
from devices.codec import encode_report
from devices.mqtt_client import MqttLink
from devices.payloads import DeviceInfo, Kind, MotionEvent
from hub.broker.process import Broker
from hub.registry.areas import Registration
from tests.conftest import HubHarness, make_area
from tests.test_ingest import light_info, light_state, now_ms

C = topics.Channel


@pytest.fixture
def pg_url(pg_database: Callable[[], str]) -> str:
    return pg_database()


def test_ingest_and_api_on_postgres(
    pg_url: str, broker: Broker, hub_factory: Callable[..., HubHarness], device_link: MqttLink, area_code: str
) -> None:
    hub = hub_factory(broker, database_url=pg_url)
    make_area(hub, area_code)
    cam = DeviceInfo(kind=Kind.CAMERA, model="IPC", firmware="5.1").model_dump_json().encode()
    for device, body in (("light-1", light_info()), ("cam-1", cam)):
        device_link.publish(encode_report(area_code, device, C.INFO, body))
        device_link.publish(encode_report(area_code, device, C.STATUS, b"online"))
    ts = now_ms()
    device_link.publish(encode_report(area_code, "light-1", C.STATE, light_state(25, ts)))
    motion = MotionEvent(ts=ts, active=True).model_dump_json().encode()
    for _ in range(2):  # the replay must be ignored by the unique constraint, not crash the batch
        device_link.publish(encode_report(area_code, "cam-1", C.EVENT, motion))
    hub.wait(
        lambda: ((hub.device(area_code, "light-1") or {}).get("state") or {}).get("level") == 25,
        what="state stored in PostgreSQL",
    )
    hub.wait(
        lambda: hub.http.get(f"/api/v1/areas/{area_code}/devices/cam-1/events").json()["total"] == 1,
        what="event stored once",
    )
    listed = hub.http.get(f"/api/v1/areas/{area_code}/devices", params={"status": "pending"}).json()
    assert {d["device_id"] for d in listed["items"]} == {"light-1", "cam-1"}
    assert hub.http.get("/readyz").json()["checks"] == {
        "broker": True,
        "database": True,
        "state_dir_writable": True,  # audio and keys still live in the state dir
        "audio_writable": True,
    }


def test_a_registered_device_announcing_itself_on_postgres(
    pg_url: str, broker: Broker, hub_factory: Callable[..., HubHarness], device_link: MqttLink, area_code: str
) -> None:
    # A camera has no rated power: a batch whose every row leaves rated_w NULL made PostgreSQL
    # type that column as text and refuse the update (the ingest writer retried for ever).
    hub = hub_factory(broker, database_url=pg_url)
    make_area(hub, area_code, [Registration("cam-1", Kind.CAMERA, "Cổng")])
    cam = DeviceInfo(kind=Kind.CAMERA, model="IPC", firmware="5.1").model_dump_json().encode()
    device_link.publish(encode_report(area_code, "cam-1", C.INFO, cam))
    device_link.publish(encode_report(area_code, "cam-1", C.STATUS, b"online"))
    hub.wait(lambda: (hub.device(area_code, "cam-1") or {}).get("online") is True, what="camera online")
    assert (hub.device(area_code, "cam-1") or {}).get("model") == "IPC"
