"""Announcements: send now or at a time, follow them live, prove them afterwards (log, CSV, JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response, status
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from devices.payloads import Priority
from hub.api.audit_words import language
from hub.api.broadcast_csv import broadcast_csv
from hub.api.broadcast_schemas import (
    AnnouncementCreate,
    AnnouncementPublic,
    Coverage,
    SpeakerDeliveryPublic,
    spread_ms,
)
from hub.api.deps import AreaDep, Controller, PagingDep, RuntimeDep, SessionDep
from hub.api.errors import ApiError
from hub.api.schemas import Page
from hub.audit import record
from hub.broadcasts.announce import AnnouncementError, announce
from hub.broadcasts.models import (
    OPEN_ANNOUNCEMENT,
    Announcement,
    AnnouncementStatus,
    AudioAsset,
    DeliveryStatus,
    SpeakerDelivery,
)
from hub.models import Area, User
from hub.runtime import HubRuntime

router = APIRouter(prefix="/api/v1/areas/{code}/announcements", tags=["broadcasts"])


def _played(d: SpeakerDelivery, duration_ms: int) -> float:
    """The share of the announcement one speaker sounded (1 when it reported the end)."""
    if d.status == DeliveryStatus.FINISHED.value:
        return 1.0
    if d.started_at is None or d.finished_at is None or duration_ms <= 0:
        return 0.0
    return max(0.0, min(1.0, (d.finished_at - d.started_at).total_seconds() * 1000 / duration_ms))


def _coverage(deliveries: list[SpeakerDelivery], duration_ms: int) -> Coverage:
    finished = [d for d in deliveries if d.status == DeliveryStatus.FINISHED.value]
    starts = [d.started_at for d in deliveries if d.started_at is not None]
    played = sum(_played(d, duration_ms) for d in deliveries)
    return Coverage(
        targeted=len(deliveries),
        started=len(starts),
        finished=len(finished),
        percent=round(100 * len(finished) / len(deliveries), 1) if deliveries else 0.0,
        offline=[d.device_id for d in deliveries if d.status == DeliveryStatus.OFFLINE.value],
        failed=[d.device_id for d in deliveries if d.status in ("failed", "no_answer")],
        stopped=[d.device_id for d in deliveries if d.status == DeliveryStatus.STOPPED.value],
        played_percent=round(100 * played / len(deliveries), 1) if deliveries else 0.0,
        start_spread_ms=spread_ms(starts),
    )


def _public(
    session: Session, runtime: HubRuntime, ann: Announcement, detail: bool = True
) -> AnnouncementPublic:
    asset = session.get(AudioAsset, ann.audio_id)
    assert asset is not None
    deliveries = list(
        session.scalars(select(SpeakerDelivery).where(SpeakerDelivery.announcement_id == ann.id))
    )
    issuer = session.get(User, ann.created_by) if ann.created_by else None
    return AnnouncementPublic(
        id=ann.id,
        title=ann.title,
        text=ann.text,
        priority=ann.priority,
        status=ann.status,
        source=ann.source,
        zone_ids=ann.zone_ids,
        audio_id=ann.audio_id,
        audio_url=runtime.audio_url(asset),
        duration_ms=asset.duration_ms,
        not_before=ann.not_before,
        start_at=ann.start_at,
        finished_at=ann.finished_at,
        resumes=ann.resumes,
        note=ann.note,
        created_by=issuer.username if issuer else None,
        created_by_name=(issuer.display_name or issuer.username) if issuer else None,
        created_at=ann.created_at,
        coverage=_coverage(deliveries, asset.duration_ms) if deliveries else None,
        deliveries=[SpeakerDeliveryPublic.model_validate(d) for d in deliveries] if detail else None,
    )


def _get(session: Session, area: Area, announcement_id: str) -> Announcement:
    ann = session.get(Announcement, announcement_id)
    if ann is None or ann.area_id != area.id:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "announcement_not_found",
            f"no announcement {announcement_id!r} in area {area.code!r}",
            announcement_id=announcement_id,
        )
    return ann


@router.post("", status_code=status.HTTP_201_CREATED)
def create_announcement(
    body: AnnouncementCreate, area: AreaDep, user: Controller, session: SessionDep, runtime: RuntimeDep
) -> AnnouncementPublic:
    """Text is read out in Vietnamese (espeak-ng); all target speakers start together."""
    try:
        ann = announce(
            session,
            runtime.audio,
            runtime.broadcasts,
            area,
            title=body.title,
            text=body.text,
            audio_id=body.audio_id,
            zone_ids=body.zone_ids,
            priority=body.priority,
            not_before=body.start_at,
            user=user,
            notify=body.notify,
        )
    except AnnouncementError as exc:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "announcement_invalid", str(exc)) from None
    record(
        session,
        user,
        area.id,
        "announcement.create",
        f"announcement:{ann.id}",
        ann.status,
        body.model_dump(mode="json", exclude={"text"}) | {"chars": len(body.text or "")},
        ref=ann.id,
    )
    session.commit()
    runtime.broadcasts.wake()
    return _public(session, runtime, ann)


def _filtered(
    area: Area, status_: str | None, priority: Priority | None, since: datetime | None, until: datetime | None
) -> Select[Announcement]:
    query = select(Announcement).where(Announcement.area_id == area.id)
    if status_:
        query = query.where(Announcement.status == status_)
    if priority is not None:
        query = query.where(Announcement.priority == priority.value)
    if since is not None:
        query = query.where(Announcement.created_at >= since)
    if until is not None:
        query = query.where(Announcement.created_at < until)
    return query


@router.get("")
def list_announcements(
    area: AreaDep,
    user: Controller,
    session: SessionDep,
    runtime: RuntimeDep,
    paging: PagingDep,
    status_: Annotated[AnnouncementStatus | None, Query(alias="status")] = None,
    priority: Priority | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AnnouncementPublic]:
    """The broadcast log, newest first, with each announcement's coverage."""
    query = _filtered(area, status_.value if status_ else None, priority, since, until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Announcement.created_at.desc()).limit(paging.limit).offset(paging.offset)
    )
    return Page(
        items=[_public(session, runtime, a, detail=False) for a in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/export")
def export_log(
    area: AreaDep,
    user: Controller,
    session: SessionDep,
    runtime: RuntimeDep,
    format_: Annotated[Literal["csv", "json"], Query(alias="format")] = "csv",
    status_: Annotated[AnnouncementStatus | None, Query(alias="status")] = None,
    priority: Priority | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    lang: Annotated[
        Literal["vi", "en"] | None, Query(description="CSV words; default: Accept-Language")
    ] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> Response:
    """The broadcast log as CSV or JSON (at most 10,000 rows; narrow with since/until).

    The CSV is for people: the area's local time, zones and speakers by name, statuses in
    ``lang``; its header keys and the id columns stay the same in every language.
    """
    query = _filtered(area, status_.value if status_ else None, priority, since, until)
    items = [
        _public(session, runtime, a, detail=False)
        for a in session.scalars(query.order_by(Announcement.created_at).limit(10_000))
    ]
    name = f"broadcast-log-{area.code}"
    if format_ == "json":
        body = "[" + ",".join(i.model_dump_json() for i in items) + "]"
        return Response(
            body,
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
        )
    # Local times, names and the reader's words (ids kept in the last columns), with a BOM.
    return Response(
        broadcast_csv(session, area, items, language(lang, accept_language)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get("/{announcement_id}")
def get_announcement(
    area: AreaDep, user: Controller, session: SessionDep, runtime: RuntimeDep, announcement_id: str
) -> AnnouncementPublic:
    """Proof of broadcast: which speakers started, finished, failed or were offline."""
    return _public(session, runtime, _get(session, area, announcement_id))


@router.post("/{announcement_id}/cancel")
def cancel_announcement(
    area: AreaDep, user: Controller, session: SessionDep, runtime: RuntimeDep, announcement_id: str
) -> AnnouncementPublic:
    """Withdraw a waiting announcement, or stop one that is playing."""
    ann = _get(session, area, announcement_id)
    if ann.status not in [s.value for s in OPEN_ANNOUNCEMENT]:
        raise ApiError(
            status.HTTP_409_CONFLICT,
            "announcement_closed",
            f"announcement is already {ann.status}",
            status=ann.status,
        )
    was = ann.status
    session.close()
    runtime.broadcasts.cancel(area, announcement_id)
    with runtime.sessions() as fresh:
        record(
            fresh,
            user,
            area.id,
            "announcement.cancel",
            f"announcement:{announcement_id}",
            f"cancelled (was {was})",
            ref=announcement_id,
        )
        fresh.commit()
        return _public(fresh, runtime, _get(fresh, area, announcement_id))
