"""Bounded data: rows older than their table's retention (settings ``retention_*_days``) are purged.

SQLite has one writer: the ingest writer waits for any other write transaction. So the purge
deletes at most ``retention_batch`` rows per transaction and pauses ``retention_pause_ms``
between two, and it looks for the rows to delete outside any write transaction (a read does not
block the writer in WAL mode). Each delete names a primary-key range or list and is found by
an index, so a transaction costs the rows it deletes, not the size of the table.

Open rows stay whatever their age (queued/sent/timed-out commands, deliveries still due, open
outages and incidents, announcements not yet played): see ``hub.storage.retention_plans``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Engine, Table, delete, not_, select

from hub.models import Area, as_utc
from hub.settings import Settings
from hub.storage.retention_plans import PLANS, Plan

log = logging.getLogger(__name__)

FIRST_RUN_S = 60.0  # after start-up, so the purge never adds to a restart's catch-up


@dataclass
class PurgeReport:
    """What one purge did; ``longest_s`` is the longest delete transaction (recorded, not judged)."""

    rows: dict[str, int] = field(default_factory=dict)
    transactions: int = 0
    longest_s: float = 0.0


class Retention:
    """Runs the purge every ``retention_interval_s`` on a thread of its own."""

    def __init__(self, settings: Settings, engine: Engine, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.purged = (
            Counter("khu_retention_purged", "Rows purged by retention", ["table"], registry=registry)
            if registry is not None
            else None
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="khu-retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        wait = min(FIRST_RUN_S, self.settings.retention_interval_s)
        while not self._stop.wait(wait):
            wait = self.settings.retention_interval_s
            try:
                report = self.purge()
            except Exception:  # the database may be down for a while: try again next time
                log.exception("retention purge failed")
                continue
            if report.transactions:
                log.info(
                    "retention purged %s in %d transactions (longest %.3f s)",
                    report.rows,
                    report.transactions,
                    report.longest_s,
                )

    def purge(self, now: datetime | None = None) -> PurgeReport:
        """Delete what is past its retention in every table, oldest first, batch by batch."""
        now = now or datetime.now(UTC)
        report = PurgeReport()
        for plan in PLANS:
            days = int(getattr(self.settings, plan.setting))
            if days <= 0 or self._stop.is_set():
                continue
            cutoff = now - timedelta(days=days)
            if plan.walk == "id":
                self._walk_ids(plan, cutoff, report)
            else:
                self._walk_areas(plan, cutoff, report)
        return report

    def _walk_ids(self, plan: Plan, cutoff: datetime, report: PurgeReport) -> None:
        t, batch = plan.table, self.settings.retention_batch
        ts = t.c[plan.time]
        after: Any = None
        while not self._stop.is_set():
            query = select(t.c.id, ts).order_by(t.c.id).limit(batch)
            if after is not None:
                query = query.where(t.c.id > after)
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            old = [r.id for r in rows if as_utc(r[1]) < cutoff]
            if old:
                where = [t.c.id >= old[0], t.c.id <= old[-1], ts < cutoff]
                if plan.keep is not None:
                    where.append(not_(plan.keep(t)))
                self._delete(t, where, report)
            # Ids grow with time: past the first row still within retention, all are.
            if len(rows) < batch or len(old) < len(rows):
                return
            after = rows[-1].id

    def _walk_areas(self, plan: Plan, cutoff: datetime, report: PurgeReport) -> None:
        t, batch = plan.table, self.settings.retention_batch
        ts = t.c[plan.time]
        with self.engine.connect() as conn:
            areas = conn.scalars(select(Area.id)).all()
        for area_id in areas:
            where = [t.c.area_id == area_id, ts < cutoff]
            if plan.keep is not None:
                where.append(not_(plan.keep(t)))
            while not self._stop.is_set():
                with self.engine.connect() as conn:
                    ids = conn.scalars(select(t.c.id).where(*where).order_by(ts).limit(batch)).all()
                if ids:
                    if plan.child is not None:
                        self._delete_children(plan.child, list(ids), report)
                    self._delete(t, [t.c.id.in_(ids), *where], report)
                if len(ids) < batch:
                    break

    def _delete_children(self, child: tuple[Table, str], parents: list[Any], report: PurgeReport) -> None:
        """Children go first, in batches of their own: an announcement has a delivery per speaker."""
        t, column = child
        batch = self.settings.retention_batch
        while not self._stop.is_set():
            with self.engine.connect() as conn:
                query = select(t.c.id).where(t.c[column].in_(parents)).order_by(t.c.id).limit(batch)
                ids = conn.scalars(query).all()
            if not ids:
                return
            self._delete(t, [t.c.id.in_(ids)], report)
            if len(ids) < batch:
                return

    def _delete(self, t: Table, where: list[Any], report: PurgeReport) -> None:
        started = time.perf_counter()
        with self.engine.begin() as conn:
            count = conn.execute(delete(t).where(*where)).rowcount or 0
        took = time.perf_counter() - started
        report.transactions += 1
        report.longest_s = max(report.longest_s, took)
        report.rows[t.name] = report.rows.get(t.name, 0) + count
        if self.purged is not None and count:
            self.purged.labels(t.name).inc(count)
        # The ingest writer's turn: it may have waited for this transaction.
        self._stop.wait(self.settings.retention_pause_ms / 1000)
