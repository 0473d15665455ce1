"""The audit log: read-only through the API, by design."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from hub.api.deps import Admin, AreaDep, Controller, PagingDep, SessionDep
from hub.api.schemas import Page, UtcDateTime
from hub.models import AuditEntry

router = APIRouter(tags=["audit"])


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: UtcDateTime
    actor: str
    area_id: int | None
    action: str
    target: str
    params: dict[str, object]
    result: str
    ref: str | None


def _page(
    session: SessionDep, paging: PagingDep, area_id: int | None, action: str | None
) -> Page[AuditPublic]:
    query = select(AuditEntry)
    if area_id is not None:
        query = query.where(AuditEntry.area_id == area_id)
    if action:
        query = query.where(AuditEntry.action == action)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AuditEntry.id.desc()).limit(paging.limit).offset(paging.offset))
    return Page(
        items=[AuditPublic.model_validate(r) for r in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/api/v1/areas/{code}/audit")
def area_audit(
    area: AreaDep, user: Controller, session: SessionDep, paging: PagingDep, action: str | None = None
) -> Page[AuditPublic]:
    """The area's audit log, newest first."""
    return _page(session, paging, area.id, action)


@router.get("/api/v1/audit")
def all_audit(
    user: Admin, session: SessionDep, paging: PagingDep, action: str | None = None
) -> Page[AuditPublic]:
    """Every area's audit log (commune admin)."""
    return _page(session, paging, None, action)
