"""Audit rows as structured facts: the target's kind, id and name, the outcome as a code and
numbers, who did it by name. Phones and the CSV word these in the reader's language; the
stored ``target`` and ``result`` strings stay as they are for existing API clients."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.broadcasts.models import Announcement, AudioAsset, BroadcastProgramme
from hub.models import Area, AuditEntry, CommandStatus, Device, LightingTimetableRow, User, Zone
from hub.notifications.models import Notification

_STATUSES = frozenset(s.value for s in CommandStatus)
_COUNTS = re.compile(r"^[a-z_]+ \d+(, [a-z_]+ \d+)*$")
_WORDS = frozenset(
    [
        "created",
        "updated",
        "unchanged",
        "deleted",
        "renamed",
        "active",
        "renewed",
        "stored",
        "set",
        "open",
        "closed",
        "revoked",
        "registered",
        "scheduled",
        "queued",
        "playing",
        "done",
        "interrupted",
        "cancelled",
        "failed",
    ]
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action came to: a code, command counts by status, and the numbers or words it needs."""

    code: str | None
    counts: dict[str, int] | None = None
    values: dict[str, str | int] = field(default_factory=dict)


def outcome(result: str) -> Outcome:
    """The stored result string (as the routes write it) read back into a code and numbers."""
    if _COUNTS.match(result):
        pairs = [part.rsplit(" ", 1) for part in result.split(", ")]
        # Only command statuses: another "word 3" result is not a count the app can word.
        if all(status in _STATUSES for status, _ in pairs):
            return Outcome("counts", {status: int(n) for status, n in pairs})
    if result in _WORDS:
        return Outcome(result)
    if m := re.fullmatch(r"cancelled \(was (\w+)\)", result):
        return Outcome("cancelled", values={"was": m[1]})
    if m := re.fullmatch(r"(\w+) -> (\w+)", result):
        return Outcome("status", values={"from": m[1], "to": m[2]})
    if m := re.fullmatch(r"deleted; (\d+) device\(s\) left without a zone", result):
        return Outcome("deleted", values={"unzoned": int(m[1])})
    if m := re.fullmatch(r"speakers and (\d+) lights", result):
        return Outcome("emergency_on", values={"lights": int(m[1])})
    if result == "lights, speakers and schedules restored":
        return Outcome("restored")
    if result.startswith("shared as "):
        return Outcome("shared")
    return Outcome(None)


@dataclass(frozen=True, slots=True)
class AuditView:
    entry: AuditEntry
    actor_name: str
    target_kind: str | None
    target_id: str | None
    target_name: str | None
    outcome: Outcome


def split_target(target: str) -> tuple[str | None, str | None]:
    """``"zone:2"`` → ``("zone", "2")``; ``"area"`` → ``("area", None)``; anything else kept whole."""
    kind, sep, ident = target.partition(":")
    if sep:
        return kind, ident
    return ("area", None) if target == "area" else (None, target or None)


Lookup = Callable[[Session, set[str]], dict[str, str]]


def _by_int(model: Any, label: Callable[[Any], str]) -> Lookup:
    def find(session: Session, ids: set[str]) -> dict[str, str]:
        wanted = [int(i) for i in ids if i.isdigit()]
        if not wanted:
            return {}
        return {str(r.id): label(r) for r in session.scalars(select(model).where(model.id.in_(wanted)))}

    return find


def _announcements(session: Session, ids: set[str]) -> dict[str, str]:
    query = select(Announcement.id, Announcement.title).where(Announcement.id.in_(ids))
    return {str(i): str(v) for i, v in session.execute(query)}


def _audio(session: Session, ids: set[str]) -> dict[str, str]:
    query = select(AudioAsset.id, AudioAsset.filename).where(AudioAsset.id.in_(ids))
    return {str(i): str(v) for i, v in session.execute(query)}


def _users(session: Session, ids: set[str]) -> dict[str, str]:
    # Accounts are named by username in most rows, by number in a resident's registration.
    numbers = [int(i) for i in ids if i.isdigit()]
    rows = session.scalars(select(User).where(User.username.in_(ids) | User.id.in_(numbers)))
    found: dict[str, str] = {}
    for u in rows:
        for key in (u.username, str(u.id)):
            if key in ids:
                found[key] = u.display_name or u.username
    return found


_LOOKUPS: dict[str, Lookup] = {
    "zone": _by_int(Zone, lambda z: z.name),
    "timetable": _by_int(LightingTimetableRow, lambda r: r.name),
    "programme": _by_int(BroadcastProgramme, lambda p: p.name),
    "notification": _by_int(Notification, lambda n: n.title),
    "announcement": _announcements,
    "audio": _audio,
    "user": _users,
}


def _devices(session: Session, wanted: set[tuple[int | None, str]]) -> dict[tuple[int | None, str], str]:
    ids = {d for _, d in wanted}
    rows = session.execute(
        select(Device.area_id, Device.device_id, Device.name).where(Device.device_id.in_(ids))
    )
    return {(a, d): name or d for a, d, name in rows if (a, d) in wanted}


def _remembered(entry: AuditEntry) -> str | None:
    """The name the row itself kept (a deleted zone's, an announcement's title)."""
    params = entry.params if isinstance(entry.params, dict) else {}
    for key in ("name", "title", "filename"):
        value = params.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def describe(session: Session, entries: Sequence[AuditEntry]) -> list[AuditView]:
    """Views of ``entries`` with names looked up in one query per kind of target."""
    parsed = [split_target(e.target) for e in entries]
    wanted: dict[str, set[str]] = defaultdict(set)
    devices: set[tuple[int | None, str]] = set()
    for e, (kind, ident) in zip(entries, parsed, strict=True):
        if kind == "device" and ident:
            devices.add((e.area_id, ident))
        elif kind in _LOOKUPS and ident:
            wanted[kind].add(ident)
    names = {kind: _LOOKUPS[kind](session, ids) for kind, ids in wanted.items()}
    device_names = _devices(session, devices) if devices else {}
    areas = _names(session, Area, {e.area_id for e in entries if e.area_id is not None})
    actors = _actors(session, {e.actor_id for e in entries if e.actor_id is not None})
    views = []
    for e, (kind, ident) in zip(entries, parsed, strict=True):
        name: str | None
        if kind == "area":
            name = areas.get(e.area_id) if e.area_id is not None else ident
        elif kind == "device" and ident:
            name = device_names.get((e.area_id, ident))
        else:
            name = names.get(kind or "", {}).get(ident or "")
        views.append(
            AuditView(
                entry=e,
                actor_name=actors.get(e.actor_id, e.actor) if e.actor_id is not None else e.actor,
                target_kind=kind,
                target_id=ident,
                target_name=name or _remembered(e),
                outcome=outcome(e.result),
            )
        )
    return views


def _names(session: Session, model: Any, ids: Iterable[int]) -> dict[int, str]:
    wanted = list(ids)
    if not wanted:
        return {}
    query = select(model.id, model.name).where(model.id.in_(wanted))
    return {int(i): str(n) for i, n in session.execute(query)}


def _actors(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.display_name, User.username).where(User.id.in_(ids)))
    return {i: display or username for i, display, username in rows}
