"""Camera alerts to the area head: outages that outlast a debounce window, recoveries, tampering.

The ingest writer calls ``on_changes`` after each batch; it only queues the camera changes.
A thread of its own keeps the outage rows and a timer per open outage, so a camera that
drops off for a few seconds (a flap) leaves a short outage in the history and tells nobody,
and each outage alerts at most once however often the camera flaps.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from devices.payloads import Kind, Priority
from hub.bulk_sql import IN_CHUNK
from hub.models import Area, Device, DeviceStatus, as_utc
from hub.notifications.metrics import NotificationMetrics
from hub.notifications.models import CameraOutage
from hub.notifications.service import NotificationService
from hub.notifications.texts import local_time, vi_duration
from hub.registry_store import Change

log = logging.getLogger(__name__)

_STOP = object()


@dataclass(frozen=True, slots=True)
class _Camera:
    pk: int
    area_id: int
    device_id: str
    name: str
    tz: str

    @property
    def title_name(self) -> str:
        """ "Camera Cổng 1" whether the installer named it "Cổng 1" or "Camera Cổng 1"."""
        return self.name if self.name.lower().startswith("camera") else f"Camera {self.name}"


class CameraAlerts:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        notifications: NotificationService,
        metrics: NotificationMetrics,
        debounce_s: float,
    ) -> None:
        self._sessions = sessions
        self._notify = notifications
        self._metrics = metrics
        self.debounce_s = debounce_s
        self._queue: queue.Queue[object] = queue.Queue(maxsize=10_000)
        self._timers: list[tuple[float, int]] = []  # (monotonic due, outage id), a heap
        self._tampered: dict[int, float] = {}  # camera pk -> monotonic time of the last alert
        self._thread = threading.Thread(target=self._run, name="camera-alerts", daemon=True)

    def start(self) -> None:
        self._resume_open_outages()
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(10)

    def on_changes(self, changes: list[Change]) -> None:
        """Ingest listener (writer thread): keep the camera changes, never block."""
        mine = [c for c in changes if c.kind == Kind.CAMERA and ("online" in c.fields or _tampering(c))]
        if mine:
            try:
                self._queue.put_nowait(mine)
            except queue.Full:
                log.error("camera alert queue full; %d change(s) dropped", len(mine))

    # --- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            timeout = max(0.0, self._timers[0][0] - time.monotonic()) if self._timers else None
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            try:
                if isinstance(item, list):
                    self._apply(item)
                self._fire_due_timers()
            except Exception:
                log.exception("camera alert handling failed")

    def _apply(self, changes: list[Change]) -> None:
        # The batch's cameras and their open outages in a few queries, not two per change:
        # after 30,000 cameras came back online at once this thread stayed busy for a minute.
        # Only this thread opens and closes outages, so the set stays true as it goes.
        # Outages are opened together, in one transaction, when the batch is done (a power
        # cut takes every camera of a street at once: one transaction each kept this thread,
        # and the GIL, busy for minutes at 30,000), or before a recovery that needs its row.
        cams = self._cameras({(c.area, c.device) for c in changes})
        open_pks = _open_outage_pks(self._sessions, [cam.pk for cam in cams.values()])
        down: list[_Camera] = []
        for ch in changes:
            cam = cams.get((ch.area, ch.device))
            if cam is None:
                continue
            if "online" in ch.fields:
                if ch.fields["online"]:
                    if cam.pk in open_pks:
                        open_pks.discard(cam.pk)
                        self._down(down)  # its outage may be among them
                        down.clear()
                        self._back(cam)
                elif cam.pk not in open_pks:  # else already counted (a gateway's Will repeats it)
                    open_pks.add(cam.pk)
                    down.append(cam)
            elif _tampering(ch) and ch.fields["event"].get("active"):
                self._tampering_alert(cam)
        self._down(down)

    def _down(self, cams: list[_Camera]) -> None:
        """Open an outage for each of these cameras, with its debounce timer."""
        if not cams:
            return
        now = datetime.now(UTC)
        rows = [{"area_id": c.area_id, "device_pk": c.pk, "started_at": now} for c in cams]
        with self._sessions.begin() as session:
            ids = session.scalars(insert(CameraOutage).returning(CameraOutage.id), rows).all()
        due = time.monotonic() + self.debounce_s
        for oid in ids:
            heapq.heappush(self._timers, (due, oid))

    def _back(self, cam: _Camera) -> None:
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            outage = _open_outage(session, cam.pk)
            if outage is None:
                return
            started = as_utc(outage.started_at)
            outage.ended_at = now
            outage.duration_s = round((now - started).total_seconds(), 3)
            alerted, oid, duration = outage.alerted, outage.id, outage.duration_s
        # Its timer, if still pending, finds the outage closed and does nothing.
        if not alerted:
            return
        nid = self._notify.notify_staff(
            cam.area_id,
            f"{cam.title_name} đã kết nối lại",  # "... is back online"
            f"{cam.title_name} ({cam.device_id}) đã hoạt động trở lại sau {vi_duration(duration)} "
            f"mất kết nối (từ {local_time(started, cam.tz)} đến {local_time(now, cam.tz)}).",
            Priority.NORMAL,
            ref=f"outage:{oid}",
            kind="camera_online",
        )
        self._metrics.camera_alerts.labels("recovered").inc()
        with self._sessions.begin() as session:
            row = session.get(CameraOutage, oid)
            if row is not None:
                row.recovery_notification_id = nid

    def _fire_due_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, oid = heapq.heappop(self._timers)
            self._outage_alert(oid)

    def _outage_alert(self, oid: int) -> None:
        with self._sessions() as session:
            outage = session.get(CameraOutage, oid)
            if outage is None or outage.ended_at is not None or outage.alerted:
                return
            cam = _camera_by_pk(session, outage.device_pk)
            started = as_utc(outage.started_at)
        if cam is None:
            return
        # Told first, marked after: a crash in between repeats the alert rather than losing it.
        nid = self._notify.notify_staff(
            cam.area_id,
            f"{cam.title_name} mất kết nối",  # "... lost its connection"
            f"{cam.title_name} ({cam.device_id}) mất kết nối từ {local_time(started, cam.tz)} và chưa "
            f"kết nối lại sau {vi_duration(self.debounce_s)}. Hãy kiểm tra nguồn điện và đường mạng.",
            Priority.PRIORITY,
            ref=f"outage:{oid}",
            kind="camera_offline",
        )
        self._metrics.camera_alerts.labels("offline").inc()
        with self._sessions.begin() as session:
            row = session.get(CameraOutage, oid)
            if row is not None:
                row.alerted, row.alert_notification_id = True, nid

    def _tampering_alert(self, cam: _Camera) -> None:
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

    def _cameras(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], _Camera]:
        """The accepted cameras among these (area, device): one nobody accepted is nobody's concern."""
        by_area: dict[str, list[str]] = {}
        for area, device in keys:
            by_area.setdefault(area, []).append(device)
        found: dict[tuple[str, str], _Camera] = {}
        with self._sessions() as session:
            for area, devices in by_area.items():
                for i in range(0, len(devices), IN_CHUNK):
                    rows = session.execute(
                        select(Device.id, Device.area_id, Device.device_id, Device.name, Area.timezone)
                        .join(Area, Area.id == Device.area_id)
                        .where(
                            Area.code == area,
                            Device.device_id.in_(devices[i : i + IN_CHUNK]),
                            Device.status == DeviceStatus.ACTIVE.value,
                        )
                    )
                    for row in rows:
                        found[(area, row.device_id)] = _Camera(
                            row.id, row.area_id, row.device_id, row.name or row.device_id, row.timezone
                        )
        return found

    def _resume_open_outages(self) -> None:
        """After a restart, outages still open get their timers back (due at once if overdue)."""
        now_wall, now_mono = datetime.now(UTC), time.monotonic()
        with self._sessions() as session:
            rows = session.execute(
                select(CameraOutage.id, CameraOutage.started_at).where(
                    CameraOutage.ended_at.is_(None), CameraOutage.alerted.is_(False)
                )
            ).all()
        for oid, started in rows:
            left = self.debounce_s - (now_wall - as_utc(started)).total_seconds()
            heapq.heappush(self._timers, (now_mono + max(0.0, left), oid))


def _tampering(ch: Change) -> bool:
    event = ch.fields.get("event")
    return isinstance(event, dict) and event.get("type") == "tampering"


def _open_outage(session: Session, device_pk: int) -> CameraOutage | None:
    return session.scalar(
        select(CameraOutage)
        .where(CameraOutage.device_pk == device_pk, CameraOutage.ended_at.is_(None))
        .order_by(CameraOutage.id.desc())
        .limit(1)
    )


def _open_outage_pks(sessions: sessionmaker[Session], pks: list[int]) -> set[int]:
    """Which of these cameras have an outage still open."""
    out: set[int] = set()
    with sessions() as session:
        for i in range(0, len(pks), IN_CHUNK):
            out.update(
                session.scalars(
                    select(CameraOutage.device_pk).where(
                        CameraOutage.device_pk.in_(pks[i : i + IN_CHUNK]), CameraOutage.ended_at.is_(None)
                    )
                )
            )
    return out


def _camera_by_pk(session: Session, pk: int) -> _Camera | None:
    row = session.execute(
        select(Device.id, Device.area_id, Device.device_id, Device.name, Area.timezone)
        .join(Area, Area.id == Device.area_id)
        .where(Device.id == pk)
    ).first()
    return (
        _Camera(row.id, row.area_id, row.device_id, row.name or row.device_id, row.timezone) if row else None
    )
