"""Camera alerts to the area head: incidents that outlast a debounce window, recoveries, tampering.

The ingest writer calls ``on_changes`` after each batch; it only queues the camera changes.
A thread of its own keeps each camera's outage rows, groups them into incidents (see
``incidents``: one power cut, one alert) and a timer per open incident, so a camera that
drops off for a few seconds (a flap) leaves a short outage in the history and tells nobody,
and each incident alerts at most once however often its cameras flap.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, insert, update
from sqlalchemy.orm import Session, sessionmaker

from devices.payloads import Kind, Priority
from hub.bulk_sql import update_rows
from hub.notifications import incident_texts
from hub.notifications.camera_lookup import Camera, camera_by_pk, cameras, open_outage_pks, open_outages
from hub.notifications.incidents import IncidentBook, OpenIncident
from hub.notifications.metrics import NotificationMetrics
from hub.notifications.models import CameraOutage, Incident
from hub.notifications.service import NotificationService
from hub.notifications.texts import local_time
from hub.registry.changes import Change

log = logging.getLogger(__name__)

_STOP = object()
_RESUME = object()
_OUTAGES = cast(Table, CameraOutage.__table__)


class CameraAlerts:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        notifications: NotificationService,
        metrics: NotificationMetrics,
        debounce_s: float,
        window_s: float,
    ) -> None:
        self._sessions = sessions
        self._notify = notifications
        self._metrics = metrics
        self.debounce_s = debounce_s
        self._queue: queue.Queue[object] = queue.Queue(maxsize=10_000)
        self._window_s = window_s
        self.incidents = IncidentBook(window_s)
        self._timers: list[tuple[float, int]] = []  # (monotonic due, incident id), a heap
        self._tampered: dict[int, float] = {}  # camera pk -> monotonic time of the last alert
        self._thread = threading.Thread(target=self._run, name="camera-alerts", daemon=True)
        # Of hub replicas only the scheduler lease holder alerts; it hears every replica's reports.
        self.leads: Callable[[], bool] = lambda: True

    def start(self) -> None:
        self._resume_open_incidents()
        self._thread.start()

    def resume(self) -> None:
        """This hub replica took the scheduler lease over: read the open incidents again."""
        self._queue.put(_RESUME)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(10)

    def on_changes(self, changes: list[Change]) -> None:
        """Ingest listener (writer thread): keep the camera changes, never block."""
        mine = [c for c in changes if c.kind == Kind.CAMERA and ("online" in c.fields or _tampering(c))]
        if mine and self.leads():
            try:
                self._queue.put_nowait(mine)
            except queue.Full:
                log.error("camera alert queue full; %d change(s) dropped", len(mine))

    # --- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            leads = self.leads()
            timeout = max(0.0, self._timers[0][0] - time.monotonic()) if self._timers else None
            if not leads and timeout is not None:
                timeout = max(timeout, 1.0)  # its timers wait for the lease
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            try:
                if item is _RESUME:
                    # What another replica opened while this one stood by is in the database only.
                    self.incidents, self._timers = IncidentBook(self._window_s), []
                    self._resume_open_incidents()
                    leads = True
                elif isinstance(item, list):
                    self._apply(item)
                if leads:
                    self._fire_due_timers()
            except Exception:
                log.exception("camera alert handling failed")

    def _apply(self, changes: list[Change]) -> None:
        # The batch's cameras and their open outages in a few queries, not two per change:
        # after 30,000 cameras came back online at once this thread stayed busy for a minute.
        # Only this thread opens and closes outages, so the set stays true as it goes.
        # Outages are opened together, in one transaction (a power cut takes every camera of a
        # street at once: one transaction each kept this thread, and the GIL, busy for minutes
        # at 30,000), and closed together the same way (one each took 19 s at 30,000, beside
        # the ingest writer). A run of one is written before the other begins, so the batch
        # keeps its order: a camera down and back in one batch needs its row written first,
        # and an incident ended by a camera's return is over before a later camera goes dark.
        cams = cameras(self._sessions, {(c.area, c.device) for c in changes})
        open_pks = open_outage_pks(self._sessions, [cam.pk for cam in cams.values()])
        down: list[Camera] = []
        back: list[Camera] = []
        for ch in changes:
            cam = cams.get((ch.area, ch.device))
            if cam is None:
                continue
            if "online" in ch.fields:
                if ch.fields["online"]:
                    if cam.pk in open_pks:
                        open_pks.discard(cam.pk)
                        self._down(down)
                        down.clear()
                        back.append(cam)
                elif cam.pk not in open_pks:  # else already counted (a gateway's Will repeats it)
                    open_pks.add(cam.pk)
                    self._back(back)
                    back.clear()
                    down.append(cam)
            elif _tampering(ch) and ch.fields["event"].get("active"):
                self._tampering_alert(cam)
        self._down(down)  # one of the two is empty
        self._back(back)

    def _down(self, cams: list[Camera]) -> None:
        """Open an outage for each of these cameras, in its incident (a new one gets a timer)."""
        if not cams:
            return
        now = datetime.now(UTC)
        before = self.incidents.opened
        with self._sessions.begin() as session:
            of = self.incidents.join(session, [(c.pk, c.area_id) for c in cams], now)
            rows = [
                {"area_id": c.area_id, "device_pk": c.pk, "started_at": now, "incident_id": of[c.pk]}
                for c in cams
            ]
            session.execute(insert(CameraOutage), rows)
        due = time.monotonic() + self.debounce_s
        for iid in sorted(set(of.values())):
            inc = self.incidents.get(iid)
            if inc is not None and inc.started == now:  # opened just now
                heapq.heappush(self._timers, (due, iid))
        self._metrics.incidents_opened.inc(self.incidents.opened - before)

    def _back(self, cams: list[Camera]) -> None:
        """Close the open outages of these cameras, and each incident whose last camera this was."""
        if not cams:
            return
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            outages = open_outages(session, [c.pk for c in cams])
            rows = [
                {"id": oid, "duration_s": round((now - since).total_seconds(), 3)}
                for oid, _, since in outages
            ]
            # Many rows a statement: executemany's one step a row waits for the GIL each time.
            update_rows(session.connection(), _OUTAGES, ("id",), rows, also={"ended_at": now})
        closed = {pk for _, pk, _ in outages}
        for cam in cams:  # in the batch's order: the last one back names the recovery notice
            inc = self.incidents.back(cam.pk) if cam.pk in closed else None
            if inc is not None:
                self._ended(inc, cam, now)

    def _ended(self, inc: OpenIncident, last: Camera, now: datetime) -> None:
        """The incident's cameras are all back: close it, and tell the head if it was told."""
        with self._sessions.begin() as session:
            row = session.get(Incident, inc.id)
            if row is None:
                return
            row.ended_at = now
            summary = incident_texts.Summary.from_json(row.summary)
        if not inc.alerted:  # its timer, if still pending, finds it gone and does nothing
            return
        summary = summary.lone(last.title_name, last.device_id)
        title, body = incident_texts.recovery_text(summary, inc.started, now, last.tz)
        nid = self._notify.notify_staff(
            inc.area_id, title, body, Priority.NORMAL, ref=f"incident:{inc.id}", kind="camera_online"
        )
        self._metrics.camera_alerts.labels("recovered").inc()
        with self._sessions.begin() as session:
            row = session.get(Incident, inc.id)
            if row is not None:
                row.recovery_notification_id = nid

    def _fire_due_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, iid = heapq.heappop(self._timers)
            self._incident_alert(iid)

    def _incident_alert(self, iid: int) -> None:
        inc = self.incidents.get(iid)
        if inc is None or inc.alerted or not inc.dark:
            return  # over before the debounce: nobody is told
        with self._sessions() as session:
            cam = camera_by_pk(session, next(iter(inc.dark)))
            summary = incident_texts.summarize(session, inc.area_id, inc.started)
        if cam is None:
            return
        if not summary.kinds:  # the devices table already shows them back: count what is known
            summary = incident_texts.Summary({"camera": len(inc.dark)})
        summary = summary.lone(cam.title_name, cam.device_id)
        title, body = incident_texts.offline_text(summary, inc.started, cam.tz, self.debounce_s)
        # Told first, marked after: a crash in between repeats the alert rather than losing it.
        nid = self._notify.notify_staff(
            inc.area_id, title, body, Priority.PRIORITY, ref=f"incident:{iid}", kind="camera_offline"
        )
        self._metrics.camera_alerts.labels("offline").inc()
        inc.alerted = True
        with self._sessions.begin() as session:
            session.execute(
                update(Incident)
                .where(Incident.id == iid)
                .values(alerted=True, alert_notification_id=nid, summary=summary.as_json())
            )
            session.execute(
                update(CameraOutage)
                .where(CameraOutage.incident_id == iid, CameraOutage.ended_at.is_(None))
                .values(alerted=True, alert_notification_id=nid)
            )

    def _tampering_alert(self, cam: Camera) -> None:
        last = self._tampered.get(cam.pk)
        now = time.monotonic()
        if last is not None and now - last < self.debounce_s:
            return  # a camera toggling its tamper switch gets one alert per window
        self._tampered[cam.pk] = now
        self._notify.notify_staff(
            cam.area_id,
            f"{cam.title_name} bị che hoặc bị tác động",  # "... covered or tampered with"
            f"{cam.title_name} ({cam.device_id}) báo bị che, xoay hoặc phá hoại lúc "
            f"{local_time(datetime.now(UTC), cam.tz)}. Hãy kiểm tra camera.",
            Priority.PRIORITY,
            ref=f"camera:{cam.device_id}",
            kind="camera_tampering",
        )
        self._metrics.camera_alerts.labels("tampering").inc()

    # --- lookups -----------------------------------------------------------------------

    def _resume_open_incidents(self) -> None:
        """After a restart, open incidents get their timers back (due at once if overdue)."""
        now_wall, now_mono = datetime.now(UTC), time.monotonic()
        with self._sessions.begin() as session:
            still_open, done = self.incidents.resume(session, now_wall)
            for inc in done:
                session.execute(update(Incident).where(Incident.id == inc.id).values(ended_at=now_wall))
        for inc in still_open:
            if not inc.alerted:
                left = self.debounce_s - (now_wall - inc.started).total_seconds()
                heapq.heappush(self._timers, (now_mono + max(0.0, left), inc.id))


def _tampering(ch: Change) -> bool:
    event = ch.fields.get("event")
    return isinstance(event, dict) and event.get("type") == "tampering"
