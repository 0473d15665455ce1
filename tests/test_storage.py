"""The hub's files and disks: private permissions, a disk it cannot write, a fatal signal.

Tests run as root, which ignores permission bits: a file or folder is made unwritable with a
read-only bind mount instead, which refuses writes to root too (EROFS), as a disk that the
kernel remounted read-only after errors does. A full disk is a small tmpfs.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bench.wav import silent_wav
from hub.auth.accounts import create_user
from hub.broker.process import Broker, free_port
from hub.db import make_engine, make_sessionmaker
from hub.models import Role
from hub.storage.migrate import upgrade
from tests.conftest import HubHarness, SimArea, SimTimings, make_area
from tests.test_process_faults import ADMIN_PASSWORD, ROOT, ServedHub

SPEAK = SimTimings(action_delay_s=0.02, play_duration_s=0.4, heartbeat_s=5.0, motion_per_hour=0.0)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root (CI runs as root)")


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` (a folder or one file) behind a read-only bind mount while the block runs."""
    _mount("--bind", str(path), str(path))
    try:
        _mount("-o", "remount,bind,ro", str(path))
        yield
    finally:
        # Lazy: files opened through the mount meanwhile must not keep it (and the test) stuck.
        subprocess.run(["umount", "--lazy", str(path)], check=True)


@contextmanager
def tiny_disk(path: Path, size: str = "256k") -> Iterator[None]:
    """``path`` on a small, nearly full tmpfs."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path))
    try:
        yield
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


def mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o777)


# -- permissions ---------------------------------------------------------------------------------


def _env(state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHU_")}
    return env | {"KHU_STATE_DIR": str(state), "KHU_LOG_LEVEL": "WARNING", **extra}


def _khu(*args: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_hub_started_on_a_fresh_state_dir_keeps_every_file_to_itself(tmp_path: Path) -> None:
    state = tmp_path / "var"  # not there yet: the khu commands create it
    mqtt, http = free_port(), free_port()
    env = _env(state, KHU_MQTT_PORT=str(mqtt), KHU_HTTP_PORT=str(http))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with (tmp_path / "broker.log").open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "hub.cli", "broker"], cwd=ROOT, env=env, stdout=log, stderr=log
                )
            )
        secret = state / "broker" / "hub-credentials.json"
        _wait(lambda: secret.exists() and (state / "broker" / "mosquitto.log").exists(), "khu broker")
        env["KHU_MQTT_PASSWORD_FILE"] = str(secret)
        _khu("migrate", env=env)
        _khu("create-admin", "--password", ADMIN_PASSWORD, env=env)
        with (tmp_path / "hub.log").open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "hub.cli", "serve"], cwd=ROOT, env=env, stdout=log, stderr=log
                )
            )

        def ready() -> bool:
            assert procs[-1].poll() is None, (tmp_path / "hub.log").read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{http}/readyz").status_code == 200
            except httpx.TransportError:
                return False

        _wait(ready, "khu serve ready")
        made = {p.relative_to(state).as_posix(): mode(p) for p in [state, *state.rglob("*")]}
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(15)
    for name in ("khu.db", "khu.db-wal", "khu.db-shm", "secret.key", "broker/hub-credentials.json"):
        assert made.get(name) == "0o600", (name, made)
    for name in (".", "broker", "audio"):
        assert made.get(name) == "0o700", (name, made)
    assert {n: m for n, m in made.items() if int(m, 8) & 0o077} == {}


def test_an_existing_install_is_tightened_on_start_and_said_once(
    broker: Broker,
    hub_factory: Callable[..., HubHarness],
    tmp_path: Path,
    area_code: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tmp_path.chmod(0o755)
    sqlite3.connect(tmp_path / "khu.db").close()
    (tmp_path / "khu.db").chmod(0o644)
    (tmp_path / "audio").mkdir(mode=0o755)
    (tmp_path / "audio").chmod(0o755)
    (tmp_path / "secret.key").write_text("s" * 48)
    (tmp_path / "secret.key").chmod(0o644)
    with caplog.at_level(logging.WARNING):
        first = hub_factory(broker)
    said = [r.getMessage() for r in caplog.records if "tightened" in r.getMessage()]
    assert len(said) == 1, said
    assert "khu.db" in said[0]
    assert "secret.key" in said[0]
    assert {n: mode(tmp_path / n) for n in ("khu.db", "secret.key", "audio", ".")} == {
        "khu.db": "0o600",
        "secret.key": "0o600",
        "audio": "0o700",
        ".": "0o700",
    }
    make_area(first, area_code)  # written through the hub's engine: its WAL files are made
    assert {mode(p) for p in tmp_path.glob("khu.db*")} == {"0o600"}
    first.runtime.stop()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        hub_factory(broker)
    assert [r.getMessage() for r in caplog.records if "tightened" in r.getMessage()] == []


# -- a disk the hub cannot write -----------------------------------------------------------------


def _announce(area: SimArea, text: str) -> httpx.Response:
    return area.hub.http.post(
        f"/api/v1/areas/{area.code}/announcements", json={"title": "Thông báo", "text": text}
    )


def _upload(area: SimArea) -> httpx.Response:
    return area.hub.http.post(
        f"/api/v1/areas/{area.code}/audio", files={"file": ("a.wav", silent_wav(0.5), "audio/wav")}
    )


def test_a_read_only_state_dir_fails_writes_with_a_clear_503_and_readyz_names_it(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0, timings=SPEAK)
    hub = area.hub
    assert hub.http.get("/readyz").status_code == 200
    with read_only(hub.settings.state_dir):
        spoken = _announce(area, "Kiểm tra: ổ đĩa chỉ đọc.")
        assert spoken.status_code == 503, spoken.text
        assert "read-only" in spoken.json()["detail"]
        assert "nothing was changed" in spoken.json()["detail"]
        uploaded = _upload(area)
        assert uploaded.status_code == 503, uploaded.text
        assert "read-only" in uploaded.json()["detail"]
        hub.wait(lambda: hub.http.get("/readyz").status_code == 503, what="readyz reporting the disk")
        checks = hub.http.get("/readyz").json()["checks"]
        assert checks == {
            "broker": True,
            "database": True,
            "database_writable": False,
            "state_dir_writable": False,
            "audio_writable": False,
        }
        assert hub.http.get("/healthz").status_code == 200  # up, and saying what is wrong
    hub.wait(lambda: hub.http.get("/readyz").status_code == 200, what="readyz after the disk came back")
    spoken = _announce(area, "Kiểm tra: ổ đĩa chỉ đọc.")
    assert spoken.status_code == 201, spoken.text
    hub.wait(
        lambda: (
            hub.http.get(f"/api/v1/areas/{area.code}/announcements/{spoken.json()['id']}").json()["status"]
            == "done"
        ),
        what="the announcement played",
    )
    assert _upload(area).status_code == 201


def test_a_full_audio_disk_fails_uploads_with_a_clear_503(
    broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str, tmp_path: Path
) -> None:
    audio = tmp_path / "audio"
    with tiny_disk(audio):
        hub = hub_factory(broker, audio_min_free_mb=0)
        make_area(hub, area_code)
        (audio / "filler").write_bytes(b"\0" * (256 * 1024 - 4096 * 4))
        big = hub.http.post(
            f"/api/v1/areas/{area_code}/audio", files={"file": ("a.wav", silent_wav(3), "audio/wav")}
        )
        assert big.status_code == 503, big.text
        assert "full" in big.json()["detail"]
        assert list(audio.glob(".part-*")) == []  # nothing half-written left behind
        hub.runtime.stop()


# -- the database files at start, and a fatal signal ---------------------------------------------


def _database(state: Path) -> Path:
    state.mkdir()
    url = f"sqlite:///{state / 'khu.db'}"
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        create_user(session, "admin", ADMIN_PASSWORD, Role.ADMIN)
    engine.dispose()
    return state / "khu.db"


@pytest.mark.parametrize("name", ["khu.db-shm", "khu.db"])
def test_khu_serve_refuses_to_start_on_a_database_file_it_cannot_write(
    tmp_path: Path, broker: Broker, name: str
) -> None:
    db = _database(tmp_path / "hub")
    served = ServedHub(db.parent, broker)
    # Another process (a crashed hub, a backup, an earlier run as another user) left the
    # -wal and -shm files behind.
    holder = sqlite3.connect(db)
    holder.execute("SELECT count(*) FROM users").fetchone()
    assert (db.parent / "khu.db-shm").exists()
    try:
        with read_only(db.parent / name), served.log.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "serve"], cwd=ROOT, env=served.env, stdout=log, stderr=log
            )
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    ready = served.http.get("/readyz").status_code
                except httpx.TransportError:
                    ready = 0
                if ready == 200:
                    proc.kill()
                    proc.wait()
                    pytest.fail(f"khu serve started and is ready on a read-only {name}")
                time.sleep(0.1)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
                pytest.fail(f"khu serve neither refused nor became ready: {served.log.read_text()}")
    finally:
        holder.close()
        served.http.close()
    text = served.log.read_text()
    assert proc.returncode == 2, text
    assert str(db.parent / name) in text, text
    assert "not writable" in text, text
    assert "read-only file system" in text.lower(), text


def test_a_fatal_signal_in_khu_serve_leaves_a_traceback_in_its_log(tmp_path: Path, broker: Broker) -> None:
    db = _database(tmp_path / "hub")
    served = ServedHub(db.parent, broker)
    served.start()
    assert served.proc is not None
    served.proc.send_signal(signal.SIGBUS)  # what a database file shrunk under its mapping does
    served.proc.wait(15)
    served.stop()
    text = served.log.read_text()
    # faulthandler walks the other threads' stacks while they run and may fault doing so (a full
    # parallel run once ended in SIGSEGV); what this test is about is the report in the log.
    assert served.proc.returncode in (-signal.SIGBUS, -signal.SIGSEGV), text
    assert "Fatal Python error: Bus error" in text, text
    assert 'File "' in text, text  # where each thread was
