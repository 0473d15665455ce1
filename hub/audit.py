"""Writing audit rows; there is deliberately no function to change or delete one."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

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
