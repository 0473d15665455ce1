"""Many-row statements of the ingest writer, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, Table, select

from hub.bulk_sql import MAX_ROWS, EncodedJSON, insert_rows_skipping_duplicates, update_rows
from hub.db import make_engine, make_sessionmaker
from hub.models import Area, Device, DeviceEventRow
from hub.storage.migrate import upgrade
from tests.test_postgres import pg_url  # noqa: F401  (fixture)

DEVICES: Table = Device.__table__  # type: ignore[assignment]
EVENTS: Table = DeviceEventRow.__table__  # type: ignore[assignment]
# More than one full statement, and a last one that is padded (300 = 256 + 44, run as 64).
COUNT = MAX_ROWS + 44


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = (
        f"sqlite:///{tmp_path / 'bulk.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    upgrade(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def _devices(engine: Engine) -> list[int]:
    with make_sessionmaker(engine).begin() as s:
        area = Area(code="bulk", name="Bulk", latitude=21.0, longitude=105.8, timezone="Asia/Ho_Chi_Minh")
        s.add(area)
        s.flush()
        devices = [
            Device(area_id=area.id, device_id=f"l{i}", kind="light", status="active") for i in range(COUNT)
        ]
        s.add_all(devices)
        s.flush()
        return [d.id for d in devices]


def test_every_row_gets_its_own_values_across_full_and_padded_statements(engine: Engine) -> None:
    pks = _devices(engine)
    now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    rows = [
        {"id": pk, "state": {"on": True, "level": i % 101}, "state_ts": 1000 + i} for i, pk in enumerate(pks)
    ]
    with engine.begin() as conn:
        update_rows(conn, DEVICES, ("id",), rows, also={"updated_at": now})
    with engine.connect() as conn:
        stored = conn.execute(
            select(DEVICES.c.id, DEVICES.c.state, DEVICES.c.state_ts, DEVICES.c.updated_at)
        ).all()
    by_pk = {r.id: r for r in stored}
    for i, pk in enumerate(pks):
        assert by_pk[pk].state == {"on": True, "level": i % 101}
        assert by_pk[pk].state_ts == 1000 + i
        assert by_pk[pk].updated_at.replace(tzinfo=UTC) == now


def test_extra_conditions_limit_which_rows_change(engine: Engine) -> None:
    pks = _devices(engine)
    rows = [{"id": pk, "state_ts": 7} for pk in pks]
    even = (DEVICES.c.device_id.in_([f"l{i}" for i in range(0, COUNT, 2)]),)
    with engine.begin() as conn:
        update_rows(conn, DEVICES, ("id",), rows, where=even, also={"updated_at": datetime.now(UTC)})
    with engine.connect() as conn:
        changed = conn.execute(select(DEVICES.c.device_id).where(DEVICES.c.state_ts == 7)).scalars().all()
    assert sorted(changed) == sorted(f"l{i}" for i in range(0, COUNT, 2))


def test_a_column_only_sqlalchemy_would_fill_in_must_be_given(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bulk.db'}")
    with engine.begin() as conn, pytest.raises(ValueError, match="updated_at"):
        update_rows(conn, DEVICES, ("id",), [{"id": 1, "state_ts": 1}])
    event = {"device_pk": 1, "type": "fault", "ts": 1, "data": {}}  # no received_at
    with engine.begin() as conn, pytest.raises(ValueError, match="received_at"):
        insert_rows_skipping_duplicates(conn, EVENTS, [event, {**event, "ts": 2}])


def test_values_shared_by_every_row_and_json_serialised_beforehand(engine: Engine) -> None:
    pks = _devices(engine)
    at = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    rows = [
        {"device_pk": pk, "type": "fault", "ts": 1, "data": EncodedJSON(f'{{"n":{i}}}')}
        for i, pk in enumerate(pks)
    ]
    with engine.begin() as conn:
        insert_rows_skipping_duplicates(conn, EVENTS, rows, also={"received_at": at})
    with engine.connect() as conn:
        stored = conn.execute(select(EVENTS.c.device_pk, EVENTS.c.data, EVENTS.c.received_at)).all()
    assert len(stored) == COUNT
    n_of = {pk: i for i, pk in enumerate(pks)}
    assert all(r.data == {"n": n_of[r.device_pk]} and r.received_at.replace(tzinfo=UTC) == at for r in stored)


def test_inserts_skip_rows_that_repeat_a_unique_key(engine: Engine) -> None:
    pks = _devices(engine)
    at = datetime.now(UTC)
    events = [
        {"device_pk": pks[i % 10], "type": "fault", "ts": i, "data": {"n": i}, "received_at": at}
        for i in range(COUNT)
    ]
    with engine.begin() as conn:
        insert_rows_skipping_duplicates(conn, EVENTS, events[:100])
        insert_rows_skipping_duplicates(conn, EVENTS, events)  # the first 100 again, and the rest
    with engine.connect() as conn:
        stored = conn.execute(select(EVENTS.c.ts, EVENTS.c.data)).all()
    assert sorted(r.ts for r in stored) == list(range(COUNT))
    assert all(r.data == {"n": r.ts} for r in stored)
