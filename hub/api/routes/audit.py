"""The audit log: read-only through the API, by design; as a page of rows or a CSV file."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from hub.api.audit_views import AuditView, describe
from hub.api.audit_words import HEADERS, action_text, actor_text, language, result_text, target_text
from hub.api.deps import Admin, AreaDep, Controller, PagingDep, SessionDep
from hub.api.local_time import local_iso
from hub.api.schemas import Page, UtcDateTime
from hub.models import AuditEntry

router = APIRouter(tags=["audit"])
EXPORT_ROWS = 10_000


class AuditPublic(BaseModel):
    id: int
    at: UtcDateTime
    actor: str
    area_id: int | None
    action: str
    target: str
    params: dict[str, object]
    result: str
    ref: str | None
    # The same facts for a phone or a report to word in its own language.
    actor_name: str = Field(description="who did it: display name, else username; 'system' for the hub")
    target_kind: str | None = Field(description="zone, device, area, announcement, timetable, programme, …")
    target_id: str | None
    target_name: str | None = Field(description="the zone's, device's, area's name or announcement's title")
    outcome: str | None = Field(description="created, cancelled, counts, status, …; null when not known")
    counts: dict[str, int] | None = Field(description="commands by status, for device commands")
    outcome_values: dict[str, str | int] = Field(description="numbers and words the outcome mentions")

    @classmethod
    def of(cls, v: AuditView) -> AuditPublic:
        e = v.entry
        return cls(
            id=e.id,
            at=e.at,
            actor=e.actor,
            area_id=e.area_id,
            action=e.action,
            target=e.target,
            params=e.params or {},
            result=e.result,
            ref=e.ref,
            actor_name=v.actor_name,
            target_kind=v.target_kind,
            target_id=v.target_id,
            target_name=v.target_name,
            outcome=v.outcome.code,
            counts=v.outcome.counts,
            outcome_values=v.outcome.values,
        )


def _page(
    session: SessionDep, paging: PagingDep, area_id: int | None, action: str | None
) -> Page[AuditPublic]:
    query = select(AuditEntry)
    if area_id is not None:
        query = query.where(AuditEntry.area_id == area_id)
    if action:
        query = query.where(AuditEntry.action == action)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(
        session.scalars(query.order_by(AuditEntry.id.desc()).limit(paging.limit).offset(paging.offset))
    )
    return Page(
        items=[AuditPublic.of(v) for v in describe(session, rows)],
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


@router.get("/api/v1/areas/{code}/audit/export")
def export_audit(
    area: AreaDep,
    user: Controller,
    session: SessionDep,
    lang: Annotated[Literal["vi", "en"] | None, Query(description="default: from Accept-Language")] = None,
    accept_language: Annotated[str | None, Header()] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Response:
    """The area's audit log as CSV (UTF-8 with BOM), oldest first, at most 10,000 rows.

    Times are in the area's time zone with their offset; actions, targets by name and
    results are worded in ``lang``; the codes and ids are kept in columns of their own.
    """
    words = language(lang, accept_language)
    query = select(AuditEntry).where(AuditEntry.area_id == area.id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    rows = list(session.scalars(query.order_by(AuditEntry.id).limit(EXPORT_ROWS)))
    zone = ZoneInfo(area.timezone)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS[words])
    for v in describe(session, rows):
        writer.writerow(
            [
                local_iso(v.entry.at, zone),
                actor_text(v, words),
                action_text(v, words),
                target_text(v, words),
                result_text(v, words),
                v.entry.action,
                v.entry.target,
                v.entry.id,
            ]
        )
    name = f"audit-log-{area.code}"
    # A byte-order mark so spreadsheet programs read the Vietnamese text as UTF-8.
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"', "Content-Language": words},
    )


@router.get("/api/v1/audit")
def all_audit(
    user: Admin, session: SessionDep, paging: PagingDep, action: str | None = None
) -> Page[AuditPublic]:
    """Every area's audit log (commune admin)."""
    return _page(session, paging, None, action)
