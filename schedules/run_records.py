"""The record of each schedule firing (``schedule_runs``): done, late or missed, each told once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.broadcasts.models import BroadcastProgramme
from hub.models import LightingTimetableRow, ScheduleRun

log = logging.getLogger(__name__)
# A firing this much after its planned instant is recorded as late.
LATE_AFTER = timedelta(seconds=2)


class RunRecords:
    def __init__(self, sessions: sessionmaker[Session], lead_of: Callable[[str], timedelta]) -> None:
        self._sessions = sessions
        self._lead_of = lead_of
        # Set by the runtime: count each outcome (metrics); tell the head what was missed.
        self.on_record: Callable[[str, str], object] | None = None
        self.on_missed: Callable[[str, int, str, datetime], object] | None = None

    def counted(self, kind: str, outcome: str) -> None:
        if self.on_record is not None:
            self.on_record(kind, outcome)

    def add(
        self,
        kind: str,
        schedule_id: int,
        area_id: int,
        planned: datetime,
        outcome: str,
        detail: str,
        ran: datetime | None,
    ) -> bool:
        """Record one firing; False if it was recorded already (the unique key says so)."""
        try:
            with self._sessions.begin() as session:
                session.add(
                    ScheduleRun(
                        schedule_kind=kind,
                        schedule_id=schedule_id,
                        area_id=area_id,
                        planned_at=planned,
                        ran_at=ran,
                        outcome=outcome,
                        detail=detail[:400],
                    )
                )
            self.counted(kind, outcome)
            return True
        except IntegrityError:
            return False

    def job_event(self, event: JobExecutionEvent) -> None:
        """APScheduler's word on a job that failed or missed its run (a listener: never raises)."""
        try:
            kind, _, raw_id = event.job_id.partition("-")
            row: LightingTimetableRow | BroadcastProgramme | None = None
            with self._sessions() as session:
                if kind == "lighting":
                    row = session.get(LightingTimetableRow, int(raw_id))
                elif kind == "programme":
                    row = session.get(BroadcastProgramme, int(raw_id))
            if row is None:
                return
            if event.code != EVENT_JOB_MISSED:
                log.error("%s %s failed: %s", kind, raw_id, event.exception)
                return
            planned = event.scheduled_run_time + self._lead_of(kind)
            recorded = self.add(
                kind,
                int(raw_id),
                row.area_id,
                planned,
                "missed",
                "the hub was not running within the grace window",
                None,
            )
            if not recorded:  # this firing was run or found missed already: tell nobody twice
                return
            log.warning("%s %s missed its run at %s", kind, raw_id, planned)
            if self.on_missed is not None:
                self.on_missed(kind, row.area_id, getattr(row, "name", raw_id), planned)
        except Exception:
            log.exception("could not record a job event")
