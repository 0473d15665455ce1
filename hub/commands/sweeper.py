"""The command sweeper: expires and times out commands, and delivers what waited for a device.

A command to an offline device waits (queued) until the device announces itself online. A
command still unconfirmed (sent, or timed out) and within its time to live when its device
(re)announces itself is sent again, with the same id: the broker may have lost it in a crash,
or the device may have reconnected without a session; a device that did get it knows the id
and does not act twice. If a later command to the device was confirmed first, or a later
order of the same action was issued, the old one ends ``superseded`` instead, since sending it
then would undo the later one. A ``restore`` re-applying the same parameters is no later
order: it carries the old one's intent (see ``schedules.desired``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, exists, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from devices.messages import CommandOrder
from hub.commands.factory import build
from hub.models import Area, CommandRow, CommandStatus, Device, as_utc

log = logging.getLogger(__name__)

BACKGROUND_CONFIRM_S = 30.0

_later = aliased(CommandRow)
# Compared as text: PostgreSQL's json type has no equality, and both were written by json.dumps.
_SAME_INTENT = and_(
    _later.source == "restore",
    _later.action == CommandRow.action,
    cast(_later.params, String) == cast(CommandRow.params, String),
)
_LATER_CONFIRMED = exists().where(
    _later.device_pk == CommandRow.device_pk,
    _later.status == CommandStatus.CONFIRMED.value,
    _later.created_at > CommandRow.created_at,
    ~_SAME_INTENT,
)
# A later order of the same kind decides what the device should do, even before it is confirmed.
_LATER_ORDER = exists().where(
    _later.device_pk == CommandRow.device_pk,
    _later.action == CommandRow.action,
    _later.status.in_(
        [
            CommandStatus.QUEUED.value,
            CommandStatus.SENT.value,
            CommandStatus.TIMED_OUT.value,
            CommandStatus.CONFIRMED.value,
        ]
    ),
    _later.created_at > CommandRow.created_at,
    ~_SAME_INTENT,
)
_UNCONFIRMED = (CommandStatus.SENT.value, CommandStatus.TIMED_OUT.value)
_SUPERSEDED = "not confirmed, and a later command to the device was confirmed first"
_OVERTAKEN = "not confirmed, and a later order to the device replaced it"


@dataclass(frozen=True, slots=True)
class Outcome:
    device_id: str
    command_id: str
    status: CommandStatus
    state: dict[str, Any] | None = None
    error: str | None = None


Ended = list[tuple[Outcome, str]]
EndRows = Callable[[Session, tuple[Any, ...], CommandStatus, str], Ended]


def epoch_ms(at: datetime) -> int:
    return int(as_utc(at).timestamp() * 1000)


class CommandSweeper:
    """A thread that wakes five times a second, or at once when a device comes back."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        send: Callable[[CommandOrder], bool],
        end_rows: EndRows,
        announce: Callable[[Ended], None],
    ) -> None:
        self._sessions = sessions
        self._send = send
        self._end_rows = end_rows
        self._announce = announce
        self._lock = threading.Lock()
        # Devices that announced themselves online since the last sweep.
        self._returned: set[tuple[str, str]] = set()
        # Devices sent commands again: an old one the device had already acted on gets no
        # second answer (protocol 3.6), so it ends superseded once a later one is confirmed.
        self._resent: set[int] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sweep_forever, name="command-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def returned(self, devices: set[tuple[str, str]]) -> None:
        """These (area, device) announced themselves online."""
        with self._lock:
            self._returned |= devices
        self._wake.set()

    def _sweep_forever(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            try:
                self.sweep()
            except Exception:
                log.exception("command sweep failed")

    def sweep(self) -> None:
        """Expire, time out, and deliver queued commands whose device is online again."""
        now = datetime.now(UTC)
        expired = (CommandRow.status == CommandStatus.QUEUED.value, CommandRow.expires_at < now)
        overdue = (CommandRow.status == CommandStatus.SENT.value, CommandRow.confirm_by < now)
        with self._sessions() as session:
            # Read first: this runs five times a second, and an UPDATE would take the
            # database's write lock every time even when nothing is due.
            due = session.scalar(select(exists().where(or_(and_(*expired), and_(*overdue)))))
            with self._lock:
                returned, self._returned = self._returned, set()
            in_flight = [CommandStatus.QUEUED.value] + (list(_UNCONFIRMED) if returned else [])
            waiting = session.execute(
                select(Area.code, CommandRow.device_id, CommandRow.status)
                .join(Area, Area.id == CommandRow.area_id)
                .join(Device, Device.id == CommandRow.device_pk)
                .where(
                    CommandRow.status.in_(in_flight), CommandRow.expires_at >= now, Device.online.is_(True)
                )
                .distinct()
            ).all()
        ended: list[tuple[Outcome, str]] = []
        if due:
            with self._sessions.begin() as session:
                ended = self._end_rows(session, expired, CommandStatus.EXPIRED, "device stayed offline")
                ended += self._end_rows(
                    session, (*overdue, _LATER_CONFIRMED), CommandStatus.SUPERSEDED, _SUPERSEDED
                )
                ended += self._end_rows(session, overdue, CommandStatus.TIMED_OUT, "no confirmation")
        ended += self._close_superseded()
        self._announce(ended)
        due_devices = {
            (a, d) for a, d, st in waiting if st == CommandStatus.QUEUED.value or (a, d) in returned
        }
        for area_code, device_id in due_devices:
            self.deliver_queued(area_code, device_id, resend=(area_code, device_id) in returned)

    def _close_superseded(self) -> list[tuple[Outcome, str]]:
        if not self._resent:
            return []
        sent = (CommandRow.device_pk.in_(set(self._resent)), CommandRow.status == CommandStatus.SENT.value)
        with self._sessions() as session:
            # Read first, as ``sweep`` does: the UPDATE takes the database's write lock.
            self._resent = set(session.scalars(select(CommandRow.device_pk).where(*sent).distinct()))
            due = session.scalar(select(exists().where(*sent, _LATER_CONFIRMED)))
        if not due:
            return []
        with self._sessions.begin() as session:
            return self._end_rows(session, (*sent, _LATER_CONFIRMED), CommandStatus.SUPERSEDED, _SUPERSEDED)

    def deliver_queued(self, area_code: str, device_id: str, resend: bool = False) -> int:
        """Send what waited for a device that just came online, oldest first.

        With ``resend``, commands it has not confirmed (sent, or timed out while it was away)
        go again too while they live, unless a later command to it is already confirmed or a
        later order of the same action was issued (that one decides the device's state).
        """
        now = datetime.now(UTC)
        ended: list[tuple[Outcome, str]] = []
        statuses = [CommandStatus.QUEUED.value] + (list(_UNCONFIRMED) if resend else [])
        with self._sessions.begin() as session:
            area_id = select(Area.id).where(Area.code == area_code).scalar_subquery()
            mine = (CommandRow.area_id == area_id, CommandRow.device_id == device_id)
            if resend:
                # Sending an older one again would undo the later one.
                unconfirmed = (*mine, CommandRow.status.in_(_UNCONFIRMED))
                ended = self._end_rows(
                    session, (*unconfirmed, _LATER_CONFIRMED), CommandStatus.SUPERSEDED, _SUPERSEDED
                )
                ended += self._end_rows(
                    session, (*unconfirmed, _LATER_ORDER), CommandStatus.SUPERSEDED, _OVERTAKEN
                )
            # The device must still be online: the event that woke us may be stale by now.
            rows = session.scalars(
                select(CommandRow)
                .join(Device, Device.id == CommandRow.device_pk)
                .where(
                    *mine,
                    CommandRow.status.in_(statuses),
                    CommandRow.expires_at >= now,
                    Device.online.is_(True),
                )
                .order_by(CommandRow.created_at)
            ).all()
            # Conditional: the ingest writer may confirm one of them meanwhile, and that must stand.
            sent = set(
                session.scalars(
                    update(CommandRow)
                    .where(
                        CommandRow.id.in_([r.id for r in rows]),
                        CommandRow.status.in_(statuses),
                    )
                    .values(
                        status=CommandStatus.SENT.value,
                        sent_at=now,
                        confirm_by=now + timedelta(seconds=BACKGROUND_CONFIRM_S),
                    )
                    .returning(CommandRow.id)
                    .execution_options(synchronize_session=False)
                )
            )
            rows = [r for r in rows if r.id in sent]
            if resend and rows:
                self._resent.add(rows[0].device_pk)
        for row in rows:
            self._send(
                CommandOrder(
                    area_code, device_id, build(row.action, row.params, row.id, epoch_ms(row.expires_at))
                )
            )
        self._announce(ended)
        if rows:
            log.info("delivered %d waiting command(s) to %s/%s", len(rows), area_code, device_id)
        return len(rows)
