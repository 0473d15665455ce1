"""An area's notifications: history, live feed, delivery status and external channels."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from devices.payloads import Priority
from hub.api.deps import AreaDep, Controller, CurrentUser, Manager, PagingDep, RuntimeDep, SessionDep
from hub.api.errors import ApiError
from hub.api.notification_schemas import (
    ChannelPublic,
    ChannelsUpdate,
    DeliveryProblem,
    DeliveryReport,
    NotificationPublic,
    QuietRange,
)
from hub.api.routes.stream import _stream  # the same SSE loop as the device stream
from hub.api.schemas import Page
from hub.audit import record
from hub.models import Area, User, utcnow
from hub.notifications.apprise_channel import ChannelError, check_url
from hub.notifications.feed import audiences_for, feed_for
from hub.notifications.models import Audience, ChannelConfig, Delivery, DeliveryStatus, Notification
from hub.notifications.quiet_hours import QuietHours, QuietHoursError

router = APIRouter(prefix="/api/v1/areas/{code}", tags=["notifications"])

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _visible(area: Area, user: User) -> list[ColumnElement[bool]]:
    """Filters for the notifications of this area the caller may read."""
    return [Notification.area_id == area.id, Notification.audience.in_(audiences_for(user.role))]


@router.get("/notifications")
def history(
    area: AreaDep,
    user: CurrentUser,
    session: SessionDep,
    paging: PagingDep,
    after_id: Annotated[int | None, Query(ge=0, description="only newer than this id (catch up)")] = None,
) -> Page[NotificationPublic]:
    """Newest first; residents see residents' notifications, the head and deputies their alerts too."""
    query = select(Notification).where(*_visible(area, user))
    if after_id is not None:
        query = query.where(Notification.id > after_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Notification.id.desc()).limit(paging.limit).offset(paging.offset))
    return Page(
        items=[NotificationPublic.model_validate(n) for n in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get(
    "/notifications/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}},
)
async def stream(
    area: AreaDep, user: CurrentUser, session: SessionDep, runtime: RuntimeDep, request: Request
) -> StreamingResponse:
    """New notifications as server-sent events.

    First ``hello`` with ``latest_id`` (the newest notification the caller may read: fetch
    the history ``after_id`` it on every reconnect), then ``notification`` events (and
    ``staff_notification`` for the head and deputies), ``resync`` after an overflow.
    """
    names = feed_for(user.role)
    latest = session.scalar(select(func.max(Notification.id)).where(*_visible(area, user)))
    hello = {"area": area.code, "user": user.username, "events": sorted(names), "latest_id": latest or 0}
    session.close()  # a stream lasts minutes: give the connection back now
    feed = runtime.notifications.feed
    return StreamingResponse(
        _stream(feed, request, area.code, names, hello), media_type="text/event-stream", headers=_SSE_HEADERS
    )


@router.get("/notifications/{notification_id}")
def one(notification_id: int, area: AreaDep, user: CurrentUser, session: SessionDep) -> NotificationPublic:
    n = session.scalar(select(Notification).where(Notification.id == notification_id, *_visible(area, user)))
    if n is None:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "notification_not_found",
            f"no notification {notification_id} in this area",
            notification_id=notification_id,
        )
    return NotificationPublic.model_validate(n)


@router.post("/notifications/{notification_id}/share", status_code=status.HTTP_201_CREATED)
def share(
    notification_id: int, area: AreaDep, user: Controller, session: SessionDep, runtime: RuntimeDep
) -> NotificationPublic:
    """Pass a staff alert (a camera outage, say) on to the area's residents."""
    alert = session.scalar(
        select(Notification).where(Notification.id == notification_id, Notification.area_id == area.id)
    )
    if alert is None:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "notification_not_found",
            f"no notification {notification_id} in this area",
            notification_id=notification_id,
        )
    if alert.audience != Audience.STAFF.value:
        raise ApiError(
            status.HTTP_409_CONFLICT, "already_shared", "residents already received this notification"
        )
    new_id = runtime.notifications.notify_residents(
        area.id,
        alert.title,
        alert.body,
        Priority(alert.priority),
        alert.audio_url,
        ref=f"shared:{alert.id}",
        kind="alert",
    )
    record(session, user, area.id, "notification.share", f"notification:{alert.id}", f"shared as {new_id}")
    session.commit()
    shared = session.get(Notification, new_id)
    assert shared is not None
    return NotificationPublic.model_validate(shared)


@router.get("/notifications/{notification_id}/deliveries")
def deliveries(notification_id: int, area: AreaDep, user: Controller, session: SessionDep) -> DeliveryReport:
    """How the notification's deliveries went: counts by status and channel, and what went wrong."""
    found = session.scalar(
        select(Notification.id).where(Notification.id == notification_id, Notification.area_id == area.id)
    )
    if found is None:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "notification_not_found",
            f"no notification {notification_id} in this area",
            notification_id=notification_id,
        )
    rows = session.execute(
        select(Delivery.channel, Delivery.status, func.count())
        .where(Delivery.notification_id == notification_id)
        .group_by(Delivery.channel, Delivery.status)
    ).all()
    counts: dict[str, int] = {}
    by_channel: dict[str, dict[str, int]] = {}
    for channel, state, n in rows:
        counts[state] = counts.get(state, 0) + n
        by_channel.setdefault(channel, {})[state] = n
    problems = session.scalars(
        select(Delivery)
        .where(
            Delivery.notification_id == notification_id,
            Delivery.last_error.is_not(None),
            Delivery.status != DeliveryStatus.SENT.value,
        )
        .order_by(Delivery.updated_at.desc())
        .limit(100)
    )
    return DeliveryReport(
        notification_id=notification_id,
        total=sum(counts.values()),
        counts=counts,
        by_channel=by_channel,
        problems=[DeliveryProblem.model_validate(d) for d in problems],
    )


# --- external channels (Apprise) ----------------------------------------------------------


def _channel_public(c: ChannelConfig) -> ChannelPublic:
    quiet = QuietRange(start=c.quiet_start, end=c.quiet_end) if c.quiet_start and c.quiet_end else None
    return ChannelPublic(
        id=c.id,
        label=c.label,
        audience=c.audience,
        enabled=c.enabled,
        url_masked=c.url_masked,
        quiet_hours=quiet,
        updated_at=c.updated_at,
    )


def _channels(session: Session, area: Area) -> list[ChannelPublic]:
    rows = session.scalars(
        select(ChannelConfig).where(ChannelConfig.area_id == area.id).order_by(ChannelConfig.id)
    )
    return [_channel_public(c) for c in rows]


@router.get("/notification-channels")
def list_channels(area: AreaDep, user: Controller, session: SessionDep) -> list[ChannelPublic]:
    """The area's Apprise channels, URLs masked."""
    return _channels(session, area)


@router.put("/notification-channels")
def replace_channels(
    body: ChannelsUpdate, area: AreaDep, user: Manager, session: SessionDep, runtime: RuntimeDep
) -> list[ChannelPublic]:
    """Set the area's channels: listed ones are kept or created, the others removed.

    ``url`` is any Apprise URL (``tgram://…``, ``mailtos://…``, ``ntfys://…``); it is stored
    encrypted and never shown again. Send ``id`` without ``url`` to keep a channel's URL.
    """
    existing = {
        c.id: c for c in session.scalars(select(ChannelConfig).where(ChannelConfig.area_id == area.id))
    }
    now = utcnow()
    kept: set[int] = set()
    for item in body.channels:
        if item.quiet_hours is not None:
            try:
                QuietHours.parse(item.quiet_hours.start, item.quiet_hours.end, area.timezone)
            except QuietHoursError as exc:
                raise ApiError(
                    status.HTTP_422_UNPROCESSABLE_CONTENT, "quiet_hours_invalid", str(exc)
                ) from None
        if item.id is not None:
            row = existing.get(item.id)
            if row is None:
                raise ApiError(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    "channel_not_found",
                    f"no channel {item.id} in this area",
                )
            kept.add(row.id)
        else:
            row = ChannelConfig(area_id=area.id, created_at=now)
            session.add(row)
        if item.url is not None:
            try:
                row.url_masked = check_url(item.url, runtime.settings.notify_allow_private_urls)
            except ChannelError as exc:
                raise ApiError(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    "channel_invalid",
                    f"{item.label}: {exc}",
                    label=item.label,
                ) from None
            row.url_secret = runtime.notifications.urls.seal(item.url)
        row.label, row.audience, row.enabled = item.label, item.audience.value, item.enabled
        row.quiet_start = item.quiet_hours.start if item.quiet_hours else None
        row.quiet_end = item.quiet_hours.end if item.quiet_hours else None
        row.updated_at = now
    removed = [cid for cid in existing if cid not in kept]
    if removed:
        session.execute(delete(ChannelConfig).where(ChannelConfig.id.in_(removed)))
    labels = [f"{c.audience.value}:{c.label}" for c in body.channels]
    record(session, user, area.id, "notify.channels", f"area:{area.code}", "set", {"channels": labels})
    session.commit()
    runtime.notifications.channels_changed(area.id)  # quiet hours may have changed
    return _channels(session, area)
