"""Web Push subscriptions of the caller's browsers, and the caller's quiet hours."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.api.deps import CurrentUser, RuntimeDep, SessionDep
from hub.api.errors import ApiError
from hub.api.notification_schemas import (
    PushSubscriptionCreate,
    PushSubscriptionPublic,
    PushUnsubscribe,
    QuietHoursPublic,
    QuietHoursUpdate,
    VapidKeyPublic,
)
from hub.models import Area, User, utcnow
from hub.notifications.models import PushSubscription, QuietHoursRow
from hub.notifications.quiet_hours import QuietHours, QuietHoursError
from hub.notifications.webpush import SubscriptionError, check_subscription, origin
from hub.runtime import HubRuntime

router = APIRouter(prefix="/api/v1", tags=["push"])

# A browser per phone, tablet and computer is plenty; more smells of a script.
MAX_SUBSCRIPTIONS_PER_USER = 10


def _public(sub: PushSubscription) -> PushSubscriptionPublic:
    return PushSubscriptionPublic(
        id=sub.id, origin=origin(sub.endpoint), created_at=sub.created_at, last_success_at=sub.last_success_at
    )


@router.get("/push/vapid-public-key")
def vapid_public_key(runtime: RuntimeDep) -> VapidKeyPublic:
    """The hub's VAPID public key, for ``pushManager.subscribe({applicationServerKey})``."""
    return VapidKeyPublic(public_key=runtime.notifications.vapid_public_key)


@router.post("/push/subscriptions", status_code=status.HTTP_201_CREATED)
def subscribe(
    body: PushSubscriptionCreate,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
) -> PushSubscriptionPublic:
    """Register this browser's push subscription (the same endpoint again updates it)."""
    try:
        keys = check_subscription(
            body.endpoint, body.keys.p256dh, body.keys.auth, runtime.settings.push_allow_private_endpoints
        )
    except SubscriptionError as exc:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "subscription_invalid", str(exc)) from None
    sub = session.scalar(select(PushSubscription).where(PushSubscription.endpoint == keys.endpoint))
    if sub is None:
        count = len(
            session.scalars(select(PushSubscription.id).where(PushSubscription.user_id == user.id)).all()
        )
        if count >= MAX_SUBSCRIPTIONS_PER_USER:
            raise ApiError(
                status.HTTP_409_CONFLICT,
                "too_many_subscriptions",
                f"at most {MAX_SUBSCRIPTIONS_PER_USER} subscriptions per account; remove an old one",
                max=MAX_SUBSCRIPTIONS_PER_USER,
            )
        sub = PushSubscription(endpoint=keys.endpoint, created_at=utcnow())
        session.add(sub)
    # A browser someone else used before belongs to whoever logged in on it last.
    sub.user_id, sub.p256dh, sub.auth = user.id, keys.p256dh, keys.auth
    sub.user_agent = request.headers.get("user-agent", "")[:200]
    session.commit()
    return _public(sub)


@router.get("/push/subscriptions")
def my_subscriptions(user: CurrentUser, session: SessionDep) -> list[PushSubscriptionPublic]:
    subs = session.scalars(
        select(PushSubscription).where(PushSubscription.user_id == user.id).order_by(PushSubscription.id)
    )
    return [_public(s) for s in subs]


@router.delete("/push/subscriptions", status_code=status.HTTP_204_NO_CONTENT)
def unsubscribe(body: PushUnsubscribe, user: CurrentUser, session: SessionDep) -> None:
    """Forget this browser's subscription (after ``subscription.unsubscribe()``); idempotent."""
    session.execute(
        delete(PushSubscription).where(
            PushSubscription.endpoint == body.endpoint, PushSubscription.user_id == user.id
        )
    )
    session.commit()


@router.delete("/push/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_subscription(subscription_id: int, user: CurrentUser, session: SessionDep) -> None:
    sub = session.get(PushSubscription, subscription_id)
    if sub is None or sub.user_id != user.id:
        raise ApiError(
            status.HTTP_404_NOT_FOUND, "subscription_not_found", f"no subscription {subscription_id}"
        )
    session.delete(sub)
    session.commit()


# --- quiet hours --------------------------------------------------------------------------


def _area_tz(session: Session, user: User, runtime: HubRuntime) -> str:
    area = session.get(Area, user.area_id) if user.area_id is not None else None
    return area.timezone if area is not None else runtime.settings.default_timezone


def _quiet_public(row: QuietHoursRow | None, tz: str, runtime: HubRuntime) -> QuietHoursPublic:
    if row is None:
        return QuietHoursPublic(enabled=False, timezone=tz)
    qh = QuietHours.parse(row.start, row.end, row.timezone or tz)
    now = runtime.notifications.clock()
    active = qh.active(now)
    return QuietHoursPublic(
        enabled=True,
        start=row.start,
        end=row.end,
        timezone=row.timezone or tz,
        active_now=active,
        ends_at=qh.ends_after(now) if active else None,
    )


@router.get("/me/quiet-hours")
def get_quiet_hours(user: CurrentUser, session: SessionDep, runtime: RuntimeDep) -> QuietHoursPublic:
    """The caller's quiet hours (normal and priority pushes wait; emergencies never do)."""
    return _quiet_public(session.get(QuietHoursRow, user.id), _area_tz(session, user, runtime), runtime)


@router.put("/me/quiet-hours")
def set_quiet_hours(
    body: QuietHoursUpdate, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> QuietHoursPublic:
    """Set daily quiet hours, e.g. 22:00 to 06:00; the time zone defaults to the area's."""
    tz = _area_tz(session, user, runtime)
    try:
        QuietHours.parse(body.start, body.end, body.timezone or tz)
    except QuietHoursError as exc:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "quiet_hours_invalid", str(exc)) from None
    row = session.get(QuietHoursRow, user.id) or QuietHoursRow(user_id=user.id)
    row.start, row.end, row.timezone, row.updated_at = body.start, body.end, body.timezone, utcnow()
    session.add(row)
    session.commit()
    runtime.notifications.quiet_hours_changed(user.id)
    return _quiet_public(row, tz, runtime)


@router.delete("/me/quiet-hours", status_code=status.HTTP_204_NO_CONTENT)
def clear_quiet_hours(user: CurrentUser, session: SessionDep, runtime: RuntimeDep) -> None:
    """No more quiet hours: whatever was held is delivered now."""
    session.execute(delete(QuietHoursRow).where(QuietHoursRow.user_id == user.id))
    session.commit()
    runtime.notifications.quiet_hours_changed(user.id)
