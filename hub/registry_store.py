"""Applies validated device reports to the database, a batch per transaction.

Only the ingest writer thread calls ``apply``; the cache of device references below is
therefore single-threaded. Code that changes a device elsewhere calls ``forget``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
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
# What the cache keeps of a device, and how many device ids one IN (...) read asks for.
_REF_COLUMNS = (Device.id, Device.kind, Device.status, Device.state_ts, Device.state, Device.via)
_IN_CHUNK = 500
_commands = cast(Table, CommandRow.__table__)
_devices = cast(Table, Device.__table__)
_events = cast(Table, DeviceEventRow.__table__)
_CONFIRM = (
    _commands.update()
    .where(
        _commands.c.id == bindparam("b_id"),
        _commands.c.device_pk == bindparam("b_device"),
        # Not IN (...): an expanding parameter cannot be used with executemany.
        or_(*(_commands.c.status == s for s in OPEN_COMMAND_STATUSES)),
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
    via: str | None = None


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


@dataclass(slots=True)
class _Batch:
    """Everything one transaction accumulates before it is written."""

    session: Session
    now: datetime
    result: BatchResult = field(default_factory=BatchResult)
    updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    confirmations: list[dict[str, Any]] = field(default_factory=list)


class RegistryStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._areas: dict[str, int] = {}
        self._devices: dict[tuple[str, str], DeviceRef] = {}
        self._forgotten: set[tuple[str, str]] = set()
        self._gateway_online: dict[tuple[int, str], bool] = {}
        self._forget_lock = threading.Lock()
        # Cached devices as they were before the running batch changed them: what a rollback
        # puts back (None: added by the batch). Copying the whole cache per batch instead
        # would cost more than the batch itself with a hundred thousand devices.
        self._undo: dict[tuple[str, str], DeviceRef | None] = {}

    def forget(self, area: str, device: str) -> None:
        """Drop a cached device after another part of the hub changed it (thread-safe)."""
        with self._forget_lock:
            self._forgotten.add((area, device))

    def apply(self, batch: list[Inbound]) -> BatchResult:
        """Apply a batch in one transaction; raises on database errors (nothing applied)."""
        self._drop_forgotten()
        self._undo = {}
        gateways = dict(self._gateway_online)
        try:
            with Session(self._engine) as session, session.begin():
                return self._apply(session, batch)
        except Exception:
            # The transaction rolled back; so must the caches.
            for key, old in self._undo.items():
                if old is None:
                    self._devices.pop(key, None)
                else:
                    self._devices[key] = old
            self._gateway_online = gateways
            raise
        finally:
            self._undo = {}

    def _touch(self, key: tuple[str, str]) -> None:
        """Remember a cached device before the running batch changes or adds it."""
        if key not in self._undo:
            old = self._devices.get(key)
            self._undo[key] = replace(old) if old is not None else None

    def _drop_forgotten(self) -> None:
        with self._forget_lock:
            for key in self._forgotten:
                self._devices.pop(key, None)
            self._forgotten.clear()

    def _apply(self, session: Session, batch: list[Inbound]) -> BatchResult:
        b = _Batch(session, datetime.now(UTC))
        self._prefetch(session, batch)
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
        # Core executemany, one statement per set of changed columns (a batch of states is
        # one): the ORM's bulk update costs more per row than SQLite does.
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for pk, f in b.updates.items():
            groups.setdefault(tuple(sorted(f)), []).append(
                {"b_pk": pk, **{f"b_{k}": v for k, v in f.items()}}
            )
        for columns, params in groups.items():
            conn.execute(_device_update(columns), params)
        if b.events:
            conn.execute(_insert_ignore(session), b.events)
        if b.confirmations:
            conn.execute(_CONFIRM, b.confirmations)
        return b.result

    def _one(self, b: _Batch, msg: Inbound) -> Change | None:
        src = msg.source
        if isinstance(msg, InfoReport):
            return self._info(b.session, msg, b.now, b.updates)
        ref = self._ref(b.session, src.area, src.device)
        if ref.status in _CLOSED:
            raise Rejected(RejectReason.RETIRED, f"{src.area}/{src.device} is {ref.status}")
        change: Change | None
        if isinstance(msg, AvailabilityReport):
            change = self._availability(b, ref, msg)
        elif isinstance(msg, StateReport):
            change = self._state(b, ref, msg)
        else:
            change = self._event(b, ref, msg)
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
        elif online and ref.via and not self._gateway_is_online(b.session, ref.area_id, ref.via):
            # A retained "online" replayed while the gateway carrying the device is down.
            online = False
        b.updates.setdefault(ref.pk, {}).update(online=online, availability_at=b.now)
        return Change(src.area, src.device, ref.kind, {"online": online})

    def _state(self, b: _Batch, ref: DeviceRef, msg: StateReport) -> Change | None:
        src, state = msg.source, msg.state
        if state.kind != ref.kind:
            raise Rejected(RejectReason.KIND_MISMATCH, f"{ref.kind} reported {state.kind} state")
        if ref.state_ts is not None and state.ts <= ref.state_ts:
            # Two commands can be answered within one millisecond; only a state that
            # echoes no new command is a replay (e.g. a retained state after a reconnect).
            same_ms = state.ts == ref.state_ts
            if not (same_ms and state.cmd not in (None, ref.state_cmd)):
                if same_ms:
                    return None
                raise Rejected(RejectReason.STALE, f"state ts {state.ts} older than {ref.state_ts}")
        self._touch((src.area, src.device))
        ref.state_ts, ref.state_cmd = state.ts, state.cmd
        data = state.model_dump(mode="json")
        b.updates.setdefault(ref.pk, {}).update(state=data, state_ts=state.ts)
        if state.cmd is not None:
            b.confirmations.append(
                {
                    "b_id": state.cmd,
                    "b_device": ref.pk,
                    "b_status": command_status_for(state.error).value,
                    "b_error": state.error,
                    "b_state": data,
                    "b_at": b.now,
                }
            )
        return Change(src.area, src.device, ref.kind, {"state": data})

    def _event(self, b: _Batch, ref: DeviceRef, msg: EventReport) -> Change:
        src, ev = msg.source, msg.event
        if ev.type not in EVENTS_BY_KIND[Kind(ref.kind)]:
            raise Rejected(RejectReason.WRONG_EVENT, f"a {ref.kind} cannot report {ev.type}")
        data = ev.model_dump(mode="json")
        if ev.type != "heartbeat":
            b.events.append(
                {"device_pk": ref.pk, "type": ev.type, "ts": ev.ts, "data": data, "received_at": b.now}
            )
        return Change(src.area, src.device, ref.kind, {"event": data})

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
            self._touch((src.area, src.device))
            self._devices[(src.area, src.device)] = DeviceRef(
                device.id, area_id, device.kind, device.status, None, via=info.via
            )
            return Change(src.area, src.device, device.kind, {"status": device.status, **_jsonable(fields)})
        if ref.kind != info.kind:
            raise Rejected(RejectReason.KIND_MISMATCH, f"registered as {ref.kind}, announced {info.kind}")
        if ref.status in _CLOSED:
            raise Rejected(RejectReason.RETIRED, f"{src.area}/{src.device} is {ref.status}")
        self._touch((src.area, src.device))
        ref.via = info.via
        if src.retained:
            del fields["last_seen"]
        updates.setdefault(ref.pk, {}).update(fields)
        return Change(src.area, src.device, ref.kind, _jsonable(fields))

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

    def _area_id(self, session: Session, code: str) -> int:
        area_id = self._areas.get(code)
        if area_id is None:
            area_id = session.scalar(select(Area.id).where(Area.code == code))
            if area_id is None:
                raise Rejected(RejectReason.UNKNOWN_AREA, f"no area {code!r}")
            self._areas[code] = area_id
        return area_id

    def _prefetch(self, session: Session, batch: list[Inbound]) -> None:
        """Cache the batch's devices not cached yet, a few queries for all rather than one each.

        After a start every device is unknown, and a hundred thousand retained reports
        meant a hundred thousand single-row reads.
        """
        missing: dict[str, set[str]] = {}
        for msg in batch:
            src = msg.source
            if (src.area, src.device) not in self._devices:
                missing.setdefault(src.area, set()).add(src.device)
        for area, devices in missing.items():
            try:
                area_id = self._area_id(session, area)
            except Rejected:
                continue  # each of its messages is rejected on its own
            wanted = sorted(devices)
            for i in range(0, len(wanted), _IN_CHUNK):
                rows = session.execute(
                    select(*_REF_COLUMNS, Device.device_id).where(
                        Device.area_id == area_id, Device.device_id.in_(wanted[i : i + _IN_CHUNK])
                    )
                )
                for row in rows:
                    self._remember(area, row.device_id, area_id, row)

    def _ref(self, session: Session, area: str, device: str) -> DeviceRef:
        ref = self._devices.get((area, device))
        if ref is not None:
            return ref
        area_id = self._area_id(session, area)
        row = session.execute(
            select(*_REF_COLUMNS).where(Device.area_id == area_id, Device.device_id == device)
        ).first()
        if row is None:
            raise Rejected(RejectReason.UNKNOWN_DEVICE, f"{area}/{device} has not announced itself")
        return self._remember(area, device, area_id, row)

    def _remember(self, area: str, device: str, area_id: int, row: Any) -> DeviceRef:
        last_cmd = (row.state or {}).get("cmd")
        ref = DeviceRef(row.id, area_id, row.kind, row.status, row.state_ts, last_cmd, row.via)
        self._touch((area, device))
        self._devices[(area, device)] = ref
        return ref


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()}


@lru_cache(maxsize=64)
def _device_update(columns: tuple[str, ...]) -> Any:
    """UPDATE devices SET <columns> WHERE id = :b_pk, for executemany (``updated_at`` included)."""
    return (
        _devices.update()
        .where(_devices.c.id == bindparam("b_pk"))
        .values({_devices.c[c]: bindparam(f"b_{c}", type_=_devices.c[c].type) for c in columns})
    )


def _insert_ignore(session: Session) -> Any:
    """INSERT that skips replayed events (same device, type and timestamp), for executemany."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return sqlite.insert(_events).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(_events).on_conflict_do_nothing()
    return insert(_events)
