"""Applies validated device reports to the database, a batch per transaction.

Only the ingest writer thread calls ``apply``; the cache of device references below is
therefore single-threaded. Code that changes a device elsewhere calls ``forget``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from devices.messages import (
    AvailabilityReport,
    EventReport,
    Inbound,
    InfoReport,
    Rejected,
    RejectReason,
    StateReport,
)
from devices.payloads import EVENTS_BY_KIND, Availability, Kind
from hub.models import (
    OPEN_COMMAND_STATUSES,
    Area,
    CommandRow,
    CommandStatus,
    Device,
    DeviceEventRow,
    DeviceStatus,
)

_CLOSED = (DeviceStatus.RETIRED.value, DeviceStatus.REJECTED.value)
_commands = cast(Table, CommandRow.__table__)
_CONFIRM = (
    _commands.update()
    .where(
        _commands.c.id == bindparam("b_id"),
        _commands.c.device_pk == bindparam("b_device"),
        _commands.c.status.in_(OPEN_COMMAND_STATUSES),
    )
    .values(
        status=bindparam("b_status"),
        error=bindparam("b_error"),
        result_state=bindparam("b_state"),
        finished_at=bindparam("b_at"),
    )
)


def command_status_for(error: str | None) -> CommandStatus:
    """How a state that echoes a command id ends that command."""
    if error is None:
        return CommandStatus.CONFIRMED
    return CommandStatus.EXPIRED if error == "expired" else CommandStatus.FAILED


@dataclass(slots=True)
class DeviceRef:
    pk: int
    area_id: int
    kind: str
    status: str
    state_ts: int | None
    state_cmd: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """What one accepted report changed, for live listeners."""

    area: str
    device: str
    kind: str
    fields: dict[str, Any]


@dataclass(slots=True)
class BatchResult:
    changes: list[Change] = field(default_factory=list)
    rejected: list[tuple[Inbound, Rejected]] = field(default_factory=list)
    duplicates: int = 0


class RegistryStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._areas: dict[str, int] = {}
        self._devices: dict[tuple[str, str], DeviceRef] = {}
        self._forgotten: set[tuple[str, str]] = set()
        self._forget_lock = threading.Lock()

    def forget(self, area: str, device: str) -> None:
        """Drop a cached device after another part of the hub changed it (thread-safe)."""
        with self._forget_lock:
            self._forgotten.add((area, device))

    def apply(self, batch: list[Inbound]) -> BatchResult:
        """Apply a batch in one transaction; raises on database errors (nothing applied)."""
        self._drop_forgotten()
        snapshot = {
            k: DeviceRef(v.pk, v.area_id, v.kind, v.status, v.state_ts) for k, v in self._devices.items()
        }
        try:
            with Session(self._engine) as session, session.begin():
                return self._apply(session, batch)
        except Exception:
            self._devices = snapshot  # the transaction rolled back; so must the cache
            raise

    def _drop_forgotten(self) -> None:
        with self._forget_lock:
            for key in self._forgotten:
                self._devices.pop(key, None)
            self._forgotten.clear()

    def _apply(self, session: Session, batch: list[Inbound]) -> BatchResult:
        now = datetime.now(UTC)
        result = BatchResult()
        updates: dict[int, dict[str, Any]] = {}
        events: list[dict[str, Any]] = []
        confirmations: list[dict[str, Any]] = []
        for msg in batch:
            try:
                change = self._one(session, msg, now, updates, events, confirmations)
            except Rejected as rej:
                result.rejected.append((msg, rej))
                continue
            if change is None:
                result.duplicates += 1
            else:
                result.changes.append(change)
        if updates:
            session.execute(update(Device), [{"id": pk, **f} for pk, f in updates.items()])
        if events:
            session.execute(_insert_ignore(session, events))
        if confirmations:
            session.connection().execute(_CONFIRM, confirmations)
        return result

    def _one(
        self,
        session: Session,
        msg: Inbound,
        now: datetime,
        updates: dict[int, dict[str, Any]],
        events: list[dict[str, Any]],
        confirmations: list[dict[str, Any]],
    ) -> Change | None:
        src = msg.source
        if isinstance(msg, InfoReport):
            return self._info(session, msg, now, updates)
        ref = self._ref(session, src.area, src.device)
        if ref.status in _CLOSED:
            raise Rejected(RejectReason.RETIRED, f"{src.area}/{src.device} is {ref.status}")
        row = updates.setdefault(ref.pk, {})
        row["last_seen"] = now
        if isinstance(msg, AvailabilityReport):
            online = msg.availability is Availability.ONLINE
            row.update(online=online, availability_at=now)
            if ref.kind == Kind.GATEWAY and not online:
                self._gateway_down(session, ref, src.device, now, updates)
            return Change(src.area, src.device, ref.kind, {"online": online})
        if isinstance(msg, StateReport):
            state = msg.state
            if state.kind != ref.kind:
                raise Rejected(RejectReason.KIND_MISMATCH, f"{ref.kind} reported {state.kind} state")
            if ref.state_ts is not None and state.ts <= ref.state_ts:
                # Two commands can be answered within one millisecond; only a state that
                # echoes no new command is a replay (e.g. a retained state after a reconnect).
                same_ms_new_cmd = state.ts == ref.state_ts and state.cmd not in (None, ref.state_cmd)
                if state.ts == ref.state_ts and not same_ms_new_cmd:
                    return None
                if not same_ms_new_cmd:
                    raise Rejected(RejectReason.STALE, f"state ts {state.ts} older than {ref.state_ts}")
            ref.state_ts, ref.state_cmd = state.ts, state.cmd
            data = state.model_dump(mode="json")
            row.update(state=data, state_ts=state.ts)
            if state.cmd is not None:
                confirmations.append(
                    {
                        "b_id": state.cmd,
                        "b_device": ref.pk,
                        "b_status": command_status_for(state.error).value,
                        "b_error": state.error,
                        "b_state": data,
                        "b_at": now,
                    }
                )
            return Change(src.area, src.device, ref.kind, {"state": data})
        assert isinstance(msg, EventReport)
        ev = msg.event
        if ev.type not in EVENTS_BY_KIND[Kind(ref.kind)]:
            raise Rejected(RejectReason.WRONG_EVENT, f"a {ref.kind} cannot report {ev.type}")
        if ev.type != "heartbeat":
            events.append(
                {
                    "device_pk": ref.pk,
                    "type": ev.type,
                    "ts": ev.ts,
                    "data": ev.model_dump(mode="json"),
                    "received_at": now,
                }
            )
        return Change(src.area, src.device, ref.kind, {"event": ev.model_dump(mode="json")})

    def _info(
        self, session: Session, msg: InfoReport, now: datetime, updates: dict[int, dict[str, Any]]
    ) -> Change:
        src, info = msg.source, msg.info
        fields = {
            "model": info.model,
            "firmware": info.firmware,
            "capabilities": list(info.capabilities),
            "via": info.via,
            "rated_w": info.rated_w,
            "codec": src.codec,
            "last_seen": now,
        }
        try:
            ref = self._ref(session, src.area, src.device)
        except Rejected as rej:
            if rej.reason is not RejectReason.UNKNOWN_DEVICE:
                raise
            area_id = self._area_id(session, src.area)
            device = Device(
                area_id=area_id,
                device_id=src.device,
                kind=info.kind.value,
                status=DeviceStatus.PENDING.value,
                name=src.device,
                **fields,
            )
            session.add(device)
            session.flush()
            self._devices[(src.area, src.device)] = DeviceRef(
                device.id, area_id, device.kind, device.status, None
            )
            return Change(src.area, src.device, device.kind, {"status": device.status, **_jsonable(fields)})
        if ref.kind != info.kind:
            raise Rejected(RejectReason.KIND_MISMATCH, f"registered as {ref.kind}, announced {info.kind}")
        if ref.status in _CLOSED:
            raise Rejected(RejectReason.RETIRED, f"{src.area}/{src.device} is {ref.status}")
        updates.setdefault(ref.pk, {}).update(fields)
        return Change(src.area, src.device, ref.kind, _jsonable(fields))

    def _gateway_down(
        self,
        session: Session,
        gw: DeviceRef,
        gw_id: str,
        now: datetime,
        updates: dict[int, dict[str, Any]],
    ) -> None:
        """Devices behind a gateway share its connection, so its Last Will speaks for them."""
        pks = session.scalars(
            select(Device.id).where(Device.area_id == gw.area_id, Device.via == gw_id)
        ).all()
        for pk in pks:
            updates.setdefault(pk, {}).update(online=False, availability_at=now)

    def _area_id(self, session: Session, code: str) -> int:
        area_id = self._areas.get(code)
        if area_id is None:
            area_id = session.scalar(select(Area.id).where(Area.code == code))
            if area_id is None:
                raise Rejected(RejectReason.UNKNOWN_AREA, f"no area {code!r}")
            self._areas[code] = area_id
        return area_id

    def _ref(self, session: Session, area: str, device: str) -> DeviceRef:
        ref = self._devices.get((area, device))
        if ref is not None:
            return ref
        area_id = self._area_id(session, area)
        row = session.execute(
            select(Device.id, Device.kind, Device.status, Device.state_ts, Device.state).where(
                Device.area_id == area_id, Device.device_id == device
            )
        ).first()
        if row is None:
            raise Rejected(RejectReason.UNKNOWN_DEVICE, f"{area}/{device} has not announced itself")
        last_cmd = (row.state or {}).get("cmd")
        ref = DeviceRef(row.id, area_id, row.kind, row.status, row.state_ts, last_cmd)
        self._devices[(area, device)] = ref
        return ref


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()}


def _insert_ignore(session: Session, rows: list[dict[str, Any]]) -> Any:
    """INSERT that skips replayed events (same device, type and timestamp)."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return sqlite.insert(DeviceEventRow).values(rows).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(DeviceEventRow).values(rows).on_conflict_do_nothing()
    return insert(DeviceEventRow).values(rows)
