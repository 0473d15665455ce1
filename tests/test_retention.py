"""Bounded data: a 1,000-device area's history, purged to its retention in small batches.

The stated bound (README, "Data kept and purged"): at the default retention and the rates of
``tests.retention_sim`` (a 1,000-device area), the SQLite database after a purge, vacuumed,
holds the steady state: every table's retention worth of rows. ``test_a_1000_device_area``
measures it (``page_count * page_size``) and holds it under ``SQLITE_BOUND_BYTES``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import DateTime, Engine, bindparam, event, func, select, text
from sqlalchemy.exc import DBAPIError

from hub.db import make_engine
from hub.settings import Settings
from hub.storage import migrate
from hub.storage.retention import Retention
from hub.storage.retention_plans import PLANS
from tests.retention_sim import AREA_1000, DAY, EXTRA_DAYS, AreaShape, History, Spans

NOW = datetime(2026, 12, 1, tzinfo=UTC)
# Measured 2026-12-04: 395.2 MB after the purge and VACUUM (1,036,800 events, 342,006 commands,
# 3,870 schedule runs, 1,441 notifications with 164,703 deliveries, 732 outages, 366 incidents,
# 2,190 announcements with 131,400 speaker deliveries, 36,500 audit rows); the bound leaves 5%.
SQLITE_BOUND_BYTES = 415 * 1000 * 1000
OPEN_OLD_COMMANDS = 6
OPEN_OLD_DELIVERIES = 3
TABLES = [*(p.table.name for p in PLANS), "speaker_deliveries"]


def spans_of(settings: Settings) -> Spans:
    s, x = settings, EXTRA_DAYS
    return Spans(
        events=s.retention_events_days + x,
        commands=s.retention_commands_days + x,
        runs=s.retention_schedule_runs_days + x,
        notifications=s.retention_notifications_days + x,
        outages=s.retention_outages_days + x,
        broadcasts=s.retention_broadcasts_days + x,
        audit=s.retention_audit_days + x,
    )


def simulate(engine: Engine, shape: AreaShape, spans: Spans) -> None:
    with engine.begin() as conn:
        h = History(conn, shape, NOW, spans)
        h.events()
        h.commands(OPEN_OLD_COMMANDS)
        h.runs()
        h.notifications(OPEN_OLD_DELIVERIES)
        h.outages()
        h.broadcasts()
        h.audit()


def count(engine: Engine, table: str, where: str = "1=1", c: datetime | None = None) -> int:
    query = text(f"SELECT count(*) FROM {table} WHERE {where}")
    if c is not None:  # typed, so SQLite compares it in the format the hub stores
        query = query.bindparams(bindparam("c", c, type_=DateTime(timezone=True)))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


@contextmanager
def deletes(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.lstrip().upper().startswith("DELETE"):
            seen.append(sql)

    event.listen(engine, "before_cursor_execute", note)
    yield seen
    event.remove(engine, "before_cursor_execute", note)


def purge_and_check(engine: Engine, settings: Settings, shape: AreaShape) -> dict[str, Any]:
    """Purge: the past-retention rows go, the rest and open rows stay; N rows in ceil(N/batch) deletes."""
    s, batch = settings, settings.retention_batch
    before = {name: count(engine, name) for name in TABLES}
    events_per_day = shape.cameras * 6 * 24 * 2
    commands_per_day = shape.lights * 4 + shape.speakers * 3 + 20
    with deletes(engine) as seen:
        report = Retention(s, engine).purge(NOW)
    old_events = EXTRA_DAYS * events_per_day
    old_closed_commands = EXTRA_DAYS * commands_per_day - OPEN_OLD_COMMANDS
    assert report.rows["device_events"] == old_events
    assert report.rows["commands"] == old_closed_commands
    assert sum("DELETE FROM device_events" in q for q in seen) == math.ceil(old_events / batch)
    assert sum("DELETE FROM commands" in q for q in seen) == math.ceil(old_closed_commands / batch)
    assert report.transactions == len(seen)

    def cutoff(days: int) -> datetime:
        return NOW - days * DAY

    c = cutoff(s.retention_events_days)
    assert count(engine, "device_events", "received_at < :c", c=c) == 0
    assert count(engine, "device_events") == before["device_events"] - old_events
    c = cutoff(s.retention_commands_days)
    assert count(engine, "commands", "created_at < :c", c=c) == OPEN_OLD_COMMANDS  # the open ones stay
    assert count(engine, "commands", "created_at < :c AND status IN ('queued','sent','timed_out')", c=c) == (
        OPEN_OLD_COMMANDS
    )
    c = cutoff(s.retention_schedule_runs_days)
    assert count(engine, "schedule_runs", "planned_at < :c", c=c) == 0
    c = cutoff(s.retention_notifications_days)
    # The oldest notification keeps its deliveries still queued (and they keep it).
    assert count(engine, "notification_deliveries", "created_at < :c", c=c) == OPEN_OLD_DELIVERIES
    assert count(engine, "notifications", "created_at < :c", c=c) == 1
    c = cutoff(s.retention_outages_days)
    assert count(engine, "incidents", "started_at < :c", c=c) == 1  # the open one
    assert count(engine, "camera_outages", "started_at < :c", c=c) == 2  # its outages
    c = cutoff(s.retention_broadcasts_days)
    assert count(engine, "announcements", "created_at < :c", c=c) == 0
    kept_announcements = s.retention_broadcasts_days * 3
    assert count(engine, "announcements") == kept_announcements
    assert count(engine, "speaker_deliveries") == kept_announcements * shape.speakers
    c = cutoff(s.retention_audit_days)
    assert count(engine, "audit_log", "at < :c", c=c) == 0
    assert count(engine, "audit_log") == s.retention_audit_days * 50
    # Newer rows all stay: every table lost exactly its EXTRA_DAYS of rows, no more.
    after = {name: count(engine, name) for name in TABLES}
    for name, n in report.rows.items():
        assert after[name] == before[name] - n, name
    again = Retention(s, engine).purge(NOW)
    assert sum(again.rows.values()) == 0
    return {
        "before": before,
        "after": after,
        "transactions": report.transactions,
        "longest_s": report.longest_s,
    }


# A simulated month of a 1,000-device area: 75 s alone, more beside another test file.
@pytest.mark.timeout(300)
def test_a_1000_device_area_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'khu.db'}"
    migrate.upgrade(url)  # with 0012's indexes, as a hub has them
    settings = Settings(state_dir=tmp_path, database_url=url, retention_pause_ms=0)
    engine = make_engine(url)
    simulate(engine, AREA_1000, spans_of(settings))
    result = purge_and_check(engine, settings, AREA_1000)
    with engine.connect() as conn:
        conn.execute(text("VACUUM"))
        pages = conn.execute(text("PRAGMA page_count")).scalar_one()
        page_size = conn.execute(text("PRAGMA page_size")).scalar_one()
        try:  # where SQLite was built with it: the bytes of each table and index
            per = conn.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"))
            result["bytes"] = {name: int(n) for name, n in per.all()[:12]}
        except DBAPIError:
            pass
    size = pages * page_size
    print(
        f"\nretention, 1,000-device area at the default retention: {size / 1e6:.1f} MB after purge; {result}"
    )
    assert size <= SQLITE_BOUND_BYTES
    engine.dispose()


def test_a_small_area_on_postgres(pg_database: Callable[[], str], tmp_path: Path) -> None:
    """The same purge on PostgreSQL, a twentieth of the area, with small batches."""
    pg_url = pg_database()
    migrate.upgrade(pg_url)
    settings = Settings(state_dir=tmp_path, database_url=pg_url, retention_pause_ms=0, retention_batch=500)
    engine = make_engine(pg_url)
    shape = AreaShape(lights=45, speakers=3, cameras=2, phones=15)
    simulate(engine, shape, spans_of(settings))
    purge_and_check(engine, settings, shape)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(PLANS[0].table)) == 90 * 2 * 6 * 24 * 2
    engine.dispose()


def test_zero_days_keeps_forever(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'khu.db'}"
    migrate.upgrade(url)
    zero: dict[str, Any] = {p.setting: 0 for p in PLANS}
    settings = Settings.model_validate({"state_dir": tmp_path, "database_url": url, **zero})
    engine = make_engine(url)
    spans = Spans(*(40,) * 7)
    simulate(engine, AreaShape(lights=4, speakers=1, cameras=1, phones=2), spans)
    report = Retention(settings, engine).purge(NOW + timedelta(days=3650))
    assert report.transactions == 0
    engine.dispose()
