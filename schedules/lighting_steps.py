"""Firing lighting steps: every timetable due at an instant worked out in one pass, sent at the instant."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from hub.commands.factory import copies
from hub.commands.service import CommandService, Staged, Target
from hub.models import Area
from schedules.due_steps import DueStep, due_steps, record_runs
from schedules.run_records import LATE_AFTER, RunRecords

log = logging.getLogger(__name__)
# A light command from a timetable or a restore waits this long for an offline light.
LIGHT_TTL_S = 600


class LightingSteps:
    def __init__(
        self, sessions: sessionmaker[Session], commands: CommandService, lead: timedelta, runs: RunRecords
    ) -> None:
        self._sessions = sessions
        self._commands = commands
        # Lighting jobs fire this long before their step; the step is sent at its instant.
        self._lead = lead
        self._runs = runs
        self._due: set[int] = set()  # lighting timetables whose job fired, not yet handled
        self._due_lock = threading.Lock()
        self._firing = threading.Lock()
        # Steps worked out and waiting for their instant: timetable -> instant (under _due_lock).
        self._pending: dict[int, datetime] = {}
        self._swept: set[datetime] = set()  # instants already fired for every timetable (see due_steps)

    def fire(self, timetable_id: int) -> None:
        """Run the timetable's step due now, with every other timetable's step due with it.

        APScheduler runs each due job in its own thread; the first to get here works out
        all the timetables queued so far in one pass (see ``schedules.due_steps``), and
        those that arrive meanwhile are worked out by the next one. A job that finds its
        timetable's step already taken by another has nothing left to do. The steps are
        sent at their instant, outside the lock, so the jobs that arrive in the meantime
        find that out before it rather than after.
        """
        with self._due_lock:
            self._due.add(timetable_id)
        with self._firing:
            with self._due_lock:
                batch, self._due = self._due, set()
            if not batch:
                return
            try:
                steps = self._plan(sorted(batch))
            except Exception:
                # APScheduler reports the error of this job only; say which steps it took along.
                log.exception("lighting timetables %s: firing failed", sorted(batch))
                raise
        if steps:
            try:
                self._release(steps)
            except Exception:
                log.exception("lighting timetables %s: firing failed", [s.row.id for s in steps])
                raise
            finally:
                with self._due_lock:
                    for step in steps:
                        if self._pending.get(step.row.id) == step.occ.at:
                            del self._pending[step.row.id]

    def _plan(self, timetable_ids: list[int]) -> list[DueStep]:
        """The steps due by ``lead`` from now and not yet taken, now marked as taken."""
        # Worked out ``lead`` ahead (the job fired that early), so that at the instant only
        # the commit and the publishing are left: reading what is due took 20-60 ms of a
        # step's lateness. A step is late by the lead less than it looks from here.
        ahead = datetime.now(UTC) + self._lead
        with self._sessions() as session:
            steps, swept = due_steps(session, timetable_ids, ahead, LATE_AFTER + self._lead, self._swept)
        # Instants whose other timetables were fired along: later jobs of the same instant
        # need not look for them again. Only the last minute's are worth keeping.
        self._swept = {at for at in self._swept | swept if ahead - at < timedelta(minutes=1)}
        with self._due_lock:
            steps = [s for s in steps if self._pending.get(s.row.id) != s.occ.at]
            self._pending.update((s.row.id, s.occ.at) for s in steps)
        return steps

    def _release(self, steps: list[DueStep]) -> None:
        """At the steps' instant: record them and store their commands in one commit, then publish."""
        release = max(step.occ.at for step in steps)
        while (wait := (release - datetime.now(UTC)).total_seconds()) > 0:
            time.sleep(wait)
        now = datetime.now(UTC)
        staged: list[Staged] = []
        # The run records and the commands in one transaction: a step is recorded exactly
        # when its commands are stored, and only a step recorded now sends anything.
        with self._sessions.begin() as session:
            fresh = record_runs(session, steps, now)
            for step in steps:
                if step.row.id in fresh and step.targets and step.outcome != "suppressed":
                    staged.append(self.stage(session, step.area, step.targets, step.params, "schedule"))
        for step in steps:
            if step.row.id in fresh:
                self._runs.counted("lighting", step.outcome)
        self._commands.publish(staged)

    def stage(
        self, session: Session, area: Area, targets: Sequence[Target], params: dict[str, object], source: str
    ) -> Staged:
        """A timetable's (or a restore's) light command in ``session``, to publish once committed."""
        return self._commands.stage(
            session,
            area,
            targets,
            "light.set",
            params,
            copies("light.set", params),
            None,
            wait_s=0,
            ttl_s=LIGHT_TTL_S,
            source=source,
        )
