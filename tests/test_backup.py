"""``khu backup`` and ``khu restore``: a hub brought back into a fresh state dir, and the refusals."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices.mqtt_client import LinkConfig, MqttLink
from hub.broker.process import Broker, free_port
from hub.cli import build_parser
from hub.models import Role
from hub.settings import Settings
from hub.storage.backup import create_backup
from hub.storage.backup_db import BackupError
from hub.storage.migrate import upgrade
from hub.storage.restore import restore_backup
from tests.conftest import HubHarness, make_area

AREA = "bk-phuong"


def _populate(hub: HubHarness) -> dict[str, str]:
    """An area with a device that has a broker account, a timetable and a head; returns the secrets."""
    make_area(hub, AREA)
    r = hub.http.post(
        f"/api/v1/areas/{AREA}/devices", json={"device_id": "den-1", "kind": "light", "protocol": "tasmota"}
    )
    assert r.status_code == 201, r.text
    mqtt = r.json()["mqtt"]
    r = hub.http.post(
        f"/api/v1/areas/{AREA}/timetables",
        json={"name": "đêm", "steps": [{"trigger": "clock", "at": "18:00:00", "on": True, "level": 60}]},
    )
    assert r.status_code == 201, r.text
    r = hub.http.post(
        "/api/v1/users",
        json={"username": "truong-khu", "password": "Truong-Passw0rd!", "role": "head", "area_code": AREA},
    )
    assert r.status_code == 201, r.text
    return {"device_user": mqtt["username"], "device_password": mqtt["password"]}


def _run(*argv: str, settings: Settings) -> int:
    args = build_parser().parse_args(list(argv))
    result: int = args.func(settings, args)
    return result


def test_a_hub_restored_into_a_fresh_state_dir_has_its_devices_schedules_and_accounts(
    own_broker: Broker, hub_factory: Callable[..., HubHarness], tmp_path: Path
) -> None:
    hub = hub_factory(own_broker)  # state dir: tmp_path, broker files in tmp_path/broker
    state = hub.settings.state_dir
    secrets = _populate(hub)
    boss = hub.add_user("boss", Role.ADMIN)
    token_before = (
        TestClient(hub.http.app)
        .post("/api/v1/auth/token", data={"username": "boss", "password": boss})
        .json()["access_token"]
    )
    archive = tmp_path.parent / f"{tmp_path.name}-backup.tar.gz"
    assert _run("backup", str(archive), settings=hub.settings) == 0  # while the hub runs
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        names = set(tar.getnames())
    assert manifest["database"] == "sqlite"
    assert manifest["schema_revision"]
    assert {"database/khu.db", "state/secret.key", "state/broker/dynamic-security.json"} <= names
    assert "state/broker/mosquitto.db" not in names  # replayed, it would pass old states as current
    originals = {rel: (state / rel).read_bytes() for rel in manifest["files"]}
    hub.runtime.stop()
    own_broker.stop()

    fresh = tmp_path / "restored"
    target = Settings(state_dir=fresh, mqtt_port=free_port())
    assert _run("restore", str(archive), settings=target) == 0
    for path in [fresh, *fresh.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert {rel: (fresh / rel).read_bytes() for rel in originals} == originals
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(target, archive)  # a second time: the state dir is no longer fresh

    broker = Broker(fresh / "broker")  # reads the restored accounts
    broker.start()
    try:
        # The hub connects with the restored hub account, not one made for this test.
        hub2 = hub_factory(
            broker,
            state_dir=fresh,
            mqtt_client_id="khu-hub",
            mqtt_password_file=fresh / "broker" / "hub-credentials.json",
        )
        assert hub2.device(AREA, "den-1") is not None
        timetables = hub2.http.get(f"/api/v1/areas/{AREA}/timetables").json()["items"]
        assert [t["name"] for t in timetables] == ["đêm"]
        users = {u["username"] for u in hub2.http.get("/api/v1/users").json()["items"]}
        assert {"boss", "truong-khu"} <= users
        hub2.client_for("boss", boss)  # same password
        hub2.client_for("truong-khu", "Truong-Passw0rd!")
        # The signing key came back too: a token issued before the backup is still good.
        old = TestClient(hub2.http.app, headers={"Authorization": f"Bearer {token_before}"})
        assert old.get("/api/v1/users").status_code == 200
        user, password = secrets["device_user"], secrets["device_password"]
        link = MqttLink(LinkConfig("127.0.0.1", broker.port, user, user, password, persistent=False))
        link.start()
        try:
            assert link.wait_connected(10), "the device's restored broker account was refused"
        finally:
            link.stop()
        hub2.runtime.stop()  # before its broker goes, so it leaves cleanly
    finally:
        broker.kill()


def _small_state(root: Path, revision: str = "head") -> Settings:
    settings = Settings(state_dir=root, mqtt_port=free_port())
    root.mkdir(mode=0o700)
    upgrade(settings.db_url, revision)
    (root / "secret.key").write_text("k" * 64)
    return settings


def test_an_older_backup_restores_into_a_newer_hub(tmp_path: Path) -> None:
    old = _small_state(tmp_path / "old", "0001")
    with sqlite3.connect(old.state_dir / "khu.db") as db:
        db.execute(
            "INSERT INTO areas (code, name, latitude, longitude, timezone, created_at) "
            "VALUES ('cu', 'Khu cũ', 21.0, 105.8, 'Asia/Ho_Chi_Minh', '2025-01-01 00:00:00')"
        )
    archive = tmp_path / "old.tar.gz"
    assert create_backup(old, archive)["schema_revision"] == "0001"
    new = Settings(state_dir=tmp_path / "new", mqtt_port=free_port())
    restore_backup(new, archive)
    with sqlite3.connect(new.state_dir / "khu.db") as db:
        assert db.execute("SELECT name FROM areas").fetchall() == [("Khu cũ",)]
        (rev,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert rev != "0001"  # migrated up to this khu's head


def test_refusals_say_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = _small_state(tmp_path / "s")
    archive = tmp_path / "b.tar.gz"
    create_backup(settings, archive)
    assert _run("restore", str(tmp_path / "nope.tar.gz"), settings=settings) == 2
    assert "error: " in capsys.readouterr().err
    with pytest.raises(BackupError, match="already exists"):
        create_backup(settings, archive)
    target = Settings(state_dir=tmp_path / "t", mqtt_port=free_port())
    with pytest.raises(BackupError, match="does not exist"):
        restore_backup(target, tmp_path / "missing.tar.gz")
    (tmp_path / "junk.tar.gz").write_text("not an archive")
    with pytest.raises(BackupError, match="not a khu backup"):
        restore_backup(target, tmp_path / "junk.tar.gz")
    with tarfile.open(tmp_path / "other.tar.gz", "w:gz") as tar:
        tar.add(settings.state_dir / "secret.key", "secret.key")
    with pytest.raises(BackupError, match="not a khu backup"):
        restore_backup(target, tmp_path / "other.tar.gz")
    with tarfile.open(archive) as src, tarfile.open(tmp_path / "evil.tar.gz", "w:gz") as tar:
        for member in src.getmembers():
            tar.addfile(member, src.extractfile(member))
        tar.add(settings.state_dir / "secret.key", "state/../../escaped")
    with pytest.raises(BackupError, match="outside the state dir"):
        restore_backup(target, tmp_path / "evil.tar.gz")
    assert not target.state_dir.exists()  # nothing written by a refused restore

    restore_backup(target, archive)
    # --force over a database another process holds: refused, not half-replaced.
    holder = sqlite3.connect(target.state_dir / "khu.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(BackupError, match="in use"):
            restore_backup(target, archive, force=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    restore_backup(target, archive, force=True)
    pg = Settings(state_dir=tmp_path / "p", database_url="postgresql+psycopg://nobody@127.0.0.1:1/x")
    with pytest.raises(BackupError, match="holds a sqlite database"):
        restore_backup(pg, archive)


def test_postgres_is_dumped_and_restored_with_pg_dump(pg_database: Callable[[], str], tmp_path: Path) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump / pg_restore not installed")
    source_url, target_url = pg_database(), pg_database()
    source = Settings(state_dir=tmp_path / "s", database_url=source_url, mqtt_port=free_port())
    source.state_dir.mkdir()
    upgrade(source_url, "0001")  # an older schema, restored into this khu's head
    with psycopg.connect(source_url.replace("+psycopg", "")) as db:
        db.execute(
            "INSERT INTO areas (code, name, latitude, longitude, timezone, created_at) "
            "VALUES ('pg', 'Khu PG', 21.0, 105.8, 'Asia/Ho_Chi_Minh', now())"
        )
    archive = tmp_path / "pg.tar.gz"
    manifest = create_backup(source, archive)
    assert (manifest["database"], manifest["schema_revision"]) == ("postgresql", "0001")
    target = Settings(state_dir=tmp_path / "t", database_url=target_url, mqtt_port=free_port())
    restore_backup(target, archive)
    with psycopg.connect(target_url.replace("+psycopg", "")) as db:
        assert db.execute("SELECT name FROM areas").fetchall() == [("Khu PG",)]
        (rev,) = db.execute("SELECT version_num FROM alembic_version").fetchone() or ("",)
    assert rev != "0001"
    with pytest.raises(BackupError, match="already holds"):
        restore_backup(target.model_copy(update={"state_dir": tmp_path / "t2"}), archive)
    restore_backup(target.model_copy(update={"state_dir": tmp_path / "t3"}), archive, force=True)
