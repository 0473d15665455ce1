"""The Alembic history builds exactly the schema the models describe, and can be walked back."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session

from hub.auth.accounts import hash_password, verify_password
from hub.models import Area, Device, DeviceEventRow, User
from hub.storage.migrate import alembic_config, upgrade


def test_migrations_match_the_models_and_downgrade_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    cfg = alembic_config(url)
    command.check(cfg)  # raises if a model change has no migration
    command.downgrade(cfg, "base")
    upgrade(url)
    command.check(cfg)


def test_rows_of_the_first_schema_survive_every_migration(tmp_path: Path) -> None:
    """A hub installed at 0001, with data in it, upgraded to this khu's head (what a restore does)."""
    url = f"sqlite:///{tmp_path / 'first.db'}"
    upgrade(url, "0001")
    engine = sa.create_engine(url)
    at = "2025-01-01 00:00:00.000000"
    rows = {
        "areas": "INSERT INTO areas VALUES (1, 'cu', 'Khu cũ', 21.0, 105.8, 'Asia/Ho_Chi_Minh', :at)",
        "users": "INSERT INTO users VALUES (1, 'truong', :hash, 'head', 1, 'Trưởng khu', 1, :at)",
        "zones": "INSERT INTO zones VALUES (1, 1, 'Ngõ 1', :at)",
        "devices": "INSERT INTO devices VALUES (1, 1, 'den-1', 'light', 'Đèn 1', 1, 'active', 'm',"
        " '1.0', '[\"light.set\"]', NULL, 60.0, 'native', 1, :at, :at, '{\"on\": true, \"level\": 40}',"
        " 5, :at, :at)",
        "device_events": "INSERT INTO device_events VALUES (1, 1, 'motion', 7, '{}', :at)",
    }
    with engine.begin() as conn:
        for sql in rows.values():
            conn.execute(sa.text(sql), {"at": at, "hash": hash_password("Truong-Passw0rd!")})
    upgrade(url)
    with Session(engine) as session:
        user = session.scalars(sa.select(User)).one()
        device = session.scalars(sa.select(Device)).one()
        assert (user.username, user.token_gen) == ("truong", 0)
        assert verify_password(user.password_hash, "Truong-Passw0rd!")
        assert (device.device_id, device.zone_id, device.state) == ("den-1", 1, {"on": True, "level": 40})
        assert session.scalars(sa.select(Area.name)).all() == ["Khu cũ"]
        assert session.scalars(sa.select(DeviceEventRow.type)).all() == ["motion"]
    engine.dispose()
