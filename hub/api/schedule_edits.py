"""What every timetable and programme edit ends with: the audit row, the commit, the jobs."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hub.audit import record
from hub.models import Area, User
from hub.runtime import HubRuntime


def save_schedule_edit(
    session: Session,
    runtime: HubRuntime,
    user: User,
    area: Area,
    action: str,
    target: str,
    params: dict[str, Any],
) -> None:
    """Audit (``timetable.update`` → result ``updated``), commit, and replace the jobs at once."""
    result = {"create": "created", "update": "updated", "delete": "deleted"}[action.rpartition(".")[2]]
    record(session, user, area.id, action, target, result, params)
    session.commit()
    runtime.schedules.sync()
