"""Command lifecycle: persist, publish to every target at once, wait for confirmed state.

queued (device offline, waits until ``expires_at``) -> sent -> confirmed | timed_out |
expired | failed. A timed-out command still turns confirmed if the device answers later.
Queued and re-sent commands are the sweeper's (``hub/commands/sweeper.py``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from devices.messages import CommandOrder
from devices.payloads import Command
from hub.bulk_sql import IN_CHUNK, EncodedJSON, insert_rows_skipping_duplicates
from hub.commands.sweeper import BACKGROUND_CONFIRM_S, CommandSweeper, Outcome, epoch_ms
from hub.models import Area, CommandRow, CommandStatus, User
from hub.registry.changes import Change
from hub.registry.store import command_status_for

log = logging.getLogger(__name__)

# Builds the wire command for one device from its command id and expiry (epoch ms).
CommandFactory = Callable[[str, int], Command]
Send = Callable[[CommandOrder], bool]


class Target(Protocol):
    """What issuing needs of a device: a loaded ``Device`` or a row of these columns."""

    @property
    def id(self) -> int: ...

    @property
    def device_id(self) -> str: ...

    @property
    def online(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Issued:
    id: str
    device_pk: int
    device_id: str
    status: str


@dataclass(frozen=True, slots=True)
class Staged:
    """A fan-out inserted but not yet published."""

    group: str
    area_code: str
    rows: list[_Issued]
    make: CommandFactory
    exp_ms: int


PUBLISH_FAILED = "the hub could not queue it for the broker"

_commands = cast(Table, CommandRow.__table__)


class CommandService:
    def __init__(self, sessions: sessionmaker[Session], send: Send) -> None:
        self._sessions = sessions
        self._send = send
        self._cond = threading.Condition()
        # command id -> (area code, device id) of a caller waiting for its confirmation
        self._watched: dict[str, tuple[str, str]] = {}
        self._finished: dict[str, Outcome] = {}
        self._listeners: list[Callable[[Outcome, str], None]] = []
        self.sweeper = CommandSweeper(sessions, send, self.end, self.announce)

    def add_listener(self, listener: Callable[[Outcome, str], None]) -> None:
        """Called with every finished outcome and its area code (for live updates)."""
        self._listeners.append(listener)

    def start(self) -> None:
        self.sweeper.start()

    def stop(self) -> None:
        self.sweeper.stop()

    # --- issuing --------------------------------------------------------------------

    def issue(
        self,
        area: Area,
        targets: Sequence[Target],
        action: str,
        params: dict[str, Any],
        make: CommandFactory,
        user: User | None,
        wait_s: float,
        ttl_s: float,
        source: str = "manual",
        also: Callable[[Session, Staged], None] | None = None,
    ) -> tuple[str, list[Outcome]]:
        """Send one command to each target and wait up to ``wait_s`` for all confirmations.

        ``also`` adds the caller's own rows (an audit entry) to the fan-out's transaction.
        """
        # One transaction for the whole fan-out, committed before anything is published,
        # so a crash never leaves a command on the wire that the hub does not know about.
        with self._sessions.begin() as session:
            staged = self.stage(session, area, targets, action, params, make, user, wait_s, ttl_s, source)
            if also is not None:
                also(session, staged)
        ids = [r.id for r in staged.rows]
        with self._cond:  # before publishing: no confirmation can come earlier
            for r in staged.rows:
                self._watched[r.id] = (area.code, r.device_id)
        try:
            self.publish([staged])
            self._wait(ids, wait_s)
            return staged.group, self._collect(staged.rows, time_out_late=wait_s > 0)
        finally:
            with self._cond:
                for cid in ids:
                    self._watched.pop(cid, None)
                    self._finished.pop(cid, None)

    def stage(
        self,
        session: Session,
        area: Area,
        targets: Sequence[Target],
        action: str,
        params: dict[str, Any],
        make: CommandFactory,
        user: User | None,
        wait_s: float,
        ttl_s: float,
        source: str = "manual",
    ) -> Staged:
        """Insert one command per target in ``session`` (the caller commits), to ``publish`` after.

        Lets a caller put several fan-outs, and its own rows, in one transaction: the
        timetable steps due at the same instant are one commit, not one per zone.
        """
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=ttl_s)
        # A caller that waits decides the timeout; fire-and-forget commands (schedules,
        # broadcasts) get a fixed window before they count as timed out.
        confirm_by = now + timedelta(seconds=wait_s if wait_s > 0 else BACKGROUND_CONFIRM_S)
        rows = [
            _Issued(
                uuid.uuid4().hex,
                d.id,
                d.device_id,
                (CommandStatus.SENT if d.online else CommandStatus.QUEUED).value,
            )
            for d in targets
        ]
        group = uuid.uuid4().hex
        # What every command of the fan-out shares is bound once per statement (the params
        # serialised once): 1,000 rows with four datetimes each were ~15 ms of binding.
        shared = {
            "group_id": group,
            "area_id": area.id,
            "action": action,
            "params": EncodedJSON(json.dumps(params)),
            "issued_by": user.id if user else None,
            "source": source,
            "created_at": now,
            "expires_at": expires,
        }
        conn = session.connection()
        for status in (CommandStatus.SENT, CommandStatus.QUEUED):
            sent = status is CommandStatus.SENT
            # Many rows per statement, not an object per command. Their ids are new, so
            # there is nothing to skip but the padding.
            insert_rows_skipping_duplicates(
                conn,
                _commands,
                [
                    {"id": r.id, "device_pk": r.device_pk, "device_id": r.device_id}
                    for r in rows
                    if r.status == status.value
                ],
                also={
                    **shared,
                    "status": status.value,
                    "sent_at": now if sent else None,
                    "confirm_by": confirm_by if sent else None,
                },
            )
        return Staged(group, area.code, rows, make, epoch_ms(expires))

    def publish(self, staged: Sequence[Staged]) -> list[str]:
        """Publish staged commands (after their transaction committed) to the online targets.

        Returns the ids of those the MQTT link refused (now failed).
        """
        failed = [
            r.id
            for s in staged
            for r in s.rows
            if r.status == CommandStatus.SENT
            and not self._send(CommandOrder(s.area_code, r.device_id, s.make(r.id, s.exp_ms)))
        ]
        if failed:
            self._finish(failed, CommandStatus.FAILED, PUBLISH_FAILED)
        return failed

    def _wait(self, ids: list[str], wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        with self._cond:
            while not all(i in self._finished for i in ids):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def _collect(self, rows: list[_Issued], time_out_late: bool) -> list[Outcome]:
        """Each command's outcome: the confirmation heard (as committed), else the row as stored."""
        with self._cond:
            done = {cid: self._finished[cid] for cid in (r.id for r in rows) if cid in self._finished}
        late = [r.id for r in rows if time_out_late and r.id not in done and r.status == CommandStatus.SENT]
        if late:
            self._finish(
                late, CommandStatus.TIMED_OUT, "no confirmation within the wait", only_from=("sent",)
            )
        # A confirmation is only heard after the ingest writer committed it, with exactly what
        # it stored; only the rest is read back.
        rest = [r.id for r in rows if r.id not in done]
        fresh: dict[str, Any] = {}
        if rest:
            with self._sessions() as session:
                for i in range(0, len(rest), IN_CHUNK):
                    chunk = rest[i : i + IN_CHUNK]
                    query = select(
                        CommandRow.id, CommandRow.status, CommandRow.result_state, CommandRow.error
                    ).where(CommandRow.id.in_(chunk))
                    fresh.update((row.id, row) for row in session.execute(query))
        out = []
        for r in rows:
            if r.id in done:
                out.append(done[r.id])
            else:
                row = fresh[r.id]
                out.append(Outcome(r.device_id, r.id, CommandStatus(row.status), row.result_state, row.error))
        return out

    def _finish(
        self, ids: list[str], status: CommandStatus, error: str, only_from: Sequence[str] = ("queued", "sent")
    ) -> None:
        with self._sessions.begin() as session:
            ended = self.end(
                session, (CommandRow.id.in_(ids), CommandRow.status.in_(only_from)), status, error
            )
        self.announce(ended)

    def end(
        self, session: Session, where: tuple[Any, ...], status: CommandStatus, error: str
    ) -> list[tuple[Outcome, str]]:
        """Close matching commands; returns what closed, for the live listeners."""
        rows = session.execute(
            update(CommandRow)
            .where(*where)
            .values(status=status.value, error=error, finished_at=datetime.now(UTC))
            .returning(CommandRow.id, CommandRow.device_id, CommandRow.area_id)
        ).all()
        if not rows:
            return []
        codes = dict(
            session.execute(select(Area.id, Area.code).where(Area.id.in_({r.area_id for r in rows}))).all()
        )
        return [(Outcome(r.device_id, r.id, status, None, error), codes[r.area_id]) for r in rows]

    def announce(self, ended: list[tuple[Outcome, str]]) -> None:
        for outcome, area in ended:
            for listener in self._listeners:
                listener(outcome, area)

    # --- confirmations (called on the ingest writer thread, after commit) ------------

    def on_changes(self, changes: list[Change]) -> None:
        self.on_peer_changes(changes)
        returned = {(ch.area, ch.device) for ch in changes if ch.fields.get("online") is True}
        if returned:
            self.sweeper.returned(returned)  # deliver what waited for them now

    def on_peer_changes(self, changes: list[Change]) -> None:
        """Confirmations only: what another replica ingested was delivered by that replica."""
        finished: list[tuple[Outcome, str]] = []
        with self._cond:
            for ch in changes:
                state = ch.fields.get("state") or ch.fields.get("answer")
                if state and state.get("cmd"):
                    outcome = Outcome(
                        ch.device,
                        state["cmd"],
                        command_status_for(state.get("error")),
                        state,
                        state.get("error"),
                    )
                    finished.append((outcome, ch.area))
                    # Only the device the command went to can confirm it (as in the database).
                    if self._watched.get(outcome.command_id) == (ch.area, ch.device):
                        self._finished[outcome.command_id] = outcome
            if finished:
                self._cond.notify_all()
        self.announce(finished)
