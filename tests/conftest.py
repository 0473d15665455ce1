"""Fixtures that start real parts: a Mosquitto from the repo's config, a SQLite file database."""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from devices.mqtt_client import Credentials, LinkConfig, MqttLink, Received
from devices.payloads import Kind
from devices.sim import DeviceSpec, SimFleet, SimTimings, demo_layout
from hub.api.app import create_app
from hub.auth.accounts import create_user
from hub.broker.acls import tool_acls
from hub.broker.process import Broker
from hub.models import Area, Role
from hub.registry.areas import Registration, create_area, preregister
from hub.runtime import HubRuntime
from hub.settings import Settings
from hub.simulated.demo import simulator_accounts
from hub.storage.migrate import upgrade
from tests.web_helpers import LiveServer

_area_seq = itertools.count(1)
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def tool_account(
    broker: Broker, filters: tuple[str, ...] = ("khu/v1/#", "khu-sim/#"), client_id: str | None = None
) -> Credentials:
    """A test's own broker account that may read and write ``filters`` (default: everything).

    The broker binds it to the client id ``client_id``, which is also its username.
    """
    name = client_id or f"tester-{next(_area_seq)}-{os.getpid()}"
    with broker.admin() as accounts:
        return accounts.provision_tool(name, tool_acls(filters))


def raw_link(
    broker: Broker,
    name: str,
    on_message: Callable[[Received], None] | None = None,
    filters: tuple[str, ...] = ("khu/v1/#", "khu-sim/#"),
    **config: Any,
) -> MqttLink:
    """A connected bare MQTT link with a tool account of its own, free on ``filters``."""
    creds = tool_account(broker, filters, client_id=f"{name}-{next(_area_seq)}-{os.getpid()}")
    link = MqttLink(
        LinkConfig(
            "127.0.0.1",
            broker.port,
            creds.username,
            creds.username,
            creds.password,
            persistent=False,
            **config,
        ),
        on_message=on_message,
    )
    link.start()
    assert link.wait_subscribed(5), f"{name} could not connect and subscribe"
    return link


def sim_accounts(
    broker: Broker, area: str, specs: list[DeviceSpec], connections: int = 1, dedicated: bool = False
) -> dict[str, Any]:
    """``SimFleet`` keyword arguments with a broker account for each of its connections."""
    with broker.admin() as accounts:
        conns, control = simulator_accounts(accounts, area, specs, connections, dedicated)
    return {"credentials": conns, "control_credentials": control}


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

    def wait(self, predicate: Callable[[], bool], timeout: float = 10, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def wait_scheduling(self) -> None:
        """Until this hub holds the scheduler lease and runs schedules."""
        self.wait(lambda: self.runtime.schedules.active, what="scheduler active")

    def device(self, area: str, device_id: str) -> dict[str, Any] | None:
        r = self.http.get(f"/api/v1/areas/{area}/devices/{device_id}")
        return r.json() if r.status_code == 200 else None

    def rejections(self) -> dict[str, float]:
        return self.runtime.metrics.rejections()

    def add_user(self, username: str, role: Role, area_code: str | None = None) -> str:
        """Create a user directly in the database; returns the password."""
        password = f"{username}-Passw0rd!"
        with self.runtime.sessions.begin() as session:
            area_id = session.scalar(select(Area.id).where(Area.code == area_code)) if area_code else None
            create_user(session, username, password, role, area_id)
        return password

    def client_for(self, username: str, password: str) -> TestClient:
        """An HTTP client logged in as ``username`` with a bearer token."""
        client = TestClient(self.http.app)
        r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert r.status_code == 200, r.text
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        return client


def make_settings(tmp: Path, broker: Broker, **overrides: Any) -> Settings:
    # Each test hub has an account of its own, bound to its client id (the running broker
    # makes it; "khu-hub", the broker's first account, needs no running broker).
    client_id = overrides.get("mqtt_client_id") or f"khu-hub-test-{next(_area_seq)}-{os.getpid()}"
    account = broker.hub_account(client_id)
    values: dict[str, Any] = {
        "state_dir": tmp,
        "mqtt_port": broker.port,
        "mqtt_username": account.username,
        "mqtt_password": account.password,
        "mqtt_client_id": client_id,
        # Quick lease renewals so schedule edits apply and a standby takes over in tests' time.
        "scheduler_renew_s": 0.2,
        "scheduler_lease_s": 1.5,
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
        admin = f"admin{next(_area_seq)}"
        harness.http = harness.client_for(admin, harness.add_user(admin, Role.ADMIN))
        return harness

    yield start
    for h in started:
        h.runtime.stop()


@pytest.fixture
def hub(broker: Broker, hub_factory: Callable[..., HubHarness]) -> HubHarness:
    return hub_factory(broker)


@pytest.fixture
def device_link(broker: Broker) -> Iterator[MqttLink]:
    """A bare MQTT connection that plays a device publishing raw bytes (may write any topic)."""
    link = raw_link(broker, "raw")
    yield link
    link.stop()


@contextmanager
def statements(h: HubHarness) -> Iterator[list[str]]:
    """The SQL the hub's engine runs meanwhile (from any thread)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql)

    event.listen(h.runtime.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(h.runtime.engine, "before_cursor_execute", note)


def make_area(h: HubHarness, code: str, registrations: list[Registration] | None = None) -> None:
    with h.runtime.sessions.begin() as session:
        area = create_area(session, code, f"Khu {code}", 21.0285, 105.8542, "Asia/Ho_Chi_Minh")
        if registrations:
            preregister(session, area, registrations)


@dataclass
class SimArea:
    hub: HubHarness
    code: str
    fleet: SimFleet
    specs: list[DeviceSpec]

    def zone_id(self, name: str) -> int:
        zones = self.hub.http.get(f"/api/v1/areas/{self.code}").json()["zones"]
        return int(next(z["id"] for z in zones if z["name"] == name))


FAST = SimTimings(action_delay_s=0.02, play_duration_s=0.5, heartbeat_s=0.5, motion_per_hour=0.0)


@pytest.fixture
def sim_area_factory(broker: Broker, hub: HubHarness, area_code: str) -> Iterator[Callable[..., SimArea]]:
    """Register a simulated area in the hub, start its fleet and wait until the hub sees it online."""
    fleets: list[SimFleet] = []
    own_code = area_code

    def start(
        lights: int = 6,
        streets: int = 2,
        speakers: int = 2,
        speaker_zones: int = 1,
        cameras: int = 2,
        connections: int = 1,
        dedicated: bool = False,
        timings: SimTimings = FAST,
        code: str | None = None,
    ) -> SimArea:
        """``code``: another area than the test's own (several areas on one hub)."""
        area_code = code or own_code
        specs = demo_layout(
            area_code,
            lights=lights,
            streets=streets,
            speakers=speakers,
            speaker_zones=speaker_zones,
            cameras=cameras,
        )
        regs = [Registration(s.device_id, s.kind, s.name, s.zone) for s in specs]
        if not dedicated:
            regs += [Registration(f"gw-{i + 1}", Kind.GATEWAY, f"gw {i + 1}") for i in range(connections)]
        make_area(hub, area_code, regs)
        accounts, control = simulator_accounts(hub.runtime.accounts, area_code, specs, connections, dedicated)
        fleet = SimFleet(
            "127.0.0.1",
            broker.port,
            area_code,
            specs,
            connections=connections,
            dedicated=dedicated,
            timings=timings,
            credentials=accounts,
            control_credentials=control,
        )
        fleets.append(fleet)
        fleet.start()
        assert fleet.wait_online(10)

        def all_online() -> bool:
            page = hub.http.get(f"/api/v1/areas/{area_code}/devices", params={"online": "true", "limit": 1})
            return bool(page.json()["total"] == len(regs))

        hub.wait(all_online, what="every simulated device online in the hub")
        return SimArea(hub, area_code, fleet, specs)

    yield start
    for f in fleets:
        f.stop()


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run the app under uvicorn in a thread on a free port; yields its base URL."""
    server = LiveServer(app)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def pg_database() -> Iterator[Callable[[], str]]:
    """Makes fresh databases on the machine's PostgreSQL (trust auth), dropped afterwards;
    the test is skipped when there is no server."""
    names: list[str] = []
    try:
        psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({exc})")

    def make() -> str:
        name = f"khu_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    yield make
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
