"""Applies validated device reports to the database, a batch per transaction.

Only the ingest writer thread calls ``apply``, so its cache of device references
(``hub.registry.device_refs``) is single-threaded. Code that changes a device elsewhere calls ``forget``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, literal_column, or_, select
from sqlalchemy.orm import Session

from devices.messages import (
    AvailabilityReport,
    EventReport,
    Inbound,
    InfoReport,
    Rejected,
    RejectReason,
    Source,
    StateReport,
)
from devices.payloads import EVENTS_BY_KIND, Availability, Kind
from hub.bulk_sql import EncodedJSON, insert_rows_skipping_duplicates, update_rows
from hub.models import (
    OPEN_COMMAND_STATUSES,
    CommandRow,
    CommandStatus,
    Device,
    DeviceEventRow,
)
from hub.registry import snapshots
from hub.registry.announcements import Announcements
from hub.registry.changes import CLOSED, Change, Claim
from hub.registry.device_refs import DeviceRef, DeviceRefs
from hub.registry.enrolment_gate import EnrolmentGate

_commands = cast(Table, CommandRow.__table__)
_devices = cast(Table, Device.__table__)
_events = cast(Table, DeviceEventRow.__table__)
# A confirmation closes only an open command, and only from the device it went to.
_STILL_OPEN = (_commands.c.status.in_(OPEN_COMMAND_STATUSES),)
# Hub replicas each take some of a device's reports: a state another one stored meanwhile may
# be newer than this one (``v`` is the rows being written, see ``bulk_sql.update_rows``).
_NOT_OLDER = (or_(_devices.c.state_ts.is_(None), _devices.c.state_ts <= literal_column("v.state_ts")),)


def command_status_for(error: str | None) -> CommandStatus:
    """How a state that echoes a command id ends that command."""
    if error is None:
        return CommandStatus.CONFIRMED
    return CommandStatus.EXPIRED if error == "expired" else CommandStatus.FAILED


@dataclass(slots=True)
class BatchResult:
    changes: list[Change] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    rejected: list[tuple[Inbound, Rejected]] = field(default_factory=list)
    duplicates: int = 0


@dataclass(slots=True)
class _Batch:
    """Everything one transaction accumulates before it is written."""

    session: Session
    now: datetime
    result: BatchResult = field(default_factory=BatchResult)
    updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    # (command id, device) -> its confirmation. The first in a batch closes the command, as
    # a later one would find it closed (one statement joins them all, and would pick any).
    confirmations: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)


class RegistryStore:
    def __init__(self, engine: Engine, replica: bool = False) -> None:
        self._engine = engine
        self._replica = replica
        self._refs = DeviceRefs()
        self._gateway_online: dict[tuple[int, str], bool] = {}
        self._gateways_stale = False  # a replica saw a gateway come or go: ask the database
        self._announcements = Announcements(self._refs, EnrolmentGate())

    def forget(self, area: str, device: str) -> None:
        """Drop a cached device after another part of the hub changed it (thread-safe)."""
        self._refs.forget(area, device)

    def heard_elsewhere(self, changes: list[Change]) -> None:
        """Another hub replica stored these reports: read those devices again (thread-safe)."""
        for ch in changes:
            if "state" in ch.fields or "online" in ch.fields:
                self._refs.forget(ch.area, ch.device)
                if ch.kind == Kind.GATEWAY:
                    self._gateways_stale = True

    def apply(self, batch: list[Inbound]) -> BatchResult:
        """Apply a batch in one transaction; raises on database errors (nothing applied)."""
        self._refs.begin()
        if self._gateways_stale:
            self._gateways_stale = False
            self._gateway_online.clear()
        gateways = dict(self._gateway_online)
        committed = False
        try:
            with Session(self._engine) as session, session.begin():
                result = self._apply(session, batch)
            committed = True
            return result
        except Exception:
            # The transaction rolled back; so must the caches.
            self._gateway_online = gateways
            raise
        finally:
            self._refs.end(committed)

    def _apply(self, session: Session, batch: list[Inbound]) -> BatchResult:
        b = _Batch(session, datetime.now(UTC))
        self._refs.prefetch(session, batch)
        for msg in batch:
            try:
                change = self._one(b, msg)
            except Rejected as rej:
                b.result.rejected.append((msg, rej))
                continue
            if change is None:
                b.result.duplicates += 1
            else:
                b.result.changes.append(change)
        conn = session.connection()
        # Core, many rows per statement, one set of statements per set of changed columns (a
        # batch of states is one): the ORM's bulk update costs more per row than SQLite does.
        # Columns set to the batch's own time (last seen, ...) are bound once per statement.
        groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[dict[str, Any]]] = {}
        for pk, f in b.updates.items():
            own = {k: v for k, v in f.items() if v is not b.now}
            at_now = tuple(sorted(k for k, v in f.items() if v is b.now))
            groups.setdefault((tuple(sorted(own)), at_now), []).append({"id": pk, **own})
        for (columns, at_now), rows in groups.items():
            where = _NOT_OLDER if "state_ts" in columns else ()
            also = dict.fromkeys((*at_now, "updated_at"), b.now)
            update_rows(conn, _devices, ("id",), rows, where, also=also)
        insert_rows_skipping_duplicates(conn, _events, b.events, also={"received_at": b.now})
        update_rows(
            conn,
            _commands,
            ("id", "device_pk"),
            list(b.confirmations.values()),
            _STILL_OPEN,
            also={"finished_at": b.now},
        )
        return b.result

    def _one(self, b: _Batch, msg: Inbound) -> Change | None:
        src = msg.source
        if isinstance(msg, InfoReport):
            return self._announcements.apply(b.session, msg, b.now, b.updates, b.result.claims)
        ref = self._refs.get(b.session, src.area, src.device)
        if ref.status in CLOSED and not _is_offline(msg):
            # Only an "offline" is taken: the hub's own, when it revoked the device's account.
            raise Rejected(RejectReason.RETIRED, f"{src.area}/{src.device} is {ref.status}")
        if src.via is not None and ref.via != src.via:
            # A bridge's topic tree (Zigbee2MQTT, Frigate) speaks only for the devices behind it.
            where = f"behind {ref.via}" if ref.via else "connected directly"
            raise Rejected(
                RejectReason.VIA_MISMATCH, f"{src.area}/{src.device} is {where}, not via {src.via}"
            )
        change: Change | None
        if isinstance(msg, AvailabilityReport):
            change = self._availability(b, ref, msg)
        elif isinstance(msg, StateReport):
            change = self._state(b, ref, msg)
        elif isinstance(msg, EventReport):
            change = self._event(b, ref, msg)
        else:  # a camera's latest snapshot: one row per camera, replaced
            shot = snapshots.keep(b.session, ref.pk, ref.kind, msg, b.now)
            change = None if shot is None else Change(src.area, src.device, ref.kind, shot)
        if not src.retained:  # only accepted, live traffic proves the device is alive
            b.updates.setdefault(ref.pk, {})["last_seen"] = b.now
        return change

    def _availability(self, b: _Batch, ref: DeviceRef, msg: AvailabilityReport) -> Change:
        src = msg.source
        online = msg.availability is Availability.ONLINE
        if ref.kind == Kind.GATEWAY:
            self._gateway_online[(ref.area_id, src.device)] = online
            if not online:
                b.result.changes.extend(self._gateway_down(b.session, ref, src, b.now, b.updates))
        elif (
            online
            and ref.via
            and (src.retained or not self._replica)
            and not self._gateway_is_online(b.session, ref.area_id, ref.via)
        ):
            # A retained "online" replayed while the gateway carrying the device is down, or
            # one it queued while down. To a hub replica one sent now proves the gateway up:
            # another replica may have taken the gateway's own "online" and not stored it yet.
            online = False
        b.updates.setdefault(ref.pk, {}).update(online=online, availability_at=b.now)
        return Change(src.area, src.device, ref.kind, {"online": online})

    def _state(self, b: _Batch, ref: DeviceRef, msg: StateReport) -> Change | None:
        src, state = msg.source, msg.state
        if state.kind != ref.kind:
            raise Rejected(RejectReason.KIND_MISMATCH, f"{ref.kind} reported {state.kind} state")
        late = False
        if ref.state_ts is not None and state.ts <= ref.state_ts:
            # Two commands can be answered within one millisecond; only a state that
            # echoes no new command is a replay (e.g. a retained state after a reconnect).
            same_ms = state.ts == ref.state_ts
            if not (same_ms and state.cmd not in (None, ref.state_cmd)):
                if same_ms:
                    return None
                if state.cmd is None or src.retained:
                    raise Rejected(RejectReason.STALE, f"state ts {state.ts} older than {ref.state_ts}")
                # A live answer overtaken by a newer state (hub replicas took them in parallel):
                # the command was carried out, but the newer state stays.
                late = True
        data = state.model_dump(mode="json")
        stored = EncodedJSON(state.model_dump_json())
        if not late:
            self._refs.touch((src.area, src.device))
            ref.state_ts, ref.state_cmd = state.ts, state.cmd
            b.updates.setdefault(ref.pk, {}).update(state=stored, state_ts=state.ts)
        if state.cmd is not None:
            b.confirmations.setdefault(
                (state.cmd, ref.pk),
                {
                    "id": state.cmd,
                    "device_pk": ref.pk,
                    "status": command_status_for(state.error).value,
                    "error": state.error,
                    "result_state": stored,
                },
            )
        return Change(src.area, src.device, ref.kind, {"answer" if late else "state": data}, src.retained)

    def _event(self, b: _Batch, ref: DeviceRef, msg: EventReport) -> Change:
        src, ev = msg.source, msg.event
        if ev.type not in EVENTS_BY_KIND[Kind(ref.kind)]:
            raise Rejected(RejectReason.WRONG_EVENT, f"a {ref.kind} cannot report {ev.type}")
        data = ev.model_dump(mode="json")
        if ev.type != "heartbeat":
            b.events.append(
                {"device_pk": ref.pk, "type": ev.type, "ts": ev.ts, "data": EncodedJSON(ev.model_dump_json())}
            )
        return Change(src.area, src.device, ref.kind, {"event": data})

    def _gateway_down(
        self,
        session: Session,
        gw: DeviceRef,
        src: Source,
        now: datetime,
        updates: dict[int, dict[str, Any]],
    ) -> list[Change]:
        """Devices behind a gateway share its connection, so its Last Will speaks for them."""
        rows = session.execute(
            select(Device.id, Device.device_id, Device.kind).where(
                Device.area_id == gw.area_id, Device.via == src.device
            )
        ).all()
        for row in rows:
            updates.setdefault(row.id, {}).update(online=False, availability_at=now)
        return [Change(src.area, row.device_id, row.kind, {"online": False}) for row in rows]

    def _gateway_is_online(self, session: Session, area_id: int, gw_id: str) -> bool:
        key = (area_id, gw_id)
        if key not in self._gateway_online:
            online = session.scalar(
                select(Device.online).where(Device.area_id == area_id, Device.device_id == gw_id)
            )
            # An unregistered gateway is no evidence against the device: trust its own status.
            self._gateway_online[key] = True if online is None else bool(online)
        return self._gateway_online[key]


def _is_offline(msg: Inbound) -> bool:
    return isinstance(msg, AvailabilityReport) and msg.availability is Availability.OFFLINE
