"""Plays announcements on the loudspeakers: priority order, synchronised start, per-speaker proof.

Circular 39/2020/TT-BTTTT levels: a normal bulletin waits its turn, a priority one goes
next, an emergency one interrupts whatever plays on its speakers and starts at once; what
it interrupted is queued again (as a new announcement that ``resumes`` the old one).
Every speaker of one announcement gets the same start time, slightly in the future, so
neighbouring speakers do not echo.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from devices.payloads import Priority
from hub.broadcasts.audio_links import AudioLinks
from hub.broadcasts.models import (
    OPEN_ANNOUNCEMENT,
    TERMINAL_DELIVERY,
    Announcement,
    AnnouncementStatus,
    DeliveryStatus,
    SpeakerDelivery,
)
from hub.broadcasts.playback import Playback, finish_if_done
from hub.broadcasts.speaker_reports import SpeakerReports
from hub.commands.factory import copies
from hub.commands.service import CommandService, Target
from hub.models import Area, Device, DeviceStatus, as_utc
from hub.registry.changes import Change

log = logging.getLogger(__name__)
RANK = {Priority.NORMAL.value: 0, Priority.PRIORITY.value: 1, Priority.EMERGENCY.value: 2}
Notifier = Callable[[int, str, str, Priority, str | None, str | None], object]


class BroadcastService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        commands: CommandService,
        links: AudioLinks,
        sync_lead_ms: int,
        end_grace_s: float,
    ) -> None:
        self._sessions = sessions
        self._commands = commands
        self.links = links
        self.end_grace = timedelta(seconds=end_grace_s)
        self._playback = Playback(sessions, commands, links, timedelta(milliseconds=sync_lead_ms))
        self._reports = SpeakerReports()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="broadcasts", daemon=True)
        self.notifier: Notifier | None = None
        # Of hub replicas only the scheduler lease holder starts announcements (once).
        self.leads: Callable[[], bool] = lambda: True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(5)

    def wake(self) -> None:
        self._wake.set()

    def on_changes(self, changes: list[Change]) -> None:
        """Speaker reports (ingest writer thread): hand over, never do database work here."""
        if self._reports.collect(changes):
            self._wake.set()

    def speakers_for(self, session: Session, area_id: int, zone_ids: list[int] | None) -> list[Target]:
        """The accepted speakers of the zones (all of the area's if None): id, device id, online."""
        query = select(Device.id, Device.device_id, Device.online).where(
            Device.area_id == area_id, Device.kind == "speaker", Device.status == DeviceStatus.ACTIVE.value
        )
        if zone_ids is not None:
            query = query.where(Device.zone_id.in_(zone_ids))
        return list(session.execute(query.order_by(Device.device_id)).all())

    def cancel(self, area: Area, announcement_id: str) -> None:
        """Withdraw a waiting announcement, or stop its speakers if it is playing."""
        with self._sessions.begin() as session:
            ann = session.get(Announcement, announcement_id)
            if ann is None or ann.status not in [s.value for s in OPEN_ANNOUNCEMENT]:
                return
            playing = ann.status == AnnouncementStatus.PLAYING.value
            ann.status, ann.finished_at = AnnouncementStatus.CANCELLED.value, datetime.now(UTC)
            pks = self._busy_speakers(session, ann) if playing else set()
            speakers = list(session.scalars(select(Device).where(Device.id.in_(pks)))) if pks else []
            session.execute(
                update(SpeakerDelivery)
                .where(
                    SpeakerDelivery.announcement_id == announcement_id,
                    SpeakerDelivery.status.not_in([s.value for s in TERMINAL_DELIVERY]),
                )
                .values(status=DeliveryStatus.STOPPED.value, error="cancelled by the area head")
            )
        online = [d for d in speakers if d.online]
        if online:
            params: dict[str, object] = {"announcement": announcement_id}
            self._commands.issue(
                area,
                online,
                "speaker.stop",
                params,
                copies("speaker.stop", params),
                None,
                wait_s=0,
                ttl_s=30,
                source="broadcast",
            )
        self._wake.set()

    # --- the worker -------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.1)
            self._wake.clear()
            try:
                self._reports.apply(self._sessions)
                if self.leads():
                    self.tick(datetime.now(UTC))
            except Exception:
                log.exception("broadcast tick failed")

    def tick(self, now: datetime) -> None:
        due_now = (Announcement.status == AnnouncementStatus.SCHEDULED.value, Announcement.not_before <= now)
        with self._sessions() as session:
            # Read first, in one query: this runs ten times a second, mostly with nothing to
            # do, and an UPDATE would take the database's write lock every time.
            active = session.execute(
                select(Announcement.status, Announcement.not_before).where(
                    Announcement.status.in_(
                        [
                            AnnouncementStatus.SCHEDULED.value,
                            AnnouncementStatus.QUEUED.value,
                            AnnouncementStatus.PLAYING.value,
                        ]
                    )
                )
            ).all()
            if not any(st != AnnouncementStatus.SCHEDULED.value or as_utc(at) <= now for st, at in active):
                return
            due = list(session.scalars(select(Announcement.id).where(*due_now)))
        with self._sessions.begin() as session:
            if due:
                session.execute(
                    update(Announcement)
                    .where(Announcement.id.in_(due), *due_now)
                    .values(status=AnnouncementStatus.QUEUED.value)
                )
            for ann in session.scalars(
                select(Announcement).where(Announcement.status == AnnouncementStatus.PLAYING.value)
            ):
                if finish_if_done(session, ann, now, self.end_grace):
                    self._wake.set()  # speakers are free: the next one may start
            areas = set(
                session.scalars(
                    select(Announcement.area_id).where(Announcement.status == AnnouncementStatus.QUEUED.value)
                )
            )
        for area_id in areas:
            self._dispatch(area_id, now)

    def _dispatch(self, area_id: int, now: datetime) -> None:
        """Start every queued announcement whose speakers are free, best priority first."""
        with self._sessions() as session:
            area = session.get(Area, area_id)
            queued = sorted(
                session.scalars(
                    select(Announcement).where(
                        Announcement.area_id == area_id,
                        Announcement.status == AnnouncementStatus.QUEUED.value,
                    )
                ),
                key=lambda a: (-RANK[a.priority], as_utc(a.created_at)),
            )
            playing = list(
                session.scalars(
                    select(Announcement).where(
                        Announcement.area_id == area_id,
                        Announcement.status == AnnouncementStatus.PLAYING.value,
                    )
                )
            )
            busy = {pk: ann for ann in playing for pk in self._busy_speakers(session, ann)}
            plans: list[tuple[Announcement, list[Target], list[Announcement]]] = []
            claimed: set[int] = set()
            for ann in queued:
                speakers = self.speakers_for(session, area_id, ann.zone_ids)
                pks = {d.id for d in speakers}
                if ann.priority == Priority.EMERGENCY.value:
                    pre_empted = {
                        busy[pk].id: busy[pk] for pk in pks & busy.keys() if busy[pk].priority != "emergency"
                    }
                    if pks & {pk for pk, a in busy.items() if a.priority == "emergency"} or pks & claimed:
                        claimed |= pks
                        continue
                    plans.append((ann, speakers, list(pre_empted.values())))
                elif pks & (busy.keys() | claimed):
                    claimed |= pks  # later, lower announcements must not overtake it on these speakers
                    continue
                else:
                    plans.append((ann, speakers, []))
                claimed |= pks
        if area is None:
            return
        for ann, speakers, victims in plans:
            for victim in victims:
                self._interrupt(area, victim, by=ann)
            self._start(area, ann, speakers, now)

    def _busy_speakers(self, session: Session, ann: Announcement) -> set[int]:
        rows = session.scalars(
            select(SpeakerDelivery.device_pk).where(
                SpeakerDelivery.announcement_id == ann.id,
                SpeakerDelivery.status.not_in([s.value for s in TERMINAL_DELIVERY]),
            )
        )
        return set(rows)

    def _start(self, area: Area, ann: Announcement, speakers: list[Target], now: datetime) -> None:
        asset = self._playback.start(area, ann, speakers)
        if self.notifier is not None and ann.notify and ann.resumes is None:
            try:
                self.notifier(
                    area.id,
                    ann.title,
                    ann.text or ann.title,
                    Priority(ann.priority),
                    self.links.for_listeners(asset, ann.id, datetime.now(UTC)),
                    ann.id,
                )
            except Exception:
                log.exception("could not notify residents of announcement %s", ann.id)

    def _interrupt(self, area: Area, victim: Announcement, by: Announcement) -> None:
        """Stop an announcement pre-empted by an emergency and queue it again to resume after."""
        with self._sessions.begin() as session:
            session.execute(
                update(SpeakerDelivery)
                .where(
                    SpeakerDelivery.announcement_id == victim.id,
                    SpeakerDelivery.status.not_in([s.value for s in TERMINAL_DELIVERY]),
                )
                .values(status=DeliveryStatus.INTERRUPTED.value, error=f"interrupted by emergency {by.id}")
            )
            session.execute(
                update(Announcement)
                .where(Announcement.id == victim.id)
                .values(
                    status=AnnouncementStatus.INTERRUPTED.value,
                    finished_at=datetime.now(UTC),
                    note=f"interrupted by emergency announcement {by.id}; queued again to resume",
                )
            )
            session.add(
                Announcement(
                    id=uuid.uuid4().hex,
                    area_id=victim.area_id,
                    title=victim.title,
                    text=victim.text,
                    audio_id=victim.audio_id,
                    priority=victim.priority,
                    zone_ids=victim.zone_ids,
                    status=AnnouncementStatus.QUEUED.value,
                    source="resumed",
                    not_before=datetime.now(UTC),
                    resumes=victim.id,
                    notify=False,
                    created_by=victim.created_by,
                    created_at=victim.created_at,  # keeps its place at the head of its priority
                    note=f"resumes {victim.id} after the emergency",
                )
            )
        log.warning("announcement %s interrupted by emergency %s; re-queued", victim.id, by.id)
