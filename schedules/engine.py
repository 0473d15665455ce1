"""Runs APScheduler for the hub: jobs derived from the schedule tables, one active hub at a time.

The tables are the source of truth. ``reconcile`` adds, replaces or removes jobs so that
each enabled timetable has exactly one job (id ``lighting-<id>``) whose name carries the
row's version; a job is only replaced when the row changed, so a firing missed while the
hub was down is still seen (and run late or recorded as missed) after a restart.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from hub.broadcasts.models import BroadcastProgramme
from hub.commands.service import CommandService
from hub.models import Area, Device, LightingTimetableRow, as_utc
from hub.registry.changes import Change
from schedules import jobs
from schedules.desired import corrections, desired_lights, timetable_of
from schedules.lease import Lease
from schedules.lighting_steps import LightingSteps
from schedules.local_changes import LocalChanges
from schedules.programme_jobs import programme_due, reconcile_programmes
from schedules.run_records import LATE_AFTER, RunRecords
from schedules.trigger import TimetableTrigger

log = logging.getLogger(__name__)


def job_id(timetable_id: int) -> str:
    return f"lighting-{timetable_id}"


def _version(row: LightingTimetableRow, area: Area, lead: timedelta) -> str:
    """Changes whenever the job's trigger would: the row, where and in which zone the area is, the lead."""
    place = f"{area.latitude:.5f},{area.longitude:.5f},{area.timezone}"
    return f"lighting {row.id} v{as_utc(row.updated_at).isoformat()} {place} lead {lead.total_seconds()}"


class ScheduleEngine:
    def __init__(
        self,
        db: Engine,
        sessions: sessionmaker[Session],
        commands: CommandService,
        lease_ttl_s: float = 15,
        renew_s: float = 5,
        lead_s: float = 0.0,
    ) -> None:
        self._db = db
        self._sessions = sessions
        self._commands = commands
        self.lease = Lease(
            sessions, f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}", lease_ttl_s
        )
        self._renew_s = renew_s
        # Lighting jobs fire this long before their step; the step is sent at its instant.
        self._lead = timedelta(seconds=lead_s)
        self._scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._poke = threading.Event()
        self._restore: set[tuple[str, str]] = set()
        self.local = LocalChanges()
        self._lock = threading.Lock()
        self.runs = RunRecords(sessions, self._lead_of)
        self._steps = LightingSteps(sessions, commands, self._lead, self.runs)
        self._reconciling = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="schedule-lease", daemon=True)
        self.on_activated: Callable[[], None] | None = None
        # Set by the runtime: queue a programme's announcement.
        self.announcer: Callable[[BroadcastProgramme, Area], object] | None = None

    @property
    def active(self) -> bool:
        return self._scheduler is not None

    def is_active(self) -> bool:
        """``active`` as a callable, for parts that act only on the lease holder."""
        return self.active

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._poke.set()
        self._thread.join(10)
        self._deactivate()
        self.lease.release()

    def sync(self) -> None:
        """A schedule row changed: reconcile jobs now (the active hub also does so on every renewal)."""
        if self.active:
            with self._reconciling:
                self.reconcile()
        else:
            self._poke.set()  # another process may hold the lease; it reconciles on renewal

    def on_changes(self, changes: list[Change]) -> None:
        """A light that comes back online gets its desired state re-applied; one changed at the
        light itself is adopted, or put back (``schedules.local_changes``)."""
        back = [(c.area, c.device) for c in changes if c.kind == "light" and c.fields.get("online") is True]
        if back:
            with self._lock:
                self._restore.update(back)
        if self.local.collect(changes) or back:
            self._poke.set()

    # --- lease loop -------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:
                log.exception("schedule engine tick failed")
            self._poke.wait(self._renew_s)
            self._poke.clear()

    def _tick(self) -> None:
        if not self.lease.try_acquire():
            if self.active:
                log.warning("scheduler lease lost to %s; going standby", self.lease.holder_now())
                self._deactivate()
            # The holder restores and judges local changes; taking over restores everything.
            self.local.forget_pending()
            with self._lock:
                self._restore.clear()
            return
        if not self.active:
            self._activate()
        with self._reconciling:
            self.reconcile()
        undone = self.local.apply(self._sessions, datetime.now(UTC))
        with self._lock:
            pending, self._restore = self._restore | undone, set()
        # One pass per area: working out desired state reads the whole area, so a thousand
        # lights coming back together must not mean a thousand passes.
        by_area: dict[str, set[str]] = {}
        for area_code, device_id in pending:
            by_area.setdefault(area_code, set()).add(device_id)
        for area_code, device_ids in by_area.items():
            self.restore(area_code, device_ids=device_ids)

    def _activate(self) -> None:
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self._db, tablename="apscheduler_jobs")},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        scheduler.add_listener(self.runs.job_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
        jobs.set_active(self)
        self._scheduler = scheduler
        scheduler.start()
        log.info("scheduler active in %s", self.lease.holder)
        self.reconcile()
        self.restore()
        if self.on_activated is not None:
            self.on_activated()

    def _deactivate(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
            jobs.set_active(None)

    # --- jobs from tables ----------------------------------------------------------------

    def reconcile(self) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return
        with self._sessions() as session:
            rows = session.execute(
                select(LightingTimetableRow, Area).join(Area, Area.id == LightingTimetableRow.area_id)
            ).all()
        wanted: set[str] = set()
        for row, area in rows:
            if not row.enabled:
                continue
            jid = job_id(row.id)
            wanted.add(jid)
            existing = scheduler.get_job(jid)
            version = _version(row, area, self._lead)
            if existing is not None and existing.name == version:
                continue
            scheduler.add_job(
                jobs.fire_lighting,
                trigger=TimetableTrigger(timetable_of(row, area), self._lead),
                args=[row.id],
                id=jid,
                name=version,
                replace_existing=True,
                misfire_grace_time=row.grace_s if row.misfire == "run_late" else 1,
            )
        wanted |= reconcile_programmes(scheduler, self._sessions)
        for job in scheduler.get_jobs():
            if job.id.split("-", 1)[0] in ("lighting", "programme") and job.id not in wanted:
                job.remove()

    def next_run(self, timetable_id: int, kind: str = "lighting") -> datetime | None:
        """The next planned instant (a lighting job fires ``lead`` before it)."""
        job = self._scheduler.get_job(f"{kind}-{timetable_id}") if self._scheduler else None
        at: datetime | None = job.next_run_time if job else None
        if at is None:
            return None
        return at + self._lead_of(kind)

    def _lead_of(self, kind: str) -> timedelta:
        """How long before its planned instant a job of this kind fires."""
        return self._lead if kind == "lighting" else timedelta(0)

    def fire_programme(self, programme_id: int) -> None:
        """Queue the programme's announcement for the firing due now (once, even if retried)."""
        now = datetime.now(UTC)
        due = programme_due(self._sessions, programme_id, now)
        if due is None or self.announcer is None:
            return
        programme, area, planned = due
        outcome = "late" if now - planned > LATE_AFTER else "done"
        if not self.runs.add("programme", programme.id, area.id, planned, outcome, programme.title, now):
            return
        self.announcer(programme, area)

    def fire_lighting(self, timetable_id: int) -> None:
        """Run the timetable's step due now, with every other timetable's step due with it."""
        self._steps.fire(timetable_id)

    def _send(self, area: Area, targets: list[Device], params: dict[str, object], source: str) -> None:
        with self._sessions.begin() as session:
            staged = self._steps.stage(session, area, targets, params, source)
        self._commands.publish([staged])

    # --- desired state ------------------------------------------------------------------

    def restore(
        self,
        area_code: str | None = None,
        device_id: str | None = None,
        device_ids: Collection[str] | None = None,
    ) -> int:
        """Bring online lights whose reported state differs from their desired state back to it.

        ``device_id`` or ``device_ids`` limit it to those lights (of ``area_code``).
        """
        wanted = set(device_ids or ()) | ({device_id} if device_id is not None else set())
        sent = 0
        now = datetime.now(UTC)
        with self._sessions() as session:
            query = select(Area)
            if area_code is not None:
                query = query.where(Area.code == area_code)
            areas = list(session.scalars(query))
            plans: list[tuple[Area, list[Device], dict[str, object]]] = []
            for area in areas:
                desired = desired_lights(session, area, now)
                if wanted:
                    desired = {k: v for k, v in desired.items() if k in wanted}
                if not desired:
                    continue
                plans += [(area, devs, params) for devs, params in corrections(session, area, desired)]
        for area, devs, params in plans:
            self._send(area, devs, params, "restore")
            sent += len(devs)
        if sent:
            log.info("re-applied desired state to %d light(s)", sent)
        return sent
