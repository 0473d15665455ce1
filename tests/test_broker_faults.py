"""The hub against a broker that dies, and the broker's memory of the hub while it is away."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from devices import topics
from devices.codec import encode_report
from devices.mqtt_client import MqttLink
from devices.payloads import DeviceInfo, Kind, LightState
from hub.api.app import create_app
from hub.broker.bootstrap import HUB_USERNAME
from hub.broker.process import Broker
from hub.registry.areas import Registration
from hub.runtime import HubRuntime
from hub.storage.migrate import upgrade
from tests.conftest import HubHarness, make_area, make_settings, raw_link
from tests.test_ingest import now_ms

C = topics.Channel


def _device(broker: Broker, name: str) -> MqttLink:
    return raw_link(broker, name)


def _publish_level(link: MqttLink, area: str, level: int) -> None:
    state = LightState(ts=now_ms(), on=True, level=level, power_w=float(level))
    assert link.publish(encode_report(area, "light-a", C.STATE, state.model_dump_json().encode()))


def _level(hub: HubHarness, area: str) -> int | None:
    dev = hub.device(area, "light-a") or {}
    level = (dev.get("state") or {}).get("level")
    return level if isinstance(level, int) else None


def test_hub_reconnects_and_resubscribes_after_broker_crash(
    own_broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str
) -> None:
    hub = hub_factory(own_broker)
    make_area(hub, area_code, [Registration("light-a", Kind.LIGHT, "A")])
    dev = _device(own_broker, f"dev-{area_code}")
    _publish_level(dev, area_code, 10)
    hub.wait(lambda: _level(hub, area_code) == 10, what="state before the crash")

    own_broker.kill()
    hub.wait(lambda: not hub.runtime.link.connected, what="hub notices the broker is gone")
    assert hub.http.get("/readyz").status_code == 503
    own_broker.start()

    hub.wait(lambda: hub.runtime.link.connects >= 2, timeout=20, what="hub reconnected")
    assert dev.wait_connected(20)
    _publish_level(dev, area_code, 55)
    hub.wait(lambda: _level(hub, area_code) == 55, what="state after the restart (resubscribed)")
    assert hub.http.get("/readyz").status_code == 200
    dev.stop()


def test_reports_sent_while_hub_is_down_are_delivered_when_it_returns(
    broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str
) -> None:
    first = hub_factory(broker)
    make_area(first, area_code, [Registration("light-a", Kind.LIGHT, "A")])
    client_id = first.settings.mqtt_client_id
    first.runtime.stop()

    dev = _device(broker, f"dev-{area_code}")
    info = DeviceInfo(kind=Kind.LIGHT, model="LED", firmware="2.0")
    dev.publish(encode_report(area_code, "light-a", C.INFO, info.model_dump_json().encode()))
    _publish_level(dev, area_code, 33)

    # Same client id and database: the broker kept the persistent session's queue.
    second = hub_factory(broker, mqtt_client_id=client_id)
    second.wait(lambda: _level(second, area_code) == 33, what="report queued while the hub was down")
    dev.stop()


def test_hub_started_before_the_broker_connects_when_it_comes_up(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "late-broker")  # port chosen, process not started yet
    settings = make_settings(tmp_path, broker, mqtt_client_id=HUB_USERNAME)
    upgrade(settings.db_url)
    runtime = HubRuntime(settings)
    http = TestClient(create_app(settings, runtime))
    runtime.start()
    try:
        time.sleep(0.5)
        assert not runtime.link.connected
        assert http.get("/readyz").status_code == 503
        assert http.get("/healthz").status_code == 200
        broker.start()
        deadline = time.monotonic() + 15
        while not runtime.link.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runtime.link.connected
        assert http.get("/readyz").status_code == 200
    finally:
        runtime.stop()
        broker.stop()
