"""Real processes SIGKILLed mid-work: the broker during a command stream, the hub (``khu serve``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from devices.payloads import Kind
from devices.sim import SimFleet, demo_layout
from hub.auth.accounts import create_user
from hub.broker.bootstrap import write_credentials
from hub.broker.process import Broker, free_port
from hub.db import make_engine, make_sessionmaker
from hub.models import Role
from hub.registry.areas import Registration, create_area, preregister
from hub.storage.migrate import upgrade
from tests.conftest import FAST, HubHarness, make_area, sim_accounts

ROOT = Path(__file__).resolve().parent.parent
ADMIN_PASSWORD = "admin-Passw0rd!"


def light_order(device: str, level: int) -> dict[str, Any]:
    return {
        "target": {"device_id": device},
        "action": {"type": "light.set", "on": True, "level": level},
        "wait_ms": 0,
    }


def start_fleet(broker: Broker, area: str, lights: int) -> tuple[SimFleet, list[str]]:
    specs = demo_layout(area, lights=lights, streets=1, speakers=0, speaker_zones=1, cameras=2)
    fleet = SimFleet("127.0.0.1", broker.port, area, specs, timings=FAST, **sim_accounts(broker, area, specs))
    fleet.start()
    assert fleet.wait_online(10)
    return fleet, [s.device_id for s in specs if s.kind is Kind.LIGHT]


def registrations(area: str, lights: int) -> list[Registration]:
    specs = demo_layout(area, lights=lights, streets=1, speakers=0, speaker_zones=1, cameras=2)
    return [Registration(s.device_id, s.kind, s.name, s.zone) for s in specs] + [
        Registration("gw-1", Kind.GATEWAY, "gw 1")
    ]


def test_broker_killed_during_a_command_stream_loses_no_accepted_command(
    own_broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str
) -> None:
    hub = hub_factory(own_broker)
    make_area(hub, area_code, registrations(area_code, 6))
    fleet, lights = start_fleet(own_broker, area_code, 6)
    url = f"/api/v1/areas/{area_code}/commands"
    hub.wait(
        lambda: (
            hub.http.get(f"/api/v1/areas/{area_code}/devices", params={"online": True}).json()["total"] == 9
        )
    )

    accepted: list[tuple[str, str, int]] = []  # command id, light, level
    refused: list[str] = []

    def stream() -> None:
        for i in range(120):
            light, level = lights[i % len(lights)], 1 + i % 100
            r = hub.http.post(url, json=light_order(light, level))
            if r.status_code == 200:
                accepted.append((r.json()["results"][0]["command_id"], light, level))
            else:
                refused.append(f"{r.status_code} {r.text}")
            time.sleep(0.04)

    sender = threading.Thread(target=stream)
    sender.start()
    time.sleep(0.8)
    own_broker.kill()  # SIGKILL: no goodbye, no last save
    # The gateway comes back later than the hub (its reconnect backs off): commands the hub
    # sends in between reach a broker with no session for it, and are dropped there.
    fleet.abort_gateway(0)
    time.sleep(1.0)
    own_broker.start()
    hub.wait(lambda: hub.runtime.link.connected, timeout=20, what="hub reconnected")
    time.sleep(1.0)
    fleet.restart_gateway(0)
    sender.join(60)
    assert refused == []  # the hub took every order while the broker was away

    def statuses() -> dict[str, str]:
        rows = hub.http.get(url, params={"limit": 200}).json()["items"]
        return {r["id"]: r["status"] for r in rows}

    # Each command the broker lost is sent again when its light returns, unless a later
    # command to that light was confirmed first (sending the old one would undo it).
    last_id = {light: cid for cid, light, _ in accepted}

    def settled() -> bool:
        st = statuses()
        ok = {"confirmed", "superseded"}
        return all(st.get(c) == "confirmed" or (c != last_id[x] and st.get(c) in ok) for c, x, _ in accepted)

    hub.wait(settled, timeout=45, what="every accepted command confirmed (or superseded) after the restart")
    assert all(statuses()[cid] == "confirmed" for cid in last_id.values())
    last = {light: level for _, light, level in accepted}
    for light, level in last.items():
        assert fleet.light(light).state.level == level, light
        hub.wait(
            lambda light=light, level=level: (
                (hub.device(area_code, light) or {}).get("state", {}).get("level") == level
            ),
            what=f"the hub's state of {light}",
        )
    fleet.stop()


class ServedHub:
    """``khu serve`` as deployed, in its own process, that a test may SIGKILL."""

    def __init__(self, state_dir: Path, broker: Broker, **settings: str) -> None:
        self.port = free_port()
        client_id = f"khu-served-{os.getpid()}-{self.port}"
        # Its own broker account, bound to its client id, as a second hub process gets one.
        state_dir.mkdir(parents=True, exist_ok=True)
        account = write_credentials(state_dir / "mqtt-account.json", broker.hub_account(client_id))
        env = {k: v for k, v in os.environ.items() if not k.startswith("KHU_")}
        env.update(
            KHU_STATE_DIR=str(state_dir),
            KHU_HTTP_PORT=str(self.port),
            KHU_MQTT_PORT=str(broker.port),
            KHU_MQTT_PASSWORD_FILE=str(account),
            KHU_MQTT_CLIENT_ID=client_id,
            KHU_SECRET_KEY="process-faults-" + "k" * 32,
            KHU_SCHEDULER_LEASE_S="2",
            KHU_SCHEDULER_RENEW_S="0.5",
            KHU_LOG_LEVEL="WARNING",
        )
        env.update(settings)
        self.env = env
        self.log = state_dir / "hub.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "serve"], cwd=ROOT, env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if self.http.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError(f"khu serve not ready in 30 s: {self.log.read_text()[-2000:]}")
        token = self.http.post("/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
        assert token.status_code == 200, token.text
        self.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.http.close()

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)


@pytest.fixture
def served(tmp_path: Path, broker: Broker, area_code: str) -> Iterator[ServedHub]:
    """A migrated database with an admin and an area of 3 lights, and a ``khu serve`` for it."""
    state = tmp_path / "hub"
    state.mkdir()
    url = f"sqlite:///{state / 'khu.db'}"
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        create_user(session, "admin", ADMIN_PASSWORD, Role.ADMIN)
        area = create_area(session, area_code, "Khu", 21.0285, 105.8542, "Asia/Ho_Chi_Minh")
        preregister(session, area, registrations(area_code, 3))
    engine.dispose()
    hub = ServedHub(state, broker)
    yield hub
    hub.stop()


def test_hub_killed_and_restarted_keeps_schedules_pending_commands_and_log(
    served: ServedHub, broker: Broker, area_code: str
) -> None:
    served.start()
    fleet, lights = start_fleet(broker, area_code, 3)
    api = f"/api/v1/areas/{area_code}"
    served.wait(
        lambda: served.http.get(f"{api}/devices", params={"online": True}).json()["total"] == 6, "online"
    )
    first, _, third = lights

    zone = served.http.get(f"{api}/devices/{first}").json()["zone_id"]
    done = served.http.post(
        f"{api}/commands", json={**light_order(first, 30), "target": {"zone_id": zone}, "wait_ms": 3000}
    )
    assert done.status_code == 200, done.text
    assert done.json()["summary"] == {"confirmed": 3}, done.text
    fleet.device(third).go_offline()
    served.wait(
        lambda: served.http.get(f"{api}/devices/{third}").json()["online"] is False, "light 3 offline"
    )
    waiting = served.http.post(f"{api}/commands", json=light_order(third, 90)).json()["results"][0]
    assert waiting["status"] == "queued"
    at = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(seconds=20)
    step = {"trigger": "clock", "at": at.strftime("%H:%M:%S"), "on": True, "level": 60}
    timetable = served.http.post(f"{api}/timetables", json={"name": "tối", "zone_id": zone, "steps": [step]})
    assert timetable.status_code == 201, timetable.text

    served.kill()
    fleet.light(first).power_cut()  # the luminaire forgot its dim level while the hub was dead
    fleet.light(first).report_state()  # held for the hub by its persistent session
    assert fleet.light(first).state.level == 100
    served.start()

    # Lights re-applied: the desired state (the zone order) is put back on the light that lost it.
    served.wait(lambda: fleet.light(first).state.level == 30, "light 1 back at its desired level")
    # The pending command survived: light 3 gets it when it returns.
    fleet.device(third).come_back()
    served.wait(
        lambda: fleet.light(third).state.level == 90, "the queued command delivered after the restart"
    )
    log = {
        c["id"]: c["status"] for c in served.http.get(f"{api}/commands", params={"limit": 50}).json()["items"]
    }
    assert log[waiting["command_id"]] == "confirmed"
    assert [log[r["command_id"]] for r in done.json()["results"]] == [
        "confirmed"
    ] * 3  # the command log survived
    # The schedule survived: its step fires at its time, from the restarted process.
    tables = served.http.get(f"{api}/timetables").json()
    assert [t["id"] for t in (tables["items"] if isinstance(tables, dict) else tables)] == [
        timetable.json()["id"]
    ]
    served.wait(
        lambda: all(fleet.light(x).state.level == 60 for x in lights),
        "the scheduled step after the restart",
        40,
    )
    runs = served.http.get(f"{api}/schedule/runs").json()
    items = runs["items"] if isinstance(runs, dict) else runs
    assert [r["outcome"] for r in items] == ["done"]
    fleet.stop()
