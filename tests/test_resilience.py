"""Faults the hub must survive: a busy database, full disks and big uploads, flapping devices."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.wav import silent_wav
from devices import topics
from devices.codec import encode_report
from devices.mqtt_client import MqttLink
from devices.payloads import Kind
from hub.broker.process import Broker
from hub.registry.areas import Registration
from tests.conftest import FAST, HubHarness, SimArea, make_area
from tests.test_ingest import light_info, light_state, now_ms

C = topics.Channel


def _hold_write_lock(db: Path, seconds: float, locked: threading.Event) -> None:
    """Another process-like writer that keeps the SQLite database locked."""
    conn = sqlite3.connect(db, timeout=1)
    conn.execute("BEGIN EXCLUSIVE")
    locked.set()
    time.sleep(seconds)
    conn.rollback()
    conn.close()


def test_busy_database_gives_503_and_ingest_recovers_without_loss(
    broker: Broker, hub_factory: Callable[..., HubHarness], device_link: MqttLink, area_code: str
) -> None:
    hub = hub_factory(broker, db_busy_timeout_s=0.3)
    make_area(hub, area_code, [Registration("light-a", _kind(), "A")])
    device_link.publish(encode_report(area_code, "light-a", C.INFO, light_info()))
    locked = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(hub.settings.state_dir / "khu.db", 2.0, locked))
    holder.start()
    assert locked.wait(5)
    ts = now_ms()
    for level in range(1, 21):  # reports arrive while the database refuses writes
        device_link.publish(encode_report(area_code, "light-a", C.STATE, light_state(level, ts + level)))
    refused = hub.http.post(f"/api/v1/areas/{area_code}/zones", json={"name": "Ngõ 1"})
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "2"
    assert "try again" in refused.json()["detail"]
    assert hub.http.get("/healthz").status_code == 200
    holder.join()
    hub.wait(
        lambda: ((hub.device(area_code, "light-a") or {}).get("state") or {}).get("level") == 20,
        what="every report buffered during the outage applied",
    )
    assert hub.http.post(f"/api/v1/areas/{area_code}/zones", json={"name": "Ngõ 1"}).status_code == 201
    errors = hub.runtime.metrics.registry.get_sample_value("khu_ingest_db_errors_total") or 0
    assert errors >= 1


def _kind() -> Kind:
    return Kind.LIGHT


def test_audio_limits_refuse_clearly_and_leave_nothing_half_written(
    broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str
) -> None:
    hub = hub_factory(broker, audio_max_bytes=50_000, audio_min_free_mb=10**9)
    make_area(hub, area_code)
    url = f"/api/v1/areas/{area_code}/audio"
    big = hub.http.post(url, files={"file": ("big.wav", b"RIFF" + b"\0" * 60_000, "audio/wav")})
    assert big.status_code == 413
    assert "at most 50000 bytes" in big.json()["detail"]
    wav = silent_wav(0.5)
    full = hub.http.post(url, files={"file": ("ok.wav", wav, "audio/wav")})
    assert full.status_code == 503  # the disk's fault, not the file's
    assert "disk is nearly full" in full.json()["detail"]
    audio_dir = hub.settings.state_dir / "audio"
    assert not audio_dir.exists() or list(audio_dir.iterdir()) == []


def test_flapping_devices_end_in_the_right_state_without_an_alert_storm(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=2, streets=1, speakers=0, cameras=2, timings=FAST)
    hub = area.hub
    hub.runtime.camera_alerts.debounce_s = 1.0  # flaps are faster than this; only the last outage counts
    cam = next(s.device_id for s in area.specs if s.kind == "camera")
    light = next(s.device_id for s in area.specs if s.kind == "light")
    for _ in range(20):
        for dev in (cam, light):
            area.fleet.device(dev).go_offline()
        for dev in (cam, light):
            area.fleet.device(dev).come_back()
    area.fleet.device(light).go_offline()  # ends offline; the camera ends online
    hub.wait(
        lambda: (hub.device(area.code, light) or {}).get("online") is False, what="light offline at the end"
    )
    hub.wait(
        lambda: (hub.device(area.code, cam) or {}).get("online") is True, what="camera online at the end"
    )
    time.sleep(2)
    alerts = hub.http.get(f"/api/v1/areas/{area.code}/notifications").json()["items"]
    assert len(alerts) <= 1, [a["title"] for a in alerts]
    assert hub.http.get("/readyz").status_code == 200
