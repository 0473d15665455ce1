"""Writing audit rows; nothing changes or deletes one, except that a command's result is
filled in once its devices answered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from hub.models import AuditEntry, User


def record(
    session: Session,
    actor: User | None,
    area_id: int | None,
    action: str,
    target: str,
    result: str,
    params: dict[str, Any] | None = None,
    ref: str | None = None,
) -> AuditEntry:
    """Add an audit row to the session's transaction (committed with the change it records)."""
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        actor=actor.username if actor else "system",
        area_id=area_id,
        action=action,
        target=target[:200],
        params=params or {},
        result=result[:400],
        ref=ref,
    )
    session.add(entry)
    return entry


def complete(sessions: sessionmaker[Session], entry_id: int, result: str) -> None:
    """The final result of an action recorded before it finished (a command's confirmations)."""
    with sessions.begin() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == entry_id).values(result=result[:400]))
