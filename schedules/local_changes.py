"""Lights changed at the light itself (a wall switch, its own button): adopted, or undone.

The rule (docs/protocol.md §6.9): a light's state that echoes no command id, is published now
(not the broker's retained copy), is not the state it reports on (re)connecting, and changes
``on`` or ``level`` is a local change. If it differs
from the light's desired state, the area's ``local_changes`` setting decides:

- ``adopt`` (default): it becomes the desired state, recorded as a confirmed ``light.set``
  command with source ``local`` (and an audit row by actor ``local``), so that a reconnect,
  a restart or an emergency's end re-applies it, not the order it replaced. It holds until
  the next timetable step or manual order, like a manual order.
- ``hub_wins``: the hub puts its desired state back at once (a ``restore`` command), and
  the audit row says so.

The ingest writer hands reports over (``collect``, no database work); the schedule engine
applies them on its own thread (``apply``).
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.models import Area, AuditEntry, CommandRow, CommandStatus, Device
from hub.registry.changes import Change
from schedules.desired import HUB_WINS, LOCAL, desired_lights

Key = tuple[str, str]  # (area code, device id)

# A light publishes its state right after announcing itself online (protocol §3.2): that
# state is what it was doing (after a power cut, say), not a change somebody made.
CONNECT_WINDOW_S = 5.0


class LocalChanges:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connected_at: dict[Key, float] = {}
        self._seen: dict[Key, tuple[bool, int]] = {}  # last (on, level) reported
        self._pending: dict[Key, dict[str, Any]] = {}
        # When the hub's link last connected (epoch ms): an older state is a backlog the broker
        # held for the hub, not a change made now.
        self._link_up_ms = 0

    def link_up(self, epoch_ms: int) -> None:
        """The hub's MQTT link (re)connected."""
        self._link_up_ms = epoch_ms

    def collect(self, changes: list[Change]) -> bool:
        """Keep the local changes among these reports (ingest writer thread); True if any waits."""
        now = time.monotonic()
        found = False
        for ch in changes:
            if ch.kind != "light":
                continue
            key = (ch.area, ch.device)
            if ch.fields.get("online") is True:
                self._connected_at[key] = now
                continue
            state = ch.fields.get("state")
            if not state:
                continue
            seen = (bool(state.get("on")), int(state.get("level") or 0))
            before = self._seen.get(key)
            self._seen[key] = seen
            connected = self._connected_at.pop(key, None)
            held = int(state.get("ts") or 0) < self._link_up_ms
            if state.get("cmd") is not None or before == seen or ch.retained or held:
                # An answer to the hub, nothing switched (a fault, a repeat), the broker's copy
                # replayed to a hub that (re)subscribed, or one it held for the hub while it was
                # away: none says somebody changed it now.
                continue
            if connected is not None and now - connected < CONNECT_WINDOW_S:
                continue
            with self._lock:
                self._pending[key] = state
            found = True
        return found

    def forget_pending(self) -> None:
        """A standby drops what it collected: the lease holder heard the same reports."""
        with self._lock:
            self._pending.clear()

    def apply(self, sessions: sessionmaker[Session], now: datetime) -> set[Key]:
        """Record what is adopted; returns the lights whose area lets the hub win (to restore)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return set()
        by_area: dict[str, dict[str, dict[str, Any]]] = {}
        for (area_code, device_id), state in pending.items():
            by_area.setdefault(area_code, {})[device_id] = state
        restore: set[Key] = set()
        with sessions.begin() as session:
            for area_code, states in by_area.items():
                area = session.scalar(select(Area).where(Area.code == area_code))
                if area is not None:
                    restore |= self._apply_area(session, area, states, now)
        return restore

    def _apply_area(
        self, session: Session, area: Area, states: dict[str, dict[str, Any]], now: datetime
    ) -> set[Key]:
        desired = desired_lights(session, area, now)
        lights = dict(
            session.execute(
                select(Device.device_id, Device.id).where(
                    Device.area_id == area.id, Device.device_id.in_(list(states))
                )
            ).all()
        )
        restore: set[Key] = set()
        for device_id, state in states.items():
            pk = lights.get(device_id)
            want = desired.get(device_id)
            if pk is None:
                continue
            on, level = bool(state.get("on")), state.get("level")
            if want is not None and want.on == on and (want.level is None or want.level == level):
                continue  # already what the hub wants: nothing to adopt or undo
            params = {"on": on, "level": level}
            if area.local_changes == HUB_WINS and want is not None:
                restore.add((area.code, device_id))
                result = "undone: the area lets the hub's desired state win"
            elif area.local_changes == HUB_WINS:
                result = "kept: the hub wants nothing of this light now"
            else:
                session.add(_local_command(area, pk, device_id, params, state, now))
                result = "adopted as the desired state"
            session.add(
                AuditEntry(
                    at=now,
                    actor=LOCAL,
                    area_id=area.id,
                    action="light.local",
                    target=f"device:{device_id}",
                    params=params,
                    result=result,
                )
            )
        return restore


def _local_command(
    area: Area, pk: int, device_id: str, params: dict[str, Any], state: dict[str, Any], now: datetime
) -> CommandRow:
    """The change as a command already carried out: it takes part in desired state as one."""
    return CommandRow(
        id=uuid.uuid4().hex,
        group_id=uuid.uuid4().hex,
        area_id=area.id,
        device_pk=pk,
        device_id=device_id,
        action="light.set",
        params=params,
        status=CommandStatus.CONFIRMED.value,
        result_state=state,
        source=LOCAL,
        created_at=now,
        expires_at=now,
        finished_at=now,
    )
