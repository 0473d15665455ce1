"""Fixtures that start real parts: a Mosquitto from the repo's config, a SQLite file database."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devices.mqtt_client import LinkConfig, MqttLink
from hub.api.app import create_app
from hub.areas import Registration, create_area, preregister
from hub.broker import Broker
from hub.migrate import upgrade
from hub.runtime import HubRuntime
from hub.settings import Settings

_area_seq = itertools.count(1)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One broker shared by the session; tests isolate themselves with unique area codes."""
    b = Broker(tmp_path_factory.mktemp("broker"))
    b.start()
    yield b
    b.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker this test alone may kill and restart."""
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.kill()


@pytest.fixture
def area_code() -> str:
    """A unique area code, so tests sharing a broker never see each other's topics."""
    return f"t{next(_area_seq)}-{os.getpid()}"


@dataclass
class HubHarness:
    """A running hub (runtime + HTTP client) on a real broker and a SQLite file."""

    settings: Settings
    runtime: HubRuntime
    http: TestClient

    def wait(
        self, predicate: Callable[[], bool], timeout: float = 10, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def device(self, area: str, device_id: str) -> dict[str, Any] | None:
        r = self.http.get(f"/api/v1/areas/{area}/devices/{device_id}")
        return r.json() if r.status_code == 200 else None

    def rejections(self) -> dict[str, float]:
        return self.runtime.metrics.rejections()


def make_settings(tmp: Path, broker: Broker, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "state_dir": tmp,
        "mqtt_port": broker.port,
        "mqtt_client_id": f"khu-hub-test-{next(_area_seq)}-{os.getpid()}",
    }
    return Settings(**(values | overrides))


@pytest.fixture
def hub_factory(tmp_path: Path) -> Iterator[Callable[..., HubHarness]]:
    """Start hubs on a given broker; all are stopped at the end of the test."""
    started: list[HubHarness] = []

    def start(broker: Broker, **overrides: Any) -> HubHarness:
        settings = make_settings(tmp_path, broker, **overrides)
        upgrade(settings.db_url)
        runtime = HubRuntime(settings)
        http = TestClient(create_app(settings, runtime))
        runtime.start()
        harness = HubHarness(settings, runtime, http)
        started.append(harness)
        harness.wait(lambda: runtime.link.connected, what="hub connected to broker")
        return harness

    yield start
    for h in started:
        h.runtime.stop()


@pytest.fixture
def hub(broker: Broker, hub_factory: Callable[..., HubHarness]) -> HubHarness:
    return hub_factory(broker)


@pytest.fixture
def device_link(broker: Broker) -> Iterator[MqttLink]:
    """A bare MQTT connection that plays a device publishing raw bytes."""
    link = MqttLink(
        LinkConfig(
            "127.0.0.1", broker.port, f"raw-{next(_area_seq)}-{os.getpid()}", persistent=False
        )
    )
    link.start()
    assert link.wait_connected(5)
    yield link
    link.stop()


def make_area(h: HubHarness, code: str, registrations: list[Registration] | None = None) -> None:
    with h.runtime.sessions.begin() as session:
        area = create_area(session, code, f"Khu {code}", 21.0285, 105.8542, "Asia/Ho_Chi_Minh")
        if registrations:
            preregister(session, area, registrations)
